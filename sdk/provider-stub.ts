/**
 * The provider objects handed to `dynamic.Resource`. They are serialized into state (twice per resource), so
 * they are tiny and stable: each method loads the installed implementation (`pulumi-xen/provider`) inside the
 * provider process at call time. Nothing here captures a client or a credential, and `read`/`delete` always run
 * the installed code rather than a copy frozen in state.
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";

export type ResourceKind = "Pool" | "Host" | "Vm" | "Image" | "Template" | "VmGroup" | "Appliance" | "Snapshot";

function stub(kind: ResourceKind): dynamic.ResourceProvider {
  const load = (): dynamic.ResourceProvider => {
    const path = require("path");
    // Resolve from the program directory (the provider process's cwd), like any dependency of the program.
    const requireFromProgram = require("module").createRequire(path.join(process.cwd(), "pulumi-xen-provider.js"));
    try {
      return requireFromProgram("pulumi-xen/provider").providers[kind];
    } catch (e) {
      throw new Error(
        `cannot load the pulumi-xen provider from ${process.cwd()}: ${(e as Error).message}. ` +
          `Install pulumi-xen in the program's project (npm install) and build it (npm run build).`,
      );
    }
  };
  return {
    configure: async (req) => load().configure?.(req),
    check: async (olds, news) => load().check!(olds, news),
    diff: async (id, olds, news) => load().diff!(id, olds, news),
    create: async (inputs) => load().create(inputs),
    read: async (id, props) => load().read!(id, props),
    update: async (id, olds, news) => load().update!(id, olds, news),
    delete: async (id, props) => load().delete!(id, props),
  };
}

/** One instance per kind: the engine caches serialization by object identity. */
export const providerStubs: Record<ResourceKind, dynamic.ResourceProvider> = {
  Pool: stub("Pool"),
  Host: stub("Host"),
  Vm: stub("Vm"),
  Image: stub("Image"),
  Template: stub("Template"),
  VmGroup: stub("VmGroup"),
  Appliance: stub("Appliance"),
  Snapshot: stub("Snapshot"),
};

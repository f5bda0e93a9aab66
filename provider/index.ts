/**
 * The engine side of pulumi-xen: one dynamic resource provider per resource type. The SDK's serialized
 * provider stubs load this module at run time inside the provider process (see sdk/provider-stub.ts).
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { ProviderContext } from "./connection";
import type { ResourceName } from "./plugin/tokens";
import { hostProvider } from "./resources/host";
import { imageProvider } from "./resources/image";
import { poolProvider } from "./resources/pool";
import { templateProvider } from "./resources/template";
import { vmGroupProvider } from "./resources/vm-group";
import { applianceProvider } from "./resources/appliance";
import { snapshotProvider } from "./resources/snapshot";
import { vmProvider } from "./resources/vm";

/** The providers of this process share one context: the connections built by the latest configure(). */
const context = new ProviderContext();

export const providers: Record<ResourceName, dynamic.ResourceProvider> = {
  Pool: poolProvider(context),
  Host: hostProvider(context),
  Vm: vmProvider(context),
  Image: imageProvider(context),
  Template: templateProvider(context),
  VmGroup: vmGroupProvider(context),
  Appliance: applianceProvider(context),
  Snapshot: snapshotProvider(context),
};

/** Logs out every session and stops the event watchers of this process's providers (tests, scripts). */
export function closeProviders(): Promise<void> {
  return context.close();
}

export { planVm, describePlan } from "./plan/vm";
export type { VmPlan, VmState, VmStep, Disruption } from "./plan/vm";
export { parseSize, formatSize, parseDuration } from "./units";

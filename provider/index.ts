/**
 * The engine side of pulumi-xen: one dynamic resource provider per resource type. The SDK's serialized
 * provider stubs load this module at run time inside the provider process (see sdk/provider-stub.ts).
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { hostProvider } from "./resources/host";
import { poolProvider } from "./resources/pool";
import { vmProvider } from "./resources/vm";

export const providers: Record<"Pool" | "Host" | "Vm", dynamic.ResourceProvider> = {
  Pool: poolProvider,
  Host: hostProvider,
  Vm: vmProvider,
};

export { planVm, describePlan } from "./plan/vm";
export type { VmPlan, VmState, VmStep, Disruption } from "./plan/vm";
export { parseSize, formatSize, parseDuration } from "./units";

import * as pulumi from "@pulumi/pulumi";
import { ownershipKey } from "./ownership";
import { providerStubs } from "./provider-stub";
import type { Duration, TimeoutsArgs } from "./vm";

export interface ApplianceMemberArgs {
  /** UUID of the VM (a xen.Vm's `uuid`). */
  vm: pulumi.Input<string>;
  /** Start order: lower first (VM.order); default 0. Members stop in the reverse order. */
  order?: pulumi.Input<number>;
  /** How long to wait after starting this VM before the next order starts (seconds or `"30s"`); default 0. */
  startDelay?: pulumi.Input<Duration>;
  /** How long to wait after shutting this VM down before the next one stops; default 0. */
  shutdownDelay?: pulumi.Input<Duration>;
}

export interface ApplianceArgs {
  /** The appliance's name_label; default: the resource name. */
  nameLabel?: pulumi.Input<string>;
  /** The appliance's name_description; default empty. */
  description?: pulumi.Input<string>;
  /** The member VMs, with their start order and delays. */
  members?: pulumi.Input<pulumi.Input<ApplianceMemberArgs>[]>;
  /**
   * `Running` starts the members in order (VM_appliance.start), `Halted` stops them in reverse order
   * (VM_appliance.clean_shutdown); default: not managed. The members' own `powerState` is then not applied.
   */
  powerState?: pulumi.Input<"Running" | "Halted">;
  /** Deadlines per phase (seconds or `"10m"`); default 30 min for a start or stop of the whole appliance. */
  timeouts?: pulumi.Input<TimeoutsArgs>;
  /** Another pool's master URL; default: xen:url / XEN_URL. */
  url?: pulumi.Input<string>;
}

/** A XenAPI appliance (VM_appliance, a vApp): VMs started and stopped together, in order, with delays. */
export class Appliance extends pulumi.dynamic.Resource {
  /** The appliance's UUID (also the resource ID). */
  declare readonly uuid: pulumi.Output<string>;
  declare readonly nameLabel: pulumi.Output<string>;
  /** Each member's power state, by VM uuid. */
  declare readonly memberPowerStates: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: ApplianceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerStubs.Appliance,
      name,
      {
        nameLabel: name,
        ...args,
        ownershipKey: ownershipKey("Appliance", name),
        uuid: undefined,
        memberPowerStates: undefined,
      },
      opts,
      "xen",
      "Appliance",
    );
  }
}

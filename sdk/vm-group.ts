import * as pulumi from "@pulumi/pulumi";
import { ownershipKey } from "./ownership";
import { providerStubs } from "./provider-stub";

export interface VmGroupArgs {
  /** The group's name_label, what a Vm's `group` may name; default: the resource name. */
  nameLabel?: pulumi.Input<string>;
  /** The group's name_description; default empty. */
  description?: pulumi.Input<string>;
  /**
   * `anti-affinity` (default): the pool keeps members on different hosts when it places them (start, migration,
   * evacuation, HA restart), best effort, with a message when it cannot; `normal`: no rule. Changing it makes a
   * new group.
   */
  placement?: pulumi.Input<"anti-affinity" | "normal">;
  /** Another pool's master URL; default: xen:url / XEN_URL. */
  url?: pulumi.Input<string>;
}

/** A XenAPI VM group (VM_group) with a placement rule; VMs join it with their `group` input. */
export class VmGroup extends pulumi.dynamic.Resource {
  /** The group's UUID (also the resource ID). */
  declare readonly uuid: pulumi.Output<string>;
  declare readonly nameLabel: pulumi.Output<string>;
  /** UUIDs of the VMs in the group, sorted. */
  declare readonly memberUuids: pulumi.Output<string[]>;

  constructor(name: string, args: VmGroupArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerStubs.VmGroup,
      name,
      {
        nameLabel: name,
        ...args,
        ownershipKey: ownershipKey("VmGroup", name),
        uuid: undefined,
        memberUuids: undefined,
      },
      opts,
      "xen",
      "VmGroup",
    );
  }
}

import * as pulumi from "@pulumi/pulumi";
import { ownershipKey } from "./ownership";
import { providerStubs } from "./provider-stub";

export interface SnapshotArgs {
  /** UUID of the VM to snapshot (a xen.Vm's `uuid`). */
  vm: pulumi.Input<string>;
  /** The snapshot's name_label; default: the resource name. */
  nameLabel?: pulumi.Input<string>;
  /** The snapshot's name_description; default empty. */
  description?: pulumi.Input<string>;
  /** Also save the running VM's memory (VM.checkpoint): a revert resumes it where it was; default false. */
  checkpoint?: pulumi.Input<boolean>;
  /** Another pool's master URL; default: xen:url / XEN_URL. */
  url?: pulumi.Input<string>;
}

/**
 * A snapshot of a VM (VM.snapshot, or VM.checkpoint with memory). A point in time: changing `vm` or `checkpoint`
 * takes a new one. A Vm goes back to it with `revertTo: snapshot.uuid`; deleting it destroys its snapshot disks.
 */
export class Snapshot extends pulumi.dynamic.Resource {
  /** The snapshot's UUID (also the resource ID): what a Vm's `revertTo` takes. */
  declare readonly uuid: pulumi.Output<string>;
  declare readonly nameLabel: pulumi.Output<string>;
  /** When it was taken (XenAPI datetime). */
  declare readonly snapshotTime: pulumi.Output<string>;

  constructor(name: string, args: SnapshotArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerStubs.Snapshot,
      name,
      {
        nameLabel: name,
        ...args,
        ownershipKey: ownershipKey("Snapshot", name),
        uuid: undefined,
        snapshotTime: undefined,
      },
      opts,
      "xen",
      "Snapshot",
    );
  }
}

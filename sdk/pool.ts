import * as pulumi from "@pulumi/pulumi";
import { providerStubs } from "./provider-stub";
import type { TimeoutsArgs } from "./vm";

export interface PoolHaArgs {
  /** Whether HA is on. Turning it on needs a shared heartbeat SR and at least two hosts. */
  enabled: pulumi.Input<boolean>;
  /** Host failures the pool must survive with every protected VM restarted; default: what xapi computes. */
  hostFailuresToTolerate?: pulumi.Input<number>;
  /** Shared SR for the heartbeat (name_label or UUID); default: the pool's default SR. */
  heartbeatSr?: pulumi.Input<string>;
}

export interface PoolArgs {
  /** Deadlines per phase (seconds or `"10m"`), each bounding the whole phase; default 2 min per operation wait. */
  timeouts?: pulumi.Input<TimeoutsArgs>;
  /** The pool's name_label. */
  nameLabel: pulumi.Input<string>;
  /** The pool's name_description; default empty. */
  description?: pulumi.Input<string>;
  /** Default SR (name_label or UUID). */
  defaultSr?: pulumi.Input<string>;
  /** High availability. Enable it after hosts have joined (pool.join refuses while HA is on). */
  ha?: pulumi.Input<PoolHaArgs>;
  /** XenAPI tags of the pool (a set). */
  tags?: pulumi.Input<pulumi.Input<string>[]>;
  /** other_config keys the program manages; others are left alone. */
  otherConfig?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** The pool master's URL; default: xen:url / XEN_URL. */
  url?: pulumi.Input<string>;
}

/** The pool at the URL, adopted. Deleting it releases the pool: hosts are never ejected nor destroyed. */
export class Pool extends pulumi.dynamic.Resource {
  /** The pool's UUID (also the resource ID). */
  declare readonly uuid: pulumi.Output<string>;
  declare readonly nameLabel: pulumi.Output<string>;
  /** UUID of the pool master (coordinator). */
  declare readonly masterUuid: pulumi.Output<string>;
  /** UUIDs of the member hosts, sorted. */
  declare readonly hostUuids: pulumi.Output<string[]>;

  constructor(name: string, args: PoolArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerStubs.Pool,
      name,
      { ...args, uuid: undefined, masterUuid: undefined, hostUuids: undefined },
      opts,
      "xen",
      "Pool",
    );
  }
}

import * as pulumi from "@pulumi/pulumi";
import { providerStubs } from "./provider-stub";

export interface PoolHaArgs {
  enabled: pulumi.Input<boolean>;
  hostFailuresToTolerate?: pulumi.Input<number>;
  /** Shared SR for the heartbeat (name_label or UUID); default: the pool's default SR. */
  heartbeatSr?: pulumi.Input<string>;
}

export interface PoolArgs {
  /** Deadlines per phase (seconds or `"10m"`), each bounding the whole phase; default 2 min per operation wait. */
  timeouts?: pulumi.Input<{ create?: number | string; update?: number | string; delete?: number | string }>;
  nameLabel: pulumi.Input<string>;
  description?: pulumi.Input<string>;
  /** Default SR (name_label or UUID). */
  defaultSr?: pulumi.Input<string>;
  /** High availability. Enable it after hosts have joined (pool.join refuses while HA is on). */
  ha?: pulumi.Input<PoolHaArgs>;
  tags?: pulumi.Input<pulumi.Input<string>[]>;
  otherConfig?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** The pool master's URL; default: xen:url / XEN_URL. */
  url?: pulumi.Input<string>;
}

/** The pool at the URL, adopted. Deleting it releases the pool: hosts are never ejected nor destroyed. */
export class Pool extends pulumi.dynamic.Resource {
  declare readonly uuid: pulumi.Output<string>;
  declare readonly nameLabel: pulumi.Output<string>;
  declare readonly masterUuid: pulumi.Output<string>;
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

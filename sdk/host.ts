import * as pulumi from "@pulumi/pulumi";
import { providerStubs } from "./provider-stub";

export interface HostArgs {
  /** Deadlines per phase (seconds or `"10m"`), each bounding the whole phase; default 2 min per operation wait. */
  timeouts?: pulumi.Input<{ create?: number | string; update?: number | string; delete?: number | string }>;
  /** Management address of the host; it is joined to the pool (pool.join on that host) when not a member. */
  address: pulumi.Input<string>;
  /** Default true. false disables the host (running VMs keep running). */
  enabled?: pulumi.Input<boolean>;
  /** true disables the host and evacuates its VMs live (failing with the VMs that prevent it and why). */
  maintenance?: pulumi.Input<boolean>;
  nameLabel?: pulumi.Input<string>;
  tags?: pulumi.Input<pulumi.Input<string>[]>;
  /** Eject the host from the pool when the resource is deleted; default false (it stays). */
  ejectOnDelete?: pulumi.Input<boolean>;
  url?: pulumi.Input<string>;
}

/** A member host of the pool. */
export class Host extends pulumi.dynamic.Resource {
  declare readonly uuid: pulumi.Output<string>;
  declare readonly hvmCapable: pulumi.Output<boolean>;
  declare readonly cpuCount: pulumi.Output<number>;
  declare readonly memoryTotal: pulumi.Output<number>;
  declare readonly memoryFree: pulumi.Output<number>;
  declare readonly residentVmUuids: pulumi.Output<string[]>;

  constructor(name: string, args: HostArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerStubs.Host,
      name,
      {
        ...args,
        uuid: undefined,
        hvmCapable: undefined,
        cpuCount: undefined,
        memoryTotal: undefined,
        memoryFree: undefined,
        residentVmUuids: undefined,
      },
      opts,
      "xen",
      "Host",
    );
  }
}

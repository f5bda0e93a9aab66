import * as pulumi from "@pulumi/pulumi";
import { providerStubs } from "./provider-stub";
import type { TimeoutsArgs } from "./vm";

export interface HostArgs {
  /** Deadlines per phase (seconds or `"10m"`), each bounding the whole phase; default 2 min per operation wait. */
  timeouts?: pulumi.Input<TimeoutsArgs>;
  /** Management address of the host; it is joined to the pool (pool.join on that host) when not a member. */
  address: pulumi.Input<string>;
  /** Default true. false disables the host (running VMs keep running). */
  enabled?: pulumi.Input<boolean>;
  /** true disables the host and evacuates its VMs live (failing with the VMs that prevent it and why). */
  maintenance?: pulumi.Input<boolean>;
  /** The host's name_label; default: left as it is. */
  nameLabel?: pulumi.Input<string>;
  /** XenAPI tags of the host (a set). */
  tags?: pulumi.Input<pulumi.Input<string>[]>;
  /** Eject the host from the pool when the resource is deleted; default false (it stays). */
  ejectOnDelete?: pulumi.Input<boolean>;
  /** The pool master's URL; default: xen:url / XEN_URL. */
  url?: pulumi.Input<string>;
}

/** A member host of the pool. */
export class Host extends pulumi.dynamic.Resource {
  /** The host's UUID (also the resource ID). */
  declare readonly uuid: pulumi.Output<string>;
  /** Whether the host can run HVM guests (hardware virtualization on). */
  declare readonly hvmCapable: pulumi.Output<boolean>;
  /** Physical CPUs of the host. */
  declare readonly cpuCount: pulumi.Output<number>;
  /** Host memory in bytes. */
  declare readonly memoryTotal: pulumi.Output<number>;
  /** Memory free for new VMs in bytes (host.compute_free_memory). */
  declare readonly memoryFree: pulumi.Output<number>;
  /** UUIDs of the VMs running on the host (control domain excluded). */
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

import * as pulumi from "@pulumi/pulumi";
import { ownershipKey } from "./ownership";
import { providerStubs } from "./provider-stub";
import type { Size, TimeoutsArgs } from "./vm";

export interface ImageArgs {
  /** The VDI's name_label. */
  nameLabel: pulumi.Input<string>;
  /** The VDI's name_description; default empty. */
  description?: pulumi.Input<string>;
  /**
   * Path of a raw disk image on the machine running `pulumi` (e.g. a cloud image converted with `qemu-img convert
   * -O raw`). A changed content (its SHA-256) imports a new image and replaces this one.
   */
  file: pulumi.Input<string>;
  /** SR for the VDI (name_label or UUID); default: the pool's default SR. */
  sr?: pulumi.Input<string>;
  /** The VDI's virtual size; default: the image's size rounded up to a MiB. Never smaller than the image. */
  size?: pulumi.Input<Size>;
  /** The image's SHA-256, computed from `file` (an output; giving it is not needed). */
  sha256?: pulumi.Input<string>;
  /** Deadlines per phase (seconds or `"10m"`); default 30 min for the import. */
  timeouts?: pulumi.Input<TimeoutsArgs>;
  /** Another pool's master URL; default: xen:url / XEN_URL. */
  url?: pulumi.Input<string>;
}

/** A disk image imported into a new VDI (xapi's /import_raw_vdi), to make templates and VMs from. */
export class Image extends pulumi.dynamic.Resource {
  /** The VDI's UUID (also the resource ID): give it to `xen.Template`'s `image` or a Vm disk's `vdi`. */
  declare readonly uuid: pulumi.Output<string>;
  /** The VDI's virtual size in bytes. */
  declare readonly virtualSize: pulumi.Output<number>;
  /** UUID of the SR holding the VDI. */
  declare readonly srUuid: pulumi.Output<string>;
  declare readonly sha256: pulumi.Output<string>;

  constructor(name: string, args: ImageArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerStubs.Image,
      name,
      {
        ...args,
        ownershipKey: ownershipKey("Image", name),
        uuid: undefined,
        virtualSize: undefined,
        srUuid: undefined,
        sha256: undefined,
      },
      opts,
      "xen",
      "Image",
    );
  }
}

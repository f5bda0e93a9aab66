import * as pulumi from "@pulumi/pulumi";
import { ownershipKey } from "./ownership";
import { providerStubs } from "./provider-stub";
import type { Size } from "./vm";

export interface TemplateArgs {
  /** The template's name_label, what a Vm's `source` names; default: the resource name. */
  nameLabel?: pulumi.Input<string>;
  /** The template's name_description; default empty. */
  description?: pulumi.Input<string>;
  /** The template it is made from (name_label or UUID); default `Other install media` (an empty HVM template). */
  base?: pulumi.Input<string>;
  /** UUID of the VDI to use as its boot disk, such as a `xen.Image`'s `uuid`; VMs made from it get a copy. */
  image?: pulumi.Input<string>;
  /** vCPUs of the VMs made from it (they may change it); default: the base's. */
  vcpus?: pulumi.Input<number>;
  /** Memory of the VMs made from it (they may change it); default: the base's. */
  memory?: pulumi.Input<Size>;
  /** `bios` or `uefi`: the firmware the image boots with; default: the base's. */
  firmware?: pulumi.Input<"bios" | "uefi">;
  /** Boot order (`c` disk, `d` CD, `n` network); default: the base's. */
  bootOrder?: pulumi.Input<string>;
  /** Another pool's master URL; default: xen:url / XEN_URL. */
  url?: pulumi.Input<string>;
}

/**
 * A VM template made from a base template and a disk image. Any change but its name and description makes a new
 * template (VMs already made from it are not affected); deleting it keeps the image.
 */
export class Template extends pulumi.dynamic.Resource {
  /** The template's UUID (also the resource ID): a Vm's `source` may name it. */
  declare readonly uuid: pulumi.Output<string>;
  declare readonly nameLabel: pulumi.Output<string>;

  constructor(name: string, args: TemplateArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerStubs.Template,
      name,
      { nameLabel: name, ...args, ownershipKey: ownershipKey("Template", name), uuid: undefined },
      opts,
      "xen",
      "Template",
    );
  }
}

import * as pulumi from "@pulumi/pulumi";

/**
 * The key a resource is tagged with on the Xen side (other_config), derived from what makes its URN, so that a
 * retried create finds what an interrupted one made instead of making a second one.
 */
export function ownershipKey(type: string, name: string): string {
  return `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}/xen:${type}/${name}`;
}

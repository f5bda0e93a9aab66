/** The native provider's package name and resource tokens: `xen:index:Vm` for the provider's `Vm`. */
export const PACKAGE = "xen";
export const RESOURCES = ["Pool", "Host", "Vm", "Image", "Template", "VmGroup", "Appliance", "Snapshot"] as const;
export type ResourceName = (typeof RESOURCES)[number];

export function token(name: string): string {
  return `${PACKAGE}:index:${name}`;
}

/** The resource a URN (`urn:pulumi:stack::project::xen:index:Vm::web`) is of, or undefined. */
export function resourceOfUrn(urn: string): ResourceName | undefined {
  const type = urn.split("::")[2]?.split("$").pop();
  return RESOURCES.find((r) => token(r) === type);
}

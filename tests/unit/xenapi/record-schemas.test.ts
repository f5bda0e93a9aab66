import { codecFor, generate, schemaName } from "../../../scripts/gen-records";

describe("record schemas come from the datamodel's field types", () => {
  test.each([
    ["string", false, "z.string()"],
    ["int", false, "xInt"],
    ["datetime", false, "xDateTime"],
    ["host ref", false, 'xRef("host")'],
    ["VBD ref set", false, 'xRefSet("VBD")'],
    ["(string -> string) map", false, "xStrMap"],
    ["(string -> enum vm_operations) map", false, "xStrMap"],
    ["enum vm_power_state", true, "z.enum(ENUMS.vm_power_state)"],
    ["enum domain_type", false, "looseEnum(ENUMS.domain_type)"],
    ["enum vm_operations set", false, "looseEnumSet(ENUMS.vm_operations)"],
  ] as const)("%s (strict %s) -> %s", (type, strict, code) => {
    expect(codecFor(type, strict)).toBe(code);
  });

  test("every field the client relies on exists in the datamodel with a codec", () => {
    const text = generate();
    expect(text).toContain(`export const ${schemaName("VM_guest_metrics")} = z.looseObject({`);
    expect(text).toContain("  power_state: z.enum(ENUMS.vm_power_state),");
    expect(schemaName("VM_guest_metrics")).toBe("VmGuestMetricsRecordSchema");
  });
});

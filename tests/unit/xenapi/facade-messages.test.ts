import { tsType } from "../../../scripts/gen-facade";

describe("the generated facade's types come from the datamodel's", () => {
  test.each([
    ["string", "param", "string"],
    ["VM ref", "param", "string"],
    ["VM ref", "result", 'Ref<"VM">'],
    ["VM ref set", "result", 'Array<Ref<"VM">>'],
    ["(string -> string) map", "param", "Record<string, string>"],
    ["(VDI ref -> SR ref) map", "param", "Record<string, string>"],
    ["enum vm_power_state", "result", 'EnumValue<"vm_power_state">'],
    ["int", "param", "number"],
    ["bool", "param", "boolean"],
    ["void", "result", "void"],
  ] as const)("%s (%s) -> %s", (type, position, ts) => {
    expect(tsType(type, position)).toBe(ts);
  });
});

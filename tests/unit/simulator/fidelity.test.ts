import * as fs from "node:fs";
import * as path from "node:path";
import { ERROR_CATALOG } from "../../../xenapi-model/errors";
import { COVERAGE_PATH, renderCoverage } from "../../../simulator/scripts/gen-coverage";

const simDir = path.resolve(__dirname, "../../../simulator");
const errors = ERROR_CATALOG;
/** Raised by xapi's lifecycle code (api_errors.ml) but absent from the datamodel's error list. */
const OUTSIDE_DATAMODEL = ["VM_IS_SNAPSHOT", "REVERT_ONLY_ALLOWED_ON_SNAPSHOT", "VDI_IO_ERROR"];

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return sources(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

test("every error code the simulator raises is a real XenAPI error code", () => {
  const codes = new Set<string>();
  for (const f of sources(simDir))
    for (const m of fs.readFileSync(f, "utf8").matchAll(/\bfail(?:ure)?\(\s*"([A-Z_]+)"/g)) codes.add(m[1]!);
  expect(codes.size).toBeGreaterThan(50);
  const unknown = [...codes].filter((c) => !(c in errors) && !OUTSIDE_DATAMODEL.includes(c));
  expect(unknown).toEqual([]);
});

test("COVERAGE.md is up to date with the datamodel and the method registry", () => {
  expect(fs.readFileSync(COVERAGE_PATH, "utf8")).toBe(renderCoverage());
});

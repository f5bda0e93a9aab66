import { spawnSync } from "node:child_process";
import * as path from "node:path";

// In a child process: the generator formats with prettier, whose ESM loading jest's VM does not support.
test("xenapi-model/ and COVERAGE.md are what scripts/gen-datamodel.ts generates (npm run gen:datamodel)", () => {
  const root = path.resolve(__dirname, "../..");
  const run = spawnSync(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", "scripts/gen-datamodel.ts", "--check"],
    { cwd: root, encoding: "utf8" },
  );
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
}, 60_000);

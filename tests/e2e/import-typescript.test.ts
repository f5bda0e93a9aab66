/**
 * `pulumi import` in a TypeScript project: the engine asks the project's language host (our Node.js one,
 * scripts/language-host) to turn the imported resource into a program (GenerateProgram), which it does with
 * scripts/gen-program, Pulumi's TypeScript code generator. The VM is made by hand, as in native.test.ts.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { XenApiClient } from "../../provider/xenapi";
import { startSimulator, type RunningSimulator } from "../../simulator";
import { createE2eEnv, E2E_TIMEOUT_MS, type E2eEnv } from "./harness";

jest.setTimeout(E2E_TIMEOUT_MS);

const PASSWORD = "e2e-import-ts-root-pw-3b90";
const run = promisify(execFile);

let sim: RunningSimulator;
let xen: XenApiClient;
let env: E2eEnv;

beforeAll(async () => {
  sim = await startSimulator({ port: 0, http: true, timeScale: 0, failedLoginDelayMs: 0, rootPassword: PASSWORD });
  xen = new XenApiClient({ url: sim.url, username: "root", password: PASSWORD });
  env = await createE2eEnv({ name: "import-ts" });
});

afterAll(async () => {
  await env?.cleanup();
  await xen?.close().catch(() => undefined);
  await sim?.close();
});

test("pulumi import in a TypeScript project writes a TypeScript program with the VM's inputs", async () => {
  const [tpl] = await xen.call<string[]>("VM.get_by_name_label", ["Debian Bookworm 12"]);
  const ref = await xen.call<string>("VM.clone", [tpl, "hand-made"]);
  await xen.call("VM.provision", [ref]);
  const record = await xen.getRecord("VM", ref);

  const dir = await fs.promises.mkdtemp(path.join(env.dir, "import-ts-"));
  await fs.promises.writeFile(
    path.join(dir, "Pulumi.yaml"),
    "name: pulumi-xen-import-ts\nruntime:\n  name: nodejs\n  options:\n    typescript: true\nmain: index.ts\n",
  );
  const stack = await env.openStack(dir, {
    config: { "xen:url": { value: sim.url }, "xen:password": { value: PASSWORD, secret: true } },
  });
  const out = path.join(dir, "index.ts");
  const args = ["import", "xen:index:Vm", "web", record.uuid, "--yes", "--protect=false", "--out", out];
  await run(env.pulumiCommand.command, [...args, "--stack", stack.name, "--non-interactive"], {
    cwd: dir,
    env: { ...process.env, ...env.envVars },
  });
  const code = await fs.promises.readFile(out, "utf8");
  // The SDK's name is the schema's language.nodejs.packageName.
  expect(code).toContain('import * as xen from "@pulumi-xen/xen";');
  expect(code).toContain('new xen.Vm("web", {');
  expect(code).toContain('nameLabel: "hand-made",');
  expect(code).toContain(`vcpus: ${record.VCPUs_at_startup},`);
  expect(code).toContain(`maxVcpus: ${record.VCPUs_max},`);
  expect(code).toContain('powerState: "Halted",');
});

import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { call, control, failure, login, newVm, sim } from "./helpers";

const root = path.resolve(__dirname, "../../..");
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "xen-sim-persist-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test("state survives a clean restart; --reset starts clean", async () => {
  const a = await sim({ dataDir: dir, port: 0 });
  const s = await login(a.url);
  const vm = await newVm(a.url, s, "Debian Bookworm 12", "durable");
  await call(a.url, "VM.start", s, vm, false, false);
  await call(a.url, "VM.add_to_other_config", s, vm, "pulumi:id", "abc");
  const sum = (await control<{ checksum: string }>(a, "GET", "/checksum")).checksum;
  const token = a.controlToken;
  await a.close();
  expect(fs.readFileSync(path.join(dir, "control-token"), "utf8").trim()).toBe(token);

  const b = await sim({ dataDir: dir, port: 0 });
  try {
    expect(b.controlToken).toBe(token);
    expect((await control<{ checksum: string }>(b, "GET", "/checksum")).checksum).toBe(sum);
    expect(await call(b.url, "VM.get_power_state", s, vm)).toBe("Running");
    expect(await call(b.url, "VM.get_other_config", s, vm)).toMatchObject({ "pulumi:id": "abc" });
  } finally {
    await b.close();
  }
  const c = await sim({ dataDir: dir, port: 0, reset: true });
  try {
    const s2 = await login(c.url);
    expect(await failure(call(c.url, "VM.get_record", s2, vm))).toEqual(["HANDLE_INVALID", "VM", vm]);
  } finally {
    await c.close();
  }
});

test("a failed call writes nothing", async () => {
  const a = await sim({ dataDir: dir, port: 0 });
  try {
    const s = await login(a.url);
    const before = (await control<{ checksum: string }>(a, "GET", "/checksum")).checksum;
    const [tpl] = await call<string[]>(a.url, "VM.get_by_name_label", s, "Debian Bookworm 12");
    const vm = await call<string>(a.url, "VM.clone", s, tpl, "big");
    const mid = (await control<{ checksum: string }>(a, "GET", "/checksum")).checksum;
    expect(mid).not.toBe(before);
    // provision runs out of space half-way through a two-disk template: nothing may remain
    await call(a.url, "VM.set_other_config", s, vm, {
      disks:
        '<provision><disk device="0" size="1073741824" sr="" bootable="true" type="system"/><disk device="1" size="999999999999999" sr="" bootable="false" type="system"/></provision>',
    });
    const mid2 = (await control<{ checksum: string }>(a, "GET", "/checksum")).checksum;
    expect(await failure(call(a.url, "VM.provision", s, vm))).toEqual(["PROVISION_FAILED_OUT_OF_SPACE"]);
    expect((await control<{ checksum: string }>(a, "GET", "/checksum")).checksum).toBe(mid2);
    expect(await call(a.url, "VM.get_VBDs", s, vm)).toEqual([]);
  } finally {
    await a.close();
  }
});

function startCli(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "simulator/bin/xen-simulator"), ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`CLI did not start: ${out}`)), 20000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      for (const line of out.split("\n")) {
        if (!line.includes('"msg":"ready"')) continue;
        clearTimeout(timer);
        resolve({ child, url: (JSON.parse(line) as { url: string }).url });
        return;
      }
    });
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => reject(new Error(`CLI exited ${code}: ${out}`)));
  });
}

test("acknowledged mutations survive kill -9 of the CLI", async () => {
  const { child, url } = await startCli([
    "--data",
    dir,
    "--port",
    "0",
    "--http",
    "--time-scale",
    "0",
    "--failed-login-delay-ms",
    "0",
  ]);
  let vm: string;
  let s: string;
  try {
    s = await login(url);
    vm = await newVm(url, s, "CentOS 6 (PV)", "crash-proof");
    await call(url, "VM.set_name_description", s, vm, "acknowledged");
  } finally {
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
  }
  const b = await sim({ dataDir: dir, port: 0 });
  try {
    expect(await call(b.url, "VM.get_name_description", s, vm)).toBe("acknowledged");
    expect((await call<string[]>(b.url, "VM.get_VIFs", s, vm)).length).toBe(1);
  } finally {
    await b.close();
  }
}, 30000);

test("SIGTERM shuts the CLI down cleanly", async () => {
  const { child } = await startCli(["--port", "0", "--http"]);
  child.kill("SIGTERM");
  const code = await new Promise((r) => child.once("exit", r));
  expect(code).toBe(0);
}, 30000);

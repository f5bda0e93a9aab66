/**
 * The VM lifecycle under the real Pulumi engine against an in-process simulator: create, no-change preview,
 * live changes, live migration, the restart rule, drift, out-of-band delete, an injected failure mid-create,
 * destroy, and no password anywhere in state or logs.
 */
import type { Stack } from "@pulumi/pulumi/automation";
import { XenApiClient } from "../../provider/xenapi";
import { startSimulator, type RunningSimulator } from "../../simulator";
import { createE2eEnv, E2E_TIMEOUT_MS, fixtureDir, type E2eEnv } from "./harness";

jest.setTimeout(E2E_TIMEOUT_MS);

const PASSWORD = "e2e-root-password-7f3a";
const GiB = 1024 ** 3;

let sim: RunningSimulator;
let env: E2eEnv;
let xen: XenApiClient;
let stack: Stack;

async function control(method: string, path: string, body?: unknown) {
  const res = await fetch(`${sim.controlUrl}/${path}`, {
    method,
    headers: { authorization: `Bearer ${sim.controlToken}`, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  expect(res.status).toBeLessThan(300);
  return res.json() as Promise<unknown>;
}

/** How many times the simulator was asked for any of these methods (sync or Async). */
async function callCount(...methods: string[]): Promise<number> {
  const metrics = (await control("GET", "metrics")) as { calls: Record<string, { count: number }> };
  return methods.reduce((n, m) => n + (metrics.calls[m]?.count ?? 0) + (metrics.calls[`Async.${m}`]?.count ?? 0), 0);
}

const POWER_CYCLE = [
  "VM.clean_shutdown",
  "VM.hard_shutdown",
  "VM.start",
  "VM.start_on",
  "VM.clean_reboot",
  "VM.hard_reboot",
];

type VmRec = Record<string, unknown> & { uuid: string; name_label: string };

/** VMs other than control domains and the inventory's default templates (a clone not yet provisioned counts). */
async function vms(): Promise<Map<string, VmRec>> {
  const out = new Map<string, VmRec>();
  for (const [ref, vm] of await xen.getAllRecords("VM")) {
    const r = vm as unknown as VmRec;
    if (r.is_default_template !== true && r.is_control_domain !== true) out.set(ref, r);
  }
  return out;
}

async function vmByUuid(uuid: string): Promise<VmRec> {
  return (await xen.getRecord("VM", await xen.getByUuid("VM", uuid))) as unknown as VmRec;
}

async function hostUuid(name: string): Promise<string> {
  for (const h of (await xen.getAllRecords("host")).values()) if (h.name_label === name) return h.uuid;
  throw new Error(`no host ${name}`);
}

beforeAll(async () => {
  sim = await startSimulator({ port: 0, http: true, timeScale: 0, failedLoginDelayMs: 0, rootPassword: PASSWORD });
  xen = new XenApiClient({ url: sim.url, username: "root", password: PASSWORD });
  env = await createE2eEnv({
    name: "lifecycle",
    envVars: { XEN_URL: sim.url, XEN_USERNAME: "root", XEN_PASSWORD: PASSWORD },
  });
  stack = await env.openStack(fixtureDir("vm"));
});

afterAll(async () => {
  await env?.cleanup();
  await xen?.close().catch(() => undefined);
  await sim?.close();
});

describe("Vm lifecycle under the real engine", () => {
  let uuid: string;

  test("up creates the VM; a second preview shows no changes", async () => {
    const up = await env.up(stack);
    expect(up.summary.result).toBe("succeeded");
    uuid = up.outputs.uuid!.value as string;
    const vm = await vmByUuid(uuid);
    expect(vm.power_state).toBe("Running");
    expect(vm.memory_static_max).toBe(2 * GiB);
    expect(vm.VBDs).toHaveLength(2);
    expect(vm.other_config).toMatchObject({ "pulumi-xen.owner": expect.stringContaining("xen:Vm/app") });
    await env.preview(stack, { expectNoChanges: true });
  });

  test("a memory change within maxMemory is applied live: same VM, no restart", async () => {
    const before = await vmByUuid(uuid);
    const cycles = await callCount(...POWER_CYCLE);
    await stack.setConfig("vmtest:memory", { value: "1536MiB" });
    const up = await env.up(stack);
    expect(up.summary.resourceChanges).toMatchObject({ update: 1 });
    expect(up.outputs.uuid!.value).toBe(uuid);
    const after = await vmByUuid(uuid);
    expect(after.memory_dynamic_max).toBe(1.5 * GiB);
    expect(after.domid).toBe(before.domid); // the same domain: not restarted
    expect(await callCount(...POWER_CYCLE)).toBe(cycles);
    expect(after.power_state).toBe("Running");
  });

  test("an affinity change migrates the VM live to that host", async () => {
    const before = await vmByUuid(uuid);
    await stack.setConfig("vmtest:affinityHost", { value: "xen-02" });
    const up = await env.up(stack);
    expect(up.outputs.uuid!.value).toBe(uuid);
    const after = await vmByUuid(uuid);
    const xen02 = await xen.getByUuid("host", await hostUuid("xen-02"));
    expect(after.resident_on).toBe(xen02);
    expect(after.affinity).toBe(xen02);
    expect(up.outputs.residentOn!.value).toBe(await hostUuid("xen-02"));
    expect(after.power_state).toBe("Running");
    expect(before.resident_on).not.toBe(xen02);
  });

  test("a change that needs a restart fails preview without allowRestart, and restarts once with it", async () => {
    await stack.setConfig("vmtest:maxMemory", { value: "4GiB" });
    await expect(env.preview(stack)).rejects.toThrow(/maxMemory 2 GiB -> 4 GiB.*allowRestart: true/s);
    expect((await vmByUuid(uuid)).memory_static_max).toBe(2 * GiB);

    const before = await vmByUuid(uuid);
    const [shutdowns, starts] = [await callCount("VM.clean_shutdown"), await callCount("VM.start_on")];
    await stack.setConfig("vmtest:allowRestart", { value: "true" });
    const up = await env.up(stack);
    expect(up.outputs.uuid!.value).toBe(uuid);
    const after = await vmByUuid(uuid);
    expect(after.memory_static_max).toBe(4 * GiB);
    expect(after.power_state).toBe("Running");
    // One restart: one clean shutdown and one start on the same host.
    expect(await callCount("VM.clean_shutdown")).toBe(shutdowns + 1);
    expect(await callCount("VM.start_on")).toBe(starts + 1);
    expect(after.resident_on).toBe(before.resident_on); // started again on the same host
    expect(env.log.text()).toContain("restart required: maxMemory 2 GiB -> 4 GiB");
    await env.preview(stack, { expectNoChanges: true });
  });

  test("an out-of-band change shows in refresh and the next up reconciles it", async () => {
    const ref = await xen.getByUuid("VM", uuid);
    await xen.call("VM.set_name_label", [ref, "renamed-by-hand"]);
    const refresh = await env.refresh(stack);
    expect(refresh.summary.resourceChanges).toMatchObject({ update: 1 });
    const up = await env.up(stack);
    expect(up.summary.resourceChanges).toMatchObject({ update: 1 });
    expect((await vmByUuid(uuid)).name_label).toBe("app");
    await env.preview(stack, { expectNoChanges: true });
  });

  test("an out-of-band delete is dropped by refresh and recreated by up", async () => {
    const ref = await xen.getByUuid("VM", uuid);
    await xen.callAsync("VM.hard_shutdown", [ref]);
    await xen.callAsync("VM.destroy", [ref]);
    const refresh = await env.refresh(stack);
    expect(refresh.summary.resourceChanges).toMatchObject({ delete: 1 });
    const up = await env.up(stack);
    expect(up.summary.resourceChanges).toMatchObject({ create: 1 });
    const fresh = up.outputs.uuid!.value as string;
    expect(fresh).not.toBe(uuid);
    expect((await vmByUuid(fresh)).power_state).toBe("Running");
    uuid = fresh;
    const named = [...(await vms()).values()].filter((v) => v.name_label === "app");
    expect(named).toHaveLength(1);
  });

  test("a failure injected mid-create is resumed by the next up: no duplicate, no orphan", async () => {
    const second = await env.openStack(fixtureDir("vm"), { stackName: `e2e-lifecycle-fault-${process.pid}` });
    await second.setConfig("vmtest:name", { value: "faulty" });
    await control("POST", "faults", { method: "VM.provision", error: ["SR_FULL", "10737418240", "0"], count: 1 });
    await expect(env.up(second)).rejects.toThrow(/SR_FULL/);
    const partial = [...(await vms()).values()].filter((v) => v.name_label === "faulty");
    expect(partial).toHaveLength(1); // tagged and recorded, not orphaned

    const up = await env.up(second);
    expect(up.summary.result).toBe("succeeded");
    const faulty = [...(await vms()).values()].filter((v) => v.name_label === "faulty");
    expect(faulty).toHaveLength(1);
    expect(faulty[0]!.uuid).toBe(up.outputs.uuid!.value);
    expect(faulty[0]!.power_state).toBe("Running");
    await env.preview(second, { expectNoChanges: true });

    await env.destroy(second);
    expect([...(await vms()).values()].filter((v) => v.name_label === "faulty")).toHaveLength(0);
    await second.workspace.removeStack(second.name);
  });

  test("destroy leaves no VM of the stack and none of the disks it created", async () => {
    const disks = (await stack.outputs()).uuid!.value as string;
    const vdis = ((await vmByUuid(disks)).VBDs as string[]).length;
    expect(vdis).toBe(2);
    const diskUuids = JSON.parse(await env.exportState(stack)).deployment.resources.find(
      (r: { type: string }) => r.type === "pulumi-nodejs:dynamic/xen:Vm",
    ).outputs.diskUuids as string[];
    expect(diskUuids).toHaveLength(2);
    await env.destroy(stack);
    expect([...(await vms()).values()].filter((v) => v.name_label === "app")).toHaveLength(0);
    const remaining = new Set([...(await xen.getAllRecords("VDI")).values()].map((v) => v.uuid));
    for (const d of diskUuids) expect(remaining.has(d)).toBe(false);
  });

  test("no password in the exported state, the backend files or any log", async () => {
    expect(await env.exportState(stack)).not.toContain(PASSWORD);
    expect(await env.backendText()).not.toContain(PASSWORD);
    expect(env.log.text().length).toBeGreaterThan(0);
    expect(env.log.contains(PASSWORD)).toBe(false);
  });
});

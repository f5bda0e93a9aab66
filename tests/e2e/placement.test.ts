/**
 * Placement rules, start order, protection and snapshots under the real Pulumi engine: an anti-affinity group
 * across a pool and through a host's maintenance, an appliance started and stopped in order (the simulator's
 * event stream proves order and delays), a protected VM that refuses VM.destroy by hand and a `pulumi destroy`
 * that says what to do, and a snapshot, a change, a revert with refresh and preview clean.
 */
import type { Stack } from "@pulumi/pulumi/automation";
import { XenApiClient } from "../../provider/xenapi";
import { startSimulator, type RunningSimulator } from "../../simulator";
import { parseXenDate } from "../../simulator/clock";
import { createE2eEnv, E2E_TIMEOUT_MS, fixtureDir, type E2eEnv } from "./harness";

jest.setTimeout(E2E_TIMEOUT_MS);

const PASSWORD = "e2e-placement-pw-77a0";

let sim: RunningSimulator;
let env: E2eEnv;
let xen: XenApiClient;
let counter = 0;

type Rec = Record<string, unknown> & { uuid: string; name_label: string };

async function control(method: string, route: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${sim.controlUrl}/${route}`, {
    method,
    headers: { authorization: `Bearer ${sim.controlToken}`, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  expect(res.status).toBeLessThan(300);
  return res.json();
}

async function vm(uuid: string): Promise<Rec> {
  return (await xen.getRecord("VM", await xen.getByUuid("VM", uuid))) as unknown as Rec;
}

async function plStack(config: Record<string, unknown>): Promise<{ stack: Stack; prefix: string }> {
  const prefix = `pl${process.pid}x${counter++}`;
  const stack = await env.openStack(fixtureDir("placement"), { stackName: `e2e-placement-${prefix}` });
  await setConfig(stack, { prefix, ...config });
  return { stack, prefix };
}

async function setConfig(stack: Stack, config: Record<string, unknown>): Promise<void> {
  for (const [k, v] of Object.entries(config))
    await stack.setConfig(`pl:${k}`, { value: typeof v === "string" ? v : JSON.stringify(v) });
}

async function expectClean(stack: Stack): Promise<void> {
  const refresh = await env.refresh(stack);
  expect(refresh.summary.resourceChanges?.update ?? 0).toBe(0);
  await env.preview(stack, { expectNoChanges: true });
}

function outputMap(res: { outputs: Record<string, { value: unknown }> }, key: string): Record<string, string> {
  return res.outputs[key]!.value as Record<string, string>;
}

beforeAll(async () => {
  sim = await startSimulator({ port: 0, http: true, timeScale: 0, failedLoginDelayMs: 0, rootPassword: PASSWORD });
  xen = new XenApiClient({ url: sim.url, username: "root", password: PASSWORD });
  env = await createE2eEnv({
    name: "placement",
    envVars: { XEN_URL: sim.url, XEN_USERNAME: "root", XEN_PASSWORD: PASSWORD },
  });
});

afterAll(async () => {
  await env?.cleanup();
  await xen?.close().catch(() => undefined);
  await sim?.close();
});

describe("protection", () => {
  test("a protected VM refuses VM.destroy by hand; pulumi destroy says what to change; then it goes", async () => {
    const vms = [{ name: "db", args: { protect: { destroy: true, shutdown: true } } }];
    const { stack } = await plStack({ vms });
    const up = await env.up(stack);
    const uuid = outputMap(up, "vmUuids").db!;
    const ref = await xen.getByUuid("VM", uuid);
    await expect(xen.call("VM.hard_shutdown", [ref])).rejects.toMatchObject({ code: "OPERATION_BLOCKED" });
    await expect(xen.call("VM.destroy", [ref])).rejects.toMatchObject({ code: "OPERATION_BLOCKED" });
    await expectClean(stack);

    await expect(env.destroy(stack)).rejects.toThrow(/protected[\s\S]*protect: \{ destroy: false, shutdown: false \}/);
    expect((await vm(uuid)).power_state).toBe("Running");

    await setConfig(stack, { vms: [{ name: "db", args: { protect: {} } }] });
    await env.up(stack);
    await env.destroy(stack);
    await expect(xen.getByUuid("VM", uuid)).rejects.toMatchObject({ code: "UUID_INVALID" });
  });

  test("a restart while shutdown is protected is refused at preview, naming protect.shutdown", async () => {
    const { stack } = await plStack({ vms: [{ name: "app", args: { protect: { shutdown: true } } }] });
    await env.up(stack);
    await setConfig(stack, {
      vms: [{ name: "app", args: { protect: { shutdown: true }, maxMemory: "4GiB", allowRestart: true } }],
    });
    await expect(env.preview(stack)).rejects.toThrow(/protect\.shutdown is set/);
    await setConfig(stack, { vms: [{ name: "app", args: { protect: {} } }] });
    await env.up(stack);
    await env.destroy(stack);
  });
});

describe("snapshots", () => {
  test("a snapshot taken, the VM changed, reverted: same VM, the snapshot's disk, refresh and preview clean", async () => {
    const { stack } = await plStack({
      vms: [{ name: "web", args: { disks: [{ size: "10GiB" }] } }],
      snapshotOf: "web",
    });
    const up = await env.up(stack);
    const uuid = outputMap(up, "vmUuids").web!;
    const [bootBefore] = outputMap(up, "diskUuids").web as unknown as string[];
    const snapshotUuid = up.outputs.snapshotUuid!.value as string;
    await control("PUT", `vdis/${bootBefore}/content`, { content: "written after the snapshot" });

    await setConfig(stack, { vms: [{ name: "web", args: { disks: [{ size: "10GiB" }], revertTo: snapshotUuid } }] });
    const preview = await env.preview(stack);
    expect(preview.stdout + env.log.text()).toMatch(/revertTo [0-9a-f-]+: VM\.revert/);
    const reverted = await env.up(stack);
    expect(reverted.summary.resourceChanges).toMatchObject({ update: 1 });
    expect(outputMap(reverted, "vmUuids").web).toBe(uuid);
    // The disk holds what it held at the snapshot (xapi reverts it in place or swaps in a copy, per SR).
    const [bootAfter] = outputMap(reverted, "diskUuids").web as unknown as string[];
    const content = (await control("GET", `vdis/${bootAfter}/content`)) as { content: string };
    expect(content.content).not.toBe("written after the snapshot");
    expect((await vm(uuid)).power_state).toBe("Running");
    await expectClean(stack);
    await env.destroy(stack);
  });

  test("snapshotBeforeChange takes one before a restart and keeps the last N", async () => {
    const base = { snapshotBeforeChange: true, snapshotsKept: 1, allowRestart: true };
    const { stack } = await plStack({ vms: [{ name: "svc", args: { ...base, maxMemory: "2GiB" } }] });
    const uuid = outputMap(await env.up(stack), "vmUuids").svc!;
    for (const maxMemory of ["3GiB", "4GiB"]) {
      await setConfig(stack, { vms: [{ name: "svc", args: { ...base, maxMemory } }] });
      await env.up(stack);
    }
    const snaps = (await vm(uuid)).snapshots as string[];
    expect(snaps).toHaveLength(1);
    expect(String((await xen.getRecord("VM", snaps[0]!)).name_label)).toMatch(/before maxMemory/);
    await env.destroy(stack);
  });
});

describe("anti-affinity groups", () => {
  test("three members on three hosts; a host in maintenance: the evacuation keeps them apart where it can and says where not", async () => {
    const vms = ["a", "b", "c"].map((name) => ({ name, group: true }));
    const join = ["127.42.0.2", "127.42.0.3"];
    const { stack } = await plStack({ join, group: { placement: "anti-affinity" }, vms });
    const up = await env.up(stack);
    const hosts = Object.values(outputMap(up, "residentOn"));
    expect(new Set(hosts).size).toBe(3);
    const groupUuid = up.outputs.groupUuid!.value as string;
    const group = (await xen.getRecord(
      "VM_group" as never,
      await xen.getByUuid("VM_group" as never, groupUuid),
    )) as unknown as Rec;
    expect((group.VMs as string[]).length).toBe(3);
    await expectClean(stack);

    // Three members, two hosts left: one pair must share, and that is said.
    await setConfig(stack, { maintenance: ["127.42.0.3"] });
    await env.up(stack);
    const after: string[] = [];
    for (const u of Object.values(outputMap(up, "vmUuids"))) after.push(String((await vm(u)).resident_on));
    expect(new Set(after).size).toBe(2);
    expect(env.log.text()).toMatch(/anti-affinity group [^:]+: .+ share /);
    await env.refresh(stack);
    await env.preview(stack, { expectNoChanges: true });

    // Pinning two members to one host is warned about.
    await setConfig(stack, {
      maintenance: [],
      vms: vms.map((v) => (v.name === "c" ? v : { ...v, args: { affinityHost: "xen-02" } })),
    });
    const preview = await env.preview(stack);
    expect(preview.stdout + env.log.text()).toMatch(/warning: xen:Vm .*affinityHost xen-02 .*anti-affinity group/);
    await setConfig(stack, { vms, join: [] });
    await env.destroy(stack);
  });
});

describe("appliances", () => {
  test("started and stopped in order, with the delays, as the event stream's task times show", async () => {
    const vms = ["db", "app", "web"].map((name) => ({ name }));
    const members = [
      { vm: "db", order: 0, startDelay: "30s", shutdownDelay: "5s" },
      { vm: "app", order: 1, startDelay: "20s", shutdownDelay: "5s" },
      { vm: "web", order: 2 },
    ];
    const { stack } = await plStack({ vms, appliance: { powerState: "Halted", members } });
    const up = await env.up(stack);
    const uuids = outputMap(up, "vmUuids");
    for (const u of Object.values(uuids)) expect((await vm(u)).power_state).toBe("Halted");
    await expectClean(stack);

    // Start: the simulator at a known time scale, so the delays are real (30 s -> 3 s; XenAPI times are seconds).
    await control("POST", "time-scale", { scale: 0.1 });
    const token = await xen.call<{ token: string }>("event.from", [["vm_metrics"], "", 0.01]);
    await setConfig(stack, { appliance: { powerState: "Running", members } });
    const preview = await env.preview(stack);
    expect(preview.stdout + env.log.text()).toMatch(/members start in ascending order/);
    await env.up(stack);
    await control("POST", "time-scale", { scale: 0 });
    for (const u of Object.values(uuids)) expect((await vm(u)).power_state).toBe("Running");

    // The members' start times as the event stream reported them (VM_metrics.start_time, whole seconds): in
    // order, each order after the previous one's start_delay (3 s and 2 s at scale 0.1).
    const events = await xen.call<{ events: Array<{ class: string; ref: string; snapshot?: Rec }> }>("event.from", [
      ["vm_metrics"],
      token.token,
      0.01,
    ]);
    const startedAt = async (name: string) => {
      const metrics = (await vm(uuids[name]!)).metrics as string;
      const seen = events.events.filter((e) => e.ref === metrics && e.snapshot).map((e) => e.snapshot!.start_time);
      return parseXenDate(String(seen.at(-1)))!;
    };
    const [db, app, web] = [await startedAt("db"), await startedAt("app"), await startedAt("web")];
    expect(app - db).toBeGreaterThanOrEqual(2000);
    expect(web - app).toBeGreaterThanOrEqual(1000);
    await expectClean(stack);

    // Stop: the reverse order.
    await setConfig(stack, { appliance: { powerState: "Halted", members } });
    await env.up(stack);
    for (const u of Object.values(uuids)) expect((await vm(u)).power_state).toBe("Halted");
    await expectClean(stack);
    await env.destroy(stack);
  });
});

/**
 * The examples under examples/ (datacenter, which `npm run demo` runs, gitops, maintenance, adopt) run as they are, through the real Pulumi engine,
 * each against its own in-process simulator: up, a no-change preview, the example's own scenario checked in the
 * simulator through the XenAPI client, and destroy.
 */
import * as path from "node:path";
import type { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { createVmOutOfBand } from "../../examples/adopt/create-vm";
import { XenApiClient } from "../../provider/xenapi";
import { startSimulator, type RunningSimulator } from "../../simulator";
import { createE2eEnv, E2E_TIMEOUT_MS, REPO_ROOT, type E2eEnv } from "./harness";

jest.setTimeout(E2E_TIMEOUT_MS);

const PASSWORD = "e2e-examples-root-pw-5c1e";
const GiB = 1024 ** 3;
const example = (name: string) => path.join(REPO_ROOT, "examples", name);

type Rec = Record<string, unknown> & { uuid: string; name_label: string };

interface Target {
  sim: RunningSimulator;
  xen: XenApiClient;
  env: E2eEnv;
}

/** A fresh simulator, a client to inspect it, and an isolated Pulumi backend whose programs talk to it. */
async function target(name: string): Promise<Target> {
  const sim = await startSimulator({
    port: 0,
    http: true,
    timeScale: 0,
    failedLoginDelayMs: 0,
    rootPassword: PASSWORD,
  });
  const xen = new XenApiClient({ url: sim.url, username: "root", password: PASSWORD });
  const env = await createE2eEnv({
    name,
    envVars: { XEN_URL: sim.url, XEN_USERNAME: "root", XEN_PASSWORD: PASSWORD },
  });
  return { sim, xen, env };
}

async function release(t: Target | undefined): Promise<void> {
  if (!t) return;
  await t.env.cleanup();
  await t.xen.close().catch(() => undefined);
  await t.sim.close();
}

/** The simulator's control plane (JSON in and out). */
async function control(sim: RunningSimulator, method: string, route: string): Promise<unknown> {
  const res = await fetch(`${sim.controlUrl}/${route}`, {
    method,
    headers: { authorization: `Bearer ${sim.controlToken}` },
  });
  expect(res.status).toBeLessThan(300);
  return res.json();
}

/** Regular VMs (no templates, no control domains), by ref. */
async function guests(xen: XenApiClient): Promise<Map<string, Rec>> {
  const out = new Map<string, Rec>();
  for (const [ref, vm] of await xen.getAllRecords("VM")) {
    const r = vm as unknown as Rec;
    if (r.is_a_template !== true && r.is_control_domain !== true) out.set(ref, r);
  }
  return out;
}

async function vmByUuid(xen: XenApiClient, uuid: string): Promise<Rec> {
  return (await xen.getRecord("VM", await xen.getByUuid("VM", uuid))) as unknown as Rec;
}

async function hostsByName(xen: XenApiClient): Promise<Map<string, Rec & { ref: string }>> {
  const out = new Map<string, Rec & { ref: string }>();
  for (const [ref, h] of await xen.getAllRecords("host"))
    out.set(String(h.name_label), { ...(h as unknown as Rec), ref });
  return out;
}

/** Guests resident on a host (its control domain excluded). */
async function residentGuests(xen: XenApiClient, hostRef: string): Promise<string[]> {
  const host = (await xen.getRecord("host", hostRef)) as unknown as Rec;
  const out: string[] = [];
  for (const ref of host.resident_VMs as string[]) {
    const vm = (await xen.getRecord("VM", ref)) as unknown as Rec;
    if (vm.is_control_domain !== true) out.push(vm.uuid);
  }
  return out.sort();
}

/** Opens an e2e stack of the gitops program carrying the committed config of `Pulumi.<committed>.yaml`. */
async function gitopsStack(env: E2eEnv, committed: "dev" | "prod"): Promise<Stack> {
  const stack = await env.openStack(example("gitops"));
  const ws = stack.workspace as LocalWorkspace;
  const settings = await ws.stackSettings(committed);
  const own = await ws.stackSettings(stack.name);
  await ws.saveStackSettings(stack.name, { ...own, config: settings.config });
  return stack;
}

const timings: string[] = [];
async function timed<T>(label: string, op: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await op();
  } finally {
    timings.push(`${label}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

afterAll(() => {
  if (process.env["PULUMI_XEN_E2E_TIMINGS"] === "1") console.log(timings.join("\n"));
});

describe("examples/datacenter (npm run demo's program): a pool with HA and six VMs placed as intended", () => {
  let t: Target | undefined;
  beforeAll(async () => {
    t = await target("datacenter");
  });
  afterAll(() => release(t));

  test("up forms the pool and places every VM; a second up has nothing to do; destroy removes every VM", async () => {
    const { xen, env } = t!;
    const stack = await env.openStack(REPO_ROOT); // the root Pulumi.yaml runs examples/datacenter
    const up = await timed("datacenter up", () => env.up(stack));
    expect(up.summary.result).toBe("succeeded");
    expect(up.summary.resourceChanges).toEqual({ create: 11 }); // the stack, 3 host joins, the pool, 6 VMs
    const pools = [...(await xen.getAllRecords("pool")).values()];
    const dc = pools.find((p) => p.name_label === "datacenter")!;
    expect(dc.ha_enabled).toBe(true);
    const hosts = await hostsByName(xen);
    const placement = up.outputs.placement!.value as Record<string, { host: string; powerState: string }>;
    expect(Object.keys(placement).sort()).toEqual(["db", "legacy-pv", "web-1", "web-2", "web-3", "win-app"]);
    for (const row of Object.values(placement)) expect(row.powerState).toBe("Running");
    expect(placement["legacy-pv"]!.host).toBe(hosts.get("xen-04")!.uuid);
    const db = [...(await guests(xen)).values()].find((v) => v.name_label === "db")!;
    const dataDisk = [];
    for (const vbd of db.VBDs as string[]) {
      const vdi = (await xen.getRecord("VDI", (await xen.getRecord("VBD", vbd)).VDI as string)) as unknown as Rec;
      if ((vdi.other_config as Record<string, string>)["pulumi-xen.disk"] === "data") dataDisk.push(vdi);
    }
    expect(dataDisk.map((d) => Number(d.virtual_size))).toEqual([100 * GiB]);

    const again = await timed("datacenter second up", () => env.up(stack));
    expect(again.summary.resourceChanges).toEqual({ same: 11 });
    await env.destroy(stack);
    expect(await guests(xen)).toEqual(new Map());
  });
});

describe("examples/gitops: one program, dev and prod stacks from committed config", () => {
  let t: Target;
  beforeAll(async () => {
    t = await target("gitops");
  });
  afterAll(() => release(t));

  test("dev and prod come from their Pulumi.<stack>.yaml, converge, and tear down independently", async () => {
    const dev = await gitopsStack(t.env, "dev");
    const prod = await gitopsStack(t.env, "prod");
    expect((await dev.getConfig("gitops:env")).value).toBe("dev");
    expect((await prod.getConfig("gitops:env")).value).toBe("prod");

    const upDev = await timed("gitops up dev", () => t.env.up(dev));
    expect(upDev.summary.resourceChanges).toEqual({ create: 2 }); // the stack and one VM
    const upProd = await timed("gitops up prod", () => t.env.up(prod));
    expect(upProd.summary.resourceChanges).toEqual({ create: 4 });
    expect(upProd.outputs["environment"]!.value).toBe("prod");

    await timed("gitops preview dev", () => t.env.preview(dev, { expectNoChanges: true }));
    const preview = await timed("gitops preview prod", () => t.env.preview(prod, { expectNoChanges: true }));
    expect(preview.changeSummary).toEqual({ same: 4 });

    // What the committed config asked for is what runs.
    const all = [...(await guests(t.xen)).values()];
    const devVms = all.filter((v) => (v.tags as string[]).includes("env:dev"));
    const prodVms = all.filter((v) => (v.tags as string[]).includes("env:prod"));
    expect(devVms.map((v) => v.name_label)).toEqual(["dev-app-1"]);
    expect(prodVms.map((v) => v.name_label).sort()).toEqual(["prod-app-1", "prod-app-2", "prod-app-3"]);
    expect(devVms[0]).toMatchObject({ power_state: "Running", VCPUs_at_startup: 1, VCPUs_max: 2 });
    expect(devVms[0]).toMatchObject({ memory_dynamic_max: 1 * GiB, memory_static_max: 2 * GiB });
    expect(devVms[0]!.VBDs as string[]).toHaveLength(1);
    const sharedNfs = (await t.xen.call<string[]>("SR.get_by_name_label", ["shared-nfs"]))[0];
    for (const vm of prodVms) {
      expect(vm).toMatchObject({ power_state: "Running", VCPUs_at_startup: 2, VCPUs_max: 4 });
      expect(vm).toMatchObject({
        memory_dynamic_max: 4 * GiB,
        memory_static_max: 8 * GiB,
        ha_restart_priority: "best-effort",
      });
      expect(vm.other_config).toMatchObject({ environment: "prod" });
      const sizes: number[] = [];
      for (const vbdRef of vm.VBDs as string[]) {
        const vbd = (await t.xen.getRecord("VBD", vbdRef)) as unknown as Rec;
        if (vbd.type !== "Disk") continue;
        const vdi = (await t.xen.getRecord("VDI", vbd.VDI as string)) as unknown as Rec;
        expect(vdi.SR).toBe(sharedNfs);
        sizes.push(Number(vdi.virtual_size));
      }
      expect(sizes.sort((a, b) => a - b)).toEqual([20 * GiB, 50 * GiB]);
    }
    const servers = upProd.outputs["servers"]!.value as Record<string, { uuid: string }>;
    expect(
      Object.values(servers)
        .map((s) => s.uuid)
        .sort(),
    ).toEqual(prodVms.map((v) => v.uuid).sort());

    // Destroying dev leaves prod running, untouched.
    const destroyDev = await timed("gitops destroy dev", () => t.env.destroy(dev));
    expect(destroyDev.summary.resourceChanges).toEqual({ delete: 2 });
    const left = [...(await guests(t.xen)).values()];
    expect(left.map((v) => v.uuid).sort()).toEqual(prodVms.map((v) => v.uuid).sort());
    expect(left.every((v) => v.power_state === "Running")).toBe(true);

    await timed("gitops destroy prod", () => t.env.destroy(prod));
    expect(await guests(t.xen)).toHaveProperty("size", 0);
    expect(t.env.log.contains(PASSWORD)).toBe(false);
    expect(await t.env.backendText()).not.toContain(PASSWORD);
  });
});

describe("examples/maintenance: rolling host maintenance with live evacuation", () => {
  let t: Target;
  beforeAll(async () => {
    t = await target("maintenance");
  });
  afterAll(() => release(t));

  test("a host in maintenance is disabled and emptied live; the roll moves on; nothing is recreated", async () => {
    const stack = await t.env.openStack(example("maintenance"));
    const up = await timed("maintenance up", () => t.env.up(stack));
    expect(up.summary.result).toBe("succeeded");
    await timed("maintenance preview", () => t.env.preview(stack, { expectNoChanges: true }));

    let hosts = await hostsByName(t.xen);
    const pool = (await t.xen.getAllRecords("pool")).values().next().value as unknown as Rec;
    expect(pool.ha_enabled).toBe(true);
    for (const name of ["xen-01", "xen-02", "xen-03"]) expect(hosts.get(name)?.enabled).toBe(true);
    const before = new Map([...(await guests(t.xen)).values()].map((v) => [v.uuid, v]));
    expect(before.size).toBe(4);
    for (const vm of before.values())
      expect(vm).toMatchObject({ power_state: "Running", ha_restart_priority: "restart" });
    const onXen02 = await residentGuests(t.xen, hosts.get("xen-02")!.ref);
    expect(onXen02.length).toBeGreaterThan(0); // something to evacuate

    // xen-02 into maintenance.
    await stack.setConfig("maintenance:host", { value: "127.42.0.2" });
    const enter = await timed("maintenance up (xen-02 in)", () => t.env.up(stack));
    expect(enter.summary.resourceChanges).toMatchObject({ update: 1 });
    expect(enter.summary.resourceChanges).not.toHaveProperty("create");
    expect(enter.summary.resourceChanges).not.toHaveProperty("delete");
    hosts = await hostsByName(t.xen);
    expect(hosts.get("xen-02")!.enabled).toBe(false);
    expect(await residentGuests(t.xen, hosts.get("xen-02")!.ref)).toEqual([]);
    const afterEnter = new Map([...(await guests(t.xen)).values()].map((v) => [v.uuid, v]));
    expect([...afterEnter.keys()].sort()).toEqual([...before.keys()].sort()); // the same VMs, none recreated
    for (const uuid of onXen02) {
      const vm = afterEnter.get(uuid)!;
      expect(vm.power_state).toBe("Running"); // moved live, not restarted
      expect(vm.domid).toBe(before.get(uuid)!.domid);
      expect([hosts.get("xen-01")!.ref, hosts.get("xen-03")!.ref]).toContain(vm.resident_on);
    }
    // Moved by maintenance is not drift.
    await timed("maintenance preview (xen-02 in)", () => t.env.preview(stack, { expectNoChanges: true }));

    // The roll moves on: xen-02 back in service, xen-03 into maintenance, in one up.
    const onXen03 = await residentGuests(t.xen, hosts.get("xen-03")!.ref);
    await stack.setConfig("maintenance:host", { value: "127.42.0.3" });
    const roll = await timed("maintenance up (xen-02 out, xen-03 in)", () => t.env.up(stack));
    expect(roll.summary.resourceChanges).toMatchObject({ update: 2 });
    hosts = await hostsByName(t.xen);
    expect(hosts.get("xen-02")!.enabled).toBe(true);
    expect(hosts.get("xen-03")!.enabled).toBe(false);
    expect(await residentGuests(t.xen, hosts.get("xen-03")!.ref)).toEqual([]);
    const afterRoll = new Map([...(await guests(t.xen)).values()].map((v) => [v.uuid, v]));
    expect([...afterRoll.keys()].sort()).toEqual([...before.keys()].sort());
    for (const uuid of onXen03) expect(afterRoll.get(uuid)!.power_state).toBe("Running");
    for (const vm of afterRoll.values()) expect(vm.domid).toBe(before.get(vm.uuid)!.domid);
    await timed("maintenance preview (xen-03 in)", () => t.env.preview(stack, { expectNoChanges: true }));

    // The master's turn: its guests move to the members; it stays the master.
    const onXen01 = await residentGuests(t.xen, hosts.get("xen-01")!.ref);
    await stack.setConfig("maintenance:host", { value: "127.42.0.1" });
    const master = await timed("maintenance up (xen-03 out, xen-01 in)", () => t.env.up(stack));
    expect(master.summary.resourceChanges).toMatchObject({ update: 2 });
    hosts = await hostsByName(t.xen);
    expect(hosts.get("xen-03")!.enabled).toBe(true);
    expect(hosts.get("xen-01")!.enabled).toBe(false);
    expect(await residentGuests(t.xen, hosts.get("xen-01")!.ref)).toEqual([]);
    const afterMaster = new Map([...(await guests(t.xen)).values()].map((v) => [v.uuid, v]));
    expect([...afterMaster.keys()].sort()).toEqual([...before.keys()].sort());
    for (const uuid of onXen01) expect(afterMaster.get(uuid)!.power_state).toBe("Running");
    for (const vm of afterMaster.values()) expect(vm.domid).toBe(before.get(vm.uuid)!.domid);
    await timed("maintenance preview (xen-01 in)", () => t.env.preview(stack, { expectNoChanges: true }));

    // Done: every host back in service.
    await stack.removeConfig("maintenance:host");
    await timed("maintenance up (all in service)", () => t.env.up(stack));
    hosts = await hostsByName(t.xen);
    for (const name of ["xen-01", "xen-02", "xen-03"]) expect(hosts.get(name)?.enabled).toBe(true);

    const destroy = await timed("maintenance destroy", () => t.env.destroy(stack));
    expect(destroy.summary.result).toBe("succeeded");
    expect(await guests(t.xen)).toHaveProperty("size", 0);
    expect(t.env.log.contains(PASSWORD)).toBe(false);
    expect(await t.env.backendText()).not.toContain(PASSWORD);
  });
});

describe("examples/adopt: an existing VM under management with no diff", () => {
  let t: Target;
  beforeAll(async () => {
    t = await target("adopt");
  });
  afterAll(() => release(t));

  test("up adopts the hand-made VM without touching it; preview shows no diff; destroy releases it", async () => {
    const made = await createVmOutOfBand(t.xen);
    const before = await vmByUuid(t.xen, made.uuid);
    expect(before.power_state).toBe("Running");
    // The program declares exactly this shape.
    expect(made).toMatchObject({ vcpus: 2, maxVcpus: 4, memory: 2 * GiB, maxMemory: 2 * GiB, diskSizes: [10 * GiB] });

    const stack = await t.env.openStack(example("adopt"), { config: { "adopt:vmUuid": { value: made.uuid } } });
    await control(t.sim, "DELETE", "recorder");
    const up = await timed("adopt up", () => t.env.up(stack));
    expect(up.summary.resourceChanges).toEqual({ create: 2 });
    expect(up.outputs["uuid"]!.value).toBe(made.uuid);
    expect(t.env.log.text()).toContain(`adopting existing VM ${made.uuid}`);

    // Nothing on the VM changed: the only writes are the ownership tag.
    const { requests } = (await control(t.sim, "GET", "recorder")) as { requests: { method: string }[] };
    // the log did record the up: the VM was read (through the inventory) and tagged
    expect(requests.some((r) => r.method === "VM.get_all_records")).toBe(true);
    expect(requests.some((r) => r.method === "VM.add_to_other_config")).toBe(true);
    const writes = requests
      .map((r) => r.method.replace(/^Async\./, ""))
      .filter((m) => /^(VM|VBD|VDI|VIF)\./.test(m) && !/\.get_/.test(m))
      .filter((m) => !["VM.add_to_other_config", "VM.remove_from_other_config"].includes(m));
    expect(writes).toEqual([]);
    const after = await vmByUuid(t.xen, made.uuid);
    for (const k of [
      "power_state",
      "domid",
      "resident_on",
      "name_label",
      "name_description",
      "VCPUs_at_startup",
      "VCPUs_max",
      "memory_dynamic_max",
      "memory_static_max",
      "VBDs",
      "VIFs",
    ])
      expect([k, after[k]]).toEqual([k, before[k]]);

    await timed("adopt preview", () => t.env.preview(stack, { expectNoChanges: true }));
    const refresh = await timed("adopt refresh", () => t.env.refresh(stack));
    expect(refresh.summary.resourceChanges).toEqual({ same: 2 });

    // Destroy releases the adopted VM by default: it stays, running, with the same uuid.
    const destroy = await timed("adopt destroy", () => t.env.destroy(stack));
    expect(destroy.summary.resourceChanges).toEqual({ delete: 2 });
    const kept = await vmByUuid(t.xen, made.uuid);
    expect(kept.power_state).toBe("Running");
    expect(kept.domid).toBe(before.domid);
    expect([...(await guests(t.xen)).values()].map((v) => v.uuid)).toEqual([made.uuid]);
    expect(t.env.log.contains(PASSWORD)).toBe(false);
    expect(await t.env.backendText()).not.toContain(PASSWORD);
  });
});

describe("examples/provisioning: cloud-init, an ISO install, UEFI, a full copy and an image", () => {
  let t: Target;
  beforeAll(async () => {
    t = await target("provisioning");
  });
  afterAll(() => release(t));

  test("up makes every VM as declared; a hostname change restarts the cloud-init VM once; destroy leaves nothing", async () => {
    const stack = await t.env.openStack(example("provisioning"), { config: { hostname: { value: "web-1" } } });
    const up = await timed("provisioning up", () => t.env.up(stack));
    expect(up.summary.resourceChanges).toEqual({ create: 8 });
    expect(up.outputs.webIps!.value).toEqual(["10.20.0.10"]);
    const win11 = await vmByUuid(t.xen, up.outputs.win11Uuid!.value as string);
    expect(win11).toMatchObject({ power_state: "Running", platform: expect.objectContaining({ secureboot: "true" }) });
    expect(win11.VTPMs as string[]).toHaveLength(1);
    await timed("provisioning preview", () => t.env.preview(stack, { expectNoChanges: true }));

    const webUuid = up.outputs.webUuid!.value as string;
    const domid = (await vmByUuid(t.xen, webUuid)).domid;
    await stack.setConfig("hostname", { value: "web-2" });
    const changed = await timed("provisioning up (hostname)", () => t.env.up(stack));
    expect(changed.summary.resourceChanges).toMatchObject({ update: 1 });
    expect(changed.outputs.webUuid!.value).toBe(webUuid);
    expect((await vmByUuid(t.xen, webUuid)).domid).not.toBe(domid); // restarted once, same VM
    expect(t.env.log.text()).toMatch(/cloudInitChangePolicy: restart/);
    await timed("provisioning preview (after)", () => t.env.preview(stack, { expectNoChanges: true }));

    await timed("provisioning destroy", () => t.env.destroy(stack));
    expect([...(await guests(t.xen)).values()]).toHaveLength(0);
  });
});

describe("examples/placement: a group across the pool, an appliance, a protected database and its snapshot", () => {
  let t: Target;
  beforeAll(async () => {
    t = await target("placement");
  });
  afterAll(() => release(t));

  test("web VMs on three hosts; the database refuses VM.destroy by hand, reverts to its snapshot, and is released for destroy", async () => {
    const stack = await t.env.openStack(example("placement"));
    const up = await timed("placement up", () => t.env.up(stack));
    expect(up.summary.resourceChanges).toEqual({ create: 10 });
    expect(new Set(up.outputs.webHosts!.value as string[]).size).toBe(3);
    const dbUuid = up.outputs.dbUuid!.value as string;
    const dbRef = await t.xen.getByUuid("VM", dbUuid);
    await expect(t.xen.call("VM.destroy", [dbRef])).rejects.toMatchObject({ code: "OPERATION_BLOCKED" });
    await timed("placement preview", () => t.env.preview(stack, { expectNoChanges: true }));

    await stack.setConfig("revertDbTo", { value: up.outputs.snapshotUuid!.value as string });
    const reverted = await timed("placement up (revert)", () => t.env.up(stack));
    expect(reverted.summary.resourceChanges).toMatchObject({ update: 1 });
    expect(reverted.outputs.dbUuid!.value).toBe(dbUuid);
    expect((await vmByUuid(t.xen, dbUuid)).power_state).toBe("Running");
    await timed("placement preview (after revert)", () => t.env.preview(stack, { expectNoChanges: true }));

    await expect(t.env.destroy(stack)).rejects.toThrow(/protected/);
    await stack.setConfig("protectDb", { value: "false" });
    await timed("placement up (unprotect)", () => t.env.up(stack));
    await timed("placement destroy", () => t.env.destroy(stack));
    expect([...(await guests(t.xen)).values()]).toHaveLength(0);
  });
});

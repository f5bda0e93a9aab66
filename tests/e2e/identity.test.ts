/**
 * Identity and data safety under the real Pulumi engine: a replacement makes a new VM (and leaves exactly one),
 * disks and NICs keep their identity across edits, destroy works from every power state and after a failed
 * update, a Suspended VM's memory change, a halted VM's disk move keeps the data, and `timeouts.create` bounds
 * the whole create.
 */
import type { Stack } from "@pulumi/pulumi/automation";
import { XenApiClient } from "../../provider/xenapi";
import { startSimulator, type RunningSimulator } from "../../simulator";
import { createE2eEnv, E2E_TIMEOUT_MS, fixtureDir, type E2eEnv } from "./harness";

jest.setTimeout(E2E_TIMEOUT_MS);

const PASSWORD = "e2e-identity-pw-51c2";
const GiB = 1024 ** 3;
const VM_TYPE = "pulumi-nodejs:dynamic/xen:Vm";

let sim: RunningSimulator;
let env: E2eEnv;
let xen: XenApiClient;
let counter = 0;

type VmRec = Record<string, unknown> & { uuid: string; name_label: string; power_state: string };

async function control(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${sim.controlUrl}/${path}`, {
    method,
    headers: { authorization: `Bearer ${sim.controlToken}`, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  expect(res.status).toBeLessThan(300);
  return res.json();
}

/** VMs carrying this name, a clone not yet provisioned (still a template) included; no default template. */
async function vmsNamed(name: string): Promise<VmRec[]> {
  const out: VmRec[] = [];
  for (const vm of (await xen.getAllRecords("VM")).values()) {
    const r = vm as unknown as VmRec;
    if (r.is_default_template !== true && r.is_control_domain !== true && r.name_label === name) out.push(r);
  }
  return out;
}

async function vmByUuid(uuid: string): Promise<VmRec> {
  return (await xen.getRecord("VM", await xen.getByUuid("VM", uuid))) as unknown as VmRec;
}

/** The VM ids the stack's state records. */
async function stateVmIds(stack: Stack): Promise<string[]> {
  const state = JSON.parse(await env.exportState(stack)) as {
    deployment: { resources?: Array<{ type: string; id?: string }> };
  };
  return (state.deployment.resources ?? []).filter((r) => r.type === VM_TYPE).map((r) => r.id!);
}

/** Disks of a VM under their VDI uuid: size and key tag. */
async function disksOf(uuid: string): Promise<Map<string, { size: number; key?: string; ref: string }>> {
  const out = new Map<string, { size: number; key?: string; ref: string }>();
  for (const vbdRef of (await vmByUuid(uuid)).VBDs as string[]) {
    const vbd = await xen.getRecord("VBD", vbdRef);
    if (vbd.type !== "Disk") continue;
    const vdi = await xen.getRecord("VDI", vbd.VDI as string);
    out.set(vdi.uuid, {
      size: Number(vdi.virtual_size),
      key: (vdi.other_config as Record<string, string>)["pulumi-xen.disk"],
      ref: vbd.VDI as string,
    });
  }
  return out;
}

async function vifsOf(uuid: string): Promise<Array<{ uuid: string; mac: string; network: string }>> {
  const out: Array<{ uuid: string; mac: string; network: string }> = [];
  for (const vifRef of (await vmByUuid(uuid)).VIFs as string[]) {
    const vif = await xen.getRecord("VIF", vifRef);
    const net = await xen.getRecord("network", vif.network as string);
    out.push({ uuid: vif.uuid, mac: String(vif.MAC), network: String(net.name_label) });
  }
  return out;
}

async function vdiExists(uuid: string): Promise<boolean> {
  return [...(await xen.getAllRecords("VDI")).values()].some((v) => v.uuid === uuid);
}

/** A stack of the devices fixture, with a unique VM name and the given config. */
async function devicesStack(config: Record<string, unknown>): Promise<{ stack: Stack; name: string }> {
  const name = `dev-${process.pid}-${counter++}`;
  const stack = await env.openStack(fixtureDir("devices"), { stackName: `e2e-identity-${name}` });
  await setConfig(stack, { name, ...config });
  return { stack, name };
}

async function setConfig(stack: Stack, config: Record<string, unknown>): Promise<void> {
  for (const [k, v] of Object.entries(config))
    await stack.setConfig(`dev:${k}`, { value: typeof v === "string" ? v : JSON.stringify(v) });
}

async function expectCleanAfterRefresh(stack: Stack): Promise<void> {
  const refresh = await env.refresh(stack);
  expect(refresh.summary.resourceChanges?.update ?? 0).toBe(0);
  await env.preview(stack, { expectNoChanges: true });
}

beforeAll(async () => {
  sim = await startSimulator({ port: 0, http: true, timeScale: 0, failedLoginDelayMs: 0, rootPassword: PASSWORD });
  xen = new XenApiClient({ url: sim.url, username: "root", password: PASSWORD });
  env = await createE2eEnv({
    name: "identity",
    envVars: { XEN_URL: sim.url, XEN_USERNAME: "root", XEN_PASSWORD: PASSWORD },
  });
});

afterAll(async () => {
  await env?.cleanup();
  await xen?.close().catch(() => undefined);
  await sim?.close();
});

describe("a replacement makes a new VM and leaves exactly one", () => {
  test("template change, then --replace: one VM, the new one, Running, in the state; refresh and preview clean", async () => {
    const { stack, name } = await devicesStack({});
    const created = await env.up(stack);
    const first = created.outputs.uuid!.value as string;
    const [debian] = await xen.call<string[]>("VM.get_by_name_label", ["Debian Bookworm 12"]);
    expect(created.outputs.templateUuid!.value).toBe((await xen.getRecord("VM", debian!)).uuid);

    await setConfig(stack, { template: "CentOS 6 (PV)" });
    const replaced = await env.up(stack);
    expect(replaced.summary.resourceChanges).toMatchObject({ replace: 1 });
    const second = replaced.outputs.uuid!.value as string;
    expect(second).not.toBe(first);
    let named = await vmsNamed(name);
    expect(named.map((v) => v.uuid)).toEqual([second]);
    expect(named[0]!.power_state).toBe("Running");
    expect(await stateVmIds(stack)).toEqual([second]);
    await expectCleanAfterRefresh(stack);

    const urn = (await stack.exportStack()).deployment.resources.find((r: { type: string }) => r.type === VM_TYPE).urn;
    const forced = await env.up(stack, { replace: [urn] });
    expect(forced.summary.resourceChanges).toMatchObject({ replace: 1 });
    const third = forced.outputs.uuid!.value as string;
    expect([first, second]).not.toContain(third);
    named = await vmsNamed(name);
    expect(named.map((v) => v.uuid)).toEqual([third]);
    expect(named[0]!.power_state).toBe("Running");
    expect(await stateVmIds(stack)).toEqual([third]);
    await expectCleanAfterRefresh(stack);
    await env.destroy(stack);
    expect(await vmsNamed(name)).toHaveLength(0);
  });
});

describe("a replacement interrupted halfway", () => {
  test("the new VM's create fails: the old VM stays in the state, the next up finishes the replacement with one VM", async () => {
    const { stack, name } = await devicesStack({});
    const first = (await env.up(stack)).outputs.uuid!.value as string;
    await setConfig(stack, { template: "CentOS 6 (PV)" });
    await control("POST", "faults", { method: "VM.provision", error: ["SR_FULL", "10737418240", "0"], count: 1 });
    await expect(env.up(stack)).rejects.toThrow(/SR_FULL/);
    expect((await vmByUuid(first)).power_state).toBe("Running"); // the old VM is untouched
    const up = await env.up(stack);
    const second = up.outputs.uuid!.value as string;
    expect(second).not.toBe(first);
    const named = await vmsNamed(name);
    expect(named.map((v) => v.uuid)).toEqual([second]);
    expect(named[0]!.power_state).toBe("Running");
    expect(await stateVmIds(stack)).toEqual([second]);
    await expectCleanAfterRefresh(stack);
    await env.destroy(stack);
    expect(await vmsNamed(name)).toHaveLength(0);
  });
});

describe("devices keep their identity", () => {
  test("removing the middle disk removes that disk; the others keep their VDI and size; preview names it", async () => {
    const disks = [{ size: "10GiB" }, { name: "logs", size: "5GiB" }, { name: "data", size: "3GiB" }];
    const { stack } = await devicesStack({ disks });
    const uuid = (await env.up(stack)).outputs.uuid!.value as string;
    const before = await disksOf(uuid);
    const byKey = (m: typeof before, key: string | undefined) => [...m.entries()].find(([, d]) => d.key === key);
    const [logsVdi] = byKey(before, "logs")!;
    const [dataVdi, data] = byKey(before, "data")!;
    expect(data.size).toBe(3 * GiB);

    await setConfig(stack, { disks: [disks[0], disks[2]] });
    const preview = await env.preview(stack);
    expect(preview.stdout + env.log.text()).toContain(
      `disk "logs" (VDI ${logsVdi}, 5 GiB) detached and its VDI destroyed`,
    );
    const up = await env.up(stack);
    expect(up.summary.resourceChanges).toMatchObject({ update: 1 });
    const after = await disksOf(uuid);
    expect(after.size).toBe(2);
    expect(after.get(dataVdi)).toMatchObject({ size: 3 * GiB, key: "data" });
    expect(await vdiExists(logsVdi)).toBe(false);

    // Reordering is no change.
    await setConfig(stack, { disks: [disks[0], disks[2]].reverse() });
    await setConfig(stack, { disks: [disks[0], disks[2]] });
    await expectCleanAfterRefresh(stack);
    await env.destroy(stack);
  });

  test("keepOnRemove detaches the disk and keeps its VDI", async () => {
    const disks = [{ size: "10GiB" }, { name: "keep", size: "1GiB", keepOnRemove: true }];
    const { stack } = await devicesStack({ disks });
    const uuid = (await env.up(stack)).outputs.uuid!.value as string;
    const [keptVdi] = [...(await disksOf(uuid)).entries()].find(([, d]) => d.key === "keep")!;
    await setConfig(stack, { disks: [disks[0]] });
    await env.up(stack);
    expect((await disksOf(uuid)).has(keptVdi)).toBe(false);
    expect(await vdiExists(keptVdi)).toBe(true);
    await env.destroy(stack);
    expect(await vdiExists(keptVdi)).toBe(true); // not the VM's any more: destroy leaves it too
  });

  test("an unnamed data disk is never removed by guessing its position", async () => {
    const disks = [{ size: "10GiB" }, { size: "5GiB" }, { size: "6GiB" }];
    const { stack } = await devicesStack({ disks });
    const uuid = (await env.up(stack)).outputs.uuid!.value as string;
    const before = await disksOf(uuid);
    await setConfig(stack, { disks: [disks[0], disks[2]] });
    await expect(env.preview(stack)).rejects.toThrow(/known only by its position/);
    expect(await disksOf(uuid)).toEqual(before);
    await setConfig(stack, { disks });
    await env.destroy(stack);
  });

  test("removing the first NIC keeps the other one's VIF and MAC", async () => {
    const networks = [{ network: "Management" }, { network: "VM Network" }];
    const { stack } = await devicesStack({ networks });
    const uuid = (await env.up(stack)).outputs.uuid!.value as string;
    const kept = (await vifsOf(uuid)).find((v) => v.network === "VM Network")!;
    await setConfig(stack, { networks: [networks[1]] });
    await env.up(stack);
    expect(await vifsOf(uuid)).toEqual([kept]);
    await expectCleanAfterRefresh(stack);
    await env.destroy(stack);
  });
});

describe("power states", () => {
  test.each(["Halted", "Suspended", "Paused"])("destroy from %s leaves no VM", async (powerState) => {
    const { stack, name } = await devicesStack({ powerState });
    const up = await env.up(stack);
    expect((await vmByUuid(up.outputs.uuid!.value as string)).power_state).toBe(powerState);
    await env.destroy(stack);
    expect(await vmsNamed(name)).toHaveLength(0);
  });

  test("destroy after an update that failed halfway through a restart", async () => {
    const { stack, name } = await devicesStack({ allowRestart: true });
    const uuid = (await env.up(stack)).outputs.uuid!.value as string;
    // A maxMemory change needs a restart; the start after it fails, leaving the VM halted.
    await control("POST", "faults", {
      method: "VM.start_on",
      error: ["HOST_NOT_ENOUGH_FREE_MEMORY", "1", "0"],
      count: 5,
    });
    await setConfig(stack, { maxMemory: "3GiB" });
    await expect(env.up(stack)).rejects.toThrow(/HOST_NOT_ENOUGH_FREE_MEMORY/);
    await control("DELETE", "faults");
    expect((await vmByUuid(uuid)).power_state).toBe("Halted");
    await env.destroy(stack);
    expect(await vmsNamed(name)).toHaveLength(0);
  });

  test("a clean shutdown that outlasts shutdownTimeout is followed by a hard one, said in the output", async () => {
    const { stack } = await devicesStack({ shutdownTimeout: "2s" });
    const uuid = (await env.up(stack)).outputs.uuid!.value as string;
    await control("POST", "time-scale", { scale: 1 });
    await control("POST", "durations", { "VM.clean_shutdown": 120_000 });
    try {
      await setConfig(stack, { powerState: "Halted" });
      const t0 = Date.now();
      const up = await env.up(stack);
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(up.stdout).toMatch(/clean shutdown did not finish within 2 s \(shutdownTimeout\): hard shutdown/);
      expect((await vmByUuid(uuid)).power_state).toBe("Halted");
    } finally {
      await control("POST", "time-scale", { scale: 0 });
    }
    await env.destroy(stack);
  });

  test("destroy right after an update whose deadline passed during a clean shutdown", async () => {
    const { stack, name } = await devicesStack({ allowRestart: true, timeouts: { update: "3s" } });
    await env.up(stack);
    await control("POST", "time-scale", { scale: 1 });
    await control("POST", "durations", { "VM.clean_shutdown": 8_000 });
    try {
      await setConfig(stack, { maxMemory: "3GiB" });
      await expect(env.up(stack)).rejects.toThrow(/timeouts\.update|gave up after/);
      await env.destroy(stack);
      expect(await vmsNamed(name)).toHaveLength(0);
    } finally {
      await control("POST", "time-scale", { scale: 0 });
    }
  });

  test("a memory change on a Suspended VM is applied and the VM is Suspended again", async () => {
    const { stack } = await devicesStack({ powerState: "Suspended" });
    const uuid = (await env.up(stack)).outputs.uuid!.value as string;
    await setConfig(stack, { memory: "1536MiB" });
    const up = await env.up(stack);
    expect(up.summary.resourceChanges).toMatchObject({ update: 1 });
    const vm = await vmByUuid(uuid);
    expect(vm.power_state).toBe("Suspended");
    expect(vm.memory_dynamic_max).toBe(1.5 * GiB);
    await expectCleanAfterRefresh(stack);
    await env.destroy(stack);
  });
});

describe("storage", () => {
  test("a halted VM's disk moves by copy and swap: the data is kept, the old VDI removed", async () => {
    const disks = [{ size: "10GiB" }, { name: "data", size: "1GiB", sr: "shared-nfs" }];
    const { stack } = await devicesStack({ disks, powerState: "Halted" });
    const uuid = (await env.up(stack)).outputs.uuid!.value as string;
    const [oldVdi] = [...(await disksOf(uuid)).entries()].find(([, d]) => d.key === "data")!;
    await control("PUT", `vdis/${oldVdi}/content`, { content: "marker-7d1f" });
    const local = [...(await xen.getAllRecords("SR")).values()].find(
      (sr) => sr.name_label === "Local storage" && (sr.PBDs as string[]).length > 0,
    )!;
    await setConfig(stack, { disks: [disks[0], { ...disks[1], sr: local.uuid }] });
    await env.up(stack);
    const after = await disksOf(uuid);
    const [newVdi, moved] = [...after.entries()].find(([, d]) => d.key === "data")!;
    expect(after.size).toBe(2);
    expect(moved.size).toBe(1 * GiB);
    expect((await xen.getRecord("VDI", moved.ref)).SR).toBe(await xen.getByUuid("SR", local.uuid));
    expect(await control("GET", `vdis/${newVdi}/content`)).toEqual({ content: "marker-7d1f" });
    expect(await vdiExists(oldVdi)).toBe(false);
    expect((await vmByUuid(uuid)).power_state).toBe("Halted");
    await expectCleanAfterRefresh(stack);
    await env.destroy(stack);
  });
});

describe("timeouts", () => {
  test("timeouts.create bounds the whole create: it fails within the budget, the VM recorded, nothing orphaned", async () => {
    await control("POST", "time-scale", { scale: 1 });
    // Each step fits in the budget; together they do not: only a deadline for the whole phase stops the create.
    await control("POST", "durations", { "VM.clone": 2_500, "VM.provision": 2_500, "VM.start": 2_500 });
    try {
      const { stack, name } = await devicesStack({ timeouts: { create: "4s" } });
      const t0 = Date.now();
      await expect(env.up(stack)).rejects.toThrow(/timeouts\.create|gave up after/);
      const elapsed = Date.now() - t0;
      // Engine start-up and the program's own run come on top of the 4 s budget.
      expect(elapsed).toBeLessThan(4_000 + 25_000);
      const named = await vmsNamed(name);
      expect(named).toHaveLength(1);
      expect(await stateVmIds(stack)).toEqual([named[0]!.uuid]);

      await control("POST", "time-scale", { scale: 0 });
      const up = await env.up(stack);
      expect(up.outputs.uuid!.value).toBe(named[0]!.uuid);
      expect((await vmsNamed(name)).map((v) => v.power_state)).toEqual(["Running"]);
      await env.destroy(stack);
      expect(await vmsNamed(name)).toHaveLength(0);
    } finally {
      await control("POST", "time-scale", { scale: 0 });
    }
  });
});

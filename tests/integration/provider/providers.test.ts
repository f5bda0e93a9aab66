/**
 * The resource providers called directly (as the engine's dynamic provider host would) against the simulator
 * over HTTP: idempotent create, read of a deleted VM, idempotent delete, host join and maintenance.
 */
import { closeProviders as closeClients, providers } from "../../../provider";
import { XenApiClient } from "../../../provider/xenapi";
import { startSimulator, type RunningSimulator } from "../../../simulator";

const PASSWORD = "integration-pw";
let sim: RunningSimulator;
let xen: XenApiClient;

async function checked(kind: "Vm" | "Host" | "Pool", news: Record<string, unknown>) {
  const r = await providers[kind].check!({}, news);
  expect(r.failures ?? []).toEqual([]);
  return r.inputs as Record<string, unknown>;
}

beforeAll(async () => {
  sim = await startSimulator({ port: 0, http: true, timeScale: 0, failedLoginDelayMs: 0, rootPassword: PASSWORD });
  process.env.XEN_URL = sim.url;
  process.env.XEN_USERNAME = "root";
  process.env.XEN_PASSWORD = PASSWORD;
  xen = new XenApiClient({ url: sim.url, username: "root", password: PASSWORD });
});

afterAll(async () => {
  await closeClients();
  delete process.env.XEN_URL;
  delete process.env.XEN_PASSWORD;
  await xen.close().catch(() => undefined);
  await sim.close();
});

const vmInputs = {
  template: "Debian Bookworm 12",
  nameLabel: "direct-1",
  vcpus: 1,
  memory: "1GiB",
  networks: [{ network: "VM Network" }],
  ownershipKey: "org/proj/stack/xen:Vm/direct-1",
  __provider: "stub",
};

describe("Vm provider against the simulator", () => {
  test("a create that never finished is resumed; a VM whose create finished is never taken by another create", async () => {
    const inputs = await checked("Vm", vmInputs);
    const first = await providers.Vm.create({ ...inputs, __provider: "stub" });
    const firstRef = await xen.getByUuid("VM", first.id);
    expect((await xen.getRecord("VM", firstRef)).other_config).not.toHaveProperty("pulumi-xen.creating");
    // A second create of the same instance (a replacement) makes its own VM.
    const second = await providers.Vm.create({ ...inputs, __provider: "stub" });
    expect(second.id).not.toBe(first.id);
    await providers.Vm.delete!(second.id, second.outs);
    // A create interrupted after the clone was tagged (the tag still says "creating") is resumed, not duplicated,
    // by the next `pulumi up`: a new provider process, whose inventory is read from the pool as it is then.
    await xen.call("VM.add_to_other_config", [firstRef, "pulumi-xen.creating", vmInputs.ownershipKey]);
    await closeClients();
    const resumed = await providers.Vm.create({ ...inputs, __provider: "stub" });
    expect(resumed.id).toBe(first.id);
    expect((await xen.getRecord("VM", firstRef)).other_config).not.toHaveProperty("pulumi-xen.creating");
    const named = [...(await xen.getAllRecords("VM")).values()].filter((v) => v.name_label === "direct-1");
    expect(named).toHaveLength(1);
    expect(first.outs).toMatchObject({ uuid: first.id, powerState: "Running", memory: 1024 ** 3, vcpus: 1 });
    // No `disks` given: the template's boot disk is left as provisioned, not detached.
    const vm = await xen.getRecord("VM", firstRef);
    expect(vm.VBDs).toHaveLength(1);
    expect(first.outs).toMatchObject({ disks: [], diskUuids: [] });
  });

  test("a clone whose answer was lost (timeout) is found again by the next create: no orphan, no duplicate", async () => {
    process.env.XEN_TIMEOUT = "1";
    await closeClients(); // clients are rebuilt with the 1 s per-call timeout
    try {
      const inputs = await checked("Vm", { ...vmInputs, nameLabel: "lost-answer", ownershipKey: "k-lost" });
      const fault = { method: "Async.VM.clone", latencyMs: 2500, count: 1 };
      const res = await fetch(`${sim.controlUrl}/faults`, {
        method: "POST",
        headers: { authorization: `Bearer ${sim.controlToken}`, "content-type": "application/json" },
        body: JSON.stringify(fault),
      });
      expect(res.status).toBe(200);
      await expect(providers.Vm.create({ ...inputs, __provider: "stub" })).rejects.toThrow(
        /VM\.clone.*(timeout|within)/is,
      );
      await new Promise((r) => setTimeout(r, 3000)); // the host finishes the clone nobody heard about
      const created = await providers.Vm.create({ ...inputs, __provider: "stub" });
      const mine = [...(await xen.getAllRecords("VM")).values()].filter(
        (v) => v.name_label === "lost-answer" || String(v.name_label).includes("k-lost"),
      );
      expect(mine.map((v) => v.uuid)).toEqual([created.id]);
    } finally {
      delete process.env.XEN_TIMEOUT;
      await closeClients();
    }
  });

  test("read of a VM deleted out of band returns no id; delete of a gone VM succeeds", async () => {
    const inputs = await checked("Vm", { ...vmInputs, nameLabel: "direct-2", ownershipKey: "k2" });
    const { id, outs } = await providers.Vm.create({ ...inputs, __provider: "stub" });
    const read = await providers.Vm.read!(id, outs);
    expect(read.id).toBe(id);
    const ref = await xen.getByUuid("VM", id);
    await xen.callAsync("VM.hard_shutdown", [ref]);
    await xen.callAsync("VM.destroy", [ref]);
    // The refresh that finds it gone is the next `pulumi refresh`: a new provider process, a fresh inventory.
    await closeClients();
    expect(await providers.Vm.read!(id, outs)).toEqual({});
    await expect(providers.Vm.delete!(id, outs)).resolves.toBeUndefined();
  });

  test("a create that cannot place the VM fails with XenAPI's reason and leaves a recorded, tagged VM", async () => {
    const inputs = await checked("Vm", { ...vmInputs, nameLabel: "too-big", memory: "512GiB", ownershipKey: "k3" });
    const err = (await providers.Vm.create({ ...inputs, __provider: "stub" }).catch((e: unknown) => e)) as Error & {
      id?: string;
      properties?: Record<string, unknown>;
    };
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/NO_HOSTS_AVAILABLE|HOST_NOT_ENOUGH_FREE_MEMORY/);
    expect(err.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(err.properties).toMatchObject({ uuid: err.id, __provider: "stub" });
    const vm = await xen.getRecord("VM", await xen.getByUuid("VM", err.id!));
    expect((vm as unknown as { other_config: Record<string, string> }).other_config["pulumi-xen.owner"]).toBe("k3");
    await providers.Vm.delete!(err.id!, err.properties!);
    await expect(xen.getByUuid("VM", err.id!)).rejects.toMatchObject({ code: "UUID_INVALID" });
  });
});

describe("Vm refresh economy", () => {
  test("refreshing many VMs costs about one XenAPI call each (inventory cache), not a dozen", async () => {
    const N = 20;
    const created: Array<{ id: string; outs?: Record<string, unknown> }> = [];
    for (let i = 0; i < N; i++) {
      const inputs = await checked("Vm", {
        ...vmInputs,
        nameLabel: `econ-${i}`,
        ownershipKey: `econ-${i}`,
        powerState: "Halted",
      });
      created.push(await providers.Vm.create({ ...inputs, __provider: "stub" }));
    }
    const metrics = async () => {
      const res = await fetch(`${sim.controlUrl}/metrics`, {
        headers: { authorization: `Bearer ${sim.controlToken}` },
      });
      return ((await res.json()) as { total: number }).total;
    };
    await providers.Vm.read!(created[0]!.id, created[0]!.outs); // primes the cache
    const before = await metrics();
    const reads = await Promise.all(created.map((c) => providers.Vm.read!(c.id, c.outs)));
    const calls = (await metrics()) - before;
    expect(reads.every((r, i) => r.id === created[i]!.id)).toBe(true);
    expect(calls).toBeLessThanOrEqual(2 * N);
  }, 30_000);
});

describe("Vm update against the simulator", () => {
  test("disks grow online, move SR live, get added; a NIC is hot-plugged; same VM, never restarted", async () => {
    const GiB = 1024 ** 3;
    const base = {
      ...vmInputs,
      nameLabel: "storage",
      ownershipKey: "k5",
      disks: [{ size: "10GiB" }, { size: "5GiB", sr: "shared-nfs" }],
    };
    const created = await providers.Vm.create({ ...(await checked("Vm", base)), __provider: "stub" });
    const ref = await xen.getByUuid("VM", created.id);
    const domid = (await xen.getRecord("VM", ref)).domid;
    const localSr = [...(await xen.getAllRecords("SR")).values()].find(
      (sr) => sr.name_label === "Local storage" && (sr.PBDs as string[]).length > 0,
    )!;
    const news = await checked("Vm", {
      ...base,
      disks: [{ size: "10GiB" }, { size: "8GiB", sr: localSr.uuid }, { size: "2GiB", sr: "shared-nfs" }],
      networks: [{ network: "VM Network" }, { network: "Management" }],
    });
    const plan = await providers.Vm.diff!(created.id, created.outs, { ...news, __provider: "stub" });
    expect(plan).toMatchObject({ changes: true, replaces: [] });
    const updated = await providers.Vm.update!(created.id, created.outs, { ...news, __provider: "stub" });
    const vm = await xen.getRecord("VM", ref);
    expect(vm.domid).toBe(domid);
    expect(vm.power_state).toBe("Running");
    expect(vm.VBDs).toHaveLength(3);
    expect(vm.VIFs).toHaveLength(2);
    const data = await xen.getRecord("VDI", await xen.getByUuid("VDI", (updated.outs.diskUuids as string[])[1]!));
    expect(data.virtual_size).toBe(8 * GiB);
    expect((await xen.getRecord("SR", data.SR as string)).uuid).toBe(localSr.uuid);
    expect(updated.outs.disks).toEqual([
      { name: "boot", size: 10 * GiB },
      { name: "#1", size: 8 * GiB, sr: localSr.uuid },
      { name: "#2", size: 2 * GiB, sr: "shared-nfs" },
    ]);
    // And nothing left to do.
    const again = await providers.Vm.diff!(created.id, updated.outs, { ...news, __provider: "stub" });
    expect(again.changes).toBe(false);
  });
});

describe("Host provider against the simulator", () => {
  test("joins a standalone host, then maintenance evacuates it and re-enabling brings it back", async () => {
    const inputs = await checked("Host", { address: "127.42.0.3" });
    const { id, outs } = await providers.Host.create({ ...inputs, __provider: "stub" });
    expect(outs).toMatchObject({ uuid: id, hvmCapable: true, enabled: true, maintenance: false });
    const hosts = [...(await xen.getAllRecords("host")).values()].map((h) => h.uuid);
    expect(hosts).toContain(id);

    const vmIn = await checked("Vm", {
      ...vmInputs,
      nameLabel: "on-03",
      affinityHost: "127.42.0.3",
      ownershipKey: "k4",
    });
    vmIn.affinityHost = (await xen.getRecord("host", await xen.getByUuid("host", id))).name_label;
    const vm = await providers.Vm.create({ ...vmIn, __provider: "stub" });
    expect(vm.outs.residentOn).toBe(id);

    const maint = await checked("Host", { address: "127.42.0.3", maintenance: true });
    const updated = await providers.Host.update!(id, outs, { ...maint, __provider: "stub" });
    expect(updated.outs).toMatchObject({ maintenance: true, residentVmUuids: [] });
    const moved = await xen.getRecord("VM", await xen.getByUuid("VM", vm.id));
    expect(moved.power_state).toBe("Running");
    expect(await xen.getRecord("host", await xen.getByUuid("host", id))).toMatchObject({ enabled: false });

    const back = await checked("Host", { address: "127.42.0.3", maintenance: false });
    const enabled = await providers.Host.update!(id, updated.outs, { ...back, __provider: "stub" });
    expect(enabled.outs).toMatchObject({ enabled: true, maintenance: false });
  });
});

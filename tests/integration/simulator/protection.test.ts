/**
 * blocked_operations as xapi enforces them (xapi_vm_lifecycle.ml: the gate's first check, OPERATION_BLOCKED [vm,
 * reason], for the operation each call runs under), and VM.snapshot / VM.checkpoint / VM.revert as
 * xapi_vm_snapshot.ml does them.
 */
import { RunningSimulator } from "../../../simulator";
import { call, control, failure, login, newVm, sim } from "./helpers";

type Rec = Record<string, unknown>;
const GiB = 1024 ** 3;

describe("blocked_operations", () => {
  let s: RunningSimulator;
  let u: string;
  let m: string;
  beforeAll(async () => {
    s = await sim();
    await call(
      s.hostUrls["xen-02"]!,
      "pool.join",
      await login(s.hostUrls["xen-02"]!),
      "127.42.0.1",
      "root",
      "xen-root-pw",
    );
    u = s.url;
    m = await login(u);
  });
  afterAll(() => s.close());

  test("a blocked destroy fails with OPERATION_BLOCKED [vm, reason] and leaves allowed_operations", async () => {
    const vm = await newVm(u, m, "CentOS 6 (PV)", "precious");
    await call(u, "VM.add_to_blocked_operations", m, vm, "destroy", "protected by pulumi");
    expect(await call(u, "VM.get_blocked_operations", m, vm)).toEqual({ destroy: "protected by pulumi" });
    expect(await failure(call(u, "VM.destroy", m, vm))).toEqual(["OPERATION_BLOCKED", vm, "protected by pulumi"]);
    expect(await call<string[]>(u, "VM.get_allowed_operations", m, vm)).not.toContain("destroy");
    // Blocking outranks every other check: the power state is not even looked at.
    await call(u, "VM.set_blocked_operations", m, vm, { start: "no", hard_shutdown: "never" });
    expect(await failure(call(u, "VM.start", m, vm, false, false))).toEqual(["OPERATION_BLOCKED", vm, "no"]);
    expect(await failure(call(u, "VM.hard_shutdown", m, vm))).toEqual(["OPERATION_BLOCKED", vm, "never"]);
    // start and start_on are separate keys.
    const [h1] = await call<string[]>(u, "host.get_by_name_label", m, "xen-01");
    await call(u, "VM.start_on", m, vm, h1, false, false);
    await call(u, "VM.remove_from_blocked_operations", m, vm, "hard_shutdown");
    await call(u, "VM.hard_shutdown", m, vm);
    await call(u, "VM.set_blocked_operations", m, vm, {});
    expect(await call<string[]>(u, "VM.get_allowed_operations", m, vm)).toContain("destroy");
    await call(u, "VM.destroy", m, vm);
  });

  test("VM.shutdown runs as its own operation, `shutdown`, not as clean_shutdown or hard_shutdown", async () => {
    const vm = await newVm(u, m, "CentOS 6 (PV)", "shut");
    await call(u, "VM.start", m, vm, false, false);
    await call(u, "VM.set_blocked_operations", m, vm, { clean_shutdown: "a", hard_shutdown: "b" });
    expect(await failure(call(u, "VM.clean_shutdown", m, vm))).toEqual(["OPERATION_BLOCKED", vm, "a"]);
    await call(u, "VM.shutdown", m, vm);
    expect(await call(u, "VM.get_power_state", m, vm)).toBe("Halted");
    await call(u, "VM.set_blocked_operations", m, vm, { shutdown: "c" });
    await call(u, "VM.start", m, vm, false, false);
    expect(await failure(call(u, "VM.shutdown", m, vm))).toEqual(["OPERATION_BLOCKED", vm, "c"]);
    // `shutdown` is never advertised in allowed_operations, blocked or not.
    expect(await call<string[]>(u, "VM.get_allowed_operations", m, vm)).not.toContain("shutdown");
    await call(u, "VM.hard_shutdown", m, vm);
  });

  test("a blocked pool_migrate blocks the VM's migration and its host's evacuation", async () => {
    const [h1] = await call<string[]>(u, "host.get_by_name_label", m, "xen-01");
    const [h2] = await call<string[]>(u, "host.get_by_name_label", m, "xen-02");
    const vm = await newVm(u, m, "CentOS 6 (PV)", "pinned");
    await call(u, "VM.start_on", m, vm, h2, false, false);
    await call(u, "VM.add_to_blocked_operations", m, vm, "pool_migrate", "licence bound to this host");
    expect(await failure(call(u, "VM.pool_migrate", m, vm, h1, {}))).toEqual([
      "OPERATION_BLOCKED",
      vm,
      "licence bound to this host",
    ]);
    expect(await call(u, "host.get_vms_which_prevent_evacuation", m, h2)).toEqual({
      [vm]: ["OPERATION_BLOCKED", vm, "licence bound to this host"],
    });
    await call(u, "host.disable", m, h2);
    expect(await failure(call(u, "host.evacuate", m, h2))).toEqual([
      "OPERATION_BLOCKED",
      vm,
      "licence bound to this host",
    ]);
    expect(await call(u, "VM.get_resident_on", m, vm)).toBe(h2);
    await call(u, "host.enable", m, h2);
    await call(u, "VM.hard_shutdown", m, vm);
  });

  test("VM.revert of a running VM hard-shuts it down first, through the gate", async () => {
    const vm = await newVm(u, m, "CentOS 6 (PV)", "revert-blocked");
    const snap = await call<string>(u, "VM.snapshot", m, vm, "before");
    await call(u, "VM.start", m, vm, false, false);
    await call(u, "VM.add_to_blocked_operations", m, vm, "hard_shutdown", "keep it up");
    expect(await failure(call(u, "VM.revert", m, snap))).toEqual(["OPERATION_BLOCKED", vm, "keep it up"]);
    expect(await call(u, "VM.get_power_state", m, vm)).toBe("Running");
    await call(u, "VM.add_to_blocked_operations", m, snap, "revert", "frozen");
    await call(u, "VM.remove_from_blocked_operations", m, vm, "hard_shutdown");
    expect(await failure(call(u, "VM.revert", m, snap))).toEqual(["OPERATION_BLOCKED", snap, "frozen"]);
    await call(u, "VM.hard_shutdown", m, vm);
  });
});

describe("snapshot, checkpoint, revert", () => {
  let s: RunningSimulator;
  let u: string;
  let m: string;
  beforeAll(async () => {
    s = await sim();
    u = s.url;
    m = await login(u);
  });
  afterAll(() => s.close());

  const rec = (ref: string) => call<Rec>(u, "VM.get_record", m, ref);
  const disks = async (vm: string) => {
    const out: Record<string, string> = {};
    for (const b of (await rec(vm)).VBDs as string[]) {
      const vbd = await call<Rec>(u, "VBD.get_record", m, b);
      if (vbd.type === "Disk") out[vbd.userdevice as string] = vbd.VDI as string;
    }
    return out;
  };
  const content = async (vdi: string) =>
    (await control<{ content: string }>(s, "GET", `/vdis/${await call<string>(u, "VDI.get_uuid", m, vdi)}/content`))
      .content;
  const write = async (vdi: string, text: string) =>
    control(s, "PUT", `/vdis/${await call<string>(u, "VDI.get_uuid", m, vdi)}/content`, { content: text });
  const macs = async (vm: string) =>
    Promise.all(((await rec(vm)).VIFs as string[]).map((v) => call<string>(u, "VIF.get_MAC", m, v)));

  async function addDisk(vm: string, device: string): Promise<string> {
    const [sr] = await call<string[]>(u, "SR.get_by_name_label", m, "shared-nfs");
    const vdi = await call<string>(u, "VDI.create", m, { SR: sr, virtual_size: GiB, type: "user", name_label: device });
    await call(u, "VBD.create", m, {
      VM: vm,
      VDI: vdi,
      userdevice: device,
      bootable: false,
      mode: "RW",
      type: "Disk",
      empty: false,
      other_config: {},
    });
    return vdi;
  }

  test("a snapshot: Halted, crash consistent, its disks snapshots of the VM's, ignore_vdis left out", async () => {
    const vm = await newVm(u, m, "CentOS 6 (PV)", "snapped");
    const data = await addDisk(vm, "1");
    await call(u, "VM.start", m, vm, false, false);
    const snap = await call<string>(u, "VM.snapshot", m, vm, "with-data", []);
    const r = await rec(snap);
    expect(r).toMatchObject({
      is_a_snapshot: true,
      is_a_template: true,
      snapshot_of: vm,
      power_state: "Halted",
      snapshot_info: { "disk-snapshot-type": "crash_consistent", "power-state-at-snapshot": "Running" },
      blocked_operations: {},
    });
    const d = await disks(snap);
    expect(Object.keys(d).sort()).toEqual(["0", "1"]);
    expect(await call(u, "VDI.get_snapshot_of", m, d["1"])).toBe(data);
    expect(await macs(snap)).toEqual(await macs(vm));
    const without = await call<string>(u, "VM.snapshot", m, vm, "no-data", [data]);
    expect(Object.keys(await disks(without))).toEqual(["0"]);
    await call(u, "VM.hard_shutdown", m, vm);
  });

  test("a checkpoint keeps the memory of a Running VM, not of a Paused one", async () => {
    const vm = await newVm(u, m, "CentOS 6 (PV)", "cp");
    await call(u, "VM.start", m, vm, false, false);
    const cp = await call<string>(u, "VM.checkpoint", m, vm, "live");
    const r = await rec(cp);
    expect(r.power_state).toBe("Suspended");
    expect(await call(u, "VDI.get_type", m, r.suspend_VDI)).toBe("suspend");
    expect(r.snapshot_info).toEqual({ "disk-snapshot-type": "crash_consistent", "power-state-at-snapshot": "Running" });
    await call(u, "VM.pause", m, vm);
    const paused = await rec(await call<string>(u, "VM.checkpoint", m, vm, "paused"));
    expect([paused.power_state, paused.suspend_VDI, paused.snapshot_info]).toEqual(["Halted", "OpaqueRef:NULL", {}]);
    await call(u, "VM.hard_shutdown", m, vm);
  });

  test("revert: same uuid and ref, the snapshot's disks, NICs and fields; later disks left unattached", async () => {
    const vm = await newVm(u, m, "CentOS 6 (PV)", "before");
    const uuid = await call<string>(u, "VM.get_uuid", m, vm);
    const root = (await disks(vm))["0"]!;
    await write(root, "version 1");
    const macBefore = await macs(vm);
    const snap = await call<string>(u, "VM.snapshot", m, vm, "v1");
    const snapRoot = (await disks(snap))["0"]!;

    // Changes after the snapshot: data, a disk, a NIC, the name, memory, tags; and it runs.
    await write(root, "version 2");
    const later = await addDisk(vm, "2");
    for (const v of (await rec(vm)).VIFs as string[]) await call(u, "VIF.destroy", m, v);
    const [net] = await call<string[]>(u, "network.get_by_name_label", m, "VM Network");
    await call(u, "VIF.create", m, {
      VM: vm,
      network: net,
      device: "0",
      MAC: "",
      MTU: 1500,
      other_config: {},
      qos_algorithm_type: "",
      qos_algorithm_params: {},
    });
    await call(u, "VM.set_name_label", m, vm, "after");
    await call(u, "VM.set_memory_limits", m, vm, 512 * 1024 ** 2, 2 * GiB, 2 * GiB, 2 * GiB);
    await call(u, "VM.add_tags", m, vm, "kept");
    await call(u, "VM.start", m, vm, false, false);

    await call(u, "VM.revert", m, snap);
    const r = await rec(vm);
    expect(r).toMatchObject({
      uuid,
      power_state: "Halted",
      name_label: "before",
      memory_static_max: GiB,
      tags: ["kept"],
      parent: snap,
      is_a_template: false,
      ha_always_run: false,
    });
    const d = await disks(vm);
    expect(Object.keys(d)).toEqual(["0"]);
    expect(d["0"]).not.toBe(root);
    expect(await content(d["0"]!)).toBe("version 1");
    expect(await failure(call(u, "VDI.get_record", m, root))).toEqual(["HANDLE_INVALID", "VDI", root]);
    // xapi leaves a disk the snapshot does not know alone, just unplugged from the VM.
    expect(await call(u, "VDI.get_VBDs", m, later)).toEqual([]);
    expect(await macs(vm)).toEqual(macBefore);
    // The snapshot's disk is now a snapshot of the new disk.
    expect(await call(u, "VDI.get_snapshot_of", m, snapRoot)).toBe(d["0"]);
    // A VM shut down by the revert says so.
    const msgs = await call<Record<string, Rec>>(u, "message.get_all_records", m);
    expect(Object.values(msgs).some((x) => x.name === "VM_SHUTDOWN" && x.obj_uuid === uuid)).toBe(true);

    // A checkpoint reverts to Suspended, and the VM resumes from it.
    await call(u, "VM.start", m, vm, false, false);
    const cp = await call<string>(u, "VM.checkpoint", m, vm, "cp");
    await call(u, "VM.hard_shutdown", m, vm);
    await call(u, "VM.revert", m, cp);
    expect(await call(u, "VM.get_power_state", m, vm)).toBe("Suspended");
    await call(u, "VM.resume", m, vm, false, false);
    await call(u, "VM.hard_shutdown", m, vm);
  });

  test("revert brings back a destroyed VM under its uuid", async () => {
    const vm = await newVm(u, m, "CentOS 6 (PV)", "gone");
    const uuid = await call<string>(u, "VM.get_uuid", m, vm);
    const snap = await call<string>(u, "VM.snapshot", m, vm, "last");
    const other = await call<string>(u, "VM.snapshot", m, vm, "older");
    await call(u, "VM.destroy", m, vm);
    await call(u, "VM.revert", m, snap);
    const back = await call<string>(u, "VM.get_by_uuid", m, uuid);
    expect(back).not.toBe(vm);
    expect(await rec(back)).toMatchObject({ name_label: "gone", power_state: "Halted", is_a_snapshot: false });
    expect((await call<string[]>(u, "VM.get_snapshots", m, back)).sort()).toEqual([snap, other].sort());
    expect(Object.keys(await disks(back))).toEqual(["0"]);
  });
});

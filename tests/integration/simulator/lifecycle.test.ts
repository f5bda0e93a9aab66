import { RunningSimulator } from "../../../simulator";
import { call, control, failure, login, newVm, sim, waitTask } from "./helpers";

let s: RunningSimulator;
let url: string;
let session: string;
const GiB = 1024 ** 3;

beforeAll(async () => {
  s = await sim();
  url = s.url;
  session = await login(url);
});
afterAll(() => s.close());

type Rec = Record<string, unknown>;
const rec = (ref: string) => call<Rec>(url, "VM.get_record", session, ref);

describe("install flow and power states", () => {
  let vm: string;
  test("clone of a template is a template; provision makes it a VM with disks", async () => {
    const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "Debian Bookworm 12");
    vm = await call<string>(url, "VM.clone", session, tpl, "web-1");
    const r = await rec(vm);
    expect(r.is_a_template).toBe(true);
    expect(r.is_default_template).toBe(false);
    expect((r.other_config as Rec).default_template).toBeUndefined();
    expect(await failure(call(url, "VM.start", session, vm, false, false))).toEqual(["VM_IS_TEMPLATE", vm, "start"]);
    await call(url, "VM.provision", session, vm);
    const p = await rec(vm);
    expect(p.is_a_template).toBe(false);
    const [vbd] = p.VBDs as string[];
    const vdi = await call<Rec>(url, "VDI.get_record", session, await call(url, "VBD.get_VDI", session, vbd));
    expect(vdi.virtual_size).toBe(10 * GiB);
    const pool = (await call<string[]>(url, "pool.get_all", session))[0]!;
    expect(vdi.SR).toBe(await call(url, "pool.get_default_SR", session, pool));
    expect(await failure(call(url, "VM.provision", session, vm))).toEqual(["PROVISION_ONLY_ALLOWED_ON_TEMPLATE"]);
  });
  test("start, then the guest agent reports an address from the network range", async () => {
    const [net] = await call<string[]>(url, "network.get_by_name_label", session, "VM Network");
    await call(url, "VIF.create", session, {
      VM: vm,
      network: net,
      device: "0",
      MAC: "",
      MTU: 1500,
      other_config: {},
      qos_algorithm_type: "",
      qos_algorithm_params: {},
    });
    await call(url, "VM.start", session, vm, false, false);
    const r = await rec(vm);
    expect(r.power_state).toBe("Running");
    expect(r.domid).toBeGreaterThan(0);
    expect(r.resident_on).toMatch(/^OpaqueRef:/);
    const gm = await call<Rec>(url, "VM_guest_metrics.get_record", session, r.guest_metrics);
    expect((gm.networks as Record<string, string>)["0/ip"]).toMatch(/^10\.20\.0\.\d+$/);
    expect(gm.PV_drivers_detected).toBe(true);
    const host = await call<string[]>(url, "host.get_resident_VMs", session, r.resident_on);
    expect(host).toContain(vm);
  });
  test("wrong power state errors carry exact params", async () => {
    expect(await failure(call(url, "VM.start", session, vm, false, false))).toEqual([
      "VM_BAD_POWER_STATE",
      vm,
      "halted",
      "running",
    ]);
    expect(await failure(call(url, "VM.unpause", session, vm))).toEqual([
      "VM_BAD_POWER_STATE",
      vm,
      "paused",
      "running",
    ]);
    expect(await failure(call(url, "VM.destroy", session, vm))).toEqual([
      "VM_BAD_POWER_STATE",
      vm,
      "halted, suspended",
      "running",
    ]);
  });
  test("pause/unpause, reboot changes domid", async () => {
    await call(url, "VM.pause", session, vm);
    expect((await rec(vm)).power_state).toBe("Paused");
    expect(await failure(call(url, "VM.clean_shutdown", session, vm))).toEqual([
      "VM_BAD_POWER_STATE",
      vm,
      "running",
      "paused",
    ]);
    await call(url, "VM.unpause", session, vm);
    const d1 = (await rec(vm)).domid;
    await call(url, "VM.clean_reboot", session, vm);
    const r = await rec(vm);
    expect(r.power_state).toBe("Running");
    expect(r.domid).not.toBe(d1);
  });
  test("suspend to the suspend SR, resume, clean shutdown", async () => {
    await call(url, "VM.suspend", session, vm);
    const r = await rec(vm);
    expect(r.power_state).toBe("Suspended");
    expect(r.suspend_VDI).toMatch(/^OpaqueRef:/);
    expect(r.resident_on).toBe("OpaqueRef:NULL");
    await call(url, "VM.resume", session, vm, false, false);
    expect((await rec(vm)).power_state).toBe("Running");
    expect((await rec(vm)).suspend_VDI).toBe("OpaqueRef:NULL");
    await call(url, "VM.clean_shutdown", session, vm);
    const h = await rec(vm);
    expect(h.power_state).toBe("Halted");
    expect(h.domid).toBe(-1);
    expect(h.guest_metrics).toBe("OpaqueRef:NULL");
  });
  test("no suspend SR -> VM_NO_SUSPEND_SR", async () => {
    const u = s.hostUrls["xen-02"]!;
    const x = await login(u);
    const v = await newVm(u, x, "Debian Bookworm 12", "nosusp");
    const [pool] = await call<string[]>(u, "pool.get_all", x);
    const [host] = await call<string[]>(u, "host.get_all", x);
    await call(u, "pool.set_suspend_image_SR", x, pool, "OpaqueRef:NULL");
    await call(u, "host.set_suspend_image_sr", x, host, "OpaqueRef:NULL");
    await call(u, "VM.start", x, v, false, false);
    expect(await failure(call(u, "VM.suspend", x, v))).toEqual(["VM_NO_SUSPEND_SR", v]);
    await call(u, "VM.hard_shutdown", x, v);
  });
  test("destroy keeps the VDIs", async () => {
    const r = await rec(vm);
    const vdi = await call<string>(url, "VBD.get_VDI", session, (r.VBDs as string[])[0]);
    await call(url, "VM.destroy", session, vm);
    expect(await failure(rec(vm))).toEqual(["HANDLE_INVALID", "VM", vm]);
    expect(await call(url, "VDI.get_VBDs", session, vdi)).toEqual([]);
  });
  test("default templates cannot be destroyed", async () => {
    const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "Debian Bookworm 12");
    expect(await failure(call(url, "VM.destroy", session, tpl))).toEqual(["VM_IS_TEMPLATE", tpl, "destroy"]);
  });
});

describe("HVM and guest features", () => {
  test("Windows without tools: clean_shutdown -> VM_LACKS_FEATURE, hard_shutdown works", async () => {
    const vm = await newVm(url, session, "Windows Server 2022 (64-bit)", "win-1");
    await call(url, "VM.start", session, vm, false, false);
    const r = await rec(vm);
    expect(r.allowed_operations).not.toContain("clean_shutdown");
    expect(r.guest_metrics).toBe("OpaqueRef:NULL");
    expect(await failure(call(url, "VM.clean_shutdown", session, vm))).toEqual(["VM_LACKS_FEATURE", vm]);
    expect(await failure(call(url, "VM.set_VCPUs_number_live", session, vm, 2))).toEqual(["VM_LACKS_FEATURE", vm]);
    await control(s, "POST", `/vms/${String(r.uuid)}/install-tools`);
    expect((await rec(vm)).allowed_operations).toContain("clean_shutdown");
    await call(url, "VM.clean_shutdown", session, vm);
  });
  test("HVM guest on the host without VT: start_on -> VM_HVM_REQUIRED; start -> NO_HOSTS_AVAILABLE", async () => {
    const u = s.hostUrls["xen-04"]!;
    const x = await login(u);
    const [host] = await call<string[]>(u, "host.get_all", x);
    const vm = await newVm(u, x, "Debian Bookworm 12", "hvm-on-04");
    expect(await failure(call(u, "VM.start_on", x, vm, host, false, false))).toEqual(["VM_HVM_REQUIRED", vm]);
    expect(await failure(call(u, "VM.start", x, vm, false, false))).toEqual(["NO_HOSTS_AVAILABLE"]);
    const pv = await newVm(u, x, "CentOS 6 (PV)", "pv-on-04");
    await call(u, "VM.start", x, pv, false, false);
    const r = await call<Rec>(u, "VM.get_record", x, pv);
    expect(r.power_state).toBe("Running");
    const m = await call<Rec>(u, "VM_metrics.get_record", x, r.metrics);
    expect(m.current_domain_type).toBe("pv");
    expect(m.hvm).toBe(false);
  });
});

describe("memory and vCPUs", () => {
  let vm: string;
  beforeAll(async () => {
    vm = await newVm(url, session, "Debian Bookworm 12", "mem-1");
  });
  test("set_memory_limits order", async () => {
    expect(await failure(call(url, "VM.set_memory_limits", session, vm, GiB, 2 * GiB, 3 * GiB, 2 * GiB))).toEqual([
      "MEMORY_CONSTRAINT_VIOLATION_ORDER",
    ]);
    await call(url, "VM.set_memory_limits", session, vm, GiB, 4 * GiB, 2 * GiB, 4 * GiB);
    const r = await rec(vm);
    expect([r.memory_static_min, r.memory_dynamic_min, r.memory_dynamic_max, r.memory_static_max]).toEqual([
      GiB,
      2 * GiB,
      4 * GiB,
      4 * GiB,
    ]);
    expect(r.memory_target).toBe(2 * GiB);
  });
  test("static range only when halted; dynamic range live within static max", async () => {
    await call(url, "VM.start", session, vm, false, false);
    expect(await failure(call(url, "VM.set_memory_limits", session, vm, GiB, 4 * GiB, 2 * GiB, 4 * GiB))).toEqual([
      "VM_BAD_POWER_STATE",
      vm,
      "halted",
      "running",
    ]);
    expect(await failure(call(url, "VM.set_memory_static_range", session, vm, GiB, 8 * GiB))).toEqual([
      "VM_BAD_POWER_STATE",
      vm,
      "halted",
      "running",
    ]);
    await call(url, "VM.set_memory_dynamic_range", session, vm, 3 * GiB, 4 * GiB);
    expect((await rec(vm)).memory_dynamic_min).toBe(3 * GiB);
    expect(await failure(call(url, "VM.set_memory_dynamic_range", session, vm, 3 * GiB, 5 * GiB))).toEqual([
      "MEMORY_CONSTRAINT_VIOLATION_ORDER",
    ]);
  });
  test("live dynamic_min beyond host free memory: KiB params", async () => {
    const r = await rec(vm);
    const free = await call<number>(url, "host.compute_free_memory", session, r.resident_on);
    await call(url, "VM.set_memory_static_max", session, vm, 4 * GiB).catch(() => undefined);
    // raise static range first is impossible live, so ask for more than free within a big static max VM
    const big = await newVm(url, session, "Debian Bookworm 12", "big");
    await call(url, "VM.set_memory_limits", session, big, GiB, 1024 * GiB, GiB, 1024 * GiB);
    await call(url, "VM.start_on", session, big, r.resident_on, false, false);
    const free2 = await call<number>(url, "host.compute_free_memory", session, r.resident_on);
    expect(free2).toBeLessThan(free);
    const want = GiB + free2 + GiB;
    expect(await failure(call(url, "VM.set_memory_dynamic_range", session, big, want, 1024 * GiB))).toEqual([
      "HOST_NOT_ENOUGH_FREE_MEMORY",
      String(Math.ceil((want - GiB) / 1024)),
      String(Math.floor(free2 / 1024)),
    ]);
    await call(url, "VM.hard_shutdown", session, big);
  });
  test("vCPUs", async () => {
    expect(await failure(call(url, "VM.set_VCPUs_max", session, vm, 8))).toEqual([
      "VM_BAD_POWER_STATE",
      vm,
      "halted",
      "running",
    ]);
    await call(url, "VM.set_VCPUs_number_live", session, vm, 3);
    expect((await rec(vm)).VCPUs_at_startup).toBe(3);
    expect(await failure(call(url, "VM.set_VCPUs_number_live", session, vm, 9))).toEqual([
      "INVALID_VALUE",
      "VCPU values must satisfy: 0 < VCPUs ≤ VCPUs_max",
      "9",
    ]);
    await call(url, "VM.hard_shutdown", session, vm);
    expect(await failure(call(url, "VM.set_VCPUs_at_startup", session, vm, 5))).toEqual([
      "INVALID_VALUE",
      "VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max",
      "5",
    ]);
    expect(await failure(call(url, "VM.set_VCPUs_max", session, vm, 2))).toEqual([
      "INVALID_VALUE",
      "VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max",
      "2",
    ]);
    await call(url, "VM.set_VCPUs_max", session, vm, 8);
    await call(url, "VM.set_VCPUs_at_startup", session, vm, 6);
    expect((await rec(vm)).VCPUs_max).toBe(8);
  });
  test("HA restart priority and other setters", async () => {
    expect(await failure(call(url, "VM.set_ha_restart_priority", session, vm, "always"))).toEqual([
      "INVALID_VALUE",
      "ha_restart_priority",
      "always",
    ]);
    await call(url, "VM.set_ha_restart_priority", session, vm, "restart");
    await call(url, "VM.set_order", session, vm, 2);
    const [h] = await call<string[]>(url, "host.get_all", session);
    await call(url, "VM.set_affinity", session, vm, h);
    expect(await failure(call(url, "VM.set_affinity", session, vm, "OpaqueRef:nope"))).toEqual([
      "HANDLE_INVALID",
      "host",
      "OpaqueRef:nope",
    ]);
    const r = await rec(vm);
    expect([r.ha_restart_priority, r.order, r.affinity]).toEqual(["restart", 2, h]);
  });
});

describe("devices", () => {
  test("VDI create/resize/destroy and SR accounting", async () => {
    const pool = (await call<string[]>(url, "pool.get_all", session))[0]!;
    const sr = await call<string>(url, "pool.get_default_SR", session, pool);
    const before = await call<number>(url, "SR.get_physical_utilisation", session, sr);
    const vdi = await call<string>(url, "VDI.create", session, {
      SR: sr,
      virtual_size: GiB,
      type: "user",
      name_label: "data",
      sharable: false,
      read_only: false,
      other_config: {},
    });
    expect(await call(url, "SR.get_physical_utilisation", session, sr)).toBe(before + GiB);
    expect(await failure(call(url, "VDI.resize", session, vdi, 1024))).toEqual(["VDI_TOO_SMALL", vdi, String(GiB)]);
    await call(url, "VDI.resize", session, vdi, 2 * GiB);
    expect(await call(url, "VDI.get_virtual_size", session, vdi)).toBe(2 * GiB);
    const size = await call<number>(url, "SR.get_physical_size", session, sr);
    expect(await failure(call(url, "VDI.create", session, { SR: sr, virtual_size: size * 2, type: "user" }))).toEqual([
      "SR_FULL",
      String(size * 2),
      String(size - before - 2 * GiB),
    ]);
    await call(url, "VDI.destroy", session, vdi);
    expect(await call(url, "SR.get_physical_utilisation", session, sr)).toBe(before);
  });
  test("VDI.pool_migrate moves a running VM's disk to another SR; a loose VDI needs a VM", async () => {
    const srs = await call<Record<string, Rec>>(url, "SR.get_all_records", session);
    const local = Object.entries(srs).find(([, r]) => r.name_label === "Local storage")![0];
    const shared = Object.entries(srs).find(([, r]) => r.name_label === "shared-nfs")![0];
    const loose = await call<string>(url, "VDI.create", session, {
      SR: local,
      virtual_size: GiB,
      type: "user",
      name_label: "moving",
    });
    expect(await failure(call(url, "VDI.pool_migrate", session, loose, shared, {}))).toEqual([
      "VDI_NEEDS_VM_FOR_MIGRATE",
      loose,
    ]);
    await call(url, "VDI.destroy", session, loose);
    const vm = await newVm(url, session, "Debian Bookworm 12", "mover-1");
    await call(url, "VM.start", session, vm, false, false);
    const vbd = (await rec(vm)).VBDs as string[];
    const vdi = await call<string>(url, "VBD.get_VDI", session, vbd[0]);
    expect(await call(url, "VDI.get_SR", session, vdi)).toBe(shared);
    const uuid = await call<string>(url, "VDI.get_uuid", session, vdi);
    const moved = await call<string>(url, "VDI.pool_migrate", session, vdi, local, {});
    expect(await call(url, "VDI.get_SR", session, moved)).toBe(local);
    expect(await call(url, "VDI.get_uuid", session, moved)).toBe(uuid);
    expect(await call(url, "VDI.get_by_uuid", session, uuid)).toBe(moved);
    expect(await call(url, "VBD.get_VDI", session, vbd[0])).toBe(moved);
    await call(url, "VM.hard_shutdown", session, vm);
  });
  test("VBD/VIF hotplug needs a running VM with PV drivers", async () => {
    const vm = await newVm(url, session, "Debian Bookworm 12", "dev-1");
    const r = await rec(vm);
    const vif = (r.VIFs as string[])[0]!;
    expect(await failure(call(url, "VIF.plug", session, vif))).toEqual(["VM_BAD_POWER_STATE", vm, "running", "halted"]);
    await call(url, "VM.start", session, vm, false, false);
    expect(await failure(call(url, "VIF.plug", session, vif))).toEqual(["DEVICE_ALREADY_ATTACHED", vif]);
    await call(url, "VIF.unplug", session, vif);
    expect(await failure(call(url, "VIF.unplug", session, vif))).toEqual(["DEVICE_ALREADY_DETACHED", vif]);
    expect(
      await failure(call(url, "VIF.create", session, { VM: vm, network: "OpaqueRef:x", device: "1", MAC: "" })),
    ).toEqual(["HANDLE_INVALID", "network", "OpaqueRef:x"]);
    const [net] = await call<string[]>(url, "network.get_by_name_label", session, "Management");
    expect(await failure(call(url, "VIF.create", session, { VM: vm, network: net, device: "0", MAC: "" }))).toEqual([
      "DEVICE_ALREADY_EXISTS",
      "0",
    ]);
    expect(await failure(call(url, "VIF.create", session, { VM: vm, network: net, device: "1", MAC: "zz" }))).toEqual([
      "MAC_INVALID",
      "zz",
    ]);
    // xapi_vif_helpers.ml: an unsigned decimal, unique by its value
    for (const [device, code] of [
      ["", "INVALID_DEVICE"],
      ["eth1", "INVALID_DEVICE"],
      ["00", "DEVICE_ALREADY_EXISTS"],
    ])
      expect(await failure(call(url, "VIF.create", session, { VM: vm, network: net, device, MAC: "" }))).toEqual([
        code,
        device,
      ]);
    await call(url, "VM.hard_shutdown", session, vm);
  });
});

describe("Async tasks", () => {
  test("result is an XML-RPC value fragment", async () => {
    const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "CentOS 6 (PV)");
    const task = await call<string>(url, "Async.VM.clone", session, tpl, "async-clone");
    const t = await waitTask(url, session, task);
    expect(t.status).toBe("success");
    expect(t.progress).toBe(1);
    expect(t.name_label).toBe("Async.VM.clone");
    expect(t.result).toMatch(/^<value>OpaqueRef:[0-9a-f-]+<\/value>$/);
    expect(t.allowed_operations).toEqual([]);
    const vm = String(t.result).slice(7, -8);
    const t2 = await waitTask(url, session, await call<string>(url, "Async.VM.provision", session, vm));
    expect(t2.result).toBe("<value></value>");
    const t3 = await waitTask(url, session, await call<string>(url, "Async.VM.provision", session, vm));
    expect([t3.status, t3.error_info]).toEqual(["failure", ["PROVISION_ONLY_ALLOWED_ON_TEMPLATE"]]);
    await call(url, "task.destroy", session, task);
    expect(await failure(call(url, "task.get_record", session, task))).toEqual(["HANDLE_INVALID", "task", task]);
  });
  test("with simulated time: current_operations, OTHER_OPERATION_IN_PROGRESS, cancel", async () => {
    const vm = await newVm(url, session, "CentOS 6 (PV)", "slow");
    await control(s, "POST", "/durations", { "VM.start": 400 });
    await control(s, "POST", "/time-scale", { scale: 1 });
    try {
      const task = await call<string>(url, "Async.VM.start", session, vm, false, false);
      await new Promise((r) => setTimeout(r, 50));
      const r = await rec(vm);
      expect(r.current_operations).toEqual({ [task]: "start" });
      expect(r.scheduled_to_be_resident_on).toMatch(/^OpaqueRef:[0-9a-f]/);
      expect(await failure(call(url, "VM.start", session, vm, false, false))).toEqual([
        "OTHER_OPERATION_IN_PROGRESS",
        "VM",
        vm,
        "start",
        task,
      ]);
      expect((await waitTask(url, session, task)).status).toBe("success");
      expect((await rec(vm)).current_operations).toEqual({});
      await call(url, "VM.hard_shutdown", session, vm);
      const t2 = await call<string>(url, "Async.VM.start", session, vm, false, false);
      await new Promise((r) => setTimeout(r, 30));
      await call(url, "task.cancel", session, t2);
      const done = await waitTask(url, session, t2);
      expect([done.status, done.error_info]).toEqual(["cancelled", ["TASK_CANCELLED", t2]]);
      const after = await rec(vm);
      expect([after.power_state, after.scheduled_to_be_resident_on, after.current_operations]).toEqual([
        "Halted",
        "OpaqueRef:NULL",
        {},
      ]);
      expect(await failure(call(url, "task.cancel", session, t2))).toEqual([
        "OPERATION_NOT_ALLOWED",
        "task is not cancellable",
      ]);
    } finally {
      await control(s, "POST", "/time-scale", { scale: 0 });
    }
  });
});

describe("events", () => {
  test("full sync, comparable tokens, mod/del, blocking with timeout, inject", async () => {
    const full = await call<Rec>(url, "event.from", session, ["vm", "pool"], "", 1);
    const events = full.events as Rec[];
    expect(events.every((e) => e.operation === "add")).toBe(true);
    expect(events.some((e) => e.class === "pool")).toBe(true);
    const token = full.token as string;
    expect(token).toMatch(/^\d{20},\d{20}$/);
    expect((full.valid_ref_counts as Record<string, number>).vm).toBe(
      Object.keys(await call<Rec>(url, "VM.get_all_records", session)).length,
    );
    const t0 = Date.now();
    const empty = await call<Rec>(url, "event.from", session, ["vm"], token, 0.3);
    expect(empty.events).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "CentOS 6 (PV)");
    const waiting = call<Rec>(url, "event.from", session, ["vm"], token, 5);
    await new Promise((r) => setTimeout(r, 50));
    const vm = await call<string>(url, "VM.clone", session, tpl, "evented");
    const got = await waiting;
    expect((got.events as Rec[]).find((e) => e.ref === vm)).toMatchObject({ class: "vm", operation: "add" });
    expect((got.token as string) > token).toBe(true);
    await call(url, "VM.set_name_label", session, vm, "renamed");
    await call(url, "VM.set_name_label", session, vm, "renamed2");
    const mods = await call<Rec>(url, "event.from", session, ["vm/" + vm], got.token, 1);
    expect((mods.events as Rec[]).length).toBe(1);
    expect((mods.events as Rec[])[0]).toMatchObject({
      operation: "mod",
      snapshot: expect.objectContaining({ name_label: "renamed2" }),
    });
    await call(url, "VM.destroy", session, vm);
    const del = await call<Rec>(url, "event.from", session, ["vm"], mods.token, 1);
    expect((del.events as Rec[]).find((e) => e.ref === vm)).toEqual({
      id: expect.any(String),
      timestamp: "0.0",
      class: "vm",
      operation: "del",
      ref: vm,
    });
    const [pool] = await call<string[]>(url, "pool.get_all", session);
    const injected = await call<string>(url, "event.inject", session, "pool", pool);
    const after = await call<Rec>(url, "event.from", session, ["pool"], injected, 1);
    expect((after.events as Rec[]).map((e) => e.ref)).toEqual([pool]);
    // xapi accepts any class name (no events for it); only a malformed subscription is refused.
    expect(await failure(call(url, "event.from", session, ["vm/a/b"], "", 1))).toEqual([
      "EVENT_SUBSCRIPTION_PARSE_FAILURE",
      "vm/a/b",
    ]);
    expect(await failure(call(url, "event.from", session, ["vm"], "garbage", 1))).toEqual([
      "EVENT_FROM_TOKEN_PARSE_FAILURE",
      "garbage",
    ]);
    expect(await failure(call(url, "event.inject", session, "pool", "OpaqueRef:x"))).toEqual([
      "HANDLE_INVALID",
      "pool",
      "OpaqueRef:x",
    ]);
  });
  test("tasks produce events", async () => {
    const base = (await call<Rec>(url, "event.from", session, ["task"], "", 0)).token as string;
    const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "CentOS 6 (PV)");
    const task = await call<string>(url, "Async.VM.clone", session, tpl, "task-events");
    await waitTask(url, session, task);
    const ev = await call<Rec>(url, "event.from", session, ["task"], base, 1);
    expect((ev.events as Rec[]).some((e) => e.ref === task)).toBe(true);
  });
});

describe("more async and events", () => {
  test("a synchronous call with simulated time runs under a real task", async () => {
    const vm = await newVm(url, session, "CentOS 6 (PV)", "sync-task");
    await control(s, "POST", "/durations", { "VM.start": 300 });
    await control(s, "POST", "/time-scale", { scale: 1 });
    try {
      const pending = call(url, "VM.start", session, vm, false, false);
      await new Promise((r) => setTimeout(r, 60));
      const ops = (await rec(vm)).current_operations as Record<string, string>;
      const [task] = Object.keys(ops);
      expect(ops[task!]).toBe("start");
      expect(await call(url, "task.get_status", session, task)).toBe("pending");
      await pending;
      expect(await failure(call(url, "task.get_status", session, task))).toEqual(["HANDLE_INVALID", "task", task!]);
    } finally {
      await control(s, "POST", "/time-scale", { scale: 0 });
    }
    await call(url, "VM.hard_shutdown", session, vm);
  });
  test("legacy event.register / next / unregister", async () => {
    expect(await failure(call(url, "event.next", session))).toEqual(["SESSION_NOT_REGISTERED", session]);
    await call(url, "event.register", session, ["vm"]);
    const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "CentOS 6 (PV)");
    const vm = await call<string>(url, "VM.clone", session, tpl, "legacy-events");
    const evs = await call<Rec[]>(url, "event.next", session);
    expect(evs.find((e) => e.ref === vm)).toMatchObject({
      class: "vm",
      operation: "add",
      obj_uuid: expect.any(String),
    });
    await call(url, "event.unregister", session, ["vm"]);
    expect(await failure(call(url, "event.next", session))).toEqual(["SESSION_NOT_REGISTERED", session]);
  });
});

test("set_is_a_template: needs Halted, refused for HA-protected VMs", async () => {
  const vm = await newVm(url, session, "CentOS 6 (PV)", "tpl-me");
  await call(url, "VM.start", session, vm, false, false);
  expect(await failure(call(url, "VM.set_is_a_template", session, vm, true))).toEqual([
    "VM_BAD_POWER_STATE",
    vm,
    "halted",
    "running",
  ]);
  await call(url, "VM.hard_shutdown", session, vm);
  await call(url, "VM.set_ha_restart_priority", session, vm, "restart");
  expect(await failure(call(url, "VM.set_is_a_template", session, vm, true))).toEqual(["VM_IS_PROTECTED", vm]);
  await call(url, "VM.set_ha_restart_priority", session, vm, "");
  await call(url, "VM.set_is_a_template", session, vm, true);
  expect(await failure(call(url, "VM.start", session, vm, false, false))).toEqual(["VM_IS_TEMPLATE", vm, "start"]);
});

test("snapshot and revert", async () => {
  const vm = await newVm(url, session, "Debian Bookworm 12", "snappy");
  const snap = await call<string>(url, "VM.snapshot", session, vm, "snap-1");
  const sr = await rec(snap);
  expect([sr.is_a_snapshot, sr.is_a_template, sr.snapshot_of, sr.power_state]).toEqual([true, true, vm, "Halted"]);
  expect((await rec(vm)).snapshots).toEqual([snap]);
  expect(await failure(call(url, "VM.start", session, snap, false, false))).toEqual(["VM_IS_SNAPSHOT", snap, "start"]);
  const snapVdi = await call<string>(url, "VBD.get_VDI", session, (sr.VBDs as string[])[0]);
  const vdiRec = await call<Rec>(url, "VDI.get_record", session, snapVdi);
  expect(vdiRec.is_a_snapshot).toBe(true);
  await call(url, "VM.set_memory_limits", session, vm, 512 * 1024 ** 2, GiB, GiB, GiB);
  await call(url, "VM.start", session, vm, false, false);
  await call(url, "VM.revert", session, snap);
  const after = await rec(vm);
  expect(after.power_state).toBe("Halted");
  expect(after.memory_static_max).toBe(sr.memory_static_max);
  const newVdi = await call<Rec>(
    url,
    "VDI.get_record",
    session,
    await call(url, "VBD.get_VDI", session, (after.VBDs as string[])[0]),
  );
  expect(newVdi.is_a_snapshot).toBe(false);
  expect(await failure(call(url, "VM.revert", session, vm))).toEqual(["REVERT_ONLY_ALLOWED_ON_SNAPSHOT"]);
  await call(url, "VM.start", session, vm, false, false);
  const cp = await call<string>(url, "VM.checkpoint", session, vm, "cp-1");
  expect(await call(url, "VM.get_power_state", session, cp)).toBe("Suspended");
  await call(url, "VM.revert", session, cp);
  expect(await call(url, "VM.get_power_state", session, vm)).toBe("Suspended");
  await call(url, "VM.resume", session, vm, false, false);
  await call(url, "VM.hard_shutdown", session, vm);
  await call(url, "VM.destroy", session, snap);
  expect((await rec(vm)).snapshots).toEqual([cp]);
});

test("VM.copy makes full disk copies, on a given SR or the same ones", async () => {
  const vm = await newVm(url, session, "CentOS 6 (PV)", "copy-src");
  const srs = await call<Record<string, Rec>>(url, "SR.get_all_records", session);
  const shared = Object.entries(srs).find(([, r]) => r.name_label === "shared-nfs")![0];
  const local = Object.entries(srs).find(([, r]) => r.name_label === "Local storage")![0];
  const before = await call<number>(url, "SR.get_physical_utilisation", session, local);
  const c1 = await call<string>(url, "VM.copy", session, vm, "copy-local", local);
  const vdi1 = await call<string>(url, "VBD.get_VDI", session, ((await rec(c1)).VBDs as string[])[0]);
  expect(await call(url, "VDI.get_SR", session, vdi1)).toBe(local);
  expect(await call<number>(url, "SR.get_physical_utilisation", session, local)).toBe(before + 8 * GiB);
  const c2 = await call<string>(url, "VM.copy", session, vm, "copy-same", "OpaqueRef:NULL");
  const vdi2 = await call<string>(url, "VBD.get_VDI", session, ((await rec(c2)).VBDs as string[])[0]);
  expect(await call(url, "VDI.get_SR", session, vdi2)).toBe(shared);
  expect((await rec(c2)).is_a_template).toBe(false);
  await call(url, "VM.start", session, vm, false, false);
  expect(await failure(call(url, "VM.copy", session, vm, "x", "OpaqueRef:NULL"))).toEqual([
    "VM_BAD_POWER_STATE",
    vm,
    "halted",
    "running",
  ]);
  await call(url, "VM.hard_shutdown", session, vm);
});

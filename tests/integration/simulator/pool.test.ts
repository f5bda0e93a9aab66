import { RunningSimulator } from "../../../simulator";
import { call, control, failure, login, newVm, sim, waitTask } from "./helpers";

type Rec = Record<string, unknown>;
let s: RunningSimulator;
let u1: string;
let u2: string;
let u4: string;
let m: string;

async function hostRef(url: string, session: string, name: string): Promise<string> {
  const [h] = await call<string[]>(url, "host.get_by_name_label", session, name);
  return h!;
}

beforeAll(async () => {
  s = await sim();
  u1 = s.hostUrls["xen-01"]!;
  u2 = s.hostUrls["xen-02"]!;
  u4 = s.hostUrls["xen-04"]!;
  m = await login(u1);
});
afterAll(() => s.close());

describe("pool.join (called on the joining host)", () => {
  test("errors: self, bad credentials, running VMs", async () => {
    const x2 = await login(u2);
    expect(await failure(call(u2, "pool.join", x2, "127.42.0.2", "root", "xen-root-pw"))).toEqual([
      "OPERATION_NOT_ALLOWED",
      "Host cannot become slave of itself",
    ]);
    expect(await failure(call(u2, "pool.join", x2, "127.42.0.1", "root", "nope"))).toEqual([
      "SESSION_AUTHENTICATION_FAILED",
      "root",
      "Authentication failure",
    ]);
    expect(await failure(call(u2, "pool.join", x2, "127.42.0.99", "root", "xen-root-pw"))).toEqual([
      "JOINING_HOST_CONNECTION_FAILED",
    ]);
    const vm = await newVm(u2, x2, "CentOS 6 (PV)", "blocker");
    await call(u2, "VM.start", x2, vm, false, false);
    expect(await failure(call(u2, "pool.join", x2, "127.42.0.1", "root", "xen-root-pw"))).toEqual([
      "JOINING_HOST_CANNOT_HAVE_RUNNING_VMS",
    ]);
    await call(u2, "VM.hard_shutdown", x2, vm);
  });
  test("the master's pool contains a shared SR, so it cannot join another pool", async () => {
    const x2 = await login(u2);
    expect(await failure(call(u1, "pool.join", m, "127.42.0.2", "root", "xen-root-pw"))).toEqual([
      "JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS",
    ]);
    expect(x2).toMatch(/^OpaqueRef:/);
  });
  test("join: objects move, networks merge by name, shared SR gets a PBD, supporter redirects logins", async () => {
    const x2 = await login(u2);
    const task = await call<string>(u2, "Async.pool.join", x2, "127.42.0.1", "root", "xen-root-pw");
    expect((await waitTask(u2, x2, task)).status).toBe("success");
    const hosts = await call<string[]>(u1, "host.get_all", m);
    expect(hosts.length).toBe(2);
    expect(await failure(call(u2, "session.login_with_password", "root", "xen-root-pw"))).toEqual([
      "HOST_IS_SLAVE",
      "127.42.0.1",
    ]);
    const nets = await call<Record<string, Rec>>(u1, "network.get_all_records", m);
    expect(
      Object.values(nets)
        .map((n) => n.name_label)
        .sort(),
    ).toEqual(["Management", "VM Network"]);
    for (const n of Object.values(nets)) expect((n.PIFs as string[]).length).toBe(2);
    const h2 = await hostRef(u1, m, "xen-02");
    const [shared] = await call<string[]>(u1, "SR.get_by_name_label", m, "shared-nfs");
    const pbds = await call<string[]>(u1, "SR.get_PBDs", m, shared);
    expect(pbds.length).toBe(2);
    expect((await call<Rec>(u1, "PBD.get_record", m, pbds[1])).host).toBe(h2);
    const vms = await call<Record<string, Rec>>(u1, "VM.get_all_records", m);
    expect(Object.values(vms).filter((v) => v.name_label === "blocker").length).toBe(1);
    expect(Object.values(vms).filter((v) => v.name_label === "Debian Bookworm 12").length).toBe(1);
  });
  test("a joined host's HVM-less peer: xen-04 joins and HVM guests avoid it", async () => {
    const x4 = await login(u4);
    await call(u4, "pool.join", x4, "127.42.0.1", "root", "xen-root-pw");
    const h4 = await hostRef(u1, m, "xen-04");
    const vm = await newVm(u1, m, "Debian Bookworm 12", "hvm-guest");
    await call(u1, "VM.set_affinity", m, vm, h4);
    await call(u1, "VM.start", m, vm, false, false);
    expect(await call(u1, "VM.get_resident_on", m, vm)).not.toBe(h4);
    await call(u1, "VM.hard_shutdown", m, vm);
    expect(await failure(call(u1, "VM.start_on", m, vm, h4, false, false))).toEqual(["VM_HVM_REQUIRED", vm]);
  });
});

describe("hosts in a pool", () => {
  test("disable, evacuate, enable", async () => {
    const h1 = await hostRef(u1, m, "xen-01");
    const h2 = await hostRef(u1, m, "xen-02");
    const vm = await newVm(u1, m, "Debian Bookworm 12", "mover");
    await call(u1, "VM.start_on", m, vm, h2, false, false);
    expect(await call(u1, "host.get_vms_which_prevent_evacuation", m, h2)).toEqual({});
    await call(u1, "host.disable", m, h2);
    expect(await failure(call(u1, "VM.start_on", m, vm, h2, false, false))).toEqual([
      "VM_BAD_POWER_STATE",
      vm,
      "halted",
      "running",
    ]);
    await call(u1, "host.evacuate", m, h2);
    expect(await call(u1, "VM.get_resident_on", m, vm)).toBe(h1);
    const vm2 = await newVm(u1, m, "CentOS 6 (PV)", "pinned");
    expect(await failure(call(u1, "VM.start_on", m, vm2, h2, false, false))).toEqual(["HOST_DISABLED", h2]);
    await call(u1, "host.enable", m, h2);
    await call(u1, "VM.pool_migrate", m, vm, h2, { live: "true" });
    expect(await call(u1, "VM.get_resident_on", m, vm)).toBe(h2);
    await call(u1, "VM.hard_shutdown", m, vm);
  });
  test("evacuation blocked by a VM that cannot migrate", async () => {
    const h2 = await hostRef(u1, m, "xen-02");
    const win = await newVm(u1, m, "Windows Server 2022 (64-bit)", "win-stuck");
    await call(u1, "VM.start_on", m, win, h2, false, false);
    expect(await call(u1, "host.get_vms_which_prevent_evacuation", m, h2)).toEqual({
      [win]: ["VM_LACKS_FEATURE", win],
    });
    expect(await failure(call(u1, "host.assert_can_evacuate", m, h2))).toEqual([
      "CANNOT_EVACUATE_HOST",
      `VM_LACKS_FEATURE,${win}`,
    ]);
    expect(await failure(call(u1, "host.evacuate", m, h2))).toEqual(["VM_LACKS_FEATURE", win]);
    expect(await failure(call(u1, "host.reboot", m, h2))).toEqual(["HOST_NOT_DISABLED"]);
    await call(u1, "VM.hard_shutdown", m, win);
  });
  test("compute_free_memory counts resident VMs", async () => {
    const h2 = await hostRef(u1, m, "xen-02");
    const before = await call<number>(u1, "host.compute_free_memory", m, h2);
    const vm = await newVm(u1, m, "Debian Bookworm 12", "mem-check");
    await call(u1, "VM.start_on", m, vm, h2, false, false);
    const after = await call<number>(u1, "host.compute_free_memory", m, h2);
    const r = await call<Rec>(u1, "VM.get_record", m, vm);
    expect(before - after).toBe((r.memory_dynamic_min as number) + (r.memory_overhead as number));
    await call(u1, "VM.hard_shutdown", m, vm);
    expect(await call(u1, "host.compute_free_memory", m, h2)).toBe(before);
  });
  test("designate_new_master and back", async () => {
    const [pool] = await call<string[]>(u1, "pool.get_all", m);
    const h2 = await hostRef(u1, m, "xen-02");
    const h1 = await hostRef(u1, m, "xen-01");
    await call(u1, "pool.designate_new_master", m, h2);
    expect(await failure(call(u1, "session.login_with_password", "root", "xen-root-pw"))).toEqual([
      "HOST_IS_SLAVE",
      "127.42.0.2",
    ]);
    const x2 = await login(u2);
    expect(await call(u2, "pool.get_master", x2, pool)).toBe(h2);
    await call(u2, "pool.designate_new_master", x2, h1);
    m = await login(u1);
  });
  test("eject: the host comes back as a standalone pool", async () => {
    const h4 = await hostRef(u1, m, "xen-04");
    const uuid = await call<string>(u1, "host.get_uuid", m, h4);
    const h1 = await hostRef(u1, m, "xen-01");
    expect(await failure(call(u1, "pool.eject", m, h1))).toEqual(["INTERNAL_ERROR", "Cannot_eject_master"]);
    await call(u1, "pool.eject", m, h4);
    expect(await failure(call(u1, "host.get_record", m, h4))).toEqual(["HANDLE_INVALID", "host", h4]);
    const x4 = await login(u4);
    const hosts = await call<string[]>(u4, "host.get_all", x4);
    expect(hosts.length).toBe(1);
    expect(await call(u4, "host.get_uuid", x4, hosts[0])).toBe(uuid);
  });
});

describe("HA", () => {
  test("enable_ha needs shared SRs; protected VMs restart after a host crash, in order", async () => {
    const [pool] = await call<string[]>(u1, "pool.get_all", m);
    const srs = await call<Record<string, Rec>>(u1, "SR.get_all_records", m);
    const local = Object.entries(srs).find(([, r]) => r.shared === false)![0];
    const shared = Object.entries(srs).find(([, r]) => r.shared === true)![0];
    expect(await failure(call(u1, "pool.enable_ha", m, [local], {}))).toEqual([
      "HA_CONSTRAINT_VIOLATION_SR_NOT_SHARED",
      local,
    ]);
    expect(await failure(call(u1, "pool.disable_ha", m))).toEqual(["HA_NOT_ENABLED"]);
    const h2 = await hostRef(u1, m, "xen-02");
    const a = await newVm(u1, m, "CentOS 6 (PV)", "ha-a");
    const b = await newVm(u1, m, "CentOS 6 (PV)", "ha-b");
    const c = await newVm(u1, m, "CentOS 6 (PV)", "unprotected");
    for (const [vm, order] of [
      [a, 2],
      [b, 1],
    ] as const) {
      await call(u1, "VM.set_ha_restart_priority", m, vm, "restart");
      await call(u1, "VM.set_order", m, vm, order);
    }
    for (const vm of [a, b, c]) await call(u1, "VM.start_on", m, vm, h2, false, false);
    await call(u1, "pool.enable_ha", m, [shared], {});
    expect(await failure(call(u1, "pool.enable_ha", m, [shared], {}))).toEqual(["HA_IS_ENABLED"]);
    expect(await call(u1, "pool.get_allowed_operations", m, pool)).toEqual(["ha_disable"]);
    await call(u1, "pool.set_ha_host_failures_to_tolerate", m, pool, 1);
    expect(await call(u1, "pool.get_ha_plan_exists_for", m, pool)).toBe(1);
    expect(await failure(call(u1, "pool.set_ha_host_failures_to_tolerate", m, pool, 2))).toEqual([
      "HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN",
    ]);
    expect(await failure(call(u1, "pool.eject", m, h2))).toEqual(["HA_IS_ENABLED"]);
    // with failures_to_tolerate=1 in a 2-host pool, neither host may be disabled
    expect(await failure(call(u1, "host.disable", m, h2))).toEqual(["HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN"]);
    expect(await call(u1, "host.get_enabled", m, h2)).toBe(true);
    const uuid2 = await call<string>(u1, "host.get_uuid", m, h2);
    await control(s, "POST", `/hosts/${uuid2}/crash`);
    expect(await call(u1, "host_metrics.get_live", m, await call(u1, "host.get_metrics", m, h2))).toBe(false);
    const h1 = await hostRef(u1, m, "xen-01");
    for (const vm of [a, b]) {
      const r = await call<Rec>(u1, "VM.get_record", m, vm);
      expect([r.power_state, r.resident_on]).toEqual(["Running", h1]);
    }
    expect(await call(u1, "VM.get_power_state", m, c)).toBe("Halted");
    const msgs = await call<Record<string, Rec>>(u1, "message.get_all_records", m);
    expect(Object.values(msgs).some((x) => x.name === "HA_HOST_FAILED" && x.obj_uuid === uuid2)).toBe(true);
    // restart order: b (order 1) got its domain before a (order 2)
    const domA = await call<number>(u1, "VM.get_domid", m, a);
    const domB = await call<number>(u1, "VM.get_domid", m, b);
    expect(domB).toBeLessThan(domA);
    await expect(fetch(`${u2}/jsonrpc`, { method: "POST", body: "{}" })).rejects.toThrow();
    await control(s, "POST", `/hosts/${uuid2}/recover`);
    expect(await call(u1, "host_metrics.get_live", m, await call(u1, "host.get_metrics", m, h2))).toBe(true);
    await call(u1, "pool.disable_ha", m);
    expect(await call(u1, "pool.get_ha_enabled", m, pool)).toBe(false);
    for (const vm of [a, b]) await call(u1, "VM.hard_shutdown", m, vm);
  });
  test("without HA a crashed host's VMs stay Running until it recovers", async () => {
    const h2 = await hostRef(u1, m, "xen-02");
    const vm = await newVm(u1, m, "CentOS 6 (PV)", "no-ha");
    await call(u1, "VM.start_on", m, vm, h2, false, false);
    const uuid2 = await call<string>(u1, "host.get_uuid", m, h2);
    await control(s, "POST", `/hosts/${uuid2}/crash`);
    expect(await call(u1, "VM.get_power_state", m, vm)).toBe("Running");
    expect(
      await failure(call(u1, "VM.start_on", m, await newVm(u1, m, "CentOS 6 (PV)", "x"), h2, false, false)),
    ).toEqual(["HOST_NOT_LIVE"]);
    await control(s, "POST", `/hosts/${uuid2}/recover`);
    expect(await call(u1, "VM.get_power_state", m, vm)).toBe("Halted");
  });
});

test("parallel starts never overcommit a host", async () => {
  const t = await sim({ timeScale: 1 });
  try {
    await control(t, "POST", "/durations", { "VM.start": 100, "VM.clone": 0, "VM.provision": 0, guest_agent: 0 });
    const u = t.hostUrls["xen-03"]!;
    const x = await login(u);
    const [tpl] = await call<string[]>(u, "VM.get_by_name_label", x, "CentOS 6 (PV)");
    const GiB = 1024 ** 3;
    const vms: string[] = [];
    for (let i = 0; i < 12; i++) {
      const vm = await call<string>(u, "VM.clone", x, tpl, `p${i}`);
      await call(u, "VM.provision", x, vm);
      await call(u, "VM.set_memory_limits", x, vm, GiB, 4 * GiB, 4 * GiB, 4 * GiB);
      vms.push(vm);
    }
    const [host] = await call<string[]>(u, "host.get_all", x);
    const free0 = await call<number>(u, "host.compute_free_memory", x, host);
    const results = await Promise.all(
      vms.map((vm) =>
        call(u, "VM.start", x, vm, false, false).then(
          () => "ok",
          (e: { code?: string }) => e.code,
        ),
      ),
    );
    const started = results.filter((r) => r === "ok").length;
    const overhead = await call<number>(u, "VM.get_memory_overhead", x, vms[0]);
    expect(started).toBe(Math.floor(free0 / (4 * GiB + overhead)));
    expect(results.filter((r) => r !== "ok").every((r) => r === "HOST_NOT_ENOUGH_FREE_MEMORY")).toBe(true);
    expect(await call<number>(u, "host.compute_free_memory", x, host)).toBeGreaterThanOrEqual(0);
    const recs = await call<Record<string, Rec>>(u, "VM.get_all_records", x);
    const used = Object.values(recs)
      .filter((r) => r.resident_on === host && r.power_state === "Running")
      .reduce((sum, r) => sum + (r.memory_dynamic_min as number) + (r.memory_overhead as number), 0);
    const total = await call<number>(u, "host_metrics.get_memory_total", x, await call(u, "host.get_metrics", x, host));
    expect(used).toBeLessThanOrEqual(total - (await call<number>(u, "host.get_memory_overhead", x, host)));
  } finally {
    await t.close();
  }
});

test("slave_local_login works on a supporter for the local superuser only", async () => {
  const t = await sim();
  try {
    const a = t.hostUrls["xen-01"]!;
    const b = t.hostUrls["xen-02"]!;
    const x2 = await login(b);
    await call(b, "pool.join", x2, "127.42.0.1", "root", "xen-root-pw");
    expect(await failure(call(b, "session.login_with_password", "root", "xen-root-pw"))).toEqual([
      "HOST_IS_SLAVE",
      "127.42.0.1",
    ]);
    const local = await call<string>(b, "session.slave_local_login_with_password", "root", "xen-root-pw");
    expect((await call<string[]>(b, "host.get_all", local)).length).toBe(2);
    expect(await failure(call(b, "session.slave_local_login_with_password", "pooladmin", "pooladmin-pw"))).toEqual([
      "SESSION_AUTHENTICATION_FAILED",
      "pooladmin",
      "Authentication failure",
    ]);
    expect(await login(a)).toMatch(/^OpaqueRef:/);
  } finally {
    await t.close();
  }
});

test("host.destroy removes a dead supporter", async () => {
  const t = await sim();
  try {
    const a = t.hostUrls["xen-01"]!;
    const b = t.hostUrls["xen-02"]!;
    await call(b, "pool.join", await login(b), "127.42.0.1", "root", "xen-root-pw");
    const x = await login(a);
    const [h2] = await call<string[]>(a, "host.get_by_name_label", x, "xen-02");
    expect(await failure(call(a, "host.destroy", x, h2))).toEqual(["HOST_IS_LIVE", h2!]);
    await control(t, "POST", `/hosts/${await call<string>(a, "host.get_uuid", x, h2)}/crash`);
    await call(a, "host.destroy", x, h2);
    expect((await call<string[]>(a, "host.get_all", x)).length).toBe(1);
    const nets = await call<Record<string, { PIFs: string[] }>>(a, "network.get_all_records", x);
    for (const n of Object.values(nets)) expect(n.PIFs.length).toBe(1);
  } finally {
    await t.close();
  }
});

test("evacuation plan names the impediment: local disks give VM_REQUIRES_SR", async () => {
  const t = await sim();
  try {
    const a = t.hostUrls["xen-01"]!;
    const b = t.hostUrls["xen-02"]!;
    await call(b, "pool.join", await login(b), "127.42.0.1", "root", "xen-root-pw");
    const x = await login(a);
    const [h1] = await call<string[]>(a, "host.get_by_name_label", x, "xen-01");
    const [local] = Object.keys(
      await call<Record<string, unknown>>(
        a,
        "SR.get_all_records_where",
        x,
        'field "name_description" = "Local storage on xen-01"',
      ),
    );
    const vm = await newVm(a, x, "CentOS 6 (PV)", "local-disk");
    const vdi = await call<string>(a, "VDI.create", x, {
      SR: local,
      virtual_size: 1024 ** 3,
      type: "user",
      name_label: "local",
    });
    await call(a, "VBD.create", x, {
      VM: vm,
      VDI: vdi,
      userdevice: "1",
      bootable: false,
      mode: "RW",
      type: "Disk",
      empty: false,
      other_config: {},
    });
    await call(a, "VM.start_on", x, vm, h1, false, false);
    expect(await call(a, "host.get_vms_which_prevent_evacuation", x, h1)).toEqual({
      [vm]: ["VM_REQUIRES_SR", vm, local],
    });
  } finally {
    await t.close();
  }
});

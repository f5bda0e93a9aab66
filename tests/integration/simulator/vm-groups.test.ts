/**
 * VM groups over the wire, as xapi 24.x has them: VM_group (placement anti_affinity | normal), VM.set_groups,
 * placement that spreads an anti-affinity group (VM.start, host.evacuate), HA restarts and the pool alert
 * ALL_RUNNING_VMS_IN_ANTI_AFFINITY_GRP_ON_SINGLE_HOST while every running member is on one host.
 */
import { RunningSimulator } from "../../../simulator";
import { call, control, failure, login, newVm, sim } from "./helpers";

type Rec = Record<string, unknown>;
const GiB = 1024 ** 3;
const ALERT = "ALL_RUNNING_VMS_IN_ANTI_AFFINITY_GRP_ON_SINGLE_HOST";

/** A pool of xen-01 (master), xen-02 and xen-03; returns the master's URL, a session and the hosts by name. */
async function threeHostPool(s: RunningSimulator): Promise<{ u: string; m: string; hosts: Record<string, string> }> {
  for (const name of ["xen-02", "xen-03"]) {
    const url = s.hostUrls[name]!;
    await call(url, "pool.join", await login(url), "127.42.0.1", "root", "xen-root-pw");
  }
  const u = s.hostUrls["xen-01"]!;
  const m = await login(u);
  const hosts: Record<string, string> = {};
  for (const [ref, h] of Object.entries(await call<Record<string, Rec>>(u, "host.get_all_records", m)))
    hosts[h.name_label as string] = ref;
  return { u, m, hosts };
}

async function group(u: string, m: string, name: string, placement = "anti_affinity"): Promise<string> {
  return call<string>(u, "VM_group.create", m, { name_label: name, name_description: "", placement });
}

async function member(u: string, m: string, name: string, g: string): Promise<string> {
  const vm = await newVm(u, m, "CentOS 6 (PV)", name);
  await call(u, "VM.set_groups", m, vm, [g]);
  return vm;
}

async function residents(u: string, m: string, vms: string[]): Promise<string[]> {
  return Promise.all(vms.map((vm) => call<string>(u, "VM.get_resident_on", m, vm)));
}

async function alerts(u: string, m: string): Promise<Rec[]> {
  return Object.values(await call<Record<string, Rec>>(u, "message.get_all_records", m)).filter(
    (x) => x.name === ALERT,
  );
}

/** A running VM that takes `gib` of a host's memory. */
async function ballast(u: string, m: string, host: string, gib: number): Promise<string> {
  const vm = await newVm(u, m, "CentOS 6 (PV)", `ballast-${gib}`);
  await call(u, "VM.set_memory_limits", m, vm, GiB, gib * GiB, gib * GiB, gib * GiB);
  await call(u, "VM.start_on", m, vm, host, false, false);
  return vm;
}

describe("VM_group and VM.set_groups", () => {
  let s: RunningSimulator;
  let u: string;
  let m: string;
  beforeAll(async () => {
    s = await sim();
    u = s.url;
    m = await login(u);
  });
  afterAll(() => s.close());

  test("create takes a record; VMs and VM.groups stay in step; destroy empties the group first", async () => {
    const g = await group(u, m, "web");
    const rec = await call<Rec>(u, "VM_group.get_record", m, g);
    expect(rec).toMatchObject({ name_label: "web", name_description: "", placement: "anti_affinity", VMs: [] });
    expect(await call(u, "VM_group.get_placement", m, await group(u, m, "plain", "normal"))).toBe("normal");
    expect(await failure(call(u, "VM_group.create", m, "web", "", "anti_affinity"))).toEqual([
      "MESSAGE_PARAMETER_COUNT_MISMATCH",
      "VM_group.create",
      "1",
      "3",
    ]);
    expect(await failure(call(u, "VM_group.create", m, { name_label: "x", placement: "spread" }))).toEqual([
      "INVALID_VALUE",
      "placement",
      "spread",
    ]);

    const a = await member(u, m, "a", g);
    const b = await member(u, m, "b", g);
    expect((await call<string[]>(u, "VM_group.get_VMs", m, g)).sort()).toEqual([a, b].sort());
    expect(await call(u, "VM.get_groups", m, a)).toEqual([g]);
    // Any power state will do (xapi_vm.ml set_groups checks none).
    await call(u, "VM.start", m, b, false, false);
    await call(u, "VM.set_groups", m, b, []);
    expect(await call(u, "VM_group.get_VMs", m, g)).toEqual([a]);
    await call(u, "VM.set_groups", m, b, [g]);
    await call(u, "VM.hard_shutdown", m, b);
    await call(u, "VM.destroy", m, b);
    expect(await call(u, "VM_group.get_VMs", m, g)).toEqual([a]);

    await call(u, "VM_group.destroy", m, g);
    expect(await call(u, "VM.get_groups", m, a)).toEqual([]);
    expect(await failure(call(u, "VM_group.get_record", m, g))).toEqual(["HANDLE_INVALID", "VM_group", g]);
  });

  test("at most one group, and no templates, snapshots or control domains", async () => {
    const g1 = await group(u, m, "g1");
    const g2 = await group(u, m, "g2");
    const vm = await newVm(u, m, "CentOS 6 (PV)", "two-groups");
    expect(await failure(call(u, "VM.set_groups", m, vm, [g1, g2]))).toEqual(["TOO_MANY_GROUPS"]);
    expect(await failure(call(u, "VM.set_groups", m, vm, [g1, g1]))).toEqual(["TOO_MANY_GROUPS"]);
    expect(await call(u, "VM.get_groups", m, vm)).toEqual([]);
    const snap = await call<string>(u, "VM.snapshot", m, vm, "snap");
    const [tpl] = await call<string[]>(u, "VM.get_by_name_label", m, "CentOS 6 (PV)");
    const [dom0] = Object.keys(await call<Rec>(u, "VM.get_all_records_where", m, 'field "is_control_domain" = "true"'));
    for (const x of [snap, tpl, dom0])
      expect(await failure(call(u, "VM.set_groups", m, x, [g1]))).toEqual([
        "OPERATION_NOT_ALLOWED",
        "Control domains, templates, and snapshots cannot be added to VM groups.",
      ]);
    // A snapshot or clone of a member is in no group.
    await call(u, "VM.set_groups", m, vm, [g1]);
    expect(await call(u, "VM.get_groups", m, await call<string>(u, "VM.clone", m, vm, "clone"))).toEqual([]);
    expect(await call(u, "VM.get_groups", m, await call<string>(u, "VM.snapshot", m, vm, "snap2"))).toEqual([]);
    expect(await failure(call(u, "VM.set_groups", m, vm, ["OpaqueRef:nope"]))).toEqual([
      "HANDLE_INVALID",
      "VM_group",
      "OpaqueRef:nope",
    ]);
    expect(await failure(call(u, "VM.set_groups", await login(u, "operator", "operator-pw"), vm, []))).toEqual([
      "RBAC_PERMISSION_DENIED",
      "vm.set_groups",
      "No permission in user session. (Roles with this permission: pool-admin, pool-operator, vm-power-admin, vm-admin)",
    ]);
  });
});

describe("anti-affinity placement and the breach alert", () => {
  let s: RunningSimulator;
  let u: string;
  let m: string;
  let hosts: Record<string, string>;
  let pool: string;
  let g: string;
  let members: string[];
  beforeAll(async () => {
    s = await sim();
    ({ u, m, hosts } = await threeHostPool(s));
    [pool] = await call<string[]>(u, "pool.get_all", m);
    g = await group(u, m, "spread");
    members = [];
    for (const name of ["a", "b", "c"]) members.push(await member(u, m, name, g));
  });
  afterAll(() => s.close());

  test("three members started without a host land on three hosts", async () => {
    // Without the group, the most free memory wins: xen-01, xen-02, then xen-01 again.
    for (const vm of members) await call(u, "VM.start", m, vm, false, false);
    expect(new Set(await residents(u, m, members)).size).toBe(3);
    expect(await alerts(u, m)).toEqual([]);
  });

  test("host.evacuate keeps them apart while two hosts remain, and the alert says when one is left", async () => {
    const on03 = members[(await residents(u, m, members)).indexOf(hosts["xen-03"]!)]!;
    await call(u, "host.disable", m, hosts["xen-03"]);
    await call(u, "host.evacuate", m, hosts["xen-03"]);
    expect(new Set(await residents(u, m, members)).size).toBe(2);
    expect(await alerts(u, m)).toEqual([]);

    await call(u, "host.disable", m, hosts["xen-02"]);
    await call(u, "host.evacuate", m, hosts["xen-02"]);
    expect(new Set(await residents(u, m, members))).toEqual(new Set([hosts["xen-01"]]));
    const [alert, ...more] = await alerts(u, m);
    expect(more).toEqual([]);
    expect(alert).toMatchObject({
      priority: 3,
      cls: "Pool",
      obj_uuid: await call(u, "pool.get_uuid", m, pool),
      body: `<body><message>Breach on VM anti-affinity rules</message><VM_group>${await call<string>(u, "VM_group.get_uuid", m, g)}</VM_group><host>${await call<string>(u, "host.get_uuid", m, hosts["xen-01"])}</host></body>`,
    });

    // A member moved away ends the breach: the alert goes.
    await call(u, "host.enable", m, hosts["xen-03"]);
    await call(u, "VM.pool_migrate", m, on03, hosts["xen-03"], {});
    expect(await alerts(u, m)).toEqual([]);
    await call(u, "host.enable", m, hosts["xen-02"]);
  });

  test("where memory alone would put two members together, the evacuation spreads them", async () => {
    // p on xen-01, q on xen-03; xen-02 carries a big VM, so xen-01 has the most free memory.
    const pair = await group(u, m, "pair");
    const p = await member(u, m, "p", pair);
    const q = await member(u, m, "q", pair);
    await call(u, "VM.start_on", m, p, hosts["xen-01"], false, false);
    await call(u, "VM.start_on", m, q, hosts["xen-03"], false, false);
    const big = await ballast(u, m, hosts["xen-02"]!, 40);
    const free = async (h: string) => call<number>(u, "host.compute_free_memory", m, hosts[h]);
    expect(await free("xen-01")).toBeGreaterThan(await free("xen-02"));
    await call(u, "host.disable", m, hosts["xen-03"]);
    await call(u, "host.evacuate", m, hosts["xen-03"]);
    expect(await residents(u, m, [p, q])).toEqual([hosts["xen-01"], hosts["xen-02"]]);
    await call(u, "host.enable", m, hosts["xen-03"]);
    for (const vm of [p, q, big]) await call(u, "VM.hard_shutdown", m, vm);
  });

  test("an explicit host is obeyed (start_on, pool_migrate); the alert follows the breach", async () => {
    for (const vm of members) await call(u, "VM.hard_shutdown", m, vm);
    await call(u, "VM.start_on", m, members[0], hosts["xen-02"], false, false);
    await call(u, "VM.start_on", m, members[1], hosts["xen-02"], false, false);
    expect(await alerts(u, m)).toHaveLength(1);
    // A third member started anywhere goes elsewhere; the breach is over.
    await call(u, "VM.start", m, members[2], false, false);
    expect(await call(u, "VM.get_resident_on", m, members[2])).not.toBe(hosts["xen-02"]);
    expect(await alerts(u, m)).toEqual([]);
    await call(u, "VM.pool_migrate", m, members[2], hosts["xen-02"], {});
    expect(await alerts(u, m)).toHaveLength(1);
    // Shutting down all but one member is no breach either; nor is a paused member counted.
    await call(u, "VM.pause", m, members[1]);
    await call(u, "VM.hard_shutdown", m, members[2]);
    expect(await alerts(u, m)).toEqual([]);
    await call(u, "VM.unpause", m, members[1]);
    expect(await alerts(u, m)).toHaveLength(1);
    // Leaving the group, or the group's end, clears it.
    await call(u, "VM.set_groups", m, members[1], []);
    expect(await alerts(u, m)).toEqual([]);
    await call(u, "VM.set_groups", m, members[1], [g]);
    expect(await alerts(u, m)).toHaveLength(1);
    await call(u, "VM_group.destroy", m, g);
    expect(await alerts(u, m)).toEqual([]);
  });

  test("a normal group is not spread and never alerts", async () => {
    const n = await group(u, m, "together", "normal");
    const vms = [await member(u, m, "n1", n), await member(u, m, "n2", n)];
    for (const vm of vms) await call(u, "VM.start_on", m, vm, hosts["xen-03"], false, false);
    expect(await alerts(u, m)).toEqual([]);
  });
});

describe("HA restarts and anti-affinity", () => {
  test("the restart plan packs by memory, as xapi's, and a breach it causes raises the alert", async () => {
    const s = await sim();
    try {
      const { u, m, hosts } = await threeHostPool(s);
      const g = await group(u, m, "ha");
      const x = await member(u, m, "x", g);
      const y = await member(u, m, "y", g);
      for (const vm of [x, y]) await call(u, "VM.set_ha_restart_priority", m, vm, "restart");
      await call(u, "VM.start_on", m, x, hosts["xen-01"], false, false);
      await call(u, "VM.start_on", m, y, hosts["xen-03"], false, false);
      await ballast(u, m, hosts["xen-02"]!, 40);
      const [shared] = await call<string[]>(u, "SR.get_by_name_label", m, "shared-nfs");
      await call(u, "pool.enable_ha", m, [shared], {});
      expect(await alerts(u, m)).toEqual([]);

      await control(s, "POST", `/hosts/${await call<string>(u, "host.get_uuid", m, hosts["xen-03"])}/crash`);
      // xapi_ha_vm_failover.ml compute_restart_plan: biggest fit decreasing, blind to groups; xen-01 has the most
      // free memory, so y restarts next to x.
      expect(await call(u, "VM.get_power_state", m, y)).toBe("Running");
      expect(await residents(u, m, [x, y])).toEqual([hosts["xen-01"], hosts["xen-01"]]);
      const [alert] = await alerts(u, m);
      expect(alert!.body).toContain(`<host>${await call<string>(u, "host.get_uuid", m, hosts["xen-01"])}</host>`);
    } finally {
      await s.close();
    }
  });
});

import { FeedStore, loadFeed } from ".";

const feed = loadFeed();
const NULL = "OpaqueRef:NULL";

type Rec = Record<string, unknown>;
const ev = (cls: string, ref: string, snapshot?: Rec, operation = snapshot ? "mod" : "del") => ({
  class: cls,
  ref,
  operation,
  ...(snapshot ? { snapshot } : {}),
});

const host = (name: string, over: Rec = {}): Rec => ({
  uuid: `uuid-${name}`,
  name_label: name,
  address: `10.0.0.${name.slice(-1)}`,
  enabled: true,
  capabilities: ["xen-3.0-x86_64", "hvm-3.0-x86_64"],
  cpu_info: { cpu_count: "16" },
  metrics: `m-${name}`,
  current_operations: {},
  ...over,
});
const metrics = (total: number, free: number, live = true): Rec => ({ memory_total: total, memory_free: free, live });
const vm = (name: string, power: string, on: string, over: Rec = {}): Rec => ({
  uuid: `uuid-${name}`,
  name_label: name,
  power_state: power,
  resident_on: on,
  memory_static_max: 4 * 2 ** 30,
  memory_dynamic_max: 2 * 2 ** 30,
  memory_target: 2 * 2 ** 30,
  VCPUs_at_startup: 2,
  domain_type: "hvm",
  guest_metrics: NULL,
  current_operations: {},
  is_a_template: false,
  is_a_snapshot: false,
  is_control_domain: false,
  VBDs: ["OpaqueRef:vbd"],
  ...over,
});

/** A store after the first event.from answer: two hosts, a pool, guests. */
function synced(): FeedStore {
  const s = new feed.Store();
  s.apply(
    {
      token: "1",
      events: [
        ev("pool", "p", { uuid: "pool", name_label: "dc", master: "h1", ha_enabled: false }, "add"),
        ev("host", "h1", host("xen-01"), "add"),
        ev("host", "h2", host("xen-02", { capabilities: ["xen-3.0-x86_64"] }), "add"),
        ev("host_metrics", "m-xen-01", metrics(64 * 2 ** 30, 60 * 2 ** 30), "add"),
        ev("host_metrics", "m-xen-02", metrics(32 * 2 ** 30, 32 * 2 ** 30), "add"),
        ev("vm", "v1", vm("web-10", "Running", "h1", { guest_metrics: "g1" }), "add"),
        ev("vm", "v2", vm("web-2", "Running", "h1"), "add"),
        ev("vm", "v3", vm("spare", "Halted", NULL), "add"),
        ev("vm", "t", vm("Debian", "Halted", NULL, { is_a_template: true }), "add"),
        ev("vm", "dom0", vm("Control domain", "Running", "h1", { is_control_domain: true }), "add"),
        ev("vm_guest_metrics", "g1", { networks: { "0/ip": "10.20.0.10" } }, "add"),
      ],
    },
    1000,
  );
  return s;
}

describe("web view feed", () => {
  test("the first answer is the whole state: guests only, the shown fields only, one log line", () => {
    const s = synced();
    expect([...s.of("vm").keys()].sort()).toEqual(["v1", "v2", "v3"]);
    expect(s.of("vm").get("v1")).not.toHaveProperty("VBDs");
    expect(s.log).toEqual([{ time: 1000, level: "info", text: "following the pool: 2 hosts, 3 VMs" }]);
    expect(s.token).toBe("1");
  });

  test("each guest under its host, in natural name order, with the API's figures", () => {
    const dc = feed.datacenter(synced());
    expect(dc.hosts.map((h) => [h.name, h.state, h.hvm, h.master, h.cpus])).toEqual([
      ["xen-01", "enabled", true, true, 16],
      ["xen-02", "enabled", false, false, 16],
    ]);
    const [h1] = dc.hosts;
    expect(h1!.vms.map((v) => v.name)).toEqual(["web-2", "web-10"]);
    expect(h1!.memoryUsed).toBe(4 * 2 ** 30);
    expect(h1!.vcpus).toBe(4);
    expect(h1!.vms[1]).toMatchObject({ ip: "10.20.0.10", memory: 2 * 2 ** 30, domainType: "hvm", power: "Running" });
    expect(dc.notRunning.map((v) => [v.name, v.memory])).toEqual([["spare", 4 * 2 ** 30]]);
    expect(dc.totals).toEqual({ vms: 3, running: 2, memoryTotal: 96 * 2 ** 30, memoryUsed: 4 * 2 ** 30 });
    expect(dc.pool).toEqual({ name: "dc", ha: false, haTolerates: 0, master: "xen-01" });
  });

  test.each([
    { name: "enabled", change: {}, live: true, guests: true, expected: "enabled" },
    { name: "disabled with guests", change: { enabled: false }, live: true, guests: true, expected: "disabled" },
    { name: "disabled and empty", change: { enabled: false }, live: true, guests: false, expected: "maintenance" },
    {
      name: "evacuating",
      change: { enabled: false, current_operations: { t: "evacuate" } },
      live: true,
      guests: true,
      expected: "evacuating",
    },
    { name: "not live", change: {}, live: false, guests: true, expected: "crashed" },
  ])("host state: $name -> $expected", ({ change, live, guests, expected }) => {
    const s = synced();
    const events = [
      ev("host", "h1", host("xen-01", change)),
      ev("host_metrics", "m-xen-01", metrics(64 * 2 ** 30, 60 * 2 ** 30, live)),
    ];
    if (!guests) events.push(ev("vm", "v1", vm("web-10", "Halted", NULL)), ev("vm", "v2", vm("web-2", "Halted", NULL)));
    s.apply({ token: "2", events });
    expect(feed.datacenter(s).hosts[0]!.state).toBe(expected);
  });

  test("later answers log what a person watching cares about", () => {
    const s = synced();
    const lines = s.apply(
      {
        token: "2",
        events: [
          ev("vm", "v1", vm("web-10", "Running", "h2")),
          ev("vm", "v3", vm("spare", "Running", "h2")),
          ev("vm", "v2", vm("web-2 renamed", "Running", "h1")),
          ev("host", "h2", host("xen-02", { enabled: false })),
          ev("host_metrics", "m-xen-01", metrics(64 * 2 ** 30, 60 * 2 ** 30, false)),
          ev("task", "t1", { uuid: "t1", name_label: "Async.VM.start", status: "pending", progress: 0 }, "add"),
          ev("task", "t2", {
            uuid: "t2",
            name_label: "Async.VM.pool_migrate",
            status: "failure",
            error_info: ["VM_HVM_REQUIRED", "OpaqueRef:x"],
          }),
          ev("vm", "v2"),
        ],
      },
      2000,
    );
    expect(lines.map((l) => [l.level, l.text])).toEqual([
      ["info", "VM web-10 moved xen-01 → xen-02"],
      ["info", "VM spare: Halted → Running on xen-02"],
      ["warn", "host xen-02 disabled"],
      ["error", "host xen-01 stopped answering (not live)"],
      ["error", "Async.VM.pool_migrate failure: VM_HVM_REQUIRED OpaqueRef:x"],
      ["info", "VM web-2 renamed destroyed"],
    ]);
    expect(feed.datacenter(s).tasks).toEqual([{ uuid: "t1", name: "Async.VM.start", progress: 0 }]);
  });

  test("the log keeps the newest 60 lines", () => {
    const s = synced();
    for (let i = 0; i < 100; i++)
      s.apply({ token: String(i + 2), events: [ev("vm", "v3", vm("spare", i % 2 ? "Halted" : "Running", "h1"))] });
    expect(s.log).toHaveLength(60);
    expect(s.log.at(-1)!.text).toBe("VM spare: Running → Halted");
  });

  const MiB = 1024 * 1024;
  test.each([
    { name: "a small answer: the steady pace", chars: 20_000, whole: false, expected: 1250 },
    { name: "the whole pool: a one-off, no pause", chars: 28 * MiB, whole: true, expected: 1250 },
    { name: "2 MiB of changes: half a second", chars: 2 * MiB, whole: false, expected: 1500 },
    { name: "a storm: at most 4 s", chars: 100 * MiB, whole: false, expected: 5000 },
  ])("pace: $name", ({ chars, whole, expected }) => {
    expect(feed.BYTES_PER_SECOND).toBe(4 * MiB);
    expect(feed.nextCallAt({ startedAt: 1000, chars, whole })).toBe(expected);
  });

  test.each([
    [0, "0 B"],
    [512 * 2 ** 20, "512 MiB"],
    [2 * 2 ** 30, "2 GiB"],
    [1.5 * 2 ** 40, "1.5 TiB"],
    [4.123 * 2 ** 30, "4.1 GiB"],
  ])("bytes(%d) = %s", (n, text) => expect(feed.bytes(n)).toBe(text));
});

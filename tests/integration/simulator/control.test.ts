import { RunningSimulator } from "../../../simulator";
import { call, control, failure, login, newVm, post, sim, waitTask } from "./helpers";

let s: RunningSimulator;
let url: string;
let session: string;

beforeAll(async () => {
  s = await sim();
  url = s.url;
  session = await login(url);
});
afterAll(() => s.close());
afterEach(() => control(s, "DELETE", "/faults"));

test("the control plane needs the bearer token", async () => {
  const r = await fetch(`${s.controlUrl}/metrics`);
  expect(r.status).toBe(401);
  const w = await fetch(`${s.controlUrl}/metrics`, { headers: { Authorization: "Bearer wrong" } });
  expect(w.status).toBe(401);
});

describe("fault injection", () => {
  test("fail the next N calls with a XenAPI error", async () => {
    const { id } = await control<{ id: string }>(s, "POST", "/faults", {
      method: "VM.get_all",
      error: ["HOST_OFFLINE", "OpaqueRef:x"],
      count: 2,
    });
    expect(id).toBeTruthy();
    expect(await failure(call(url, "VM.get_all", session))).toEqual(["HOST_OFFLINE", "OpaqueRef:x"]);
    expect(await failure(call(url, "VM.get_all", session))).toEqual(["HOST_OFFLINE", "OpaqueRef:x"]);
    expect(await call(url, "VM.get_all", session)).toEqual(expect.any(Array));
  });
  test("dropped connection and HTTP status", async () => {
    await control(s, "POST", "/faults", { method: "pool.get_all", drop: true, count: 1 });
    await expect(call(url, "pool.get_all", session)).rejects.toThrow();
    await control(s, "POST", "/faults", { method: "pool.get_all", httpStatus: 503, count: 1 });
    const r = await post(url, { method: "pool.get_all", params: [session], id: 1 });
    expect(r.status).toBe(503);
    expect(await call(url, "pool.get_all", session)).toEqual(expect.any(Array));
  });
  test("latency", async () => {
    await control(s, "POST", "/faults", { method: "host.get_all", latencyMs: 150, count: 1 });
    const t0 = Date.now();
    await call(url, "host.get_all", session);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });
  test("rate 0 never fires, rate 1 always", async () => {
    await control(s, "POST", "/faults", { method: "SR.get_all", error: ["INTERNAL_ERROR", "x"], rate: 0 });
    await call(url, "SR.get_all", session);
    await control(s, "DELETE", "/faults");
    await control(s, "POST", "/faults", { method: "SR.get_all", error: ["INTERNAL_ERROR", "x"], rate: 1 });
    expect(await failure(call(url, "SR.get_all", session))).toEqual(["INTERNAL_ERROR", "x"]);
  });
  test("a fault on X fails the task of Async.X", async () => {
    await control(s, "POST", "/faults", {
      method: "VM.provision",
      error: ["SR_BACKEND_FAILURE", "1", "", "disk full"],
    });
    const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "CentOS 6 (PV)");
    const vm = await call<string>(url, "VM.clone", session, tpl, "faulty");
    const task = await call<string>(url, "Async.VM.provision", session, vm);
    const t = await waitTask(url, session, task);
    expect([t.status, t.error_info]).toEqual(["failure", ["SR_BACKEND_FAILURE", "1", "", "disk full"]]);
    expect(await failure(call(url, "VM.provision", session, vm))).toEqual(["SR_BACKEND_FAILURE", "1", "", "disk full"]);
    expect(await call(url, "VM.get_VBDs", session, vm)).toEqual([]);
  });
});

test("metrics and recorder (passwords redacted)", async () => {
  await control(s, "POST", "/metrics/reset");
  await call(url, "VM.get_all", session);
  await failure(call(url, "VM.get_record", session, "OpaqueRef:nope"));
  await login(url);
  const m = await control<{ calls: Record<string, { count: number; errors: number; totalMs: number }>; total: number }>(
    s,
    "GET",
    "/metrics",
  );
  expect(m.calls["VM.get_all"]).toMatchObject({ count: 1, errors: 0 });
  expect(m.calls["VM.get_record"]).toMatchObject({ count: 1, errors: 1 });
  expect(m.total).toBe(3);
  const rec = await control<{ requests: { method: string; params: unknown[] }[] }>(s, "GET", "/recorder");
  const l = rec.requests.filter((r) => r.method === "session.login_with_password").pop()!;
  expect(l.params).toEqual(["root", "******"]);
});

test("checksum changes with state; reset restores the inventory", async () => {
  const c0 = (await control<{ checksum: string }>(s, "GET", "/checksum")).checksum;
  expect(c0).toMatch(/^[0-9a-f]{64}$/);
  await newVm(url, session, "CentOS 6 (PV)", "to-be-reset");
  const c1 = (await control<{ checksum: string }>(s, "GET", "/checksum")).checksum;
  expect(c1).not.toBe(c0);
  await control(s, "POST", "/reset");
  expect(await failure(call(url, "VM.get_all", session))).toEqual(["SESSION_INVALID", session]);
  session = await login(url);
  expect(await call(url, "VM.get_by_name_label", session, "to-be-reset")).toEqual([]);
});

test("reset with a custom inventory", async () => {
  await control(s, "POST", "/reset", {
    inventory: {
      hosts: [{ name: "solo", cpus: 4, memoryGiB: 8, cpuVendor: "AuthenticAMD", hvm: true }],
      networks: [{ name: "Net", cidr: "192.168.5.0/24", bridge: "xenbr0", management: true }],
      templates: [],
      users: [],
    },
  });
  session = await login(url);
  const hosts = await call<Record<string, Record<string, unknown>>>(url, "host.get_all_records", session);
  expect(Object.values(hosts).map((h) => h.name_label)).toEqual(["solo"]);
  await control(s, "POST", "/reset", {});
});

test("inventory VMs are installed (and started) at start-up", async () => {
  const { defaultInventory } = await import("../../../simulator/sim");
  const inv = defaultInventory();
  inv.vms = [
    { name: "web", template: "Debian Bookworm 12", host: "xen-01", count: 3, powerState: "Running" },
    { name: "db", template: "CentOS 6 (PV)", host: "xen-02" },
  ];
  const t = await sim({ inventory: inv });
  try {
    const x = await login(t.url);
    const recs = Object.values(await call<Record<string, Record<string, unknown>>>(t.url, "VM.get_all_records", x));
    const web = recs.filter((r) => String(r.name_label).startsWith("web-"));
    expect(web.map((r) => [r.name_label, r.power_state, r.is_a_template]).sort()).toEqual([
      ["web-1", "Running", false],
      ["web-2", "Running", false],
      ["web-3", "Running", false],
    ]);
    expect((web[0]!.VBDs as string[]).length).toBe(1);
    const gm = await call<Record<string, Record<string, string>>>(
      t.url,
      "VM_guest_metrics.get_record",
      x,
      web[0]!.guest_metrics,
    );
    expect(gm.networks!["0/ip"]).toMatch(/^10\.20\.0\./);
    const u2 = t.hostUrls["xen-02"]!;
    const x2 = await login(u2);
    expect(
      await call(u2, "VM.get_power_state", x2, (await call<string[]>(u2, "VM.get_by_name_label", x2, "db"))[0]),
    ).toBe("Halted");
  } finally {
    await t.close();
  }
});

import nock from "nock";
import {
  RECORD_SCHEMAS,
  XEN_CLASSES,
  XenApiClient,
  parseRecord,
  parseXenDateTime,
  xenClassFromWire,
} from "../../../provider/xenapi";
import { hostRecord, taskRecord, vmRecord } from "./fixtures-records";

describe("VM record", () => {
  test("parses a full record from the wire", () => {
    const r = parseRecord("VM", vmRecord());
    if (!r.success) throw r.error;
    const vm = r.data;
    expect(vm.power_state).toBe("Running");
    expect(vm.memory_static_max).toBe(4294967296);
    expect(vm.resident_on).toBe("OpaqueRef:0c1d1a6e-5b0f-4c5e-8c26-3f5b2d2e0a11");
    expect(vm.affinity).toBeNull();
    expect(vm.suspend_VDI).toBeNull();
    expect(vm.guest_metrics).toBeNull();
    expect(vm.VBDs).toEqual(["OpaqueRef:vbd1", "OpaqueRef:vbd2"]);
    expect(vm.domain_type).toBe("hvm");
    expect(vm.other_config).toEqual({ "pulumi-xen:id": "abc" });
    // unknown fields pass through untouched
    expect((vm as Record<string, unknown>).generation_id).toBe("0:0");
  });

  test("ints sent as decimal strings (XML-RPC heritage) become numbers", () => {
    const r = parseRecord("VM", vmRecord({ memory_static_max: "8589934592", VCPUs_max: "8", domid: "-1" }));
    if (!r.success) throw r.error;
    expect(r.data.memory_static_max).toBe(8589934592);
    expect(r.data.VCPUs_max).toBe(8);
    expect(r.data.domid).toBe(-1);
  });

  test("bools sent as strings", () => {
    const r = parseRecord("VM", vmRecord({ is_a_template: "true", is_control_domain: "0" }));
    if (!r.success) throw r.error;
    expect(r.data.is_a_template).toBe(true);
    expect(r.data.is_control_domain).toBe(false);
  });

  test("unknown values of enums we do not branch on are tolerated (newer host)", () => {
    const r = parseRecord("VM", vmRecord({ domain_type: "pvh_next", allowed_operations: ["start", "teleport"] }));
    if (!r.success) throw r.error;
    expect(r.data.domain_type).toBe("pvh_next");
    expect(r.data.allowed_operations).toEqual(["start", "teleport"]);
  });

  test("power_state is relied on: an unknown value is rejected with its path", () => {
    const r = parseRecord("VM", vmRecord({ power_state: "Hibernating" }));
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues[0].path).toEqual(["power_state"]);
  });

  test.each([
    ["memory_static_max", "lots"],
    ["memory_static_max", undefined],
    ["VCPUs_max", Number.POSITIVE_INFINITY],
    ["uuid", undefined],
    ["VBDs", "OpaqueRef:x"],
    ["is_a_template", "maybe"],
  ])("rejects bad %s = %j", (field, value) => {
    const rec = vmRecord();
    if (value === undefined) delete rec[field];
    else rec[field] = value;
    const r = parseRecord("VM", rec);
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues.map((i) => i.path[0])).toContain(field);
  });

  test("fields added in later API versions default when an older host omits them", () => {
    const rec = vmRecord();
    delete rec.domain_type;
    delete rec.blocked_operations;
    delete rec.tags;
    const r = parseRecord("VM", rec);
    if (!r.success) throw r.error;
    expect(r.data.domain_type).toBe("unspecified");
    expect(r.data.blocked_operations).toEqual({});
    expect(r.data.tags).toEqual([]);
  });

  test("null refs are dropped from ref sets", () => {
    const r = parseRecord("VM", vmRecord({ VIFs: ["OpaqueRef:NULL", "OpaqueRef:v"] }));
    if (!r.success) throw r.error;
    expect(r.data.VIFs).toEqual(["OpaqueRef:v"]);
  });
});

describe("other records", () => {
  test("host: capabilities, maps, refs", () => {
    const r = parseRecord("host", hostRecord({ memory_overhead: "1073741824" }));
    if (!r.success) throw r.error;
    expect(r.data.capabilities).toContain("hvm-3.0-x86_64");
    expect(r.data.memory_overhead).toBe(1073741824);
    expect(r.data.suspend_image_sr).toBeNull();
    expect(r.data.metrics).toBe("OpaqueRef:hm1");
  });

  test("task: datetimes as Date, status strict, progress float", () => {
    const r = parseRecord("task", taskRecord({ progress: "0.25", status: "pending", finished: "19700101T00:00:00Z" }));
    if (!r.success) throw r.error;
    expect(r.data.created).toEqual(new Date("2026-11-25T15:00:00Z"));
    expect(r.data.finished?.getTime()).toBe(0);
    expect(r.data.progress).toBe(0.25);
    expect(parseRecord("task", taskRecord({ status: "failed" })).success).toBe(false); // nova fake's wrong spelling
  });

  test("message timestamps", () => {
    const r = parseRecord("message", {
      uuid: "u",
      name: "VM_STARTED",
      priority: "5",
      cls: "VM",
      obj_uuid: "x",
      timestamp: "20261125T15:00:00+01:00",
      body: "",
    });
    if (!r.success) throw r.error;
    expect(r.data.timestamp.toISOString()).toBe("2026-11-25T14:00:00.000Z");
    expect(r.data.priority).toBe(5);
  });

  test("every class has a schema", () => {
    for (const c of XEN_CLASSES) expect(RECORD_SCHEMAS[c]).toBeDefined();
  });
});

test.each([
  ["20240101T13:20:11Z", "2024-01-01T13:20:11.000Z"],
  ["20240101T13:20:11+02:00", "2024-01-01T11:20:11.000Z"],
  ["20240101T13:20:11-0130", "2024-01-01T14:50:11.000Z"],
  ["2024-01-01T13:20:11Z", "2024-01-01T13:20:11.000Z"],
  ["20240101T13:20:11", "2024-01-01T13:20:11.000Z"],
  ["2024-01-01T13:20:11.250Z", "2024-01-01T13:20:11.250Z"],
  ["19700101T00:00:00Z", "1970-01-01T00:00:00.000Z"],
])("parseXenDateTime(%s)", (s, iso) => {
  expect(parseXenDateTime(s)?.toISOString()).toBe(iso);
});

test.each(["", "yesterday", "20241301T00:00:00Z", "2024011T13:20:11Z"])("parseXenDateTime rejects %j", (s) => {
  expect(parseXenDateTime(s)).toBeUndefined();
});

test.each([
  ["vm", "VM"],
  ["VM", "VM"],
  ["vm_guest_metrics", "VM_guest_metrics"],
  ["sr", "SR"],
  ["host_metrics", "host_metrics"],
  ["session", undefined],
])("xenClassFromWire(%s)", (wire, cls) => {
  expect(xenClassFromWire(wire)).toBe(cls);
});

describe("client record reads", () => {
  const host = "http://records.test";
  const rpc = (result: unknown) => (_u: string, b: unknown) => ({
    jsonrpc: "2.0",
    result,
    id: (b as { id: number }).id,
  });
  afterEach(() => nock.cleanAll());
  afterAll(() => nock.restore()); // un-patch http for later test files in this worker

  test("getRecord / getAllRecords / getByUuid", async () => {
    nock(host)
      .post("/jsonrpc", (b) => b.method === "session.login_with_password")
      .reply(200, rpc("OpaqueRef:s"))
      .post("/jsonrpc", (b) => b.method === "VM.get_record" && b.params[1] === "OpaqueRef:vm1")
      .reply(200, rpc(vmRecord()))
      .post("/jsonrpc", (b) => b.method === "host.get_all_records")
      .reply(200, rpc({ "OpaqueRef:h1": hostRecord(), "OpaqueRef:h2": hostRecord({ name_label: "xcp-2" }) }))
      .post("/jsonrpc", (b) => b.method === "VM.get_by_uuid" && b.params[1] === "u-1")
      .reply(200, rpc("OpaqueRef:vm1"))
      .post("/jsonrpc", (b) => b.method === "session.logout")
      .reply(200, rpc(""));
    const c = new XenApiClient({ url: host, username: "root", password: "pw" });
    const vm = await c.getRecord("VM", "OpaqueRef:vm1");
    expect(vm.name_label).toBe("web-1");
    const hosts = await c.getAllRecords("host");
    expect([...hosts.values()].map((h) => h.name_label)).toEqual(["xcp-1", "xcp-2"]);
    expect(await c.getByUuid("VM", "u-1")).toBe("OpaqueRef:vm1");
    await c.close();
    expect(nock.isDone()).toBe(true);
  });

  test("a record that does not fit is a typed malformed error naming the field", async () => {
    nock(host)
      .post("/jsonrpc", (b) => b.method === "session.login_with_password")
      .reply(200, rpc("OpaqueRef:s"))
      .post("/jsonrpc", (b) => b.method === "VM.get_record")
      .reply(200, rpc(vmRecord({ power_state: "Exploded" })));
    const c = new XenApiClient({ url: host, username: "root", password: "pw" });
    await expect(c.getRecord("VM", "OpaqueRef:vm1")).rejects.toMatchObject({
      name: "XenTransportError",
      kind: "malformed",
      method: "VM.get_record",
      message: expect.stringContaining("power_state"),
    });
    nock.cleanAll();
    nock(host).post("/jsonrpc").optionally().reply(200, rpc(""));
    await c.close();
  });
});

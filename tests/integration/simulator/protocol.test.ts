import * as https from "node:https";
import { RunningSimulator } from "../../../simulator";
import { call, failure, login, post, sim } from "./helpers";

let s: RunningSimulator;
let url: string;
let session: string;

beforeAll(async () => {
  s = await sim();
  url = s.url;
  session = await login(url);
});
afterAll(() => s.close());

describe("JSON-RPC envelope (XENAPI.md §1.2)", () => {
  test("2.0 success", async () => {
    const r = await post(url, { jsonrpc: "2.0", method: "session.get_uuid", params: [session, session], id: 7 });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json!).sort()).toEqual(["id", "jsonrpc", "result"]);
    expect(r.json!.id).toBe(7);
  });
  test("1.0 success and failure shapes", async () => {
    const ok = await post(url, { method: "pool.get_all", params: [session], id: "a" });
    expect(ok.json).toEqual({ result: expect.any(Array), error: null, id: "a" });
    const bad = await post(url, { method: "VM.get_record", params: [session, "OpaqueRef:nope"], id: "b" });
    expect(bad.status).toBe(200);
    expect(bad.json).toEqual({ result: null, error: ["HANDLE_INVALID", "VM", "OpaqueRef:nope"], id: "b" });
  });
  test("2.0 failure shape", async () => {
    const r = await post(url, { jsonrpc: "2.0", method: "VM.get_record", params: [session, "OpaqueRef:nope"], id: 1 });
    expect(r.json).toEqual({
      jsonrpc: "2.0",
      error: { code: 1, message: "HANDLE_INVALID", data: ["VM", "OpaqueRef:nope"] },
      id: 1,
    });
  });
  test.each([
    ["bad JSON", "{nope"],
    ["missing id", JSON.stringify({ jsonrpc: "2.0", method: "system.listMethods", params: [] })],
    ["null id", JSON.stringify({ jsonrpc: "2.0", method: "system.listMethods", params: [], id: null })],
    ["missing method", JSON.stringify({ jsonrpc: "2.0", params: [], id: 1 })],
    ["array batch", JSON.stringify([{ jsonrpc: "2.0", method: "system.listMethods", id: 1 }])],
    ["params not an array", JSON.stringify({ method: "system.listMethods", params: 3, id: 1 })],
    ["deep nesting", `{"method":"VM.create","id":1,"params":${"[".repeat(200)}${"]".repeat(200)}}`],
  ])("malformed (%s) -> HTTP 500", async (_n, body) => {
    const r = await post(url, body);
    expect(r.status).toBe(500);
    expect(r.text).toContain("Malformed_method_request");
  });
  test("oversized body -> HTTP 413", async () => {
    const r = await post(
      url,
      JSON.stringify({ method: "system.listMethods", id: 1, params: ["x".repeat(5 * 1024 * 1024)] }),
    );
    expect(r.status).toBe(413);
  });
  test("CORS and content type", async () => {
    const r = await fetch(`${url}/jsonrpc`, {
      method: "POST",
      body: JSON.stringify({ method: "system.listMethods", params: [], id: 1 }),
    });
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    const o = await fetch(`${url}/jsonrpc`, { method: "OPTIONS" });
    expect(o.status).toBe(200);
  });
});

describe("dispatch check order", () => {
  test("unknown method", async () => {
    expect(await failure(call(url, "VM.frobnicate", session))).toEqual(["MESSAGE_METHOD_UNKNOWN", "VM.frobnicate"]);
    expect(await failure(call(url, "Async.VM.get_record", session, "x"))).toEqual([
      "MESSAGE_METHOD_UNKNOWN",
      "Async.VM.get_record",
    ]);
  });
  test("parameter count before session", async () => {
    expect(await failure(call(url, "VM.start", "OpaqueRef:bad"))).toEqual([
      "MESSAGE_PARAMETER_COUNT_MISMATCH",
      "VM.start",
      "3",
      "0",
    ]);
    expect(await failure(call(url, "VM.get_record", "OpaqueRef:bad", "a", "b"))).toEqual([
      "MESSAGE_PARAMETER_COUNT_MISMATCH",
      "VM.get_record",
      "1",
      "2",
    ]);
  });
  test("session before RBAC and refs", async () => {
    expect(await failure(call(url, "VM.get_record", "OpaqueRef:bad", "OpaqueRef:x"))).toEqual([
      "SESSION_INVALID",
      "OpaqueRef:bad",
    ]);
  });
  test("RBAC before refs: read-only user may not start", async () => {
    const ro = await login(url, "readonly", "readonly-pw");
    expect(await failure(call(url, "VM.start", ro, "OpaqueRef:x", false, false))).toEqual([
      "RBAC_PERMISSION_DENIED",
      "vm.start",
      "No permission in user session. (Roles with this permission: pool-admin, pool-operator, vm-power-admin, vm-admin, vm-operator)",
    ]);
    expect(await call(url, "VM.get_all", ro)).toEqual(expect.any(Array));
  });
  test("vm-operator may tag a VM folder but not other keys", async () => {
    const op = await login(url, "operator", "operator-pw");
    const [vm] = await call<string[]>(url, "VM.get_by_name_label", session, "Debian Bookworm 12");
    await call(url, "VM.add_to_other_config", op, vm, "folder", "/web");
    expect((await failure(call(url, "VM.add_to_other_config", op, vm, "owner", "x"))).slice(0, 2)).toEqual([
      "RBAC_PERMISSION_DENIED",
      "vm.add_to_other_config",
    ]);
    await call(url, "VM.remove_from_other_config", op, vm, "folder");
  });
  test("RBAC denial of an Async call lands in the task", async () => {
    const ro = await login(url, "readonly", "readonly-pw");
    const task = await call<string>(url, "Async.VM.start", ro, "OpaqueRef:x", false, false);
    await new Promise((r) => setTimeout(r, 20));
    const t = await call<Record<string, unknown>>(url, "task.get_record", ro, task);
    expect(t.status).toBe("failure");
    expect((t.error_info as string[]).slice(0, 2)).toEqual(["RBAC_PERMISSION_DENIED", "vm.start"]);
  });
  test("arity is the datamodel's: host.disable's versioned auto_enable is optional, VM.start's flags are not", async () => {
    const [h] = await call<string[]>(url, "host.get_all", session);
    await call(url, "host.disable", session, h);
    await call(url, "host.enable", session, h);
    expect(await failure(call(url, "VM.start", session, "OpaqueRef:nope"))).toEqual([
      "MESSAGE_PARAMETER_COUNT_MISMATCH",
      "VM.start",
      "3",
      "1",
    ]);
  });
  test("system.listMethods needs no session and lists sync names only, as xapi (gen_server.ml)", async () => {
    const names = await call<string[]>(url, "system.listMethods");
    expect(names).toEqual(
      expect.arrayContaining(["VM.get_all_records", "VM.start", "session.login_with_password", "event.from"]),
    );
    expect(names.filter((n) => n.startsWith("Async.") || n.startsWith("system."))).toEqual([]);
  });
});

describe("sessions", () => {
  test("bad password", async () => {
    expect(await failure(call(url, "session.login_with_password", "root", "wrong"))).toEqual([
      "SESSION_AUTHENTICATION_FAILED",
      "root",
      "Authentication failure",
    ]);
  });
  test("login accepts 2 to 4 params", async () => {
    await call(url, "session.login_with_password", "root", "xen-root-pw", "1.1", "tests");
    expect(await failure(call(url, "session.login_with_password", "root"))).toEqual([
      "MESSAGE_PARAMETER_COUNT_MISMATCH",
      "session.login_with_password",
      "2", // xapi reports the mandatory count for a message with versioned parameters
      "1",
    ]);
  });
  test("logout invalidates the session", async () => {
    const x = await login(url);
    expect(await call(url, "session.logout", x)).toBe("");
    expect(await failure(call(url, "VM.get_all", x))).toEqual(["SESSION_INVALID", x]);
  });
  test("session record", async () => {
    const r = await call<Record<string, unknown>>(url, "session.get_record", session, session);
    expect(r.is_local_superuser).toBe(true);
    expect(r.this_host).toMatch(/^OpaqueRef:/);
    expect(r.last_active).toMatch(/^\d{8}T\d{2}:\d{2}:\d{2}Z$/);
  });
  test("idle sessions expire", async () => {
    const x = await login(url);
    const e = s.core.engine;
    const before = e.sessionIdleMs;
    e.sessionIdleMs = -1;
    try {
      expect(await failure(call(url, "VM.get_all", x))).toEqual(["SESSION_INVALID", x]);
    } finally {
      e.sessionIdleMs = before;
    }
  });
});

describe("types and implicit messages", () => {
  let vm: string;
  beforeAll(async () => {
    const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "CentOS 6 (PV)");
    vm = await call<string>(url, "VM.clone", session, tpl, "types-vm");
  });
  test("ints are JSON numbers; datetimes XenAPI-style; refs opaque", async () => {
    const r = await call<Record<string, unknown>>(url, "VM.get_record", session, vm);
    expect(typeof r.memory_static_max).toBe("number");
    expect(r.affinity).toBe("OpaqueRef:NULL");
    expect(r.snapshot_time).toBe("19700101T00:00:00Z");
  });
  test("decimal strings are accepted for ints", async () => {
    await call(url, "VM.set_VCPUs_at_startup", session, vm, "1");
    expect(await call(url, "VM.get_VCPUs_at_startup", session, vm)).toBe(1);
  });
  test("wrong types", async () => {
    expect(await failure(call(url, "VM.set_VCPUs_at_startup", session, vm, "two"))).toEqual([
      "FIELD_TYPE_ERROR",
      "value",
    ]);
    expect(await failure(call(url, "VM.set_name_label", session, vm, 5))).toEqual(["FIELD_TYPE_ERROR", "value"]);
    expect(await failure(call(url, "VM.set_actions_after_crash", session, vm, "explode"))).toEqual([
      "INVALID_VALUE",
      "actions_after_crash",
      "explode",
    ]);
  });
  test("get/set, maps and sets", async () => {
    expect(await call(url, "VM.set_name_description", session, vm, "hello")).toBe("");
    expect(await call(url, "VM.get_name_description", session, vm)).toBe("hello");
    await call(url, "VM.add_to_other_config", session, vm, "pulumi:urn", "abc");
    const uuid = await call<string>(url, "VM.get_uuid", session, vm);
    expect(await failure(call(url, "VM.add_to_other_config", session, vm, "pulumi:urn", "x"))).toEqual([
      "MAP_DUPLICATE_KEY",
      "VM",
      "other_config",
      uuid,
      "pulumi:urn",
    ]);
    expect(await call(url, "VM.remove_from_other_config", session, vm, "missing")).toBe("");
    await call(url, "VM.add_tags", session, vm, "web");
    await call(url, "VM.add_tags", session, vm, "web");
    expect(await call(url, "VM.get_tags", session, vm)).toEqual(["web"]);
    await call(url, "VM.remove_tags", session, vm, "web");
    expect(await call(url, "VM.get_tags", session, vm)).toEqual([]);
  });
  test("read-only fields have no setter", async () => {
    expect(await failure(call(url, "VM.set_power_state", session, vm, "Running"))).toEqual([
      "MESSAGE_METHOD_UNKNOWN",
      "VM.set_power_state",
    ]);
  });
  test("uuid and name lookups", async () => {
    const uuid = await call<string>(url, "VM.get_uuid", session, vm);
    expect(await call(url, "VM.get_by_uuid", session, uuid)).toBe(vm);
    expect(await failure(call(url, "VM.get_by_uuid", session, "00000000-0000-0000-0000-000000000000"))).toEqual([
      "UUID_INVALID",
      "VM",
      "00000000-0000-0000-0000-000000000000",
    ]);
    expect(await call(url, "VM.get_by_name_label", session, "types-vm")).toEqual([vm]);
  });
  test("get_all_records_where", async () => {
    const r = await call<Record<string, unknown>>(
      url,
      "VM.get_all_records_where",
      session,
      'field "name_label" = "types-vm" and field "is_a_template" = "true"',
    );
    expect(Object.keys(r)).toEqual([vm]);
  });
  test("back-references: VBDs and VDIs", async () => {
    await call(url, "VM.provision", session, vm);
    const r = await call<Record<string, string[]>>(url, "VM.get_record", session, vm);
    expect(r.VBDs!.length).toBe(1);
    const vbd = await call<Record<string, string>>(url, "VBD.get_record", session, r.VBDs![0]);
    expect(vbd.VM).toBe(vm);
    expect(await call(url, "VDI.get_VBDs", session, vbd.VDI)).toEqual([r.VBDs![0]]);
    expect(await call(url, "VM.get_is_a_template", session, vm)).toBe(false);
  });
});

describe("each host is its own pool and answers on its own address", () => {
  test("hosts see only their own pool", async () => {
    const s2 = await login(s.hostUrls["xen-02"]!);
    const hosts = await call<string[]>(s.hostUrls["xen-02"]!, "host.get_all", s2);
    expect(hosts.length).toBe(1);
    const rec = await call<Record<string, string>>(s.hostUrls["xen-02"]!, "host.get_record", s2, hosts[0]);
    expect(rec.name_label).toBe("xen-02");
    expect(rec.address).toBe("127.42.0.2");
    expect(await failure(call(s.hostUrls["xen-02"]!, "VM.get_all", session))).toEqual(["SESSION_INVALID", session]);
  });
  test("xen-04 has no hardware assist", async () => {
    const u = s.hostUrls["xen-04"]!;
    const x = await login(u);
    const [h] = await call<string[]>(u, "host.get_all", x);
    const caps = await call<string[]>(u, "host.get_capabilities", x, h);
    expect(caps.some((c) => c.includes("hvm"))).toBe(false);
  });
});

test("TLS: the server certificate verifies against the generated CA", async () => {
  const t = await sim({ http: false });
  try {
    expect(t.url).toMatch(/^https:\/\/127\.42\.0\.1:\d+$/);
    const body = JSON.stringify({
      jsonrpc: "2.0",
      method: "session.login_with_password",
      params: ["root", "xen-root-pw"],
      id: 1,
    });
    const u = new URL(`${t.hostUrls["xen-03"]}/jsonrpc`);
    const res = await new Promise<string>((resolve, reject) => {
      const req = https.request(
        { hostname: u.hostname, port: u.port, path: u.pathname, method: "POST", ca: t.caCert },
        (r) => {
          let d = "";
          r.on("data", (c) => (d += c));
          r.on("end", () => resolve(d));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    expect(JSON.parse(res).result).toMatch(/^OpaqueRef:/);
    await expect(fetch(`${t.url}/jsonrpc`, { method: "POST", body })).rejects.toThrow();
  } finally {
    await t.close();
  }
});

describe("XML-RPC on POST / (older transport)", () => {
  const xml = (method: string, ...params: string[]) =>
    `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params.map((p) => `<param><value>${p}</value></param>`).join("")}</params></methodCall>`;
  const postXml = async (body: string) => {
    const r = await fetch(`${url}/`, { method: "POST", body, headers: { "Content-Type": "text/xml" } });
    return { status: r.status, text: await r.text() };
  };
  test("login over XML-RPC; the session works over JSON-RPC", async () => {
    const r = await postXml(xml("session.login_with_password", "<string>root</string>", "xen-root-pw"));
    expect(r.status).toBe(200);
    expect(r.text).toContain("<name>Status</name><value>Success</value>");
    const ref = /<name>Value<\/name><value>(OpaqueRef:[^<]+)<\/value>/.exec(r.text)![1]!;
    expect(await call(url, "pool.get_all", ref)).toEqual(expect.any(Array));
  });
  test("failure carries ErrorDescription; ints are untyped strings", async () => {
    const bad = await postXml(xml("VM.get_record", session, "OpaqueRef:nope"));
    expect(bad.text).toContain(
      "<name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>HANDLE_INVALID</value><value>VM</value><value>OpaqueRef:nope</value></data></array></value>",
    );
    const [vm] = await call<string[]>(url, "VM.get_by_name_label", session, "Debian Bookworm 12");
    const ok = await postXml(xml("VM.get_VCPUs_max", session, vm!));
    expect(ok.text).toContain("<name>Value</name><value>4</value>");
  });
  test("malformed XML -> HTTP 500", async () => {
    expect((await postXml("<methodCall><methodName>x</methodName>")).status).toBe(500);
  });
});

import { RunningSimulator } from "../../../simulator";
import { call, failure, login, newVm, sim, waitTask } from "./helpers";

/** The wire as xapi serves it to third-party clients (issue 11): paths, rrd_updates, events, typing, filters. */

type Rec = Record<string, unknown>;

let s: RunningSimulator;
let url: string;
let session: string;

beforeAll(async () => {
  s = await sim();
  url = s.url;
  session = await login(url);
});
afterAll(async () => s.close());

function xmlCall(method: string, ...params: string[]): string {
  const ps = params.map((p) => `<param><value><string>${p}</string></value></param>`).join("");
  return `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${ps}</params></methodCall>`;
}

async function postXml(path: string, method: string, ...params: string[]): Promise<{ status: number; text: string }> {
  const r = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "Content-Type": "text/xml" },
    body: xmlCall(method, ...params),
  });
  return { status: r.status, text: await r.text() };
}

describe("transport paths (longest prefix, XML-RPC on /)", () => {
  test.each(["/", "/RPC2", "/xmlrpc", "/any/other/path"])("XML-RPC on %s", async (path) => {
    const r = await postXml(path, "session.login_with_password", "root", "xen-root-pw");
    expect(r.status).toBe(200);
    expect(r.text).toContain("<name>Status</name><value>Success</value>");
    expect(r.text).toMatch(/OpaqueRef:[0-9a-f-]+/);
  });
  test("JSON-RPC on /jsonrpc and below it", async () => {
    for (const path of ["/jsonrpc", "/jsonrpc/sub"]) {
      const r = await fetch(`${url}${path}`, {
        method: "POST",
        body: JSON.stringify({ jsonrpc: "2.0", method: "session.get_this_host", params: [session, session], id: 1 }),
      });
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe("application/json");
      expect(((await r.json()) as Rec).result).toMatch(/^OpaqueRef:/);
    }
  });
  test("GET of an unserved path is 404", async () => {
    expect((await fetch(`${url}/nothing-here`)).status).toBe(404);
  });
});

describe("GET /rrd_updates", () => {
  let vmUuid: string;
  let hostUuid: string;
  beforeAll(async () => {
    const vm = await newVm(url, session, "Debian Bookworm 12", "rrd-vm");
    await call(url, "VM.start", session, vm, false, false);
    vmUuid = await call<string>(url, "VM.get_uuid", session, vm);
    const host = await call<string>(url, "VM.get_resident_on", session, vm);
    hostUuid = await call<string>(url, "host.get_uuid", session, host);
  });
  const rrd = (query: string) => fetch(`${url}/rrd_updates?${query}`);

  test("needs a live session: 401 without one, with a bad one", async () => {
    expect((await rrd("start=0&host=true")).status).toBe(401);
    expect((await rrd("session_id=OpaqueRef:nope&start=0&host=true")).status).toBe(401);
  });
  test("xport XML with host and VM columns, rows newest first", async () => {
    const start = Math.floor(Date.now() / 1000) - 60;
    const r = await rrd(`session_id=${session}&start=${start}&host=true&cf=AVERAGE`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/xml");
    const xml = await r.text();
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><xport><meta><start>\d+<\/start><step>5<\/step>/);
    const legend = [...xml.matchAll(/<entry>([^<]+)<\/entry>/g)].map((m) => m[1]!);
    for (const ds of ["cpu0", "cpu_avg", "memory_total_kib", "memory_free_kib", "loadavg"])
      expect(legend).toContain(`AVERAGE:host:${hostUuid}:${ds}`);
    expect(legend.some((l) => /^AVERAGE:host:[^:]+:pif_eth\d+_rx$/.test(l))).toBe(true);
    for (const ds of ["cpu0", "memory", "vbd_xvda_read", "vbd_xvda_write", "vif_0_rx", "vif_0_tx"])
      expect(legend).toContain(`AVERAGE:vm:${vmUuid}:${ds}`);
    expect(Number(/<columns>(\d+)<\/columns>/.exec(xml)![1])).toBe(legend.length);
    const times = [...xml.matchAll(/<row><t>(\d+)<\/t>/g)].map((m) => Number(m[1]));
    expect(times.length).toBeGreaterThan(5);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const firstRow = /<row><t>\d+<\/t>((?:<v>[^<]*<\/v>)+)<\/row>/.exec(xml)![1]!;
    expect(firstRow.match(/<v>/g)!.length).toBe(legend.length);
    expect(firstRow).toMatch(/^<v>-?\d+\.\d{4}<\/v>/);
  });
  test("json=true, relative start, interval picks the archive, host=false leaves the host out", async () => {
    const r = await rrd(`session_id=${session}&start=-3600&interval=60&json=true`);
    expect(r.headers.get("content-type")).toBe("application/json");
    const j = (await r.json()) as { meta: Rec & { legend: string[] }; data: { t: number; values: string[] }[] };
    expect(j.meta.step).toBe(60);
    expect(j.meta.legend.every((l) => l.startsWith("AVERAGE:vm:"))).toBe(true);
    expect(j.meta.rows).toBe(j.data.length);
    expect(j.data.length).toBeGreaterThanOrEqual(59);
    expect(typeof j.data[0]!.t).toBe("number");
    expect(typeof j.data[0]!.values[0]).toBe("string");
  });
});

describe("event.from accepts any class name", () => {
  test("unmodelled and unknown classes give no events, not EVENT_SUBSCRIPTION_PARSE_FAILURE", async () => {
    const r = await call<Rec>(url, "event.from", session, ["console", "vtpm", "no_such_class", "pool"], "", 0.1);
    const classes = new Set((r.events as Rec[]).map((e) => e.class));
    expect([...classes]).toEqual(["pool"]);
    const only = await call<Rec>(url, "event.from", session, ["console"], "", 0.1);
    expect(only.events).toEqual([]);
    expect(await call(url, "event.register", session, ["console", "VM"])).toBe("");
  });
});

describe("session objects are not listable", () => {
  test.each(["session.get_all", "session.get_all_records"])("%s is MESSAGE_METHOD_UNKNOWN", async (m) => {
    expect(await failure(call(url, m, session))).toEqual(["MESSAGE_METHOD_UNKNOWN", m]);
  });
  test("session.get_all_records_where is MESSAGE_METHOD_UNKNOWN", async () => {
    expect(await failure(call(url, "session.get_all_records_where", session, "true"))).toEqual([
      "MESSAGE_METHOD_UNKNOWN",
      "session.get_all_records_where",
    ]);
  });
  test("get_all_subject_identifiers lists only subjects with a live session", async () => {
    const own = await sim();
    try {
      const root = await login(own.url);
      expect(await call(own.url, "session.get_all_subject_identifiers", root)).toEqual([]);
      const ro = await login(own.url, "readonly", "readonly-pw");
      expect(await call(own.url, "session.get_all_subject_identifiers", root)).toEqual(["S-1-5-21-sim-readonly"]);
      await call(own.url, "session.logout", ro);
      expect(await call(own.url, "session.get_all_subject_identifiers", root)).toEqual([]);
    } finally {
      await own.close();
    }
  });
});

describe("XML-RPC values typed by the datamodel", () => {
  test("task: progress is <double> even when whole, created/finished <dateTime.iso8601>", async () => {
    const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "Debian Bookworm 12");
    const task = await call<string>(url, "Async.VM.clone", session, tpl, "typed-clone");
    await waitTask(url, session, task);
    const r = await postXml("/", "task.get_record", session, task);
    expect(r.text).toContain("<name>progress</name><value><double>1.0</double></value>");
    expect(r.text).toMatch(/<name>created<\/name><value><dateTime.iso8601>\d{8}T\d\d:\d\d:\d\dZ<\/dateTime.iso8601>/);
    expect(r.text).toMatch(/<name>finished<\/name><value><dateTime.iso8601>\d{8}T/);
    expect(r.text).toContain("<name>status</name><value>success</value>");
  });
  test("field getters, records of every class and event snapshots", async () => {
    const [vm] = await call<string[]>(url, "VM.get_by_name_label", session, "Debian Bookworm 12");
    const m = await postXml("/", "VM.get_HVM_shadow_multiplier", session, vm!);
    expect(m.text).toContain("<name>Value</name><value><double>1.0</double></value>");
    const all = await postXml("/", "VM.get_all_records", session);
    expect(all.text).toMatch(/<name>HVM_shadow_multiplier<\/name><value><double>/);
    expect(all.text).toMatch(/<name>snapshot_time<\/name><value><dateTime.iso8601>19700101T00:00:00Z/);
    expect(all.text).toMatch(/<name>memory_static_max<\/name><value>\d+<\/value>/);
    expect(all.text).toMatch(/<name>is_a_template<\/name><value><boolean>[01]<\/boolean>/);
    const t = await postXml(
      "/",
      "host.get_servertime",
      session,
      (await call<string[]>(url, "host.get_all", session))[0]!,
    );
    expect(t.text).toMatch(/<name>Value<\/name><value><dateTime.iso8601>\d{8}T/);
    const body =
      `<?xml version="1.0"?><methodCall><methodName>event.from</methodName><params>` +
      `<param><value>${session}</value></param>` +
      `<param><value><array><data><value>task</value></data></array></value></param>` +
      `<param><value></value></param><param><value><double>0.1</double></value></param></params></methodCall>`;
    const r = await (await fetch(`${url}/`, { method: "POST", body })).text();
    expect(r).toMatch(/<name>snapshot<\/name><value><struct>.*<name>progress<\/name><value><double>/);
  });
  test("JSON-RPC sends datetimes as xapi strings and floats as numbers", async () => {
    const [vm] = await call<string[]>(url, "VM.get_by_name_label", session, "Debian Bookworm 12");
    expect(await call(url, "VM.get_snapshot_time", session, vm)).toBe("19700101T00:00:00Z");
    expect(await call(url, "VM.get_HVM_shadow_multiplier", session, vm)).toBe(1);
  });
});

describe("get_all_records_where: xapi's expression language and column names", () => {
  const where = (expr: string) => call<Rec>(url, "VM.get_all_records_where", session, expr);
  let tpl: string;
  beforeAll(async () => {
    [tpl] = (await call<string[]>(url, "VM.get_by_name_label", session, "Debian Bookworm 12")) as [string];
  });
  test("namespaced fields by database column: name__label, memory__static_max", async () => {
    expect(Object.keys(await where('field "name__label" = "Debian Bookworm 12"'))).toEqual([tpl]);
    const max = await call<number>(url, "VM.get_memory_static_max", session, tpl);
    const hits = await where(`field "memory__static_max" = "${max}" and field "name__label" = "Debian Bookworm 12"`);
    expect(Object.keys(hits)).toEqual([tpl]);
    expect(Object.keys(await where(`field "_ref" = "${tpl}"`))).toEqual([tpl]);
    expect(Object.keys(await where(`"${tpl}" = field "_ref"`))).toEqual([tpl]);
  });
  test("true, false, not, and/or on one level, left to right", async () => {
    const all = Object.keys(await call<Rec>(url, "VM.get_all_records", session));
    expect(Object.keys(await where("true")).sort()).toEqual(all.sort());
    expect(await where("false")).toEqual({});
    // (name = tpl or true) and false -> nothing; with usual precedence it would be everything.
    expect(await where('field "name__label" = "Debian Bookworm 12" or true and false')).toEqual({});
    // not binds loosest: not (true and false) -> everything.
    expect(Object.keys(await where("not true and false")).length).toBe(all.length);
    expect(Object.keys(await where('(not field "name__label" = "Debian Bookworm 12")'))).not.toContain(tpl);
  });
  test("bad expressions and unknown columns fail with INTERNAL_ERROR", async () => {
    expect((await failure(where('field "name__label" == "x"')))[0]).toBe("INTERNAL_ERROR");
    expect((await failure(where('field "name__label" = "x" xor true')))[0]).toBe("INTERNAL_ERROR");
    expect(await failure(where('field "no_such_column" = "x"'))).toEqual([
      "INTERNAL_ERROR",
      "missing field",
      "no_such_column",
      "",
    ]);
  });
});

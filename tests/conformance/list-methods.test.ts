/**
 * system.listMethods as xapi answers it, and the classes the simulator does not model answering their getters as
 * a class with no objects, over JSON-RPC and XML-RPC.
 *
 * xapi's list (ocaml/idl/ocaml_backend/gen_server.ml, `"system.listMethods"`): the sync wire name of every
 * client-side message of every class, explicit and implicit, plus the hidden `get_all_where` /
 * `get_all_records_where` of every class with an implicit get_all_records (datamodel_utils.ml); no `Async.`
 * forms, no `system.*`. Over XML-RPC the array goes out bare, without `{Status, Value}` (api_server.ml).
 */
import { RunningSimulator } from "../../simulator";
import { parseMethodCall } from "../../simulator/server/xmlrpc";
import type { Trimmed } from "../../scripts/gen-datamodel";
import datamodel from "../../xenapi-model/datamodel.json";
import { OTHER_GETTERS } from "../../xenapi-model/messages";
import { call, failure, login, sim } from "../integration/simulator/helpers";

const dm = datamodel as unknown as Trimmed;

let s: RunningSimulator;
let url: string;
let session: string;
beforeAll(async () => {
  s = await sim();
  url = s.url;
  session = await login(url, "readonly", "readonly-pw");
});
afterAll(() => s.close());

/** xapi's list, from the trimmed datamodel: every class's messages and the hidden `*_where` getters. */
function expectedList(): string[] {
  const out = new Set<string>();
  for (const c of dm.classes) {
    for (const m of c.messages) out.add(`${c.name}.${m.name}`);
    if (c.messages.some((m) => m.name === "get_all_records" && m.implicit)) {
      out.add(`${c.name}.get_all_where`);
      out.add(`${c.name}.get_all_records_where`);
    }
  }
  for (const c of dm.others) for (const m of c.messages) out.add(`${c.name}.${m}`);
  return [...out].sort();
}

/** One XML-RPC call on `/`, its single result parameter decoded (a struct, or listMethods' bare array). */
async function xmlRaw(method: string, ...params: string[]): Promise<unknown> {
  const body = `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params
    .map((x) => `<param><value><string>${x}</string></value></param>`)
    .join("")}</params></methodCall>`;
  const text = await (await fetch(`${url}/`, { method: "POST", body, headers: { "Content-Type": "text/xml" } })).text();
  const asCall = text
    .replace(/<methodResponse>/, "<methodCall><methodName>r</methodName>")
    .replace(/<\/methodResponse>/, "</methodCall>");
  return parseMethodCall(asCall).params[0];
}

async function xmlCall(method: string, ...params: string[]): Promise<unknown> {
  const res = (await xmlRaw(method, ...params)) as { Status: string; Value?: unknown; ErrorDescription?: string[] };
  if (res.Status !== "Success") throw new Error(JSON.stringify(res.ErrorDescription));
  return res.Value;
}

describe("system.listMethods", () => {
  test("lists every message of every datamodel class, sync names only, as xapi does", async () => {
    const names = await call<string[]>(url, "system.listMethods");
    expect([...names].sort()).toEqual(expectedList());
    expect(names.filter((n) => n.startsWith("Async.") || n.startsWith("system."))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(["VGPU.get_all_records", "PCI.get_all_where", "VM.get_all_where"]));
    expect(names).not.toContain("session.get_all_records");
    expect(names).not.toContain("message.get_all_where"); // message's getters are explicit, not xapi's generated ones
  });
  test("about 59 classes offer get_all_records (what Xen Orchestra syncs)", async () => {
    const names = await call<string[]>(url, "system.listMethods");
    const classes = names.filter((n) => n.endsWith(".get_all_records")).map((n) => n.split(".")[0]);
    // xenapi.json's 58, and VM_group (datamodel_vm_group.ml), which it predates.
    expect(classes.length).toBe(59);
    expect(classes).toEqual(
      expect.arrayContaining(["VM", "host", "VGPU", "PCI", "pool_update", "Certificate", "VM_group"]),
    );
  });
  test("over XML-RPC the array goes out bare, as xapi's api_server.ml sends it", async () => {
    const bare = await xmlRaw("system.listMethods");
    expect(bare).toEqual(await call<string[]>(url, "system.listMethods"));
  });
});

describe("a class the simulator does not model answers as a class with no objects", () => {
  const classes = ["VGPU", "PCI", "pool_update"];
  test.each(classes)("%s over JSON-RPC (read-only session)", async (cls) => {
    expect(dm.others.map((c) => c.name)).toContain(cls);
    expect(await call(url, `${cls}.get_all`, session)).toEqual([]);
    expect(await call(url, `${cls}.get_all_records`, session)).toEqual({});
    expect(await call(url, `${cls}.get_all_records_where`, session, 'field "uuid" = "x"')).toEqual({});
    expect(await call(url, `${cls}.get_all_where`, session, "true")).toEqual([]);
    expect(await failure(call(url, `${cls}.get_record`, session, "OpaqueRef:nope"))).toEqual([
      "HANDLE_INVALID",
      cls,
      "OpaqueRef:nope",
    ]);
    expect(await failure(call(url, `${cls}.get_uuid`, session, "OpaqueRef:NULL"))).toEqual([
      "HANDLE_INVALID",
      cls,
      "OpaqueRef:NULL",
    ]);
    expect(await failure(call(url, `${cls}.get_by_uuid`, session, "no-such-uuid"))).toEqual([
      "UUID_INVALID",
      cls,
      "no-such-uuid",
    ]);
    // listed, as xapi lists it, but not a getter: not modelled
    const other = dm.others.find((c) => c.name === cls)!.messages.find((m) => !(`${cls}.${m}` in OTHER_GETTERS))!;
    expect(await call<string[]>(url, "system.listMethods")).toContain(`${cls}.${other}`);
    expect(await failure(call(url, `${cls}.${other}`, session))).toEqual(["MESSAGE_METHOD_UNKNOWN", `${cls}.${other}`]);
  });
  test.each(classes)("%s over XML-RPC", async (cls) => {
    expect(await xmlCall(`${cls}.get_all`, session)).toEqual([]);
    expect(await xmlCall(`${cls}.get_all_records`, session)).toEqual({});
  });
  test("a malformed expression is still refused, as xapi's db_filter parses it first", async () => {
    const [code] = await failure(call(url, "VGPU.get_all_records_where", session, 'field "uuid" ='));
    expect(code).toBe("INTERNAL_ERROR");
  });
  test("every getter of every unmodelled class: one parameter short -> MESSAGE_PARAMETER_COUNT_MISMATCH", async () => {
    const wrong: string[] = [];
    const list = Object.entries(OTHER_GETTERS);
    expect(list.length).toBeGreaterThan(500);
    for (const [name, spec] of list) {
      const need = spec.params.length;
      const given = need === 0 ? 1 : need - 1;
      const args = Array.from({ length: given }, () => "OpaqueRef:conformance");
      const got = await failure(call(url, name, session, ...args)).catch((e: unknown) => [String(e)]);
      const expected = ["MESSAGE_PARAMETER_COUNT_MISMATCH", name, String(need), String(given)];
      if (JSON.stringify(got) !== JSON.stringify(expected)) wrong.push(`${name}: ${JSON.stringify(got)}`);
    }
    expect(wrong).toEqual([]);
  });
});

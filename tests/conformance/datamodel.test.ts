/**
 * Replays xapi's datamodel (xenapi-model/, generated from ../shared/xenapi-datamodel) against a running
 * simulator over JSON-RPC: record fields and value types per served class, enum values, and arity per message.
 */
import { RunningSimulator } from "../../simulator";
import { buildRegistry } from "../../simulator/sim";
import { parseMethodCall } from "../../simulator/server/xmlrpc";
import { ENUMS, FIELDS, RECORD_CLASSES, type EnumName, type RecordClass } from "../../xenapi-model/classes";
import { HIDDEN_MESSAGES, MESSAGES, OTHER_GETTERS, type MessageSpec } from "../../xenapi-model/messages";
import { call, failure, login, newVm, sim } from "../integration/simulator/helpers";

let s: RunningSimulator;
let url: string;
let session: string;
let served: Set<string>;

beforeAll(async () => {
  s = await sim();
  url = s.url;
  session = await login(url);
  // What the simulator serves (system.listMethods lists every datamodel message, as xapi does, served or not).
  served = new Set(buildRegistry().names());
  // Objects of the classes the seed leaves empty: a running VM (VBD, VDI, VIF, guest metrics), a halted one with a
  // vTPM, a task, a message, an appliance and a VM group.
  const vm = await newVm(url, session, "Debian Bookworm 12", "conformance");
  await call(url, "VM.start", session, vm, false, false);
  await call(url, "VTPM.create", session, await newVm(url, session, "Debian Bookworm 12", "conformance-vtpm"), false);
  await call(url, "task.create", session, "conformance", "");
  const [pool] = await call<string[]>(url, "pool.get_all", session);
  const uuid = await call<string>(url, "pool.get_uuid", session, pool);
  await call(url, "message.create", session, "CONFORMANCE", 5, "Pool", uuid, "body");
  // An appliance with the running VM in it, and an anti-affinity group with it too.
  const appliance = await call<string>(url, "VM_appliance.create", session, { name_label: "conformance" });
  await call(url, "VM.set_appliance", session, vm, appliance);
  const group = await call<string>(url, "VM_group.create", session, {
    name_label: "conformance",
    name_description: "",
    placement: "anti_affinity",
  });
  await call(url, "VM.set_groups", session, vm, [group]);
});
afterAll(() => s.close());

type Wire = "json" | "xml";

/**
 * Why a value does not fit a datamodel type, or undefined when it fits. Over XML-RPC an int may travel as a
 * decimal string (xapi sends 64-bit ints untyped).
 */
function misfit(type: string, v: unknown, wire: Wire = "json"): string | undefined {
  const bad = () => `${JSON.stringify(v)} is not ${type}`;
  if (type.endsWith(" map")) {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return bad();
    const m = /^\((.+) -> (.+)\) map$/.exec(type);
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const why =
        (m?.[1]?.startsWith("enum ") && misfit(m[1], k, wire)) ||
        (m?.[2]?.startsWith("enum ") && misfit(m[2], x, wire));
      if (why) return why;
    }
    return undefined;
  }
  if (type.endsWith(" set")) {
    if (!Array.isArray(v)) return bad();
    for (const x of v) {
      const why = misfit(type.slice(0, -4), x, wire);
      if (why) return why;
    }
    return undefined;
  }
  if (type.endsWith(" ref")) return typeof v === "string" && v.startsWith("OpaqueRef:") ? undefined : bad();
  if (type.startsWith("enum ")) {
    const values = ENUMS[type.slice(5) as EnumName] as readonly string[];
    return typeof v === "string" && values.includes(v) ? undefined : bad();
  }
  if (type === "string") return typeof v === "string" ? undefined : bad();
  if (type === "datetime") return typeof v === "string" && /^\d{8}T\d\d:\d\d:\d\dZ$/.test(v) ? undefined : bad();
  if (type === "int")
    return Number.isInteger(v) || (wire === "xml" && typeof v === "string" && /^-?\d+$/.test(v)) ? undefined : bad();
  if (type === "float") return typeof v === "number" ? undefined : bad();
  if (type === "bool") return typeof v === "boolean" ? undefined : bad();
  return `unknown datamodel type ${type}`;
}

function problems(cls: RecordClass, ref: string, rec: Record<string, unknown>, wire: Wire = "json"): string[] {
  const fields = FIELDS[cls];
  const out: string[] = [];
  const names = new Set(fields.map((f) => f.name));
  for (const k of Object.keys(rec)) if (!names.has(k)) out.push(`${cls} ${ref}: field ${k} is not in the datamodel`);
  for (const f of fields) {
    if (!(f.name in rec)) out.push(`${cls} ${ref}: missing ${f.name}`);
    else {
      const why = misfit(f.type, rec[f.name], wire);
      if (why) out.push(`${cls} ${ref}: ${f.name}: ${why}`);
    }
  }
  return out;
}

describe("records match the datamodel (JSON-RPC)", () => {
  const withRecords = RECORD_CLASSES.filter((c) => `${c}.get_all_records` in MESSAGES);
  test.each(withRecords)("%s.get_all_records: every field, typed as the datamodel says", async (cls) => {
    expect(served.has(`${cls}.get_all_records`)).toBe(true);
    const all = await call<Record<string, Record<string, unknown>>>(url, `${cls}.get_all_records`, session);
    expect(Object.keys(all).length).toBeGreaterThan(0);
    expect(Object.entries(all).flatMap(([ref, rec]) => problems(cls, ref, rec))).toEqual([]);
  });
  test("session.get_record (session has no get_all_records)", async () => {
    expect(served.has("session.get_all_records")).toBe(false);
    const rec = await call<Record<string, unknown>>(url, "session.get_record", session, session);
    expect(problems("session", session, rec)).toEqual([]);
  });
});

/** One XML-RPC call on `/` (xapi's path), decoded with the simulator's own value parser. */
async function xmlCall(method: string, ...params: string[]): Promise<unknown> {
  const body = `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params
    .map((x) => `<param><value><string>${x}</string></value></param>`)
    .join("")}</params></methodCall>`;
  const text = await (await fetch(`${url}/`, { method: "POST", body, headers: { "Content-Type": "text/xml" } })).text();
  const asCall = text
    .replace(/<methodResponse>/, "<methodCall><methodName>r</methodName>")
    .replace(/<\/methodResponse>/, "</methodCall>");
  const [res] = parseMethodCall(asCall).params as [{ Status: string; Value?: unknown; ErrorDescription?: unknown }];
  if (res.Status !== "Success") throw new Error(`${method}: ${JSON.stringify(res.ErrorDescription)}`);
  return res.Value;
}

describe("records match the datamodel (XML-RPC)", () => {
  const withRecords = RECORD_CLASSES.filter((c) => `${c}.get_all_records` in MESSAGES);
  test.each(withRecords)(
    "%s.get_all_records: every field, typed as the datamodel says (ints may travel as strings)",
    async (cls) => {
      const all = (await xmlCall(`${cls}.get_all_records`, session)) as Record<string, Record<string, unknown>>;
      expect(Object.keys(all).length).toBeGreaterThan(0);
      expect(Object.entries(all).flatMap(([ref, rec]) => problems(cls, ref, rec, "xml"))).toEqual([]);
    },
  );
});

function mandatory(spec: MessageSpec): number {
  return spec.params.filter((p) => p.length < 3).length;
}

describe("arity is the datamodel's", () => {
  const servedMessages = () => Object.entries(MESSAGES).filter(([name]) => served.has(name));
  test("every method the simulator serves is a datamodel message (or system.*)", () => {
    const known = (n: string) => n in MESSAGES || n in HIDDEN_MESSAGES || n in OTHER_GETTERS;
    expect([...served].filter((n) => !n.startsWith("Async.") && !n.startsWith("system.") && !known(n))).toEqual([]);
  });
  test("one parameter short (or one extra where none is allowed) -> MESSAGE_PARAMETER_COUNT_MISMATCH", async () => {
    const wrong: string[] = [];
    const list = servedMessages();
    expect(list.length).toBeGreaterThan(700);
    for (const [name, spec] of list) {
      const need = mandatory(spec);
      const given = need === 0 ? 1 : need - 1;
      const args = Array.from({ length: given }, () => "OpaqueRef:conformance");
      const got = await failure(call(url, name, ...(spec.session ? [session] : []), ...args)).catch((e: unknown) => [
        String(e),
      ]);
      const versioned = need < spec.params.length;
      // xapi (gen_server.ml) reports the mandatory count; for messages with versioned parameters the dispatcher
      // may still report the full count (see the arity note in COVERAGE.md).
      const expected = versioned ? [String(need), String(spec.params.length)] : [String(need)];
      const ok =
        got[0] === "MESSAGE_PARAMETER_COUNT_MISMATCH" &&
        got[1] === name &&
        expected.includes(got[2]!) &&
        got[3] === String(given);
      if (!ok) wrong.push(`${name}(${given} of ${need}): ${JSON.stringify(got)}`);
    }
    expect(wrong).toEqual([]);
  });
  test("messages with versioned parameters accept their historical (shorter) forms", async () => {
    const wrong: string[] = [];
    for (const [name, spec] of servedMessages()) {
      const need = mandatory(spec);
      if (need === spec.params.length || name.startsWith("session.")) continue;
      for (let n = need; n <= spec.params.length; n++) {
        const args = Array.from({ length: n }, () => "OpaqueRef:conformance");
        const got = await failure(call(url, name, ...(spec.session ? [session] : []), ...args)).catch(() => ["OK"]);
        if (got[0] === "MESSAGE_PARAMETER_COUNT_MISMATCH") wrong.push(`${name} with ${n}: ${JSON.stringify(got)}`);
      }
    }
    expect(wrong).toEqual([]);
    const login2 = await call<string>(url, "session.login_with_password", "root", "xen-root-pw");
    expect(login2).toMatch(/^OpaqueRef:/);
  });
});

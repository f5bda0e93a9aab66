import * as http from "node:http";
import { RunningSimulator } from "../../../simulator";
import { login, sim } from "./helpers";

/**
 * Record getters answer JSON-RPC from each record's cached JSON text (models/wire.ts): the bytes must be those
 * of JSON.stringify over the plain answer that in-process callers and XML-RPC get, in both envelopes.
 */

let s: RunningSimulator;
let session: string;
let host: string;

/** One POST with its raw reply: status, Content-Length and body bytes. */
function raw(body: unknown): Promise<{ status: number; length: number; body: string }> {
  const url = new URL(`${s.url}/jsonrpc`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: "POST", agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const buf = Buffer.concat(chunks);
          expect(Number(res.headers["content-length"])).toBe(buf.length);
          resolve({ status: res.statusCode!, length: buf.length, body: buf.toString("utf8") });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

async function plain(method: string, ...params: unknown[]): Promise<unknown> {
  const r = await s.core.call(method, [session, ...params], host);
  if (!r.ok) throw new Error(`${method}: ${r.error.code}`);
  return r.value;
}

beforeAll(async () => {
  s = await sim();
  session = await login(s.url);
  host = s.core.engine.db.refs("host")[0]!;
  const [template] = (await plain("VM.get_by_name_label", "Debian Bookworm 12")) as string[];
  // Enough VMs for a reply of several MiB, sent in chunks.
  for (let i = 0; i < 600; i++) await plain("VM.clone", template, `wire-${i} \u00e9\u2603`);
});
afterAll(() => s.close());

test.each([
  ["VM.get_all_records", []],
  ["VM.get_all_records_where", ['field "is_a_template" = "false"']],
  ["VDI.get_all_records", []],
  ["host.get_all_records", []],
])("%s: the bytes of JSON.stringify of the plain answer, in the 2.0 and the 1.0 envelope", async (method, args) => {
  const value = await plain(method, ...args);
  const v2 = await raw({ jsonrpc: "2.0", method, params: [session, ...args], id: 11 });
  expect(v2.status).toBe(200);
  expect(v2.body).toBe(JSON.stringify({ jsonrpc: "2.0", result: value, id: 11 }));
  const v1 = await raw({ method, params: [session, ...args], id: "one" });
  expect(v1.body).toBe(JSON.stringify({ result: value, error: null, id: "one" }));
});

test("a reply above a MiB is streamed whole, and reflects a change made just before", async () => {
  const vms = Object.keys((await plain("VM.get_all_records")) as object);
  await plain("VM.set_name_label", vms[1], "renamed \u{1f600}");
  const value = await plain("VM.get_all_records");
  const r = await raw({ jsonrpc: "2.0", method: "VM.get_all_records", params: [session], id: 3 });
  expect(r.length).toBeGreaterThan(1024 * 1024);
  expect(r.body).toBe(JSON.stringify({ jsonrpc: "2.0", result: value, id: 3 }));
  expect(r.body).toContain("renamed \u{1f600}");
});

test("get_record: the same bytes; errors keep their envelope", async () => {
  const [vm] = (await plain("VM.get_all")) as string[];
  const value = await plain("VM.get_record", vm);
  const r = await raw({ jsonrpc: "2.0", method: "VM.get_record", params: [session, vm], id: 5 });
  expect(r.body).toBe(JSON.stringify({ jsonrpc: "2.0", result: value, id: 5 }));
  const bad = await raw({ jsonrpc: "2.0", method: "VM.get_record", params: [session, "OpaqueRef:nope"], id: 6 });
  expect(JSON.parse(bad.body)).toEqual({
    jsonrpc: "2.0",
    error: { code: 1, message: "HANDLE_INVALID", data: ["VM", "OpaqueRef:nope"] },
    id: 6,
  });
});

test("in-process callers get plain records of their own", async () => {
  const value = (await plain("VM.get_all_records")) as Record<string, Record<string, unknown>>;
  const [ref, rec] = Object.entries(value)[0]!;
  expect(Object.getPrototypeOf(rec)).toBe(Object.prototype);
  rec.name_label = "changed by the caller";
  expect(((await plain("VM.get_record", ref)) as Record<string, unknown>).name_label).not.toBe("changed by the caller");
});

/** Cases found by the reliability run's fuzzing and restart checks. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { call, failure, login, post, sim } from "./helpers";

test.each(["constructor", "__proto__", "toString", "hasOwnProperty"])(
  "method name %s is unknown, not an internal error",
  async (method) => {
    const s = await sim();
    try {
      const r = await post(s.url, { jsonrpc: "2.0", method, params: [], id: 1 });
      expect(r.status).toBe(200);
      expect(r.json?.error).toMatchObject({ message: "MESSAGE_METHOD_UNKNOWN", data: [method] });
    } finally {
      await s.close();
    }
  },
);

test.each(["&#x110000;", "&#99999999999;"])("an out-of-range character reference %s is a parse error", async (ref) => {
  const s = await sim();
  try {
    const body = `<?xml version="1.0"?><methodCall><methodName>system.listMethods${ref}</methodName><params/></methodCall>`;
    const r = await fetch(`${s.url}/RPC2`, { method: "POST", body, headers: { "content-type": "text/xml" } });
    expect(await r.text()).toContain("XML-RPC parse error: character reference");
  } finally {
    await s.close();
  }
});

test("a seeded simulator restarted on its data dir hands out fresh refs", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sim-seed-"));
  try {
    const first = await sim({ dataDir, seed: 7 });
    const existing = new Set<string>();
    try {
      const session = await login(first.url);
      for (const cls of ["pool", "host", "VM", "SR", "network"])
        for (const ref of await call<string[]>(first.url, `${cls}.get_all`, session)) existing.add(ref);
      existing.add(session);
    } finally {
      await first.close();
    }
    const second = await sim({ dataDir, seed: 7 });
    try {
      const session = await login(second.url);
      expect(existing.has(session)).toBe(false);
      const pools = await call<string[]>(second.url, "pool.get_all", session);
      expect(pools).toHaveLength(1);
      expect(await failure(call(second.url, "pool.get_record", session, "OpaqueRef:nope"))).toEqual([
        "HANDLE_INVALID",
        "pool",
        "OpaqueRef:nope",
      ]);
    } finally {
      await second.close();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

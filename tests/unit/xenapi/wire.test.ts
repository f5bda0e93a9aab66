/**
 * Golden wire tests: each fixture lists the exact JSON-RPC requests the client must send (in order) and the host's
 * answers, and the outcome the caller must see. "$any" in request params matches anything; "$id" in a response is
 * replaced by the request's id.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import nock from "nock";
import { XenApiClient, type CallOptions, type XenApiClientOptions } from "../../../provider/xenapi";

interface Exchange {
  host?: string;
  request: { method: string; params: unknown[] };
  response: {
    status?: number;
    headers?: Record<string, string>;
    json?: unknown;
    body?: string;
    delayMs?: number;
    networkError?: string;
  };
}

interface Fixture {
  description: string;
  host: string;
  client?: Partial<XenApiClientOptions>;
  call: { kind?: "call" | "callAsync"; method: string; params: unknown[]; options?: CallOptions };
  exchanges: Exchange[];
  expect: {
    result?: unknown;
    endpoint?: string;
    error?: {
      name: string;
      code?: string;
      kind?: string;
      params?: string[];
      status?: number;
      method?: string;
      host?: string;
      taskRef?: string;
      causeCode?: string;
      messageIncludes?: string[];
      messageExcludes?: string[];
    };
  };
}

const PASSWORD = "hunter2-secret";
const dir = path.join(__dirname, "fixtures");
const fixtures = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => ({ file: f, fixture: JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as Fixture }));

function matches(expected: unknown, actual: unknown): boolean {
  if (expected === "$any") return true;
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => matches(e, actual[i]))
    );
  }
  if (typeof expected === "object" && expected !== null) {
    if (typeof actual !== "object" || actual === null) return false;
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    return Object.keys(e).length === Object.keys(a).length && Object.keys(e).every((k) => matches(e[k], a[k]));
  }
  return expected === actual;
}

function withId(v: unknown, id: unknown): unknown {
  if (v === "$id") return id;
  if (Array.isArray(v)) return v.map((x) => withId(x, id));
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withId(x, id)]));
  }
  return v;
}

interface WireBody {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: unknown;
}

afterEach(() => {
  nock.cleanAll();
});

beforeAll(() => nock.disableNetConnect());
afterAll(() => {
  nock.enableNetConnect();
  // nock patches the http module for the whole worker process; undo it so later test files get a clean one.
  nock.restore();
});

test("there are golden fixtures", () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(30);
});

describe.each(fixtures)("$file", ({ fixture }) => {
  test(fixture.description, async () => {
    const served: string[] = [];
    const unmatched: string[] = [];
    const onNoMatch = (req: { method?: string; path?: string; body?: unknown }) => {
      unmatched.push(`${req.method} ${req.path} ${String(req.body ?? "")}`);
    };
    nock.emitter.on("no match", onNoMatch);
    const hosts = new Set<string>([fixture.host]);
    for (const ex of fixture.exchanges) {
      const host = ex.host ?? fixture.host;
      hosts.add(host);
      const scope = nock(host);
      scope.on("request", (_req: unknown, _interceptor: unknown, body: string) => {
        served.push((JSON.parse(body) as WireBody).method as string);
      });
      const interceptor = scope.post("/jsonrpc", (body: WireBody) => {
        return (
          body.jsonrpc === "2.0" &&
          typeof body.id === "number" &&
          body.method === ex.request.method &&
          matches(ex.request.params, body.params)
        );
      });
      const r = ex.response;
      if (r.networkError) {
        // nock 14 needs an Error instance here; a plain object leaves the request hanging.
        interceptor.replyWithError(Object.assign(new Error(`simulated ${r.networkError}`), { code: r.networkError }));
        continue;
      }
      const scoped = r.delayMs ? interceptor.delay(r.delayMs) : interceptor;
      scoped.reply((_uri, body) => {
        const payload = r.json !== undefined ? JSON.stringify(withId(r.json, (body as WireBody).id)) : (r.body ?? "");
        return [r.status ?? 200, payload, r.headers ?? { "Content-Type": "application/json" }];
      });
    }
    // close() logs out wherever the session ended up; not part of the golden exchange.
    for (const host of hosts) {
      nock(host)
        .post("/jsonrpc", (b: WireBody) => b.method === "session.logout")
        .optionally()
        .reply(200, (_u, b) => ({ jsonrpc: "2.0", result: "", id: (b as WireBody).id }));
    }

    const logs: string[] = [];
    if (process.env.WIRE_DEBUG) logs.push = (...l: string[]) => (console.log(...l), 0);
    const client = new XenApiClient({
      url: fixture.host,
      username: "root",
      password: PASSWORD,
      random: () => 0,
      logger: (l) => logs.push(l),
      ...fixture.client,
    });
    let result: unknown;
    let error: unknown;
    try {
      result =
        fixture.call.kind === "callAsync"
          ? await client.callAsync(fixture.call.method, fixture.call.params, fixture.call.options)
          : await client.call(fixture.call.method, fixture.call.params, fixture.call.options);
    } catch (e) {
      error = e;
    }
    const endpoint = client.endpoint;
    await client.close();
    nock.emitter.removeListener("no match", onNoMatch);

    expect(unmatched).toEqual([]);
    if (fixture.expect.error) {
      const want = fixture.expect.error;
      expect(error).toBeDefined();
      const e = error as Record<string, unknown> & { message: string };
      expect(e.name).toBe(want.name);
      for (const k of ["code", "kind", "params", "status", "method", "host", "taskRef", "causeCode"] as const) {
        if (want[k] !== undefined) expect({ [k]: e[k] }).toEqual({ [k]: want[k] });
      }
      for (const s of want.messageIncludes ?? []) expect(e.message).toContain(s);
      for (const s of want.messageExcludes ?? []) expect(e.message).not.toContain(s);
    } else {
      if (error) throw error;
      expect(result).toEqual(fixture.expect.result);
    }
    if (fixture.expect.endpoint) expect(endpoint).toBe(fixture.expect.endpoint);
    // Every exchange happened, in order, and nothing else (no blind retries).
    expect(served).toEqual(fixture.exchanges.map((x) => x.request.method));
    // The debug log never carries the password or a session ref.
    const log = logs.join("\n");
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toMatch(/OpaqueRef:session-\d/);
    expect(logs.length).toBeGreaterThan(0);
  });
});

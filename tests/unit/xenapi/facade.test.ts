import { ASYNC_METHODS, xenFacade, type CallOptions, type FacadeClient } from "../../../provider/xenapi";

function stub() {
  const calls: Array<[string, string, unknown[], CallOptions | undefined]> = [];
  const client: FacadeClient = {
    call: async <T>(method: string, params: readonly unknown[] = [], opts?: CallOptions) => {
      calls.push(["call", method, [...params], opts]);
      return [] as T;
    },
    callAsync: async (method, params = [], opts) => {
      calls.push(["callAsync", method, [...params], opts]);
      return "OpaqueRef:result";
    },
    getRecord: async (cls, ref, opts) => {
      calls.push(["getRecord", cls, [ref], opts]);
      return {} as never;
    },
    getAllRecords: async (cls, opts) => {
      calls.push(["getAllRecords", cls, [], opts]);
      return new Map();
    },
  };
  return { client, calls };
}

test.each([
  [
    "VM.start via Async",
    (x: ReturnType<typeof xenFacade>) => x.VM.start("OpaqueRef:v", false, true),
    ["callAsync", "VM.start", ["OpaqueRef:v", false, true]],
  ],
  [
    "VM.clone via Async",
    (x: ReturnType<typeof xenFacade>) => x.VM.clone("OpaqueRef:t", "web"),
    ["callAsync", "VM.clone", ["OpaqueRef:t", "web"]],
  ],
  [
    "pool.join via Async",
    (x: ReturnType<typeof xenFacade>) => x.pool.join("10.0.0.1", "root", "pw"),
    ["callAsync", "pool.join", ["10.0.0.1", "root", "pw"]],
  ],
  [
    "host.evacuate via Async",
    (x: ReturnType<typeof xenFacade>) => x.host.evacuate("OpaqueRef:h"),
    ["callAsync", "host.evacuate", ["OpaqueRef:h"]],
  ],
  [
    "setter is a plain call",
    (x: ReturnType<typeof xenFacade>) => x.VM.set_name_label("OpaqueRef:v", "n"),
    ["call", "VM.set_name_label", ["OpaqueRef:v", "n"]],
  ],
  [
    "read is a plain call",
    (x: ReturnType<typeof xenFacade>) => x.host.compute_free_memory("OpaqueRef:h"),
    ["call", "host.compute_free_memory", ["OpaqueRef:h"]],
  ],
  [
    "get_record is parsed",
    (x: ReturnType<typeof xenFacade>) => x.VM.get_record("OpaqueRef:v"),
    ["getRecord", "VM", ["OpaqueRef:v"]],
  ],
  [
    "get_all_records is parsed",
    (x: ReturnType<typeof xenFacade>) => x.SR.get_all_records(),
    ["getAllRecords", "SR", []],
  ],
  ["get_all", (x: ReturnType<typeof xenFacade>) => x.pool.get_all(), ["call", "pool.get_all", []]],
] as const)("%s", async (_n, run, expected) => {
  const { client, calls } = stub();
  await run(xenFacade(client));
  expect(calls.map(([kind, m, p]) => [kind, m, p])).toEqual([expected]);
});

test("options given to the facade reach every call", async () => {
  const { client, calls } = stub();
  const ac = new AbortController();
  const x = xenFacade(client, { deadlineMs: 5, signal: ac.signal });
  await x.VM.hard_shutdown("OpaqueRef:v");
  await x.VM.get_by_name_label("n");
  await x.VM.get_record("OpaqueRef:v");
  expect(calls.map((c) => c[3])).toEqual([
    { deadlineMs: 5, signal: ac.signal },
    { deadlineMs: 5, signal: ac.signal },
    { deadlineMs: 5, signal: ac.signal },
  ]);
});

test("the facade is not a thenable and has no symbol members", async () => {
  const { client, calls } = stub();
  const x = xenFacade(client);
  await expect(Promise.resolve(x)).resolves.toBe(x);
  await expect(Promise.resolve(x.VM)).resolves.toBe(x.VM);
  expect((x as unknown as Record<symbol, unknown>)[Symbol.iterator]).toBeUndefined();
  expect(calls).toEqual([]);
});

test("every Async method is Class.message", () => {
  for (const m of ASYNC_METHODS) expect(m).toMatch(/^[A-Za-z_]+\.[a-z_A-Z]+$/);
});

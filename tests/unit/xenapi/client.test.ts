import nock from "nock";
import { XenApiClient, isTransportError, type XenApiClientOptions } from "../../../provider/xenapi";

const HOST = "http://client.test";
interface Body {
  id: number;
  method: string;
  params: unknown[];
}
const rpc = (result: unknown) => (_u: string, b: unknown) => ({ jsonrpc: "2.0", result, id: (b as Body).id });
const rpcErr = (code: string, data: string[]) => (_u: string, b: unknown) => ({
  jsonrpc: "2.0",
  error: { code: 1, message: code, data },
  id: (b as Body).id,
});
const is = (method: string) => (b: Body) => b.method === method;

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
beforeAll(() => {
  nock.disableNetConnect();
  process.on("unhandledRejection", onUnhandled);
});
afterAll(() => {
  process.removeListener("unhandledRejection", onUnhandled);
  nock.enableNetConnect();
  nock.restore(); // un-patch http for later test files in this worker
});
afterEach(() => {
  nock.cleanAll();
  expect(unhandled).toEqual([]);
});

function client(opts: Partial<XenApiClientOptions> = {}): XenApiClient {
  return new XenApiClient({ url: HOST, username: "root", password: "pw-Secret-42", random: () => 0, ...opts });
}

async function closeQuietly(c: XenApiClient) {
  nock(HOST).post("/jsonrpc", is("session.logout")).optionally().reply(200, rpc(""));
  await c.close();
}

test("concurrent first calls share one login", async () => {
  const login = nock(HOST).post("/jsonrpc", is("session.login_with_password")).delay(50).reply(200, rpc("OpaqueRef:s"));
  nock(HOST).post("/jsonrpc", is("VM.get_all")).times(3).reply(200, rpc([]));
  const c = client();
  await Promise.all([c.call("VM.get_all"), c.call("VM.get_all"), c.call("VM.get_all")]);
  expect(login.isDone()).toBe(true);
  await closeQuietly(c);
});

test("a failed login is not cached: the next call logs in again", async () => {
  nock(HOST)
    .post("/jsonrpc", is("session.login_with_password"))
    .reply(200, rpcErr("SESSION_AUTHENTICATION_FAILED", ["root", "Authentication failure"]))
    .post("/jsonrpc", is("session.login_with_password"))
    .reply(200, rpc("OpaqueRef:s"))
    .post("/jsonrpc", is("VM.get_all"))
    .reply(200, rpc(["OpaqueRef:v"]));
  const c = client();
  await expect(c.call("VM.get_all")).rejects.toMatchObject({ code: "SESSION_AUTHENTICATION_FAILED" });
  await expect(c.call("VM.get_all")).resolves.toEqual(["OpaqueRef:v"]);
  await closeQuietly(c);
});

test("one caller aborting does not fail the shared login for the others", async () => {
  nock(HOST).post("/jsonrpc", is("session.login_with_password")).delay(150).reply(200, rpc("OpaqueRef:s"));
  nock(HOST)
    .post("/jsonrpc", is("VM.get_all"))
    .reply(200, rpc(["OpaqueRef:v"]));
  const c = client();
  const ac = new AbortController();
  const first = c.call("VM.get_all", [], { signal: ac.signal });
  const second = c.call("VM.get_all");
  setTimeout(() => ac.abort(), 20);
  await expect(first).rejects.toMatchObject({ kind: "aborted" });
  await expect(second).resolves.toEqual(["OpaqueRef:v"]);
  await closeQuietly(c);
});

test("concurrent calls that all meet HOST_IS_SLAVE move the client once", async () => {
  nock(HOST).post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:s"));
  nock(HOST)
    .post("/jsonrpc", is("VM.get_all"))
    .times(3)
    .delay(20)
    .reply(200, rpcErr("HOST_IS_SLAVE", ["10.1.1.1"]));
  const master = "http://10.1.1.1";
  nock(master).post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:s2"));
  nock(master).post("/jsonrpc", is("VM.get_all")).times(3).reply(200, rpc([]));
  const c = client();
  await expect(Promise.all([c.call("VM.get_all"), c.call("VM.get_all"), c.call("VM.get_all")])).resolves.toEqual([
    [],
    [],
    [],
  ]);
  expect(c.endpoint).toBe(master);
  nock(master).post("/jsonrpc", is("session.logout")).reply(200, rpc(""));
  await c.close();
});

test("event.from timeouts go out as JSON floats (old ocaml-rpc rejects an integer for a float param)", async () => {
  nock(HOST).post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:s"));
  nock(HOST).post("/jsonrpc", is("Async.VM.start")).reply(200, rpc("OpaqueRef:t"));
  const seen: unknown[] = [];
  nock(HOST)
    .post("/jsonrpc", (b: Body) => b.method === "event.from" && (seen.push(b.params[3]), true))
    .times(2)
    .reply(200, (_u, b) => ({
      jsonrpc: "2.0",
      id: (b as Body).id,
      result: {
        events: [
          {
            class: "task",
            operation: "add",
            ref: "OpaqueRef:t",
            snapshot: { uuid: "u", status: "success", result: "" },
          },
        ],
        valid_ref_counts: {},
        token: "1",
      },
    }));
  const c = client();
  await c.callAsync("VM.start", ["OpaqueRef:v", false, false], { deadlineMs: 30_000 });
  // the event loop's first token (timeout 0), then the wait for the task
  expect(seen).toHaveLength(2);
  for (const t of seen) {
    expect(typeof t).toBe("number");
    expect(Number.isInteger(t)).toBe(false);
  }
  await closeQuietly(c);
});

test("originator is sent with the API version placeholder", async () => {
  const login = nock(HOST)
    .post(
      "/jsonrpc",
      (b: Body) => is("session.login_with_password")(b) && b.params.length === 4 && b.params[3] === "pulumi-xen",
    )
    .reply(200, rpc("OpaqueRef:s"));
  nock(HOST).post("/jsonrpc", is("VM.get_all")).reply(200, rpc([]));
  const c = client({ originator: "pulumi-xen" });
  await c.call("VM.get_all");
  expect(login.isDone()).toBe(true);
  await closeQuietly(c);
});

test("abort while a request is in flight -> aborted, promptly", async () => {
  nock(HOST).post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:s"));
  nock(HOST).post("/jsonrpc", is("VM.get_all")).delay(5_000).reply(200, rpc([]));
  const c = client();
  const ac = new AbortController();
  const t0 = Date.now();
  setTimeout(() => ac.abort(), 50);
  await expect(c.call("VM.get_all", [], { signal: ac.signal })).rejects.toMatchObject({
    name: "XenTransportError",
    kind: "aborted",
  });
  expect(Date.now() - t0).toBeLessThan(1_000);
  await closeQuietly(c);
});

test("an already-aborted signal sends nothing", async () => {
  const c = client();
  const ac = new AbortController();
  ac.abort();
  await expect(c.call("VM.get_all", [], { signal: ac.signal })).rejects.toMatchObject({ kind: "aborted" });
  expect(nock.pendingMocks()).toEqual([]);
  await c.close();
});

test("abort during a retry wait", async () => {
  nock(HOST).post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:s"));
  nock(HOST)
    .post("/jsonrpc", is("VM.clean_shutdown"))
    .reply(200, rpcErr("OTHER_OPERATION_IN_PROGRESS", ["VM", "OpaqueRef:v", "start", "OpaqueRef:t"]));
  const c = client({ random: () => 0.99 }); // long busy backoff
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const t0 = Date.now();
  await expect(c.call("VM.clean_shutdown", ["OpaqueRef:v"], { signal: ac.signal })).rejects.toMatchObject({
    kind: "aborted",
  });
  expect(Date.now() - t0).toBeLessThan(1_000);
  await closeQuietly(c);
});

test("the deadline bounds a read that keeps timing out (never hangs past it)", async () => {
  nock(HOST).post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:s"));
  nock(HOST).post("/jsonrpc", is("VM.get_all")).times(10).delay(10_000).reply(200, rpc([]));
  const c = client({ timeoutMs: 60_000 });
  const t0 = Date.now();
  const err = await c.call("VM.get_all", [], { deadlineMs: 300 }).catch((e: unknown) => e);
  expect(isTransportError(err, "timeout")).toBe(true);
  expect(Date.now() - t0).toBeLessThan(800);
  await closeQuietly(c);
});

test("HOST_IS_SLAVE naming the host itself is an error, not a loop", async () => {
  nock(HOST)
    .post("/jsonrpc", is("session.login_with_password"))
    .reply(200, rpcErr("HOST_IS_SLAVE", ["client.test"]));
  const c = client();
  await expect(c.call("VM.get_all")).rejects.toMatchObject({ name: "XenTransportError", kind: "malformed" });
  await c.close();
});

test("HOST_IS_SLAVE with an IPv6 coordinator keeps scheme and port", async () => {
  nock("http://client.test:8080")
    .post("/jsonrpc", is("session.login_with_password"))
    .reply(200, rpcErr("HOST_IS_SLAVE", ["fd00::2"]));
  nock("http://[fd00::2]:8080").post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:s"));
  nock("http://[fd00::2]:8080").post("/jsonrpc", is("VM.get_all")).reply(200, rpc([]));
  const c = client({ url: "http://client.test:8080/jsonrpc" });
  await c.call("VM.get_all");
  expect(c.endpoint).toBe("http://[fd00::2]:8080");
  expect(c.url).toBe("http://client.test:8080");
  nock("http://[fd00::2]:8080").post("/jsonrpc", is("session.logout")).reply(200, rpc(""));
  await c.close();
});

test("sessionless methods get no session", async () => {
  nock(HOST)
    .post("/jsonrpc", (b: Body) => b.method === "system.listMethods" && b.params.length === 0)
    .reply(200, rpc(["VM.start"]));
  const c = client();
  expect(await c.call("system.listMethods")).toEqual(["VM.start"]);
  await c.close();
});

test("close logs out once, then refuses calls", async () => {
  nock(HOST).post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:s"));
  nock(HOST).post("/jsonrpc", is("VM.get_all")).reply(200, rpc([]));
  const logout = nock(HOST)
    .post("/jsonrpc", (b: Body) => b.method === "session.logout" && b.params[0] === "OpaqueRef:s")
    .reply(200, rpc(""));
  const c = client();
  await c.call("VM.get_all");
  await c.close();
  await c.close();
  expect(logout.isDone()).toBe(true);
  await expect(c.call("VM.get_all")).rejects.toMatchObject({
    kind: "aborted",
    message: expect.stringContaining("closed"),
  });
});

test("close survives a failing logout", async () => {
  nock(HOST).post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:s"));
  nock(HOST).post("/jsonrpc", is("VM.get_all")).reply(200, rpc([]));
  nock(HOST)
    .post("/jsonrpc", is("session.logout"))
    .replyWithError(Object.assign(new Error("down"), { code: "ECONNRESET" }));
  const c = client();
  await c.call("VM.get_all");
  await expect(c.close()).resolves.toBeUndefined();
});

test("invalid URLs are configuration errors", () => {
  expect(() => client({ url: "ftp://x" })).toThrow(/only https/);
  expect(() => client({ url: "not a url" })).toThrow(/invalid XenAPI URL/);
});

test("callAsync: abort cancels the task in the background", async () => {
  nock(HOST).post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:s"));
  // The client's event loop takes its token before submitting the task.
  nock(HOST)
    .post("/jsonrpc", (b: Body) => b.method === "event.from" && b.params[2] === "")
    .reply(200, rpc({ events: [], token: "0", valid_ref_counts: {} }));
  nock(HOST).post("/jsonrpc", is("Async.VM.start")).reply(200, rpc("OpaqueRef:t"));
  nock(HOST)
    .post("/jsonrpc", is("event.from"))
    .delay(5_000)
    .reply(200, rpc({ events: [], token: "1", valid_ref_counts: {} }));
  const cancel = nock(HOST)
    .post("/jsonrpc", (b: Body) => b.method === "task.cancel" && b.params[1] === "OpaqueRef:t")
    .reply(200, rpc(""));
  const c = client();
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  await expect(c.callAsync("VM.start", ["OpaqueRef:v", false, false], { signal: ac.signal })).rejects.toMatchObject({
    kind: "aborted",
  });
  for (let i = 0; i < 300 && !cancel.isDone(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cancel.isDone()).toBe(true);
  await closeQuietly(c);
});

describe("debug log", () => {
  const PASSWORD = "pw-Secret-42";

  test("one line per call with duration; passwords and session refs never appear", async () => {
    nock(HOST).post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:sess-A"));
    nock(HOST)
      .post("/jsonrpc", is("VM.get_all"))
      .reply(200, rpcErr("SESSION_INVALID", ["OpaqueRef:sess-A"]));
    nock(HOST).post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:sess-B"));
    nock(HOST)
      .post("/jsonrpc", is("VM.get_all"))
      .reply(200, rpc(["OpaqueRef:vm"]));
    nock(HOST).post("/jsonrpc", is("pool.join")).reply(200, rpcErr("JOINING_HOST_CONNECTION_FAILED", []));
    nock(HOST).post("/jsonrpc", is("SR.create")).reply(200, rpc("OpaqueRef:sr"));
    const lines: string[] = [];
    const c = client({ logger: (l) => lines.push(l) });
    await c.call("VM.get_all");
    await c.call("pool.join", ["10.0.0.9", "root", "joinPassw0rd"]).catch(() => undefined);
    await c.call("SR.create", [
      "OpaqueRef:h",
      { server: "nas", cifspassword: "smbSecret" },
      "0",
      "n",
      "d",
      "smb",
      "user",
      true,
      {},
    ]);
    nock(HOST).post("/jsonrpc", is("session.logout")).reply(200, rpc(""));
    await c.close();
    const log = lines.join("\n");
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toContain("joinPassw0rd");
    expect(log).not.toContain("smbSecret");
    expect(log).not.toContain("sess-A");
    expect(log).not.toContain("sess-B");
    expect(log).toContain("VM.get_all");
    expect(log).toMatch(/VM\.get_all\[\] -> ok in \d+ ms/);
    expect(log).toContain("SESSION_INVALID");
    expect(log).toContain("session.logout");
    expect(lines.length).toBeGreaterThanOrEqual(7);
  });

  test("XEN_DEBUG=1 logs to stderr by default; otherwise silent", async () => {
    const writes: string[] = [];
    const spy = jest.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    const old = process.env.XEN_DEBUG;
    try {
      for (const [value, expectLines] of [
        ["1", true],
        [undefined, false],
      ] as const) {
        writes.length = 0;
        if (value === undefined) delete process.env.XEN_DEBUG;
        else process.env.XEN_DEBUG = value;
        nock(HOST).post("/jsonrpc", is("system.listMethods")).reply(200, rpc([]));
        const c = client();
        await c.call("system.listMethods");
        await c.close();
        expect(writes.some((w) => w.includes("system.listMethods"))).toBe(expectLines);
      }
    } finally {
      spy.mockRestore();
      if (old === undefined) delete process.env.XEN_DEBUG;
      else process.env.XEN_DEBUG = old;
    }
  });

  test("a throwing logger does not break calls", async () => {
    nock(HOST).post("/jsonrpc", is("system.listMethods")).reply(200, rpc([]));
    const c = client({
      logger: () => {
        throw new Error("disk full");
      },
    });
    await expect(c.call("system.listMethods")).resolves.toEqual([]);
    await c.close();
  });
});

test("callAsync against a host that stops answering ends within deadline + the 5 s housekeeping budget", async () => {
  nock(HOST).post("/jsonrpc", is("session.login_with_password")).reply(200, rpc("OpaqueRef:s"));
  // The client's event loop takes its token before submitting the task.
  nock(HOST)
    .post("/jsonrpc", (b: Body) => b.method === "event.from" && b.params[2] === "")
    .reply(200, rpc({ events: [], token: "0", valid_ref_counts: {} }));
  nock(HOST).post("/jsonrpc", is("Async.VM.start")).reply(200, rpc("OpaqueRef:t"));
  nock(HOST)
    .post("/jsonrpc", (b: Body) => b.method !== "session.logout")
    .times(20)
    .delay(30_000)
    .reply(200, rpc(""));
  const c = client();
  const t0 = Date.now();
  const err = await c
    .callAsync("VM.start", ["OpaqueRef:v", false, false], { deadlineMs: 500 })
    .catch((e: unknown) => e);
  const took = Date.now() - t0;
  expect(err).toMatchObject({ name: "XenTransportError", kind: "timeout", taskRef: "OpaqueRef:t" });
  expect((err as Error).message).toContain("could not be cancelled");
  expect(took).toBeGreaterThanOrEqual(450);
  expect(took).toBeLessThan(500 + 5_000 + 1_000);
  nock.cleanAll();
  await closeQuietly(c);
}, 15_000);

describe("errors carry no request bodies (the login body holds the password)", () => {
  const inspectDeep = (e: unknown) => require("node:util").inspect(e, { depth: 20, showHidden: true }) as string;

  test.each([
    ["timeout", (i: nock.Interceptor) => i.times(5).delay(2_000).reply(200, rpc("OpaqueRef:s")), "timeout"],
    [
      "reset",
      (i: nock.Interceptor) => i.times(5).replyWithError(Object.assign(new Error("reset"), { code: "ECONNRESET" })),
      "network",
    ],
    [
      "HTTP 500",
      (i: nock.Interceptor) => i.reply(500, "<html>boom</html>", { "Content-Type": "text/html" }),
      "http-status",
    ],
  ] as const)("%s during login", async (_n, reply, kind) => {
    reply(nock(HOST).post("/jsonrpc", is("session.login_with_password")));
    const c = client({ timeoutMs: 100, deadlineMs: 150 });
    const err = await c.call("VM.get_all").catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "XenTransportError", kind });
    const dump = inspectDeep(err);
    expect(dump).not.toContain("pw-Secret-42");
    expect(dump).not.toContain('login_with_password","params');
    nock.cleanAll();
    await c.close();
  });
});

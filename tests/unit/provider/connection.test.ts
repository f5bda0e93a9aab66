import { Connections, ProviderContext, resolveConnection, settingsFrom } from "../../../provider/connection";

const config = (values: Record<string, string>) => ({ get: (k: string) => values[k] });
const from = (values: Record<string, string>) => settingsFrom(config(values));

describe("resolveConnection", () => {
  test("stack config is used when no environment variable is set", () => {
    const stack = from({ "xen:url": "https://10.0.0.1", "xen:password": "pw", "xen:fingerprint": "AB:CD" });
    expect(resolveConnection(undefined, {}, stack)).toEqual({
      url: "https://10.0.0.1",
      username: "root",
      password: "pw",
      fingerprint: "AB:CD",
      insecure: false,
    });
  });

  test("environment variables override the config (so a rotated password works for refresh and destroy)", () => {
    const stack = from({ "xen:url": "https://10.0.0.1", "xen:password": "old", "xen:username": "admin" });
    const env = { XEN_URL: "https://10.0.0.9", XEN_PASSWORD: "new", XEN_INSECURE: "true" };
    expect(resolveConnection(undefined, env, stack)).toMatchObject({
      url: "https://10.0.0.9",
      username: "admin",
      password: "new",
      insecure: true,
    });
  });

  test("the per-call timeout takes seconds or a duration", () => {
    const stack = from({ "xen:url": "https://h", "xen:password": "p", "xen:timeout": "2m" });
    expect(resolveConnection(undefined, {}, stack).timeoutMs).toBe(120_000);
    expect(resolveConnection(undefined, { XEN_TIMEOUT: "5" }, stack).timeoutMs).toBe(5_000);
    expect(() => resolveConnection(undefined, { XEN_TIMEOUT: "soon" }, stack)).toThrow(
      /XEN_TIMEOUT: "soon" is not a duration/,
    );
  });

  test("a resource's url addresses another pool unless XEN_URL pins one", () => {
    const stack = from({ "xen:url": "https://10.0.0.1", "xen:password": "pw" });
    expect(resolveConnection("https://10.1.0.1", {}, stack).url).toBe("https://10.1.0.1");
    expect(resolveConnection("https://10.1.0.1", { XEN_URL: "https://10.0.0.9" }, stack).url).toBe("https://10.0.0.9");
  });

  test.each([
    [{}, /no Xen pool to talk to: set the stack config xen:url/],
    [{ XEN_URL: "https://h" }, /no Xen password: set it with `pulumi config set --secret xen:password/],
    [
      { XEN_URL: "https://h", XEN_PASSWORD: "p", XEN_CA_CERT: "/no/such/ca.pem" },
      /cannot read CA file \/no\/such\/ca.pem/,
    ],
  ])("%j fails clearly", (env, message) => {
    expect(() => resolveConnection(undefined, env)).toThrow(message);
  });
});

describe("connections are built by configure(), per context", () => {
  test("one client per pool and user; a second context shares nothing", () => {
    const settings = from({ "xen:url": "https://10.0.0.1", "xen:password": "pw" });
    const a = new Connections(settings, {});
    const b = new Connections(settings, {});
    expect(a.clientFor()).toBe(a.clientFor());
    expect(a.clientFor("https://10.0.0.2")).not.toBe(a.clientFor());
    expect(b.clientFor()).not.toBe(a.clientFor());
  });

  test("configure() with new settings replaces the connections; with the same ones keeps them", () => {
    const ctx = new ProviderContext();
    ctx.configure(config({ "xen:url": "https://10.0.0.1", "xen:password": "pw" }));
    const first = ctx.connections;
    ctx.configure(config({ "xen:url": "https://10.0.0.1", "xen:password": "pw" }));
    expect(ctx.connections).toBe(first);
    ctx.configure(config({ "xen:url": "https://10.0.0.5", "xen:password": "pw" }));
    expect(ctx.connections).not.toBe(first);
    expect(ctx.connections.stackConfig.url).toBe("https://10.0.0.5");
  });
});

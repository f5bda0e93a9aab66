import { configureFrom, resolveConnection } from "../../../provider/connection";

const config = (values: Record<string, string>) => ({ get: (k: string) => values[k] });

describe("resolveConnection", () => {
  beforeEach(() => configureFrom(config({})));

  test("stack config is used when no environment variable is set", () => {
    configureFrom(config({ "xen:url": "https://10.0.0.1", "xen:password": "pw", "xen:fingerprint": "AB:CD" }));
    expect(resolveConnection(undefined, {})).toEqual({
      url: "https://10.0.0.1",
      username: "root",
      password: "pw",
      fingerprint: "AB:CD",
      insecure: false,
    });
  });

  test("environment variables override the config (so a rotated password works for refresh and destroy)", () => {
    configureFrom(config({ "xen:url": "https://10.0.0.1", "xen:password": "old", "xen:username": "admin" }));
    const env = { XEN_URL: "https://10.0.0.9", XEN_PASSWORD: "new", XEN_INSECURE: "true" };
    expect(resolveConnection(undefined, env)).toMatchObject({
      url: "https://10.0.0.9",
      username: "admin",
      password: "new",
      insecure: true,
    });
  });

  test("the per-call timeout takes seconds or a duration", () => {
    configureFrom(config({ "xen:url": "https://h", "xen:password": "p", "xen:timeout": "2m" }));
    expect(resolveConnection(undefined, {}).timeoutMs).toBe(120_000);
    expect(resolveConnection(undefined, { XEN_TIMEOUT: "5" }).timeoutMs).toBe(5_000);
    expect(() => resolveConnection(undefined, { XEN_TIMEOUT: "soon" })).toThrow(
      /XEN_TIMEOUT: "soon" is not a duration/,
    );
  });

  test("a resource's url addresses another pool unless XEN_URL pins one", () => {
    configureFrom(config({ "xen:url": "https://10.0.0.1", "xen:password": "pw" }));
    expect(resolveConnection("https://10.1.0.1", {}).url).toBe("https://10.1.0.1");
    expect(resolveConnection("https://10.1.0.1", { XEN_URL: "https://10.0.0.9" }).url).toBe("https://10.0.0.9");
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

import { XenApiClient, normalizeFingerprint, verifyPeer, type XenApiClientOptions } from "../../../provider/xenapi";
import { fingerprint256, makeCa, makeHostCert, startHttpsHost, type TestHost } from "./tls-helpers";

const ca = makeCa();
const ipCert = makeHostCert(ca, [{ type: 7, ip: "127.0.0.1" }]);
const dnsOnlyCert = makeHostCert(ca, [{ type: 2, value: "xcp-1.example" }]);
const otherCa = makeCa();

let host: TestHost;
let dnsHost: TestHost;
beforeAll(async () => {
  host = await startHttpsHost(ipCert);
  dnsHost = await startHttpsHost(dnsOnlyCert);
});
afterAll(async () => {
  await host.close();
  await dnsHost.close();
});
beforeEach(() => {
  host.requests.length = 0;
  dnsHost.requests.length = 0;
});

async function getAll(opts: Partial<XenApiClientOptions>, url = host.url) {
  const c = new XenApiClient({ url, username: "root", password: "pw", deadlineMs: 5_000, ...opts });
  try {
    return await c.call("VM.get_all");
  } finally {
    await c.close();
  }
}

describe("HTTPS verification", () => {
  test("CA bundle: verified", async () => {
    expect(await getAll({ caCert: ca.cert })).toEqual(["OpaqueRef:vm"]);
    expect(host.requests.map((r) => r.method)).toEqual(["session.login_with_password", "VM.get_all", "session.logout"]);
  });

  test("default (system CAs): a self-signed host is refused before anything is sent, with its fingerprint", async () => {
    const err = await getAll({}).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "XenTransportError", kind: "tls", causeCode: "XEN_TLS_UNTRUSTED" });
    expect((err as Error).message).toContain(fingerprint256(ipCert.cert));
    expect((err as Error).message).toMatch(/caCert|fingerprint/);
    expect(host.requests).toEqual([]);
  });

  test("wrong CA: refused, nothing sent", async () => {
    const err = await getAll({ caCert: otherCa.cert }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "tls" });
    expect(host.requests).toEqual([]);
  });

  test("CA bundle but the name does not match the certificate: refused", async () => {
    const err = await getAll({ caCert: ca.cert }, dnsHost.url).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "tls" });
    expect((err as Error).message).toMatch(/ALTNAME|not trusted/i);
    expect(dnsHost.requests).toEqual([]);
  });

  test("pinned fingerprint: accepted without any CA", async () => {
    expect(await getAll({ fingerprint: fingerprint256(ipCert.cert) })).toEqual(["OpaqueRef:vm"]);
  });

  test("pinned fingerprint in lowercase without colons, among several pins", async () => {
    const fp = fingerprint256(ipCert.cert).replace(/:/g, "").toLowerCase();
    expect(await getAll({ fingerprint: `${"00".repeat(32)}, ${fp}` })).toEqual(["OpaqueRef:vm"]);
  });

  test("wrong pin: refused before the password is sent; the message shows the presented fingerprint", async () => {
    const err = await getAll({ fingerprint: fingerprint256(dnsOnlyCert.cert) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "XenTransportError", kind: "tls", causeCode: "XEN_TLS_FINGERPRINT_MISMATCH" });
    expect((err as Error).message).toContain(fingerprint256(ipCert.cert));
    expect(host.requests).toEqual([]);
  });

  test("a pin wins over a CA that would not verify the name", async () => {
    expect(await getAll({ caCert: otherCa.cert, fingerprint: fingerprint256(dnsOnlyCert.cert) }, dnsHost.url)).toEqual([
      "OpaqueRef:vm",
    ]);
  });

  test("insecure: explicit opt-out", async () => {
    expect(await getAll({ insecure: true })).toEqual(["OpaqueRef:vm"]);
  });

  test("a malformed fingerprint is a configuration error at construction", () => {
    expect(() => new XenApiClient({ url: host.url, username: "u", password: "p", fingerprint: "abc" })).toThrow(
      /invalid certificate fingerprint/,
    );
  });
});

test.each([
  ["AB:CD", false],
  ["sha256/" + "ab".repeat(32), true],
  ["AB ".repeat(32), true],
  ["ab".repeat(32), true],
  ["zz".repeat(32), false],
])("normalizeFingerprint(%j) valid=%s", (fp, ok) => {
  if (ok) expect(normalizeFingerprint(fp)).toBe(Array(32).fill("AB").join(":"));
  else expect(() => normalizeFingerprint(fp)).toThrow();
});

describe("verifyPeer", () => {
  const fp = Array(32).fill("AB").join(":");
  test.each([
    ["insecure accepts anything", { mode: "insecure", pins: [], authorized: false }, undefined],
    ["ca authorized", { mode: "ca", pins: [], authorized: true }, undefined],
    [
      "ca unauthorized",
      { mode: "ca", pins: [], authorized: false, authorizationError: "SELF_SIGNED" },
      "XEN_TLS_UNTRUSTED",
    ],
    [
      "pin match (even if unauthorized)",
      { mode: "fingerprint", pins: [fp], authorized: false, fingerprint: fp },
      undefined,
    ],
    [
      "pin mismatch (even if authorized)",
      { mode: "fingerprint", pins: ["00"], authorized: true, fingerprint: fp },
      "XEN_TLS_FINGERPRINT_MISMATCH",
    ],
    ["pin but no certificate", { mode: "fingerprint", pins: [fp], authorized: false }, "XEN_TLS_FINGERPRINT_MISMATCH"],
  ] as const)("%s", (_n, input, code) => {
    const r = verifyPeer({ ...input, pins: [...input.pins], host: "h" });
    expect(r?.code).toBe(code);
  });
});

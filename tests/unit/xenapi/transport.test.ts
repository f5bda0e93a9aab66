import {
  decodeRpcResponse,
  interpretHttpResponse,
  masterEndpoint,
  normalizeEndpoint,
  xapiFloat,
} from "../../../provider/xenapi";

test.each([
  [30, 30.01],
  [0, 0.01],
  [60.1, 60.1],
  [0.5, 0.5],
])("xapiFloat(%s) = %s (never a JSON integer literal)", (n, expected) => {
  expect(xapiFloat(n)).toBe(expected);
  expect(JSON.stringify(xapiFloat(n))).toContain(".");
});

test.each([
  ["https://xcp-1", "https://xcp-1"],
  ["https://xcp-1/", "https://xcp-1"],
  ["https://xcp-1:8443/jsonrpc", "https://xcp-1:8443"],
  ["https://xcp-1:443/", "https://xcp-1"],
  ["http://127.0.0.1:9000", "http://127.0.0.1:9000"],
  ["https://[fd00::1]/", "https://[fd00::1]"],
])("normalizeEndpoint(%s)", (url, expected) => {
  expect(normalizeEndpoint(url)).toBe(expected);
});

test.each([
  ["https://10.0.0.1", "10.0.0.2", "https://10.0.0.2"],
  ["https://xcp-1:8443", "10.0.0.2", "https://10.0.0.2:8443"],
  ["https://xcp-1", "fd00::2", "https://[fd00::2]"],
  ["https://xcp-1", " 10.0.0.3 ", "https://10.0.0.3"],
])("masterEndpoint(%s, %s)", (cur, addr, expected) => {
  expect(masterEndpoint(cur, addr)).toBe(expected);
});

describe("decodeRpcResponse", () => {
  const d = (body: unknown, id?: unknown) => () => decodeRpcResponse(body, "VM.get_all", "h", id);
  test.each([
    ["v2 success", { jsonrpc: "2.0", result: ["a"], id: 1 }, ["a"]],
    ["v1 success", { result: "", error: null, id: 1 }, ""],
    ["null result", { jsonrpc: "2.0", result: null, id: 1 }, null],
    ["XML-RPC style success", { Status: "Success", Value: "OpaqueRef:x" }, "OpaqueRef:x"],
  ])("%s", (_n, body, expected) => {
    expect(d(body, 1)()).toEqual(expected);
  });

  test.each([
    [
      "v1 error",
      { result: null, error: ["VM_BAD_POWER_STATE", "r", "halted", "running"], id: 1 },
      "VM_BAD_POWER_STATE",
      ["r", "halted", "running"],
    ],
    [
      "v2 error",
      { jsonrpc: "2.0", error: { code: 1, message: "HANDLE_INVALID", data: ["VM", "r"] }, id: 1 },
      "HANDLE_INVALID",
      ["VM", "r"],
    ],
    [
      "v2 error without data",
      { jsonrpc: "2.0", error: { code: 1, message: "NO_HOSTS_AVAILABLE" }, id: 1 },
      "NO_HOSTS_AVAILABLE",
      [],
    ],
    [
      "XML-RPC style failure",
      { Status: "Failure", ErrorDescription: ["SESSION_INVALID", "x"] },
      "SESSION_INVALID",
      ["OpaqueRef:<redacted-session>"],
    ],
  ])("%s -> XenApiError", (_n, body, code, params) => {
    expect(d(body)).toThrow(
      expect.objectContaining({ name: "XenApiError", code, params, method: "VM.get_all", host: "h" }),
    );
  });

  test.each([
    ["array body", [1, 2]],
    ["string body", "hello"],
    ["no result", { jsonrpc: "2.0", id: 1 }],
    ["empty error array", { error: [], id: 1 }],
    ["numeric error", { error: 42, id: 1 }],
    ["id mismatch", { jsonrpc: "2.0", result: 1, id: 99 }],
  ])("%s -> malformed", (_n, body) => {
    expect(d(body, 1)).toThrow(expect.objectContaining({ name: "XenTransportError", kind: "malformed" }));
  });
});

describe("interpretHttpResponse", () => {
  const base = { method: "VM.get_all", host: "h", id: 1 };
  test.each([
    [
      500,
      "text/html",
      "<html><body>Jsonrpc.Malformed_method_request</body></html>",
      "http-status",
      /HTTP 500.*Malformed_method_request/,
    ],
    [404, "text/html", "<html>Not found</html>", "http-status", /no \/jsonrpc endpoint/],
    [401, "text/plain", "denied", "http-status", /access denied/],
    [502, "text/html", "<html>Bad gateway</html>", "http-status", /restarting/],
    [200, "text/xml", "<?xml version='1.0'?><methodResponse/>", "malformed", /XML instead of JSON/],
    [200, "", "<methodResponse></methodResponse>", "malformed", /XML instead of JSON/],
    [200, "text/html", "<html>portal</html>", "malformed", /HTML page/],
    [200, "application/json", '{"jsonrpc":"2.0","res', "malformed", /truncated JSON/],
    [200, "application/json", "", "malformed", /empty body/],
  ])("%s %s -> %s", (status, contentType, body, kind, message) => {
    expect(() => interpretHttpResponse({ ...base, status, contentType, body })).toThrow(
      expect.objectContaining({ kind, message: expect.stringMatching(message) }),
    );
  });

  test("a JSON body without content-type is accepted", () => {
    expect(
      interpretHttpResponse({ ...base, status: 200, contentType: "", body: '{"jsonrpc":"2.0","result":[],"id":1}' }),
    ).toEqual([]);
  });

  test("long HTML bodies are cut in messages", () => {
    const body = `<html><script>x()</script><body>${"word ".repeat(500)}</body></html>`;
    try {
      interpretHttpResponse({ ...base, status: 500, contentType: "text/html", body });
      throw new Error("no throw");
    } catch (e) {
      expect((e as Error).message.length).toBeLessThan(600);
      expect((e as Error).message).not.toContain("x()");
    }
  });
});

import { REDACTED, REDACTED_SESSION_REF, redact, redactParams } from "../../../provider/xenapi";

describe("redact", () => {
  test.each([
    ["plain string", "hello", {}, "hello"],
    ["number", 5, {}, 5],
    ["null", null, {}, null],
    ["password key", { username: "root", password: "pw" }, {}, { username: "root", password: REDACTED }],
    [
      "nested device_config",
      { device_config: { server: "nfs", cifspassword: "x" } },
      {},
      { device_config: { server: "nfs", cifspassword: REDACTED } },
    ],
    ["secret key", { client_secret: "s" }, {}, { client_secret: REDACTED }],
    ["session_id key", { session_id: "OpaqueRef:abc" }, {}, { session_id: REDACTED }],
    ["empty password stays empty", { password: "" }, {}, { password: "" }],
    [
      "known session ref by value",
      ["OpaqueRef:s1", "OpaqueRef:vm"],
      { secrets: ["OpaqueRef:s1"] },
      [REDACTED_SESSION_REF, "OpaqueRef:vm"],
    ],
    [
      "session ref inside a longer string",
      "SESSION_INVALID OpaqueRef:s1 gone",
      { secrets: ["OpaqueRef:s1"] },
      `SESSION_INVALID ${REDACTED_SESSION_REF} gone`,
    ],
    ["empty secret ignored", "abc", { secrets: [""] }, "abc"],
    ["date", new Date(0), {}, "1970-01-01T00:00:00.000Z"],
  ])("%s", (_name, input, opts, expected) => {
    expect(redact(input, opts)).toEqual(expected);
  });

  test("does not mutate its input and cuts cycles", () => {
    const input: Record<string, unknown> = { password: "pw", inner: { a: 1 } };
    input.self = input;
    const out = redact(input) as Record<string, unknown>;
    expect(input.password).toBe("pw");
    expect(out.password).toBe(REDACTED);
    expect(out.self).toBe("<cycle>");
  });
});

describe("redactParams", () => {
  test.each([
    ["session.login_with_password", ["root", "pw", "1.0", "tool"], ["root", REDACTED, "1.0", "tool"]],
    ["pool.join", ["10.0.0.1", "root", "pw"], ["10.0.0.1", "root", REDACTED]],
    ["Async.pool.join", ["10.0.0.1", "root", "pw"], ["10.0.0.1", "root", REDACTED]],
    ["session.change_password", ["old", "new"], [REDACTED, REDACTED]],
    ["VM.get_record", ["OpaqueRef:vm"], ["OpaqueRef:vm"]],
    [
      "SR.create",
      ["OpaqueRef:h", { server: "s", password: "p" }],
      ["OpaqueRef:h", { server: "s", password: REDACTED }],
    ],
  ])("%s", (method, params, expected) => {
    expect(redactParams(method, params)).toEqual(expected);
  });
});

import {
  XenApiError,
  XenTransportError,
  backoffDelay,
  isReadOnlyMethod,
  retryDecision,
  type TransportErrorKind,
} from "../../../provider/xenapi";

const api = (code: string, params: string[] = []) => new XenApiError({ code, params, method: "x", host: "h" });
const net = (kind: TransportErrorKind, extra: { causeCode?: string; status?: number } = {}) =>
  new XenTransportError({ kind, method: "x", host: "h", message: kind, ...extra });

describe("isReadOnlyMethod", () => {
  test.each([
    ["VM.get_record", true],
    ["VM.get_all_records", true],
    ["VM.get_all_records_where", true],
    ["VM.get_by_uuid", true],
    ["VM.get_by_name_label", true],
    ["host.get_vms_which_prevent_evacuation", true],
    ["VM.get_power_state", true],
    ["host.compute_free_memory", true],
    ["VM.assert_can_boot_here", true],
    ["pool.ha_compute_max_host_failures_to_tolerate", true],
    ["event.from", true],
    ["system.listMethods", true],
    ["session.login_with_password", true],
    ["VM.start", false],
    ["VM.set_name_label", false],
    ["VM.destroy", false],
    ["event.inject", false],
    ["task.cancel", false],
    ["session.logout", false],
    ["Async.VM.get_record", false],
    ["Async.VM.start", false],
    ["get_record", false],
    ["", false],
  ])("%s -> %s", (method, expected) => {
    expect(isReadOnlyMethod(method)).toBe(expected);
  });
});

describe("backoffDelay (exponential, full jitter)", () => {
  test.each([
    // attempt, random, opts, expected
    [1, 0.5, {}, 100],
    [2, 0.5, {}, 200],
    [3, 0.5, {}, 400],
    [1, 0, {}, 0],
    [1, 0.999, {}, 199],
    [10, 1, {}, 10_000], // capped
    [40, 0.5, {}, 5_000], // no overflow for large attempts
    [3, 0.5, { baseMs: 1000, capMs: 3000 }, 1500],
    [0, 0.5, {}, 100], // attempt < 1 counts as 1
    [Number.NaN, 0.5, {}, 100],
    [2, 2, {}, 400], // random clamped to [0, 1]
    [2, -1, {}, 0],
  ] as const)("attempt %s random %s %j -> %s", (attempt, r, opts, expected) => {
    expect(backoffDelay(attempt, { ...opts, random: () => r })).toBe(expected);
  });

  test("stays within [0, ceiling) with the default random", () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(4);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(1600);
    }
  });
});

describe("retryDecision", () => {
  const base = { attempt: 1, elapsedMs: 0, deadlineMs: 120_000, random: () => 0.5 };
  test.each([
    // name, method, error, overrides, expected
    ["read + reset", "VM.get_record", net("network", { causeCode: "ECONNRESET" }), {}, { retry: true, delayMs: 100 }],
    ["mutation + reset", "VM.destroy", net("network", { causeCode: "ECONNRESET" }), {}, { retry: false }],
    [
      "mutation + refused",
      "VM.destroy",
      net("network", { causeCode: "ECONNREFUSED" }),
      {},
      { retry: true, delayMs: 100 },
    ],
    ["mutation + DNS", "VM.start", net("network", { causeCode: "ENOTFOUND" }), {}, { retry: true, delayMs: 100 }],
    ["read + timeout", "VM.get_all", net("timeout"), {}, { retry: true, delayMs: 100 }],
    ["mutation + timeout", "VM.start", net("timeout"), {}, { retry: false }],
    ["Async mutation + timeout", "Async.VM.start", net("timeout"), {}, { retry: false }],
    [
      "read + truncated JSON",
      "VM.get_all",
      net("malformed", { causeCode: "INVALID_JSON" }),
      {},
      { retry: true, delayMs: 100 },
    ],
    ["read + HTML page", "VM.get_all", net("malformed"), {}, { retry: false }],
    ["mutation + truncated JSON", "VM.start", net("malformed", { causeCode: "INVALID_JSON" }), {}, { retry: false }],
    ["any + 503", "VM.start", net("http-status", { status: 503 }), {}, { retry: true, delayMs: 100 }],
    ["any + 500", "VM.get_all", net("http-status", { status: 500 }), {}, { retry: false }],
    ["tls never", "VM.get_all", net("tls"), {}, { retry: false }],
    ["aborted never", "VM.get_all", net("aborted"), {}, { retry: false }],
    ["too-large never", "VM.get_all_records", net("too-large"), {}, { retry: false }],
    [
      "busy mutation",
      "VM.clean_shutdown",
      api("OTHER_OPERATION_IN_PROGRESS", ["VM", "r", "start", "t"]),
      {},
      { retry: true, delayMs: 500 },
    ],
    ["busy async", "Async.VM.start", api("OTHER_OPERATION_IN_PROGRESS"), {}, { retry: true, delayMs: 500 }],
    ["too many tasks", "VM.start", api("TOO_MANY_PENDING_TASKS"), { attempt: 3 }, { retry: true, delayMs: 2000 }],
    ["busy min delay", "VM.start", api("TOO_MANY_PENDING_TASKS"), { random: () => 0 }, { retry: true, delayMs: 250 }],
    [
      "busy ignores attempt cap",
      "VM.start",
      api("OTHER_OPERATION_IN_PROGRESS"),
      { attempt: 50 },
      { retry: true, delayMs: 10_000 },
    ],
    ["other api error", "VM.get_record", api("HANDLE_INVALID", ["VM", "x"]), {}, { retry: false }],
    ["session invalid is not the policy's job", "VM.get_all", api("SESSION_INVALID"), {}, { retry: false }],
    ["auth failure", "session.login_with_password", api("SESSION_AUTHENTICATION_FAILED"), {}, { retry: false }],
    ["unknown error", "VM.get_all", new Error("boom"), {}, { retry: false }],
    ["non-error", "VM.get_all", "boom", {}, { retry: false }],
    ["deadline passed", "VM.get_all", net("timeout"), { elapsedMs: 120_000 }, { retry: false }],
    ["delay would cross deadline", "VM.get_all", net("timeout"), { elapsedMs: 119_950 }, { retry: false }],
    [
      "busy delay would cross deadline",
      "VM.start",
      api("OTHER_OPERATION_IN_PROGRESS"),
      { elapsedMs: 119_600 },
      { retry: false },
    ],
    ["transport attempt cap", "VM.get_all", net("timeout"), { attempt: 5 }, { retry: false }],
    [
      "custom attempt cap",
      "VM.get_all",
      net("timeout"),
      { attempt: 5, maxAttempts: 8 },
      { retry: true, delayMs: 1600 },
    ],
  ])("%s", (_name, method, error, overrides, expected) => {
    const d = retryDecision({ ...base, method, error, ...overrides });
    expect(d.retry).toBe(expected.retry);
    if (expected.retry && d.retry) {
      expect(d.delayMs).toBe((expected as { delayMs: number }).delayMs);
      expect(d.reason.length).toBeGreaterThan(0);
    }
  });

  test("recognises errors by name/code/kind after a process boundary (plain objects)", () => {
    const plainBusy = JSON.parse(
      JSON.stringify({ name: "XenApiError", code: "OTHER_OPERATION_IN_PROGRESS", params: [] }),
    );
    const plainTimeout = { name: "XenTransportError", kind: "timeout", message: "t" };
    expect(retryDecision({ ...base, method: "VM.start", error: plainBusy }).retry).toBe(true);
    expect(retryDecision({ ...base, method: "VM.get_all", error: plainTimeout }).retry).toBe(true);
  });
});

import {
  XenApiError,
  XenTransportError,
  describeErrorCode,
  isTransportError,
  isXenApiError,
} from "../../../provider/xenapi";

const msg = (code: string, params: string[], method = "VM.start") =>
  new XenApiError({ code, params, method, host: "10.0.0.1" }).message;

describe("XenApiError messages say which call, which host, the code and what the params mean", () => {
  test.each([
    [
      "HOST_NOT_ENOUGH_FREE_MEMORY",
      ["8589934592", "2147483648"],
      "VM.start",
      ["VM.start on 10.0.0.1", "HOST_NOT_ENOUGH_FREE_MEMORY", "needs 8.00 GiB", "only 2.00 GiB free"],
    ],
    // the dynamic-range path reports KiB (message_forwarding.ml)
    [
      "HOST_NOT_ENOUGH_FREE_MEMORY",
      ["4194304", "1048576"],
      "VM.set_memory_dynamic_range",
      ["needs 4.00 GiB", "only 1.00 GiB free"],
    ],
    ["HOST_NOT_ENOUGH_FREE_MEMORY", ["OpaqueRef:vm"], "host.evacuate", ["VM OpaqueRef:vm does not fit"]],
    ["VM_BAD_POWER_STATE", ["OpaqueRef:vm", "halted", "running"], "VM.start", ["must be halted", "but is running"]],
    [
      "RBAC_PERMISSION_DENIED",
      [
        "vm.start",
        "No permission in user session. (Roles with this permission: pool-admin, pool-operator, vm-operator)",
      ],
      "VM.start",
      ["permission 'vm.start'", "pool-admin, pool-operator, vm-operator", "holds one of these roles"],
    ],
    [
      "SESSION_AUTHENTICATION_FAILED",
      ["root", "Authentication failure"],
      "session.login_with_password",
      ["XEN_USERNAME / XEN_PASSWORD", "'root'"],
    ],
    ["SESSION_AUTHENTICATION_FAILED", [], "session.login_with_password", ["XEN_USERNAME / XEN_PASSWORD"]],
    ["NO_HOSTS_AVAILABLE", [], "VM.start", ["no host in the pool can run the VM", "free memory"]],
    ["VM_HVM_REQUIRED", ["OpaqueRef:vm"], "VM.start", ["VT-x/AMD-V", "OpaqueRef:vm"]],
    ["VM_LACKS_FEATURE", ["OpaqueRef:vm"], "VM.clean_shutdown", ["guest tools", "hard_shutdown"]],
    [
      "OTHER_OPERATION_IN_PROGRESS",
      ["VM", "OpaqueRef:vm", "clean_shutdown", "OpaqueRef:t"],
      "VM.start",
      ["VM OpaqueRef:vm is busy with 'clean_shutdown'", "task OpaqueRef:t"],
    ],
    ["HANDLE_INVALID", ["VM", "OpaqueRef:gone"], "VM.get_record", ["VM OpaqueRef:gone does not exist", "uuid"]],
    ["UUID_INVALID", ["VM", "1234"], "VM.get_by_uuid", ["no VM with uuid 1234"]],
    ["MESSAGE_METHOD_UNKNOWN", ["VM.frobnicate"], "VM.frobnicate", ["does not know VM.frobnicate"]],
    ["MESSAGE_PARAMETER_COUNT_MISMATCH", ["VM.start", "2", "1"], "VM.start", ["expects 2 parameters but got 1"]],
    ["VM_IS_TEMPLATE", ["OpaqueRef:t", "start"], "VM.start", ["is a template", "'start'"]],
    ["SR_FULL", ["21474836480", "10737418240"], "VDI.create", ["requested 20.00 GiB", "maximum 10.00 GiB"]],
    ["HOST_NOT_ENOUGH_PCPUS", ["8", "4"], "VM.start", ["wants 8 vCPUs", "only 4 physical CPUs"]],
    ["TASK_CANCELLED", ["OpaqueRef:t"], "Async.VM.start", ["task OpaqueRef:t was cancelled"]],
    // generic fallback: param names from the datamodel catalogue
    ["VM_REQUIRES_VGPU", ["OpaqueRef:vm", "OpaqueRef:g"], "VM.start", ["VM_REQUIRES_VGPU", "vm=OpaqueRef:vm"]],
    ["SOMETHING_NEW_FROM_2030", ["a", "b"], "VM.start", ["SOMETHING_NEW_FROM_2030", "param1=a", "param2=b"]],
  ])("%s %j", (code, params, method, includes) => {
    const m = msg(code, params, method);
    for (const s of includes) expect(m).toContain(s);
    expect(m).toContain(method);
    expect(m).toContain("10.0.0.1");
  });

  test("SESSION_INVALID never exposes the session ref", () => {
    const e = new XenApiError({
      code: "SESSION_INVALID",
      params: ["OpaqueRef:secret-session"],
      method: "VM.get_all",
      host: "h",
    });
    expect(e.message).not.toContain("secret-session");
    expect(e.params).toEqual(["OpaqueRef:<redacted-session>"]);
  });

  test("non-string params are stringified", () => {
    const e = new XenApiError({ code: "X", params: [1, { a: 1 }], method: "m", host: "h" });
    expect(e.params).toEqual(["1", '{"a":1}']);
  });

  test("task errors name the task", () => {
    const e = new XenApiError({
      code: "VM_HVM_REQUIRED",
      params: ["OpaqueRef:vm"],
      method: "Async.VM.start",
      host: "h",
      taskRef: "OpaqueRef:t",
    });
    expect(e.taskRef).toBe("OpaqueRef:t");
    expect(e.message).toContain("Async.VM.start (task OpaqueRef:t) on h");
  });
});

describe("type guards are duck-typed (errors cross process boundaries)", () => {
  const api = new XenApiError({ code: "HANDLE_INVALID", params: ["VM", "x"], method: "m", host: "h" });
  const tr = new XenTransportError({ kind: "timeout", method: "m", host: "h", message: "t" });
  test.each([
    ["instance", api, undefined, true],
    ["instance, right code", api, "HANDLE_INVALID", true],
    ["instance, wrong code", api, "UUID_INVALID", false],
    ["structured clone", structuredClone({ name: "XenApiError", code: "HANDLE_INVALID" }), "HANDLE_INVALID", true],
    ["JSON round trip", JSON.parse(JSON.stringify({ ...api, name: api.name })), "HANDLE_INVALID", true],
    ["plain Error", new Error("HANDLE_INVALID"), undefined, false],
    ["name without code", { name: "XenApiError" }, undefined, false],
    ["transport error", tr, undefined, false],
    ["null", null, undefined, false],
    ["string", "XenApiError", undefined, false],
  ])("isXenApiError: %s", (_n, e, code, expected) => {
    expect(isXenApiError(e, code)).toBe(expected);
  });

  test.each([
    ["instance", tr, undefined, true],
    ["right kind", tr, "timeout", true],
    ["wrong kind", tr, "network", false],
    ["plain object", { name: "XenTransportError", kind: "tls" }, "tls", true],
    ["api error", api, undefined, false],
    ["undefined", undefined, undefined, false],
  ])("isTransportError: %s", (_n, e, kind, expected) => {
    expect(isTransportError(e, kind)).toBe(expected);
  });

  test("literal names and instanceof Error", () => {
    expect(api.name).toBe("XenApiError");
    expect(tr.name).toBe("XenTransportError");
    expect(api).toBeInstanceOf(Error);
    expect(tr).toBeInstanceOf(Error);
  });
});

test("describeErrorCode reads the datamodel catalogue", () => {
  expect(describeErrorCode("VM_BAD_POWER_STATE")?.paramNames).toEqual(["vm", "expected", "actual"]);
  expect(describeErrorCode("toString")).toBeUndefined();
  expect(describeErrorCode("NOPE")).toBeUndefined();
});

import {
  ApplianceView,
  GateVm,
  VmOp,
  allowedOperations,
  applianceAllowedOperations,
  applianceGateFailure,
  checkOperation,
} from "../../../simulator/rules/gate";

const VM = "OpaqueRef:vm";
function vm(over: Partial<GateVm> = {}): GateVm {
  return {
    ref: VM,
    powerState: "Halted",
    blockedOperations: {},
    currentOperations: {},
    isTemplate: false,
    isDefaultTemplate: false,
    isSnapshot: false,
    isControlDomain: false,
    isDom0: false,
    immobile: false,
    bootedPv: false,
    pvDrivers: true,
    guestFeatures: {},
    ...over,
  };
}

const cases: { name: string; vm: Partial<GateVm>; op: VmOp; expected: string[] | null }[] = [
  { name: "start a halted VM", vm: {}, op: "start", expected: null },
  {
    name: "start a running VM",
    vm: { powerState: "Running" },
    op: "start",
    expected: ["VM_BAD_POWER_STATE", VM, "halted", "running"],
  },
  {
    name: "clean_shutdown a halted VM",
    vm: {},
    op: "clean_shutdown",
    expected: ["VM_BAD_POWER_STATE", VM, "running", "halted"],
  },
  {
    name: "hard_shutdown lists three states",
    vm: {},
    op: "hard_shutdown",
    expected: ["VM_BAD_POWER_STATE", VM, "paused, suspended, running", "halted"],
  },
  {
    name: "hard_reboot a suspended VM",
    vm: { powerState: "Suspended" },
    op: "hard_reboot",
    expected: ["VM_BAD_POWER_STATE", VM, "running", "suspended"],
  },
  { name: "destroy a suspended VM is allowed", vm: { powerState: "Suspended" }, op: "destroy", expected: null },
  {
    name: "destroy a running VM",
    vm: { powerState: "Running" },
    op: "destroy",
    expected: ["VM_BAD_POWER_STATE", VM, "halted, suspended", "running"],
  },
  {
    name: "unpause a running VM",
    vm: { powerState: "Running" },
    op: "unpause",
    expected: ["VM_BAD_POWER_STATE", VM, "paused", "running"],
  },
  { name: "resume a halted VM", vm: {}, op: "resume", expected: ["VM_BAD_POWER_STATE", VM, "suspended", "halted"] },
  {
    name: "blocked op wins over power state",
    vm: { powerState: "Running", blockedOperations: { start: "MY_CODE" } },
    op: "start",
    expected: ["OPERATION_BLOCKED", VM, "MY_CODE"],
  },
  {
    name: "another op in progress",
    vm: { currentOperations: { "OpaqueRef:t1": "start" } },
    op: "start",
    expected: ["OTHER_OPERATION_IN_PROGRESS", "VM", VM, "start", "OpaqueRef:t1"],
  },
  { name: "clone alongside copy", vm: { currentOperations: { "OpaqueRef:t1": "copy" } }, op: "clone", expected: null },
  {
    name: "hard_shutdown alongside clean_shutdown",
    vm: { powerState: "Running", currentOperations: { "OpaqueRef:t1": "clean_shutdown" } },
    op: "hard_shutdown",
    expected: null,
  },
  {
    name: "hard_shutdown alongside hard_shutdown",
    vm: { powerState: "Running", currentOperations: { "OpaqueRef:t1": "hard_shutdown" } },
    op: "hard_shutdown",
    expected: ["OTHER_OPERATION_IN_PROGRESS", "VM", VM, "hard_shutdown", "OpaqueRef:t1"],
  },
  {
    name: "power state checked before concurrency",
    vm: { currentOperations: { "OpaqueRef:t1": "start" } },
    op: "clean_shutdown",
    expected: ["VM_BAD_POWER_STATE", VM, "running", "halted"],
  },
  { name: "start a template", vm: { isTemplate: true }, op: "start", expected: ["VM_IS_TEMPLATE", VM, "start"] },
  { name: "clone a template", vm: { isTemplate: true, isDefaultTemplate: true }, op: "clone", expected: null },
  {
    name: "destroy a default template",
    vm: { isTemplate: true, isDefaultTemplate: true },
    op: "destroy",
    expected: ["VM_IS_TEMPLATE", VM, "destroy"],
  },
  { name: "destroy a custom template", vm: { isTemplate: true }, op: "destroy", expected: null },
  { name: "provision a VM", vm: {}, op: "provision", expected: ["PROVISION_ONLY_ALLOWED_ON_TEMPLATE"] },
  {
    name: "suspend an immobile VM",
    vm: { powerState: "Running", immobile: true },
    op: "suspend",
    expected: ["VM_IS_IMMOBILE", VM],
  },
  { name: "snapshot may not start", vm: { isSnapshot: true }, op: "start", expected: ["VM_IS_SNAPSHOT", VM, "start"] },
  {
    name: "control domain hard_shutdown",
    vm: { powerState: "Running", isControlDomain: true, isDom0: true },
    op: "hard_shutdown",
    expected: ["OPERATION_NOT_ALLOWED", "This operation is not allowed on a control domain"],
  },
  {
    name: "HVM without PV drivers cannot clean_shutdown",
    vm: { powerState: "Running", pvDrivers: false },
    op: "clean_shutdown",
    expected: ["VM_LACKS_FEATURE", VM],
  },
  {
    name: "HVM without PV drivers can hard_shutdown",
    vm: { powerState: "Running", pvDrivers: false },
    op: "hard_shutdown",
    expected: null,
  },
  {
    name: "feature-shutdown is enough",
    vm: { powerState: "Running", pvDrivers: false, guestFeatures: { "feature-shutdown": "1" } },
    op: "clean_shutdown",
    expected: null,
  },
  {
    name: "booted PV skips feature checks",
    vm: { powerState: "Running", pvDrivers: false, bootedPv: true },
    op: "suspend",
    expected: null,
  },
  {
    name: "VCPU hotplug needs the feature",
    vm: { powerState: "Running", pvDrivers: false },
    op: "changing_VCPUs_live",
    expected: ["VM_LACKS_FEATURE", VM],
  },
  {
    name: "non-suspendable guest",
    vm: {
      powerState: "Running",
      pvDrivers: false,
      guestFeatures: { "feature-suspend": "1", "data-cant-suspend-reason": "PCI" },
    },
    op: "suspend",
    expected: ["VM_NON_SUSPENDABLE", VM, "PCI"],
  },
  {
    name: "a blocked operation is refused before its power state is looked at",
    vm: { powerState: "Running", blockedOperations: { destroy: "keep" } },
    op: "destroy",
    expected: ["OPERATION_BLOCKED", VM, "keep"],
  },
  {
    name: "VM.shutdown's own operation: paused, suspended or running",
    vm: {},
    op: "shutdown",
    expected: ["VM_BAD_POWER_STATE", VM, "paused, suspended, running", "halted"],
  },
  {
    name: "shutdown is blocked by its own key only",
    vm: { powerState: "Running", blockedOperations: { clean_shutdown: "x", hard_shutdown: "y" } },
    op: "shutdown",
    expected: null,
  },
  {
    name: "the reverted VM, in any power state",
    vm: { powerState: "Running" },
    op: "reverting",
    expected: null,
  },
  {
    name: "an appliance's member cannot become a template",
    vm: { appliance: "OpaqueRef:app" },
    op: "make_into_template",
    expected: ["VM_IS_PART_OF_AN_APPLIANCE", VM, "OpaqueRef:app"],
  },
];

describe("VM operation gate (check_operation_error order)", () => {
  test.each(cases)("$name", ({ vm: over, op, expected }) => {
    const err = checkOperation(vm(over), op);
    expect(err === null ? null : err.toArray()).toEqual(expected);
  });
});

describe("allowed_operations", () => {
  test("halted VM matches the XenAPI table", () => {
    expect(allowedOperations(vm()).sort()).toEqual(
      [
        "start",
        "start_on",
        "clone",
        "copy",
        "destroy",
        "export",
        "snapshot",
        "make_into_template",
        "migrate_send",
        "changing_dynamic_range",
        "changing_static_range",
        "changing_shadow_memory",
        "changing_NVRAM",
        "create_vtpm",
        "metadata_export",
      ].sort(),
    );
  });
  test("running VM with PV drivers", () => {
    expect(allowedOperations(vm({ powerState: "Running" })).sort()).toEqual(
      [
        "clean_shutdown",
        "clean_reboot",
        "hard_shutdown",
        "hard_reboot",
        "suspend",
        "pause",
        "pool_migrate",
        "migrate_send",
        "checkpoint",
        "snapshot",
        "changing_dynamic_range",
        "changing_VCPUs_live",
        "metadata_export",
      ].sort(),
    );
  });
  test("running HVM guest without drivers loses the cooperative ops", () => {
    const ops = allowedOperations(vm({ powerState: "Running", pvDrivers: false }));
    expect(ops).not.toContain("clean_shutdown");
    expect(ops).not.toContain("suspend");
    expect(ops).toContain("hard_shutdown");
  });
  test("paused and suspended", () => {
    expect(allowedOperations(vm({ powerState: "Paused" })).sort()).toEqual(
      ["unpause", "hard_shutdown", "hard_reboot", "checkpoint", "snapshot", "metadata_export"].sort(),
    );
    expect(allowedOperations(vm({ powerState: "Suspended" })).sort()).toEqual(
      [
        "resume",
        "resume_on",
        "hard_shutdown",
        "destroy",
        "export",
        "checkpoint",
        "snapshot",
        "migrate_send",
        "metadata_export",
      ].sort(),
    );
  });
});

describe("VM_appliance gate (xapi_vm_appliance_lifecycle.ml)", () => {
  const app = (powerStates: ApplianceView["powerStates"], currentOperations = {}): ApplianceView => ({
    ref: "OpaqueRef:app",
    powerStates,
    currentOperations,
  });
  test.each([
    { name: "no VMs", a: app([]), ops: [] },
    { name: "all halted", a: app(["Halted", "Halted"]), ops: ["start"] },
    { name: "all running", a: app(["Running"]), ops: ["clean_shutdown", "hard_shutdown", "shutdown"] },
    { name: "paused and halted", a: app(["Paused", "Halted"]), ops: ["start", "hard_shutdown", "shutdown"] },
    { name: "busy", a: app(["Halted"], { "OpaqueRef:t": "start" }), ops: [] },
  ])("allowed_operations: $name", ({ a, ops }) => {
    expect(applianceAllowedOperations(a)).toEqual(ops);
  });
  test("errors name the reason", () => {
    expect(applianceGateFailure(app([]), "start")).toEqual(["OPERATION_NOT_ALLOWED", "Appliance has no VMs."]);
    expect(applianceGateFailure(app(["Running"]), "start")).toEqual([
      "OPERATION_NOT_ALLOWED",
      "There are no halted VMs in this appliance.",
    ]);
    expect(applianceGateFailure(app(["Halted"], { "OpaqueRef:t": "clean_shutdown" }), "start")).toEqual([
      "OTHER_OPERATION_IN_PROGRESS",
      "VM_appliance",
      "OpaqueRef:app",
      "clean_shutdown",
      "OpaqueRef:t",
    ]);
  });
});

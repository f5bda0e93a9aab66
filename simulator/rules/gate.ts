import { ENUMS, type EnumValue } from "../../xenapi-model/classes";
import { XenApiError, fail } from "../errors";

/**
 * The VM operation gate, xapi's `check_operation_error` (xapi_vm_lifecycle.ml): pure, ordered checks whose
 * first failure wins. `allowedOperations` runs the same checks over every advertised op.
 */

export const VM_OPS = [
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
  "changing_memory_limits",
  "changing_shadow_memory",
  "changing_NVRAM",
  "changing_VCPUs",
  "changing_VCPUs_live",
  "create_vtpm",
  "metadata_export",
  "clean_shutdown",
  "clean_reboot",
  "hard_shutdown",
  "hard_reboot",
  "suspend",
  "pause",
  "unpause",
  "resume",
  "resume_on",
  "pool_migrate",
  "checkpoint",
  "provision",
  "revert",
  "power_state_reset",
  // VM.shutdown's own op (clean, falling back to hard) and the reverted VM's during VM.revert: never advertised.
  "shutdown",
  "reverting",
] as const;
export type VmOp = (typeof VM_OPS)[number];

/** Ops listed in `allowed_operations` (the §3.1 table); other ops are checked but not advertised. */
const ADVERTISED: readonly VmOp[] = [
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
  "clean_shutdown",
  "clean_reboot",
  "hard_shutdown",
  "hard_reboot",
  "suspend",
  "pause",
  "unpause",
  "resume",
  "resume_on",
  "pool_migrate",
  "checkpoint",
  "changing_VCPUs_live",
  "provision",
];

type Power = EnumValue<"vm_power_state">;
const ANY: Power[] = [...ENUMS.vm_power_state];

/** xapi `allowed_power_states`. */
export function allowedPowerStates(op: VmOp, opts: { controlDomain: boolean; snapshot: boolean }): Power[] {
  switch (op) {
    case "start":
    case "start_on":
    case "provision":
    case "make_into_template":
      return ["Halted"];
    case "changing_VCPUs":
    case "changing_static_range":
    case "changing_memory_limits":
      return opts.controlDomain ? ["Halted", "Running"] : ["Halted"];
    case "clone":
    case "copy":
      return opts.snapshot ? ["Halted", "Suspended"] : ["Halted"];
    case "destroy":
    case "export":
      return ["Halted", "Suspended"];
    case "clean_shutdown":
    case "clean_reboot":
    case "suspend":
    case "pause":
    case "pool_migrate":
    case "changing_VCPUs_live":
      return ["Running"];
    case "unpause":
      return ["Paused"];
    case "resume":
    case "resume_on":
      return ["Suspended"];
    case "hard_shutdown":
    case "shutdown":
    case "checkpoint":
      return ["Paused", "Suspended", "Running"];
    case "hard_reboot":
      return ["Paused", "Running"];
    case "changing_dynamic_range":
      return ["Halted", "Running"];
    case "migrate_send":
      return ["Halted", "Suspended", "Running"];
    case "changing_shadow_memory":
    case "changing_NVRAM":
    case "create_vtpm":
      return ["Halted"];
    default:
      return ANY;
  }
}

/** What the gate needs to know about a VM; built from the record by the model. */
export interface GateVm {
  ref: string;
  powerState: Power;
  blockedOperations: Record<string, string>;
  currentOperations: Record<string, string>;
  isTemplate: boolean;
  isDefaultTemplate: boolean;
  isSnapshot: boolean;
  isControlDomain: boolean;
  isDom0: boolean;
  immobile: boolean;
  /** booted PV (VM_metrics.current_domain_type = pv) */
  bootedPv: boolean;
  pvDrivers: boolean;
  /** VM_guest_metrics.other, where feature-* flags live */
  guestFeatures: Record<string, string>;
  /** how many vTPMs the VM has (absent: none) */
  vtpms?: number;
  /** the VM's appliance, when it is a valid one */
  appliance?: string;
}

const TEMPLATE_OK = new Set<VmOp>([
  "changing_dynamic_range",
  "changing_static_range",
  "changing_memory_limits",
  "changing_shadow_memory",
  "changing_VCPUs",
  "changing_NVRAM",
  "clone",
  "copy",
  "export",
  "metadata_export",
  "provision",
]);
const SNAPSHOT_OK = new Set<VmOp>(["revert", "clone", "copy", "export", "destroy", "hard_shutdown", "metadata_export"]);

/** Which ops may run alongside which (§3.1 step 3). */
export function canRunAlongside(op: string, running: string[]): boolean {
  if (running.length === 0) return true;
  const inSet = (s: string[]) => running.every((r) => s.includes(r));
  if (["clone", "copy", "export"].includes(op)) return inSet(["clone", "copy", "export"]);
  if (["snapshot", "checkpoint"].includes(op)) return inSet(["snapshot", "checkpoint"]);
  if (op === "hard_shutdown") return !running.includes("hard_shutdown");
  if (op === "hard_reboot") return !running.some((r) => r === "hard_shutdown" || r === "hard_reboot");
  return false;
}

function has(f: Record<string, string>, k: string): boolean {
  const v = f[k];
  return v !== undefined && v !== "0";
}

const failure = (code: string, ...params: unknown[]): string[] => [code, ...params.map(String)];

/** The gate as `[code, ...params]` (cheap: no Error object, so allowed_operations can run it for every op). */
export function gateFailure(vm: GateVm, op: VmOp): string[] | null {
  // 1. blocked_operations
  const blocked = vm.blockedOperations[op];
  if (blocked !== undefined) return failure("OPERATION_BLOCKED", vm.ref, blocked);
  // 2. power state (lower case, ", "-joined)
  const states = allowedPowerStates(op, { controlDomain: vm.isControlDomain, snapshot: vm.isSnapshot });
  if (!states.includes(vm.powerState)) {
    // hard_reboot's forwarder asserts "running" on its own (XENAPI.md §3.2), though Paused is also accepted.
    const expected = op === "hard_reboot" ? "running" : states.map((s) => s.toLowerCase()).join(", ");
    return failure("VM_BAD_POWER_STATE", vm.ref, expected, vm.powerState.toLowerCase());
  }
  // 3. concurrent operations
  const running = Object.entries(vm.currentOperations);
  if (
    running.length > 0 &&
    !canRunAlongside(
      op,
      running.map(([, o]) => o),
    )
  ) {
    const [task, other] = running[0]!;
    return failure("OTHER_OPERATION_IN_PROGRESS", "VM", vm.ref, other, task);
  }
  // 4. templates
  if (vm.isTemplate && !vm.isSnapshot) {
    const ok = TEMPLATE_OK.has(op) || ((op === "destroy" || op === "migrate_send") && !vm.isDefaultTemplate);
    if (!ok) return failure("VM_IS_TEMPLATE", vm.ref, op);
  }
  // 5. snapshots
  if (vm.isSnapshot && !SNAPSHOT_OK.has(op)) return failure("VM_IS_SNAPSHOT", vm.ref, op);
  // 6. template/snapshot-only ops
  if (op === "provision" && !vm.isTemplate) return failure("PROVISION_ONLY_ALLOWED_ON_TEMPLATE");
  if (op === "revert" && !vm.isSnapshot) return failure("REVERT_ONLY_ALLOWED_ON_SNAPSHOT");
  // 7. immobile
  if (vm.immobile && ["suspend", "checkpoint", "pool_migrate", "migrate_send"].includes(op))
    return failure("VM_IS_IMMOBILE", vm.ref);
  // 8. control domains
  if (vm.isControlDomain) {
    if (vm.isDom0 && (op === "destroy" || op === "changing_VCPUs"))
      return failure("OPERATION_NOT_ALLOWED", "This operation is not allowed on dom0");
    const okForCd = [
      "changing_dynamic_range",
      "changing_static_range",
      "changing_memory_limits",
      "changing_VCPUs",
      "metadata_export",
      "snapshot",
    ];
    if (!okForCd.includes(op))
      return failure("OPERATION_NOT_ALLOWED", "This operation is not allowed on a control domain");
  }
  // 9. guest features: only for a live VM not booted PV and without PV drivers
  const live = vm.powerState === "Running" || vm.powerState === "Paused";
  if (live && !vm.bootedPv && !vm.pvDrivers) {
    const f = vm.guestFeatures;
    const lacks =
      (op === "clean_shutdown" && !has(f, "feature-shutdown") && !has(f, "feature-poweroff")) ||
      (op === "clean_reboot" && !has(f, "feature-shutdown") && !has(f, "feature-reboot")) ||
      (op === "changing_VCPUs_live" && !has(f, "feature-vcpu-hotplug")) ||
      (["suspend", "checkpoint", "pool_migrate", "migrate_send"].includes(op) && !has(f, "feature-suspend"));
    if (lacks) return failure("VM_LACKS_FEATURE", vm.ref);
    const reason = f["data-cant-suspend-reason"];
    if (reason && ["suspend", "checkpoint", "pool_migrate", "migrate_send"].includes(op))
      return failure("VM_NON_SUSPENDABLE", vm.ref, reason);
  }
  // 10. an appliance's member cannot become a template (check_appliance)
  if (vm.appliance !== undefined && op === "make_into_template")
    return failure("VM_IS_PART_OF_AN_APPLIANCE", vm.ref, vm.appliance);
  // 11. one vTPM per VM (the gate's last check in xapi_vm_lifecycle.ml)
  if (op === "create_vtpm" && (vm.vtpms ?? 0) > 0) return failure("VTPM_MAX_AMOUNT_REACHED", vm.vtpms);
  return null;
}

export function checkOperation(vm: GateVm, op: VmOp): XenApiError | null {
  const f = gateFailure(vm, op);
  return f ? fail(f[0]!, ...f.slice(1)) : null;
}

export function allowedOperations(vm: GateVm): VmOp[] {
  return ADVERTISED.filter((op) => gateFailure(vm, op) === null);
}

// ---- VM_appliance ----------------------------------------------------------------------------------------------

export const APPLIANCE_OPS = ["start", "clean_shutdown", "hard_shutdown", "shutdown"] as const;
export type ApplianceOp = (typeof APPLIANCE_OPS)[number];

/** What the appliance gate needs to know; built by the model. */
export interface ApplianceView {
  ref: string;
  currentOperations: Record<string, string>;
  /** the power states of its VMs */
  powerStates: Power[];
}

/**
 * xapi_vm_appliance_lifecycle.ml check_operation_error: one operation at a time; an appliance without VMs allows
 * nothing; an operation needs at least one VM it makes sense for.
 */
export function applianceGateFailure(a: ApplianceView, op: ApplianceOp): string[] | null {
  const running = Object.entries(a.currentOperations);
  if (running.length > 0) {
    const [task, other] = running[0]!;
    return failure("OTHER_OPERATION_IN_PROGRESS", "VM_appliance", a.ref, other, task);
  }
  if (a.powerStates.length === 0) return failure("OPERATION_NOT_ALLOWED", "Appliance has no VMs.");
  const [ok, why]: [(p: Power) => boolean, string] =
    op === "start"
      ? [(p) => p === "Halted", "There are no halted VMs in this appliance."]
      : op === "clean_shutdown"
        ? [(p) => p === "Running", "There are no running VMs in this appliance."]
        : [(p) => p !== "Halted", "All VMs in this appliance are halted."];
  return a.powerStates.some(ok) ? null : failure("OPERATION_NOT_ALLOWED", why);
}

export function applianceAllowedOperations(a: ApplianceView): ApplianceOp[] {
  return APPLIANCE_OPS.filter((op) => applianceGateFailure(a, op) === null);
}

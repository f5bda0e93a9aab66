/**
 * The two error families of the XenAPI layer.
 *
 * - {@link XenApiError}: the host answered and said no (`[CODE, ...params]` on the wire, either JSON-RPC shape,
 *   or a task's `error_info`).
 * - {@link XenTransportError}: we could not get a usable answer (network, timeout, HTTP status, TLS, malformed body,
 *   abort, oversized body).
 *
 * Both are recognised by `name` (and `code`/`kind`), not only by `instanceof`: Pulumi runs providers in another
 * process and errors may be serialised on the way.
 */
import { ERROR_CATALOG } from "../../xenapi-model/errors";

export const TRANSPORT_ERROR_KINDS = [
  "network",
  "timeout",
  "http-status",
  "tls",
  "malformed",
  "aborted",
  "too-large",
] as const;
export type TransportErrorKind = (typeof TRANSPORT_ERROR_KINDS)[number];

const GIB = 1024 * 1024 * 1024;

/** Session refs are bearer credentials; never put one into a message. */
const REDACTED_SESSION = "OpaqueRef:<redacted-session>";

export interface XenApiErrorInit {
  code: string;
  params?: readonly unknown[];
  method: string;
  host: string;
  /** Set when the error came from a task's `error_info`. */
  taskRef?: string;
}

/** An error reported by XAPI itself: `code` is the XenAPI error code, `params` its string parameters. */
export class XenApiError extends Error {
  override readonly name = "XenApiError" as const;
  readonly code: string;
  readonly params: string[];
  /** The call that failed, e.g. `VM.start` or `Async.VM.start`. */
  readonly method: string;
  /** The host (host[:port]) that answered. */
  readonly host: string;
  readonly taskRef?: string;

  constructor(init: XenApiErrorInit) {
    const params = (init.params ?? []).map((p) => (typeof p === "string" ? p : JSON.stringify(p)));
    // SESSION_INVALID echoes the (dead) session handle; keep it out of messages, logs and state files.
    const safeParams = init.code === "SESSION_INVALID" ? params.map(() => REDACTED_SESSION) : params;
    super(formatXenApiMessage(init.code, safeParams, init.method, init.host, init.taskRef));
    this.code = init.code;
    this.params = safeParams;
    this.method = init.method;
    this.host = init.host;
    if (init.taskRef !== undefined) this.taskRef = init.taskRef;
  }
}

export interface XenTransportErrorInit {
  kind: TransportErrorKind;
  method: string;
  host: string;
  message: string;
  status?: number;
  /** Low-level error code (`ECONNRESET`, `DEPTH_ZERO_SELF_SIGNED_CERT`, ...) when there is one. */
  causeCode?: string;
  cause?: unknown;
  /** Set when waiting for a task timed out. */
  taskRef?: string;
}

/** We did not get a usable XenAPI answer. `kind` says why; the message says what to check. */
export class XenTransportError extends Error {
  override readonly name = "XenTransportError" as const;
  readonly kind: TransportErrorKind;
  readonly method: string;
  readonly host: string;
  readonly status?: number;
  readonly causeCode?: string;
  readonly taskRef?: string;

  constructor(init: XenTransportErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.method = init.method;
    this.host = init.host;
    if (init.status !== undefined) this.status = init.status;
    if (init.causeCode !== undefined) this.causeCode = init.causeCode;
    if (init.taskRef !== undefined) this.taskRef = init.taskRef;
  }
}

function hasName(e: unknown, name: string): e is Record<string, unknown> {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === name;
}

/** True for a XenApiError (by `name` + string `code`, so it works across process boundaries), optionally of `code`. */
export function isXenApiError(e: unknown, code?: string): e is XenApiError {
  if (!hasName(e, "XenApiError") || typeof e.code !== "string") return false;
  return code === undefined || e.code === code;
}

/** True for a XenTransportError (duck-typed on `name` + `kind`), optionally of `kind`. */
export function isTransportError(e: unknown, kind?: TransportErrorKind | string): e is XenTransportError {
  if (!hasName(e, "XenTransportError") || typeof e.kind !== "string") return false;
  return kind === undefined || e.kind === kind;
}

/** Parameter names and description of a XenAPI error code, if the datamodel knows it. */
export function describeErrorCode(code: string): { paramNames: string[]; description: string } | undefined {
  const entry = Object.prototype.hasOwnProperty.call(ERROR_CATALOG, code) ? ERROR_CATALOG[code] : undefined;
  return entry ? { paramNames: [...entry[0]], description: entry[1] } : undefined;
}

function gib(value: string, unitBytes: number): string {
  const n = Number(value);
  if (!Number.isFinite(n)) return value;
  return `${((n * unitBytes) / GIB).toFixed(2)} GiB`;
}

function rolesFromRbacMessage(message: string | undefined): string[] {
  // rbac.ml: "No permission in user session. (Roles with this permission: pool-admin, pool-operator)"
  const m = /Roles with this permission:\s*([^)]*)\)?/i.exec(message ?? "");
  if (!m) return [];
  return m[1]
    .split(/[,\s]+/)
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
}

/** Plain-language explanation of the params for the codes people actually hit. */
function explain(code: string, p: string[], method: string): string | undefined {
  switch (code) {
    case "HOST_NOT_ENOUGH_FREE_MEMORY": {
      if (p.length >= 2) {
        // message_forwarding.ml reserve_memory_for_dynamic_change reports KiB, everything else bytes.
        const unit = /set_memory_dynamic/.test(method) ? 1024 : 1;
        return `the operation needs ${gib(p[0], unit)} but the host has only ${gib(p[1], unit)} free. Free memory (stop or migrate other VMs), lower the VM's memory, or choose another host.`;
      }
      if (p.length === 1) return `VM ${p[0]} does not fit into the free memory of any other host.`;
      return "not enough free memory on the host.";
    }
    case "VM_BAD_POWER_STATE":
      return `VM ${p[0] ?? "?"} must be ${p[1] || "?"} for this operation but is ${p[2] || "?"}.`;
    case "RBAC_PERMISSION_DENIED": {
      const roles = rolesFromRbacMessage(p[1]);
      const who = roles.length > 0 ? ` Roles with this permission: ${roles.join(", ")}.` : "";
      return `the session's user lacks permission '${p[0] ?? "?"}'.${who} Log in with an account that holds one of these roles.`;
    }
    case "SESSION_AUTHENTICATION_FAILED":
      return `login${p[0] ? ` as '${p[0]}'` : ""} was rejected${p[1] ? ` (${p[1]})` : ""}: check XEN_USERNAME / XEN_PASSWORD (or the provider's username/password configuration).`;
    case "SESSION_AUTHORIZATION_FAILED":
      return `user '${p[0] ?? "?"}' authenticated but holds no role in this pool${p[1] ? ` (${p[1]})` : ""}: assign a role with subject.add_to_roles.`;
    case "SESSION_INVALID":
      return "the session expired or was logged out; a new login was attempted once.";
    case "HOST_IS_SLAVE":
      return `this host is a pool supporter; API calls must go to the coordinator at ${p[0] ?? "?"}.`;
    case "NO_HOSTS_AVAILABLE":
      return `no host in the pool can run ${p[0] ? `VM ${p[0]}` : "the VM"} right now: check free memory, that hosts are enabled and live, that its SRs and networks are reachable from them, and HVM support.`;
    case "VM_HVM_REQUIRED":
      return `VM ${p[0] ?? "?"} needs hardware virtualisation (HVM) but the host has no VT-x/AMD-V (no 'hvm' in host.capabilities): enable virtualisation in the firmware, choose another host, or use a PV domain type.`;
    case "VM_LACKS_FEATURE":
      return `VM ${p[0] ?? "?"} has no PV drivers / guest agent advertising the feature this operation needs: install the guest tools, or use the hard_* variant (hard_shutdown, hard_reboot).`;
    case "OTHER_OPERATION_IN_PROGRESS":
      return `${p[0] ?? "object"} ${p[1] ?? "?"} is busy with '${p[2] ?? "?"}'${p[3] ? ` (task ${p[3]})` : ""}; retry when it has finished.`;
    case "TOO_MANY_PENDING_TASKS":
      return "the host has too many pending tasks; retry later.";
    case "HANDLE_INVALID":
      return p.length >= 2
        ? `${p[0]} ${p[1]} does not exist (any more). Refs are not stable identifiers: look the object up by uuid.`
        : `${p[0] ?? "the reference"} does not exist (any more).`;
    case "UUID_INVALID":
      return `no ${p[0] ?? "object"} with uuid ${p[1] ?? "?"} exists.`;
    case "MESSAGE_METHOD_UNKNOWN":
      return `the host does not know ${p[0] ?? method}: its XenAPI version is probably older than this call requires.`;
    case "MESSAGE_PARAMETER_COUNT_MISMATCH":
      return `${p[0] ?? method} expects ${p[1] ?? "?"} parameters but got ${p[2] ?? "?"} (counts exclude the session).`;
    case "VM_IS_TEMPLATE":
      return `${p[0] ?? "the VM"} is a template${p[1] ? `; '${p[1]}' is not allowed on templates` : ""}: clone it first.`;
    case "VM_REQUIRES_SR":
      return `VM ${p[0] ?? "?"} needs SR ${p[1] ?? "?"}, which is not attached to the host.`;
    case "VM_REQUIRES_NETWORK":
      return `VM ${p[0] ?? "?"} needs network ${p[1] ?? "?"}, which has no PIF on the host.`;
    case "HOST_NOT_ENOUGH_PCPUS":
      return `the VM wants ${p[0] ?? "?"} vCPUs but the host has only ${p[1] ?? "?"} physical CPUs.`;
    case "HOST_DISABLED":
      return `host ${p[0] ?? "?"} is disabled (maintenance); enable it or choose another host.`;
    case "HOST_OFFLINE":
      return `host ${p[0] ?? "?"} is offline.`;
    case "LICENCE_RESTRICTION":
      return `the pool's licence does not include the feature '${p[0] ?? "?"}'.`;
    case "SR_FULL":
      return p.length >= 2 ? `the SR is full: requested ${gib(p[0], 1)}, maximum ${gib(p[1], 1)}.` : undefined;
    case "MEMORY_CONSTRAINT_VIOLATION_ORDER":
      return "memory settings must satisfy static_min <= dynamic_min <= dynamic_max <= static_max.";
    case "MEMORY_CONSTRAINT_VIOLATION_MAXPIN":
      return `dynamic memory must equal static_max here${p[0] ? ` (${p[0]})` : ""}.`;
    case "OPERATION_BLOCKED":
      return `the operation is blocked on ${p[0] ?? "the object"} by blocked_operations (code ${p[1] ?? "?"}).`;
    case "OPERATION_NOT_ALLOWED":
      return p[0] ? `${p[0]}.` : undefined;
    case "TASK_CANCELLED":
      return `task ${p[0] ?? "?"} was cancelled.`;
    case "HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN":
      return "HA could no longer restart protected VMs after host failures; free capacity or set pool.ha_allow_overcommit.";
    case "INTERNAL_ERROR":
      return p[0] ? `XAPI internal error: ${p[0]}` : undefined;
    default:
      return undefined;
  }
}

function genericDetail(code: string, p: string[]): string {
  const known = describeErrorCode(code);
  const names = known?.paramNames ?? [];
  const pairs = p.map((v, i) => `${names[i] ?? `param${i + 1}`}=${v}`);
  const args = pairs.length > 0 ? ` (${pairs.join(", ")})` : "";
  return `${args}${known ? `: ${known.description}` : ""}`;
}

/** `VM.start on 10.0.0.1 failed with VM_BAD_POWER_STATE: VM OpaqueRef:.. must be halted ...` */
export function formatXenApiMessage(
  code: string,
  params: string[],
  method: string,
  host: string,
  taskRef?: string,
): string {
  const where = `${method}${taskRef ? ` (task ${taskRef})` : ""} on ${host || "?"}`;
  const why = explain(code, params, method);
  if (why !== undefined) {
    const raw = params.length > 0 ? ` [${params.join(", ")}]` : "";
    return `${where} failed with ${code}: ${why}${code === "RBAC_PERMISSION_DENIED" ? "" : raw}`;
  }
  return `${where} failed with ${code}${genericDetail(code, params)}`;
}

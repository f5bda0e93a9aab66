/**
 * The VM planner: old state (outputs) + new checked inputs -> what must happen and how disruptive it is.
 * Pure: the executor turns the steps into XenAPI calls and decides nothing. The order of preference is always
 * in place, then live, then an explicit power transition, then a restart (only with allowRestart), then replace.
 *
 * Changes are planned for the power state the VM is in during them: Halted when it is halted or is being halted,
 * otherwise Running. A Suspended or Paused VM that needs its domain for a change is woken first and put back after,
 * so every change returns the VM to the power state the program asks for.
 */
import { UNKNOWN, type PowerState, type VmDisk, type VmInputs, type VmNetwork } from "../schema";
import { formatSize } from "../units";
import { planGuest, type GuestStep } from "./guest";
import { planProtection, protectionBlock, type ProtectionStep } from "./protection";
import { planDisks, planNics, type DeviceStep, type DevicePlanContext } from "./vm-devices";
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, powerPath, type PowerOp, type ShutdownPolicy } from "./power";

/** A disk as observed: `name` is always its key (see plan/devices.ts). */
export type ObservedDisk = Omit<VmDisk, "size"> & { name: string; size: number };
export type ObservedNic = VmNetwork & { name: string };

/** What the provider stores as outputs: the desired fields as last observed, plus what only Xen knows. */
export interface VmState extends Omit<VmInputs, "disks" | "networks"> {
  disks: ObservedDisk[];
  networks: ObservedNic[];
  uuid: string;
  residentOn: string;
  domainType: string;
  ipAddresses: string[];
  actualMemory: number;
  actualVcpus: number;
  /** VDI uuid per entry of `disks` (aligned with it). */
  diskUuids: string[];
  /** Keys of the disks whose SR declares VDI_RESIZE_ONLINE (they grow while attached). */
  onlineResizable?: string[];
  /** memory_static_min as observed: set_memory_limits must keep it at or below the new memory. */
  memoryStaticMin?: number;
  /**
   * Whether the guest has PV drivers (or is PV): without them XenAPI refuses vCPU hot-plug, device hot-plug and
   * live migration (VM_LACKS_FEATURE / VM_MISSING_PV_DRIVERS), so those changes need a restart instead.
   */
  pvDrivers?: boolean;
  /** Brought in by `pulumi import`: its template is recorded, never a reason to replace it. */
  imported?: boolean;
  /** The digest on the VM's cloud-init config drive ("" without one); see plan/guest.ts. */
  cloudInitDigest?: string;
  /** Whether the VM has a CD drive other than the config drive. */
  hasCdDrive?: boolean;
  /** Whether the VM belongs to an appliance (VM_appliance): its power is then the appliance's. */
  inAppliance?: boolean;
}

export const DISRUPTION = ["none", "live", "power", "restart", "replace"] as const;
export type Disruption = (typeof DISRUPTION)[number];

export type LimitsStep = {
  kind: "setLimits";
  vcpus: number;
  maxVcpus: number;
  memory: number;
  maxMemory: number;
  staticMin: number;
  /** Whether the memory limits differ from what the VM has (no setter for values that already hold). */
  setMemory: boolean;
  /**
   * The vCPU setters to call, in order: only those whose value differs; VCPUs_at_startup <= VCPUs_max must hold
   * after each call, so the max is raised first, or the start-up count lowered first.
   */
  vcpuCalls: Array<"max" | "startup">;
};

export type VmStep =
  | { kind: "set"; field: "nameLabel" | "description" | "haRestartPriority"; value: string }
  | { kind: "setTags"; value: string[] }
  | { kind: "setOtherConfig"; add: Record<string, string>; remove: string[] }
  | { kind: "setVcpusLive"; vcpus: number }
  | { kind: "setMemoryLive"; memory: number }
  | LimitsStep
  /** Shut down (as `shutdown` says), the inner steps while halted, then start on the same host (or `startOn`). */
  | { kind: "restart"; reason: string; shutdown: PowerOp[]; whileHalted: VmStep[]; startOn?: string }
  | { kind: "setAffinity"; host: string | undefined }
  | { kind: "migrate"; host: string }
  | { kind: "power"; from: PowerState; to: PowerState; ops: PowerOp[] }
  | DeviceStep
  | GuestStep
  | ProtectionStep;

export interface VmPlan {
  /** Properties that differ, in input order (for `changes` and the preview message). */
  changed: string[];
  /** Properties forcing a replacement (DiffResult.replaces). */
  replaces: string[];
  steps: VmStep[];
  disruption: Disruption;
  /** One line per decision, said out loud in preview. */
  reasons: string[];
  /** Set when the plan cannot or may not be carried out: the message names property, rule and way out. */
  blocked?: string;
}

const STATE_ONLY = [
  "allowRestart",
  "waitForIp",
  "timeouts",
  "shutdownTimeout",
  "ownershipKey",
  // How the VM was made: history once it exists.
  "template",
  "cloneMode",
  "cloudInitChangePolicy",
  "snapshotBeforeChange",
  "snapshotsKept",
] as const;

/** Steps that need the VM's domain running. */
const NEEDS_DOMAIN = new Set<VmStep["kind"]>(["setVcpusLive", "setMemoryLive", "migrate", "restart"]);

function isUnknown(v: unknown): boolean {
  return v === UNKNOWN || (Array.isArray(v) && v.includes(UNKNOWN));
}

export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameValue(x, bb[i]));
  }
  const ka = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return (
    ka.length === kb.length &&
    ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

function maxDisruption(steps: Disruption[]): Disruption {
  return steps.reduce<Disruption>((m, d) => (DISRUPTION.indexOf(d) > DISRUPTION.indexOf(m) ? d : m), "none");
}

export interface PlanContext {
  /** The VM was just made from its source (create): settings fixed once it has booted are still settings. */
  creating?: boolean;
}

export function planVm(old: VmState, newsWithUnknowns: VmInputs, context: PlanContext = {}): VmPlan {
  // Values not known until apply (outputs of other resources during preview) are planned as unchanged here and
  // reported as pending; the update plans them again with the real values, and enforces the restart rule then.
  const pending = (Object.keys(newsWithUnknowns) as (keyof VmInputs)[]).filter((k) =>
    containsUnknown(newsWithUnknowns[k]),
  );
  const news = { ...newsWithUnknowns } as Record<string, unknown>;
  for (const k of pending) news[k] = (old as unknown as Record<string, unknown>)[k];
  const plan = planKnown(old, news as unknown as VmInputs, context);
  if (pending.length === 0) return plan;
  return {
    ...plan,
    changed: [...new Set([...plan.changed, ...pending])],
    replaces: [...new Set([...plan.replaces, ...pending.filter((k) => k === "source" || k === "url")])],
    reasons: [...plan.reasons, `${pending.join(", ")}: known at apply time; planned then`],
  };
}

function containsUnknown(v: unknown): boolean {
  if (isUnknown(v)) return true;
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (v && typeof v === "object") return Object.values(v).some(containsUnknown);
  return false;
}

/** How a shutdown is done for this VM: clean unless the guest cannot, hard after `shutdownTimeout`. */
export function shutdownPolicy(vm: Pick<VmState, "pvDrivers" | "domainType">, news: Partial<VmInputs>): ShutdownPolicy {
  return {
    clean: vm.pvDrivers !== false || vm.domainType === "pv",
    hardAfterMs: news.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
  };
}

function planKnown(old: VmState, given: VmInputs, context: PlanContext): VmPlan {
  // A member of an appliance is started and stopped by its appliance (in order, with delays), not by itself.
  const news = old.inAppliance ? { ...given, powerState: old.powerState } : given;
  const changed: string[] = [];
  const replaces: string[] = [];
  const steps: VmStep[] = [];
  const levels: Disruption[] = [];
  const reasons: string[] = [];
  const restartWhy: string[] = [];
  const whileHalted: VmStep[] = [];
  const differs = (k: keyof VmInputs) => {
    const d = !sameValue((old as unknown as VmInputs)[k], news[k]);
    if (d) changed.push(k);
    return d;
  };

  // Identity: a different source (template, VM or snapshot), pool or adopted VM is a different machine.
  // An imported VM was not cloned here: its template is history, recorded with the next change, never diffed.
  if (old.imported !== true && differs("source")) {
    replaces.push("source");
    reasons.push(`source ${old.source} -> ${news.source}: a VM cannot change what it was made from, so it is replaced`);
  }
  if (differs("url")) {
    replaces.push("url");
    reasons.push(`url changed: the VM belongs to another pool, so it is replaced there`);
  }
  if (differs("adopt") && news.adopt !== undefined && news.adopt !== old.uuid) {
    replaces.push("adopt");
    reasons.push(`adopt ${news.adopt}: a different existing VM is brought under management in place of ${old.uuid}`);
  }
  // The power state during the changes: Halted when halted or being halted, else Running (woken if need be).
  const halting = news.powerState === "Halted" && old.powerState !== "Halted";
  const during: "Halted" | "Running" = old.powerState === "Halted" || halting ? "Halted" : "Running";
  const live = during === "Running";
  const guest = planGuest(old, news, live, context.creating);
  if (guest.replaces.length > 0) {
    replaces.push(...guest.replaces);
    reasons.push(...guest.reasons);
  }
  if (replaces.length > 0) {
    for (const k of Object.keys(news) as (keyof VmInputs)[])
      if (!changed.includes(k) && !sameValue((old as unknown as VmInputs)[k], news[k])) changed.push(k);
    return {
      changed: [...new Set([...changed, ...guest.changed])],
      replaces,
      steps: [],
      disruption: "replace",
      reasons,
    };
  }

  // In place: plain setters.
  for (const field of ["nameLabel", "description", "haRestartPriority"] as const) {
    if (differs(field)) {
      steps.push({ kind: "set", field, value: news[field] });
      levels.push("none");
    }
  }
  if (differs("tags")) {
    steps.push({ kind: "setTags", value: news.tags });
    levels.push("none");
  }
  if (differs("otherConfig")) {
    const add: Record<string, string> = {};
    for (const [k, v] of Object.entries(news.otherConfig)) if (old.otherConfig[k] !== v) add[k] = v;
    const remove = Object.keys(old.otherConfig).filter((k) => !(k in news.otherConfig));
    steps.push({ kind: "setOtherConfig", add, remove });
    levels.push("none");
  }
  for (const k of STATE_ONLY) differs(k);

  const powerChange = differs("powerState");
  const pvDrivers = old.pvDrivers !== false;
  const limitsFor = (): LimitsStep => {
    const staticMin = Math.min(old.memoryStaticMin ?? news.memory, news.memory);
    const order: Array<"max" | "startup"> = news.maxVcpus >= old.vcpus ? ["max", "startup"] : ["startup", "max"];
    return {
      kind: "setLimits",
      vcpus: news.vcpus,
      maxVcpus: news.maxVcpus,
      memory: news.memory,
      maxMemory: news.maxMemory,
      staticMin,
      setMemory: news.memory !== old.memory || news.maxMemory !== old.maxMemory || staticMin !== old.memoryStaticMin,
      vcpuCalls: order.filter((c) => (c === "max" ? news.maxVcpus !== old.maxVcpus : news.vcpus !== old.vcpus)),
    };
  };

  const cpuOrMem = [differs("vcpus"), differs("maxVcpus"), differs("memory"), differs("maxMemory")].some(Boolean);
  if (cpuOrMem) {
    if (!live) {
      steps.push(limitsFor());
      levels.push("none");
      reasons.push(`vcpus/memory set while the VM is halted`);
    } else {
      const before = restartWhy.length;
      if (news.maxVcpus !== old.maxVcpus)
        restartWhy.push(`maxVcpus ${old.maxVcpus} -> ${news.maxVcpus}: VCPUs_max can only change while halted`);
      if (news.maxMemory !== old.maxMemory)
        restartWhy.push(
          `maxMemory ${formatSize(old.maxMemory)} -> ${formatSize(news.maxMemory)}: the static memory maximum can only change while halted`,
        );
      if (news.vcpus !== old.vcpus && restartWhy.length === before && !pvDrivers)
        restartWhy.push(
          `vcpus ${old.vcpus} -> ${news.vcpus}: vCPU hot-plug needs PV drivers in the guest, which it does not report`,
        );
      if (restartWhy.length > before) {
        whileHalted.push(limitsFor());
        levels.push("restart");
      } else {
        if (news.vcpus !== old.vcpus) {
          steps.push({ kind: "setVcpusLive", vcpus: news.vcpus });
          levels.push("live");
          reasons.push(`vcpus ${old.vcpus} -> ${news.vcpus} live (within maxVcpus ${news.maxVcpus})`);
        }
        if (news.memory !== old.memory) {
          steps.push({ kind: "setMemoryLive", memory: news.memory });
          levels.push("live");
          reasons.push(
            `memory ${formatSize(old.memory)} -> ${formatSize(news.memory)} live (within maxMemory ${formatSize(news.maxMemory)})`,
          );
        }
      }
    }
  }

  const deviceContext: DevicePlanContext = {
    live,
    pvDrivers,
    onlineResizable: new Set(old.onlineResizable ?? []),
  };
  for (const [field, planned] of [
    ["disks", planDisks(old, news, deviceContext)],
    ["networks", planNics(old, news, deviceContext)],
  ] as const) {
    if (planned.blocked) return blockedPlan([...changed, field], planned.blocked);
    if (planned.steps.length + planned.whileHalted.length + planned.restartWhy.length === 0 && !planned.stateOnly)
      continue;
    changed.push(field);
    steps.push(...planned.steps);
    whileHalted.push(...planned.whileHalted);
    restartWhy.push(...planned.restartWhy);
    levels.push(...planned.levels);
    reasons.push(...planned.reasons);
  }

  if (old.inAppliance && given.powerState !== old.powerState)
    reasons.push(
      `powerState ${given.powerState}: not applied, the VM is a member of an appliance, which starts and stops it`,
    );
  const protection = planProtection(old, news);
  changed.push(...protection.changed);
  steps.push(...protection.steps);
  levels.push(...protection.steps.map((): Disruption => "none"), ...protection.first.map((): Disruption => "power"));
  reasons.push(...protection.reasons);

  changed.push(...guest.changed);
  steps.push(...guest.steps);
  whileHalted.push(...guest.whileHalted);
  restartWhy.push(...guest.restartWhy);
  levels.push(...guest.levels);
  reasons.push(...guest.reasons);

  let startOn: string | undefined;
  if (differs("affinityHost")) {
    steps.push({ kind: "setAffinity", host: news.affinityHost });
    levels.push("none");
    if (news.affinityHost !== undefined && live) {
      if (!pvDrivers) {
        restartWhy.push(
          `affinityHost -> ${news.affinityHost}: live migration needs PV drivers in the guest, so the VM restarts there instead`,
        );
        startOn = news.affinityHost;
        levels.push("restart");
      } else {
        steps.push({ kind: "migrate", host: news.affinityHost });
        levels.push("live");
        reasons.push(`affinityHost -> ${news.affinityHost}: live migration (VM.pool_migrate), same VM`);
      }
    }
  }

  const shutdown = shutdownPolicy(old, news);
  if (restartWhy.length > 0) {
    const reason = restartWhy.join("; ");
    steps.push({
      kind: "restart",
      reason,
      shutdown: powerPath("Running", "Halted", shutdown),
      whileHalted,
      ...(startOn ? { startOn } : {}),
    });
    reasons.unshift(`restart required: ${reason}`);
    if (!news.allowRestart) {
      return blockedPlan(
        changed,
        `${reason}. This needs a restart (clean shutdown, change, start on the same host) and allowRestart is not set: set allowRestart: true to allow one restart, or revert the change`,
      );
    }
  }

  const ordered = orderSteps(steps);
  const restartAt = ordered.findIndex((st) => st.kind === "restart");
  if (restartAt >= 0 && news.snapshotBeforeChange)
    ordered.splice(restartAt, 0, {
      kind: "snapshot",
      reason: changed.filter((k) => !(STATE_ONLY as readonly string[]).includes(k)).join(", "),
      keep: news.snapshotsKept,
    });
  const power: VmStep[] = [];
  const after: VmStep[] = [];
  const needsDomain = ordered.some((s) => NEEDS_DOMAIN.has(s.kind) || ("needsDomain" in s && s.needsDomain));
  if (halting) {
    power.push({
      kind: "power",
      from: old.powerState,
      to: "Halted",
      ops: powerPath(old.powerState, "Halted", shutdown),
    });
    levels.push("power");
    reasons.push(`powerState ${old.powerState} -> Halted${ordered.length > 0 ? " first, then the changes" : ""}`);
  } else if (live && old.powerState !== "Running" && needsDomain) {
    // The domain is needed: wake it, change it, and put it back the way the program wants it.
    power.push({
      kind: "power",
      from: old.powerState,
      to: "Running",
      ops: powerPath(old.powerState, "Running", shutdown),
    });
    if (news.powerState !== "Running")
      after.push({
        kind: "power",
        from: "Running",
        to: news.powerState,
        ops: powerPath("Running", news.powerState, shutdown),
      });
    levels.push("power");
    reasons.push(
      `the VM is ${old.powerState}: ${old.powerState === "Suspended" ? "resumed" : "unpaused"} for the change, then ${news.powerState === "Running" ? "left running" : `back to ${news.powerState}`}`,
    );
  } else if (powerChange) {
    after.push({
      kind: "power",
      from: old.powerState,
      to: news.powerState,
      ops: powerPath(old.powerState, news.powerState, shutdown),
    });
    levels.push("power");
    reasons.push(`powerState ${old.powerState} -> ${news.powerState}`);
  }
  // Guards lifted in this update go before a revert (VM.revert shuts the VM down first); added ones come after.
  const lifted: VmStep[] = [];
  if (protection.first.length > 0)
    for (const [i, st] of ordered.entries())
      if (st.kind === "setBlockedOps" && st.remove.length > 0) {
        lifted.push({ kind: "setBlockedOps", add: [], remove: st.remove });
        ordered[i] = { ...st, remove: [] };
      }
  const rest = ordered.filter((st) => st.kind !== "setBlockedOps" || st.add.length + st.remove.length > 0);
  const all = [...lifted, ...protection.first, ...power, ...rest, ...after];
  const shutdownOps = new Set(["clean_shutdown", "hard_shutdown", "suspend"]);
  const blocked = protectionBlock(news.protect, {
    // VM.revert shuts a running VM down (hard) first.
    shutdown: all.some(
      (st) =>
        st.kind === "restart" ||
        (st.kind === "revert" && old.powerState !== "Halted") ||
        (st.kind === "power" && st.ops.some((o) => shutdownOps.has(o.op))),
    ),
    migrate: all.some((st) => st.kind === "migrate"),
  });
  if (blocked) return blockedPlan(changed, blocked);
  if (restartAt >= 0 && news.snapshotBeforeChange)
    reasons.push(`a snapshot is taken before the restart (snapshotBeforeChange; the last ${news.snapshotsKept} kept)`);
  return { changed, replaces, steps: all, disruption: maxDisruption(levels), reasons };
}

function blockedPlan(changed: string[], message: string): VmPlan {
  return {
    changed: [...new Set(changed)],
    replaces: [],
    steps: [],
    disruption: "restart",
    reasons: [message],
    blocked: message,
  };
}

/** Setters first, then what needs the domain as it is, then the restart group. */
function orderSteps(steps: VmStep[]): VmStep[] {
  const rank = (s: VmStep): number => {
    switch (s.kind) {
      case "set":
      case "setTags":
      case "setOtherConfig":
      case "setAffinity":
      case "retagDisk":
      case "setDiskLabel":
      case "setDiskKeep":
      case "setBootParams":
      case "setGroup":
        return 0;
      case "setLimits":
        return 2;
      case "restart":
        return 3;
      default:
        return 1;
    }
  };
  return [...steps].sort((a, b) => rank(a) - rank(b));
}

/** Preview text for one VM, printed by diff so the user sees why. */
export function describePlan(name: string, plan: VmPlan): string[] {
  if (plan.changed.length === 0) return [];
  const head = `xen:Vm ${name}: ${plan.disruption === "none" ? "update in place" : plan.disruption === "replace" ? "replace" : `update (${plan.disruption})`}`;
  return [`${head} (${plan.changed.join(", ")})`, ...plan.reasons.map((r) => `  - ${r}`)];
}

export function isUnknownInput(v: unknown): boolean {
  return isUnknown(v);
}

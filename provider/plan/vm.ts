/**
 * The VM planner: old state (outputs) + new checked inputs -> what must happen and how disruptive it is.
 * Pure: the executor turns the steps into XenAPI calls. The order of preference is always
 * in place, then live, then an explicit power transition, then a restart (only with allowRestart), then replace.
 */
import { UNKNOWN, type PowerState, type VmDisk, type VmInputs, type VmNetwork } from "../schema";
import { formatSize } from "../units";

/** What the provider stores as outputs: the desired fields as last observed, plus what only Xen knows. */
export interface VmState extends VmInputs {
  uuid: string;
  residentOn: string;
  domainType: string;
  ipAddresses: string[];
  actualMemory: number;
  actualVcpus: number;
  /** VDI uuid per entry of `disks` (index-aligned; "" when not yet created). */
  diskUuids: string[];
  /**
   * Whether the running guest has PV drivers (or is PV): without them XenAPI refuses vCPU hot-plug and live
   * migration (VM_LACKS_FEATURE), so those changes need a restart instead.
   */
  pvDrivers?: boolean;
}

export const DISRUPTION = ["none", "live", "power", "restart", "replace"] as const;
export type Disruption = (typeof DISRUPTION)[number];

export type VmStep =
  | { kind: "set"; field: "nameLabel" | "description" | "haRestartPriority"; value: string }
  | { kind: "setTags"; value: string[] }
  | { kind: "setOtherConfig"; add: Record<string, string>; remove: string[] }
  | { kind: "setVcpusLive"; vcpus: number }
  | { kind: "setMemoryLive"; memory: number }
  | { kind: "setLimits"; vcpus: number; maxVcpus: number; memory: number; maxMemory: number }
  /** Clean shutdown, the inner steps while halted, then start on the same host (or on `startOn`). */
  | { kind: "restart"; reason: string; whileHalted: VmStep[]; startOn?: string }
  | { kind: "setAffinity"; host: string | undefined }
  | { kind: "migrate"; host: string }
  | { kind: "power"; from: PowerState; to: PowerState }
  | { kind: "addDisk"; index: number; disk: VmDisk }
  | { kind: "removeDisk"; index: number; vdiUuid: string }
  | { kind: "resizeDisk"; index: number; size: number; online: boolean }
  | { kind: "moveDisk"; index: number; sr: string }
  | { kind: "addVif"; index: number; network: VmNetwork }
  | { kind: "removeVif"; index: number };

export interface VmPlan {
  /** Properties that differ, in input order (for `changes` and the preview message). */
  changed: string[];
  /** Properties forcing a replacement (DiffResult.replaces). */
  replaces: string[];
  steps: VmStep[];
  disruption: Disruption;
  /** One line per decision, said out loud in preview. */
  reasons: string[];
  /** Set when the plan needs a restart the program does not allow: the message names property, rule and way out. */
  blocked?: string;
}

const STATE_ONLY = ["allowRestart", "waitForIp", "timeouts", "ownershipKey"] as const;

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

const hasDomain = (s: PowerState) => s !== "Halted";

function maxDisruption(steps: Disruption[]): Disruption {
  return steps.reduce<Disruption>((m, d) => (DISRUPTION.indexOf(d) > DISRUPTION.indexOf(m) ? d : m), "none");
}

export function planVm(old: VmState, newsWithUnknowns: VmInputs): VmPlan {
  // Values not known until apply (outputs of other resources during preview) are planned as unchanged here and
  // reported as pending; the update plans them again with the real values, and enforces the restart rule then.
  const pending = (Object.keys(newsWithUnknowns) as (keyof VmInputs)[]).filter((k) =>
    containsUnknown(newsWithUnknowns[k]),
  );
  const news = { ...newsWithUnknowns } as Record<string, unknown>;
  for (const k of pending) news[k] = old[k];
  const plan = planKnown(old, news as unknown as VmInputs);
  if (pending.length === 0) return plan;
  return {
    ...plan,
    changed: [...new Set([...plan.changed, ...pending])],
    replaces: [...new Set([...plan.replaces, ...pending.filter((k) => k === "template" || k === "url")])],
    reasons: [...plan.reasons, `${pending.join(", ")}: known at apply time; planned then`],
  };
}

function containsUnknown(v: unknown): boolean {
  if (isUnknown(v)) return true;
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (v && typeof v === "object") return Object.values(v).some(containsUnknown);
  return false;
}

function planKnown(old: VmState, news: VmInputs): VmPlan {
  const changed: string[] = [];
  const replaces: string[] = [];
  const steps: VmStep[] = [];
  const levels: Disruption[] = [];
  const reasons: string[] = [];
  const restartWhy: string[] = [];
  const whileHalted: VmStep[] = [];
  const differs = (k: keyof VmInputs) => {
    const d = !sameValue(old[k], news[k]);
    if (d) changed.push(k);
    return d;
  };

  // Identity: a different template, pool or adopted VM is a different machine.
  if (differs("template")) {
    replaces.push("template");
    reasons.push(`template ${old.template} -> ${news.template}: a VM cannot change its template, so it is replaced`);
  }
  if (differs("url")) {
    replaces.push("url");
    reasons.push(`url changed: the VM belongs to another pool, so it is replaced there`);
  }
  if (differs("adopt") && news.adopt !== undefined && news.adopt !== old.uuid) {
    replaces.push("adopt");
    reasons.push(`adopt ${news.adopt}: a different existing VM is brought under management in place of ${old.uuid}`);
  }
  if (replaces.length > 0) {
    for (const k of Object.keys(news) as (keyof VmInputs)[])
      if (!changed.includes(k) && !sameValue(old[k], news[k])) changed.push(k);
    return { changed, replaces, steps: [], disruption: "replace", reasons };
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

  // The power state the VM is in while the sizing changes are applied.
  const powerChange = differs("powerState");
  const liveDuringChange = hasDomain(old.powerState) && !(powerChange && news.powerState === "Halted");
  const running = old.powerState === "Running";

  const cpuOrMem = [differs("vcpus"), differs("maxVcpus"), differs("memory"), differs("maxMemory")].some(Boolean);
  if (cpuOrMem) {
    const limits = { vcpus: news.vcpus, maxVcpus: news.maxVcpus, memory: news.memory, maxMemory: news.maxMemory };
    if (!liveDuringChange) {
      steps.push({ kind: "setLimits", ...limits });
      levels.push("none");
      reasons.push(`vcpus/memory set while the VM is halted`);
    } else {
      if (news.maxVcpus !== old.maxVcpus)
        restartWhy.push(`maxVcpus ${old.maxVcpus} -> ${news.maxVcpus}: VCPUs_max can only change while halted`);
      if (news.maxMemory !== old.maxMemory)
        restartWhy.push(
          `maxMemory ${formatSize(old.maxMemory)} -> ${formatSize(news.maxMemory)}: the static memory maximum can only change while halted`,
        );
      if (news.vcpus !== old.vcpus && restartWhy.length === 0 && !running)
        restartWhy.push(
          `vcpus ${old.vcpus} -> ${news.vcpus}: live vCPU changes need a Running VM (it is ${old.powerState})`,
        );
      if (news.vcpus !== old.vcpus && restartWhy.length === 0 && old.pvDrivers === false)
        restartWhy.push(
          `vcpus ${old.vcpus} -> ${news.vcpus}: vCPU hot-plug needs PV drivers in the guest, which it does not report`,
        );
      if (restartWhy.length > 0) {
        whileHalted.push({ kind: "setLimits", ...limits });
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

  // Disks, index-aligned: 0 is the boot disk from the template.
  if (differs("disks")) {
    const n = Math.max(old.disks.length, news.disks.length);
    for (let i = 0; i < n; i++) {
      const was = old.disks[i];
      const want = news.disks[i];
      if (!was && want) {
        steps.push({ kind: "addDisk", index: i, disk: want });
        levels.push("live");
        reasons.push(`disks[${i}] (${formatSize(want.size)}) added and plugged live`);
      } else if (was && !want) {
        steps.push({ kind: "removeDisk", index: i, vdiUuid: old.diskUuids[i] ?? "" });
        levels.push("live");
        reasons.push(`disks[${i}] unplugged and destroyed (only disks this VM created)`);
      } else if (was && want) {
        if (want.size < was.size) {
          return blockedPlan(
            changed,
            `disks[${i}].size ${formatSize(was.size)} -> ${formatSize(want.size)}: XenAPI cannot shrink a disk and a disk is never deleted on a size change; keep size >= ${formatSize(was.size)}`,
          );
        }
        if (want.size > was.size) {
          const boot = i === 0;
          if (boot && liveDuringChange) {
            restartWhy.push(
              `disks[0].size ${formatSize(was.size)} -> ${formatSize(want.size)}: the boot disk grows while halted`,
            );
            whileHalted.push({ kind: "resizeDisk", index: i, size: want.size, online: false });
            levels.push("restart");
          } else {
            steps.push({ kind: "resizeDisk", index: i, size: want.size, online: liveDuringChange });
            levels.push(liveDuringChange ? "live" : "none");
            reasons.push(`disks[${i}] grown to ${formatSize(want.size)}${liveDuringChange ? " online" : ""}`);
          }
        }
        if ((want.sr ?? "") !== (was.sr ?? "") && want.sr !== undefined) {
          steps.push({ kind: "moveDisk", index: i, sr: want.sr });
          levels.push("live");
          reasons.push(`disks[${i}] moved to SR ${want.sr} with VDI.pool_migrate (live)`);
        }
      }
    }
  }

  if (differs("networks")) {
    const n = Math.max(old.networks.length, news.networks.length);
    for (let i = n - 1; i >= 0; i--) {
      const was = old.networks[i];
      const want = news.networks[i];
      if (was && (!want || !sameValue(was, want))) {
        steps.push({ kind: "removeVif", index: i });
        levels.push("live");
      }
    }
    for (let i = 0; i < n; i++) {
      const was = old.networks[i];
      const want = news.networks[i];
      if (want && (!was || !sameValue(was, want))) {
        steps.push({ kind: "addVif", index: i, network: want });
        levels.push("live");
        reasons.push(`networks[${i}] (${want.network}) attached live`);
      }
    }
  }

  let startOn: string | undefined;
  if (differs("affinityHost")) {
    steps.push({ kind: "setAffinity", host: news.affinityHost });
    levels.push("none");
    if (news.affinityHost !== undefined && running && !(powerChange && news.powerState === "Halted")) {
      if (old.pvDrivers === false) {
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

  if (powerChange) {
    steps.push({ kind: "power", from: old.powerState, to: news.powerState });
    levels.push("power");
    reasons.push(`powerState ${old.powerState} -> ${news.powerState}`);
  }

  const disruption = maxDisruption(levels);
  if (restartWhy.length > 0)
    steps.push({ kind: "restart", reason: restartWhy.join("; "), whileHalted, ...(startOn ? { startOn } : {}) });
  if (restartWhy.length > 0) {
    reasons.unshift(`restart required: ${restartWhy.join("; ")}`);
    if (!news.allowRestart) {
      return blockedPlan(
        changed,
        `${restartWhy.join("; ")}. This needs a restart (clean shutdown, change, start on the same host) and allowRestart is not set: set allowRestart: true to allow one restart, or revert the change`,
      );
    }
  }
  return { changed, replaces, steps: orderSteps(steps), disruption, reasons };
}

function blockedPlan(changed: string[], message: string): VmPlan {
  return { changed, replaces: [], steps: [], disruption: "restart", reasons: [message], blocked: message };
}

/** Setters first, then what needs the domain as it is, then the restart group, then power transitions. */
function orderSteps(steps: VmStep[]): VmStep[] {
  const rank = (s: VmStep): number => {
    switch (s.kind) {
      case "set":
      case "setTags":
      case "setOtherConfig":
      case "setAffinity":
        return 0;
      case "setLimits":
        return 2;
      case "restart":
        return 3;
      case "power":
        return 5;
      default:
        return 1;
    }
  };
  // A halting power change goes first so that what must be done while halted follows it.
  const halting = steps.find((s) => s.kind === "power" && s.to === "Halted");
  const ordered = steps.filter((s) => s !== halting).sort((a, b) => rank(a) - rank(b));
  return halting ? [halting, ...ordered] : ordered;
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

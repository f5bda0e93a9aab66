/**
 * Placement group, protection, snapshots and reverts of one VM. Pure.
 * - `group`: VM.set_groups, in place (the pool places the VM at its next start or move);
 * - `protect`: blocked_operations, so that nobody can destroy, shut down or migrate the VM by hand either; the
 *   provider's own plans respect it too, and say what to change first;
 * - `revertTo`: an explicit, previewed VM.revert to a snapshot (the VM keeps its uuid; its disks are the
 *   snapshot's), done before anything else;
 * - `snapshotBeforeChange`: a snapshot before any restart-level change, the last `snapshotsKept` kept.
 */
import { PROTECTED_OPERATIONS, type VmInputs } from "../schema";

export type ProtectionStep =
  | { kind: "setGroup"; group: string | undefined }
  | { kind: "setBlockedOps"; add: string[]; remove: string[] }
  | { kind: "revert"; snapshot: string }
  | { kind: "snapshot"; reason: string; keep: number };

export type Protect = NonNullable<VmInputs["protect"]>;

/** The blocked_operations keys a `protect` asks for. */
export function blockedKeys(protect: Protect | undefined): string[] {
  const keys: string[] = [];
  for (const [what, ops] of Object.entries(PROTECTED_OPERATIONS))
    if (protect?.[what as keyof Protect] === true) keys.push(...ops);
  return keys.sort();
}

/** `protect` as blocked_operations say it (a guard counts when its first operation is blocked). */
export function protectOf(blocked: ReadonlySet<string>): Protect {
  return {
    destroy: blocked.has(PROTECTED_OPERATIONS.destroy[0]),
    shutdown: blocked.has(PROTECTED_OPERATIONS.shutdown[0]),
    migrate: blocked.has(PROTECTED_OPERATIONS.migrate[0]),
  };
}

export interface ObservedProtection {
  group?: string | undefined;
  protect?: Protect | undefined;
  revertTo?: string | undefined;
}

export interface ProtectionPlan {
  changed: string[];
  first: ProtectionStep[];
  steps: ProtectionStep[];
  reasons: string[];
}

type Inputs = Pick<VmInputs, "group" | "protect" | "revertTo">;

export function planProtection(old: ObservedProtection, news: Inputs): ProtectionPlan {
  const plan: ProtectionPlan = { changed: [], first: [], steps: [], reasons: [] };
  if (news.revertTo !== undefined && news.revertTo !== old.revertTo) {
    plan.changed.push("revertTo");
    plan.first.push({ kind: "revert", snapshot: news.revertTo });
    plan.reasons.push(
      `revertTo ${news.revertTo}: VM.revert: the VM keeps its uuid, its disks and configuration become the snapshot's (current disks are discarded)`,
    );
  }
  if ((news.group ?? "") !== (old.group ?? "")) {
    plan.changed.push("group");
    plan.steps.push({ kind: "setGroup", group: news.group });
    plan.reasons.push(
      news.group === undefined
        ? `group ${old.group}: the VM leaves it`
        : `group -> ${news.group}: applied when the pool next places the VM (start, migration, evacuation, HA restart)`,
    );
  }
  if (news.protect !== undefined) {
    const want = blockedKeys(news.protect);
    const have = blockedKeys(old.protect);
    const add = want.filter((k) => !have.includes(k));
    const remove = have.filter((k) => !want.includes(k));
    if (add.length + remove.length > 0) {
      plan.changed.push("protect");
      plan.steps.push({ kind: "setBlockedOps", add, remove });
      plan.reasons.push(
        `protect: ${[...add.map((k) => `+${k}`), ...remove.map((k) => `-${k}`)].join(" ")} (blocked_operations, for anyone calling XenAPI)`,
      );
    }
  }
  return plan;
}

/** Why a plan may not run under `protect`, naming what to change first; undefined when it may. */
export function protectionBlock(
  protect: Protect | undefined,
  needs: { shutdown: boolean; migrate: boolean },
): string | undefined {
  if (needs.shutdown && protect?.shutdown === true)
    return "the change needs the VM shut down, and protect.shutdown is set: set protect.shutdown: false for this update (and back after), or revert the change";
  if (needs.migrate && protect?.migrate === true)
    return "the change migrates the VM, and protect.migrate is set: set protect.migrate: false for this update, or revert the change";
  return undefined;
}

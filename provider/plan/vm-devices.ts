/**
 * Disk and NIC changes of one VM, matched by key (plan/devices.ts): per device, add, remove, grow, move, rename.
 * Each decision follows what XenAPI allows for the power state during the change, the SR's capabilities and the
 * guest's PV drivers; what cannot be done live becomes part of a restart (which needs allowRestart).
 */
import type { VmDisk, VmInputs, VmNetwork } from "../schema";
import { formatSize } from "../units";
import { diskKey, isPositionalKey, matchByKey, nicKeys } from "./devices";
import type { Disruption, ObservedDisk, ObservedNic } from "./vm";

export type DeviceStep =
  /** A new VDI, or (disk.vdi) an existing one attached as it is. */
  | { kind: "addDisk"; key: string; disk: VmDisk; plug: boolean; needsDomain: boolean }
  | { kind: "removeDisk"; key: string; vdiUuid: string; size: number; keep: boolean; needsDomain: boolean }
  /** online: VDI.resize_online; replug: unplug, VDI.resize, plug (live for the guest); offline: VDI.resize. */
  | { kind: "resizeDisk"; key: string; size: number; method: "online" | "replug" | "offline"; needsDomain: boolean }
  /** live: VDI.pool_migrate; copy: VDI.copy, swap the VBD, then destroy the old VDI (a halted VM). */
  | { kind: "moveDisk"; key: string; sr: string; method: "live" | "copy"; needsDomain: boolean }
  | { kind: "retagDisk"; from: string; to: string; needsDomain: false }
  | { kind: "setDiskLabel"; key: string; value: string; needsDomain: false }
  /** keepOnRemove is kept on the VDI, so that it holds when the entry is gone from the program. */
  | { kind: "setDiskKeep"; key: string; keep: boolean; needsDomain: false }
  | { kind: "addVif"; key: string; network: VmNetwork; plug: boolean; needsDomain: boolean }
  | { kind: "removeVif"; key: string; unplug: boolean; needsDomain: boolean }
  | { kind: "moveVif"; key: string; network: string; needsDomain: false };

export interface DevicePlanContext {
  /** Whether the VM's domain is running during the change. */
  live: boolean;
  pvDrivers: boolean;
  /** Disk keys whose SR declares VDI_RESIZE_ONLINE. */
  onlineResizable: ReadonlySet<string>;
}

export interface DevicePlan {
  steps: DeviceStep[];
  whileHalted: DeviceStep[];
  restartWhy: string[];
  levels: Disruption[];
  reasons: string[];
  /** A state-only difference (the boot disk's key): recorded, nothing to call. */
  stateOnly: boolean;
  blocked?: string;
}

const empty = (): DevicePlan => ({
  steps: [],
  whileHalted: [],
  restartWhy: [],
  levels: [],
  reasons: [],
  stateOnly: false,
});

const label = (key: string, index: number) => (isPositionalKey(key) ? `disks[${index}]` : `disk "${key}"`);

interface OldVm {
  disks: ObservedDisk[];
  networks: ObservedNic[];
  diskUuids: string[];
}

export function planDisks(old: OldVm, news: VmInputs, ctx: DevicePlanContext): DevicePlan {
  const plan = empty();
  // With no `disks` the VM's disks are not managed: the template's stay as they are.
  if (news.disks.length === 0) return plan;
  const oldKeys = old.disks.map((d, i) => d.name ?? diskKey(d, i));
  const newKeys = news.disks.map((d, i) => diskKey(d, i));
  // disks[0] is the boot disk whatever its name: pair it with the VM's boot disk, renaming its key if need be.
  // (The boot disk is found by its position on the VM, userdevice 0, so its key is recorded in the state only.)
  if (old.disks.length > 0 && oldKeys[0] !== newKeys[0]) {
    plan.stateOnly = true;
    oldKeys[0] = newKeys[0]!;
  }
  const match = matchByKey<VmDisk>(oldKeys, old.disks, newKeys, news.disks);

  // Naming disks that had none: with the list otherwise unchanged, disks[i] without a name becomes the named one.
  if (old.disks.length === news.disks.length) {
    for (const added of [...match.added]) {
      const positional = match.removed.find((r) => r.oldIndex === added.newIndex && isPositionalKey(r.key));
      if (!positional) continue;
      match.added.splice(match.added.indexOf(added), 1);
      match.removed.splice(match.removed.indexOf(positional), 1);
      match.kept.push({ ...added, was: positional.was, oldIndex: positional.oldIndex });
      plan.steps.push({ kind: "retagDisk", from: positional.key, to: added.key, needsDomain: false });
      plan.levels.push("none");
      plan.reasons.push(`disks[${added.newIndex}] is now known by its name "${added.key}"`);
    }
  }
  const ambiguous = match.removed.find((r) => isPositionalKey(r.key));
  if (ambiguous) {
    return {
      ...plan,
      blocked:
        `disks: the data disk at disks[${ambiguous.oldIndex}] (VDI ${old.diskUuids[ambiguous.oldIndex] || "?"}, ${formatSize(ambiguous.was.size!)}) would be removed, ` +
        `but a disk without a name is known only by its position, so which disk you removed cannot be told. ` +
        `Give every data disk a name (disks[i].name) in one update without removing any, then remove the one you mean`,
    };
  }

  const live = ctx.live;
  const hotplug = live && ctx.pvDrivers;
  for (const { key, want, newIndex } of match.added) {
    if (live && !ctx.pvDrivers) {
      plan.whileHalted.push({ kind: "addDisk", key, disk: want, plug: false, needsDomain: false });
      plan.restartWhy.push(`${label(key, newIndex)} added: hot-plug needs PV drivers in the guest`);
      plan.levels.push("restart");
      continue;
    }
    plan.steps.push({ kind: "addDisk", key, disk: want, plug: hotplug, needsDomain: hotplug });
    plan.levels.push(hotplug ? "live" : "none");
    const what = want.vdi !== undefined ? `existing VDI ${want.vdi}` : formatSize(want.size!);
    plan.reasons.push(
      `${label(key, newIndex)} (${what}) ${want.vdi !== undefined ? "attached" : "added"}${hotplug ? " and plugged live" : ""}`,
    );
  }
  for (const { key, was, oldIndex } of match.removed) {
    const attached = was.vdi !== undefined;
    const keep = was.keepOnRemove === true || attached;
    const vdiUuid = old.diskUuids[oldIndex] ?? "";
    const what = `disk "${key}" (VDI ${vdiUuid || "?"}, ${formatSize(was.size!)})`;
    const fate = attached
      ? "detached; the VDI is kept (an existing disk the program attached)"
      : keep
        ? "detached; the VDI is kept (keepOnRemove)"
        : "detached and its VDI destroyed (a VDI this stack did not create is kept)";
    if (live && !ctx.pvDrivers) {
      plan.whileHalted.push({ kind: "removeDisk", key, vdiUuid, size: was.size!, keep, needsDomain: false });
      plan.restartWhy.push(`${what} removed: unplugging needs PV drivers in the guest`);
      plan.levels.push("restart");
    } else {
      plan.steps.push({ kind: "removeDisk", key, vdiUuid, size: was.size!, keep, needsDomain: live });
      plan.levels.push(live ? "live" : "none");
    }
    plan.reasons.push(`${what} ${fate}`);
  }
  for (const { key, was: observed, want: given, oldIndex, newIndex } of match.kept) {
    const name = label(key, newIndex);
    const was = observed as ObservedDisk;
    if (given.vdi !== undefined && given.vdi !== was.vdi) {
      return {
        ...plan,
        blocked: `disks[${newIndex}].vdi: ${name} is VDI ${old.diskUuids[oldIndex] || "?"}, not ${given.vdi}; an entry keeps its disk. Attach ${given.vdi} under a new name, and remove the old entry if you mean to`,
      };
    }
    // An attached existing disk without a size is taken as it is.
    const want = { ...given, size: given.size ?? was.size };
    if (want.size < was.size) {
      return {
        ...plan,
        blocked: `disks[${newIndex}].size ${formatSize(was.size)} -> ${formatSize(want.size)}: XenAPI cannot shrink a disk and a disk is never deleted on a size change; keep size >= ${formatSize(was.size)}`,
      };
    }
    if (want.size > was.size) {
      const grow = `${name} grown ${formatSize(was.size)} -> ${formatSize(want.size)}`;
      if (!live) {
        plan.steps.push({ kind: "resizeDisk", key, size: want.size, method: "offline", needsDomain: false });
        plan.levels.push("none");
        plan.reasons.push(`${grow} (VM halted)`);
      } else if (ctx.onlineResizable.has(key)) {
        plan.steps.push({ kind: "resizeDisk", key, size: want.size, method: "online", needsDomain: true });
        plan.levels.push("live");
        plan.reasons.push(`${grow} online (the SR supports VDI_RESIZE_ONLINE)`);
      } else if (oldIndex !== 0 && ctx.pvDrivers) {
        plan.steps.push({ kind: "resizeDisk", key, size: want.size, method: "replug", needsDomain: true });
        plan.levels.push("live");
        plan.reasons.push(
          `${grow}: unplugged, resized and plugged again (the SR cannot resize online; the VM keeps running)`,
        );
      } else {
        plan.whileHalted.push({ kind: "resizeDisk", key, size: want.size, method: "offline", needsDomain: false });
        plan.restartWhy.push(
          `${grow}: its SR cannot resize online and ${oldIndex === 0 ? "the boot disk cannot be unplugged" : "the guest has no PV drivers to unplug it"}, so it grows while halted`,
        );
        plan.levels.push("restart");
      }
    }
    if (want.sr !== undefined && want.sr !== was.sr) {
      plan.steps.push({ kind: "moveDisk", key, sr: want.sr, method: live ? "live" : "copy", needsDomain: live });
      plan.levels.push(live ? "live" : "none");
      plan.reasons.push(
        live
          ? `${name} moved to SR ${want.sr} live (VDI.pool_migrate)`
          : `${name} moved to SR ${want.sr} by copy (the VM is halted): the old VDI is removed only once the copy is attached`,
      );
    }
    if (want.nameLabel !== undefined && want.nameLabel !== was.nameLabel) {
      plan.steps.push({ kind: "setDiskLabel", key, value: want.nameLabel, needsDomain: false });
      plan.levels.push("none");
    }
    if ((want.keepOnRemove ?? false) !== (was.keepOnRemove ?? false)) {
      plan.steps.push({ kind: "setDiskKeep", key, keep: want.keepOnRemove ?? false, needsDomain: false });
      plan.levels.push("none");
    }
  }
  return plan;
}

export function planNics(old: OldVm, news: VmInputs, ctx: DevicePlanContext): DevicePlan {
  const plan = empty();
  const fallback = nicKeys(old.networks);
  const oldKeys = old.networks.map((n, i) => n.name ?? fallback[i]!);
  const newKeys = nicKeys(news.networks);
  const match = matchByKey(oldKeys, old.networks as VmNetwork[], newKeys, news.networks);
  const hotplug = ctx.live && ctx.pvDrivers;
  const removals: Array<Extract<DeviceStep, { kind: "removeVif" }>> = [];
  const additions: Array<Extract<DeviceStep, { kind: "addVif" }>> = [];
  const recreate: Array<{ key: string; want: VmNetwork; why: string }> = [];

  for (const { key, was, want } of match.kept) {
    if (want.mac !== undefined && want.mac !== was.mac) {
      recreate.push({
        key,
        want,
        why: `NIC "${key}" MAC ${was.mac ?? "(generated)"} -> ${want.mac}: a VIF's MAC is fixed, so the VIF is recreated`,
      });
    } else if (want.network !== was.network) {
      plan.steps.push({ kind: "moveVif", key, network: want.network, needsDomain: false });
      plan.levels.push(ctx.live ? "live" : "none");
      plan.reasons.push(`NIC "${key}" moved to network ${want.network} (VIF.move: same VIF, same MAC)`);
    }
  }
  for (const { key } of [...match.removed, ...recreate]) {
    removals.push({ kind: "removeVif", key, unplug: hotplug, needsDomain: hotplug });
  }
  for (const { key, want } of [...match.added, ...recreate]) {
    additions.push({ kind: "addVif", key, network: want, plug: hotplug, needsDomain: hotplug });
  }
  for (const r of match.removed)
    plan.reasons.push(`NIC "${r.key}" (${r.was.network}) ${hotplug ? "unplugged live and " : ""}removed`);
  for (const a of match.added)
    plan.reasons.push(`NIC "${a.key}" (${a.want.network}) added${hotplug ? " and plugged live" : ""}`);
  plan.reasons.push(...recreate.map((r) => r.why));
  const devices = [...removals, ...additions];
  if (devices.length === 0) return plan;
  if (ctx.live && !ctx.pvDrivers) {
    plan.whileHalted.push(
      ...devices.map((d): DeviceStep =>
        d.kind === "addVif" ? { ...d, plug: false, needsDomain: false } : { ...d, unplug: false, needsDomain: false },
      ),
    );
    plan.restartWhy.push(
      `NICs ${devices.map((d) => `"${d.key}"`).join(", ")} changed: hot-plug needs PV drivers in the guest`,
    );
    plan.levels.push("restart");
  } else {
    plan.steps.push(...devices);
    plan.levels.push(hotplug ? "live" : "none");
  }
  return plan;
}

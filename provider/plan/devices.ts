/**
 * Device identity: which entry of `disks` / `networks` is which VDI / VIF. Entries are matched by a stable key,
 * never by list position, so that removing the middle disk removes that disk and reordering the list is no change.
 *
 * - A disk's key is its `name`; `disks[0]` is always the boot disk (the template's disk, userdevice 0) whatever
 *   its name; a data disk without a name is known only by its position (`#2`), so the planner refuses an edit that
 *   would make such a position ambiguous and asks for names instead.
 * - A NIC's key is its `name`, else the network it is on (`net:VM Network`, `net:VM Network#2` for a second NIC on
 *   the same network).
 *
 * The keys are written on the devices themselves (VDI/VIF other_config), so they survive refresh and import.
 */
import type { VmDisk, VmNetwork } from "../schema";

/** other_config keys holding a device's key on its VDI / VIF. */
export const DISK_KEY = "pulumi-xen.disk";
export const NIC_KEY = "pulumi-xen.nic";
/** other_config key on a VDI that is detached and kept, not destroyed, when its entry leaves `disks`. */
export const KEEP_KEY = "pulumi-xen.keep-on-remove";

/** other_config key on the VDI of a cloud-init config drive: the digest of the config it holds (plan/guest.ts). */
export const CONFIG_DRIVE_KEY = "pulumi-xen.cloud-init";

/** The key of the boot disk when `disks[0]` has no name. */
export const BOOT_KEY = "boot";

export const positionalDiskKey = (index: number) => `#${index}`;
export const isPositionalKey = (key: string) => key.startsWith("#");

export function diskKey(disk: Pick<VmDisk, "name">, index: number): string {
  return disk.name ?? (index === 0 ? BOOT_KEY : positionalDiskKey(index));
}

/** Keys of a NIC list, in order: the name, else the network (numbered from the second NIC on one network). */
export function nicKeys(nics: ReadonlyArray<Pick<VmNetwork, "name" | "network">>): string[] {
  const seen = new Map<string, number>();
  return nics.map((n) => {
    if (n.name !== undefined) return n.name;
    const base = `net:${n.network}`;
    const count = (seen.get(base) ?? 0) + 1;
    seen.set(base, count);
    return count === 1 ? base : `${base}#${count}`;
  });
}

export interface Match<T> {
  kept: Array<{ key: string; was: T; want: T; oldIndex: number; newIndex: number }>;
  added: Array<{ key: string; want: T; newIndex: number }>;
  removed: Array<{ key: string; was: T; oldIndex: number }>;
}

/** Pairs two keyed lists: kept (same key on both sides), added (only new) and removed (only old). */
export function matchByKey<T>(oldKeys: string[], olds: T[], newKeys: string[], news: T[]): Match<T> {
  const oldAt = new Map(oldKeys.map((k, i) => [k, i]));
  const newAt = new Map(newKeys.map((k, i) => [k, i]));
  const match: Match<T> = { kept: [], added: [], removed: [] };
  newKeys.forEach((key, newIndex) => {
    const oldIndex = oldAt.get(key);
    if (oldIndex === undefined) match.added.push({ key, want: news[newIndex]!, newIndex });
    else match.kept.push({ key, was: olds[oldIndex]!, want: news[newIndex]!, oldIndex, newIndex });
  });
  oldKeys.forEach((key, oldIndex) => {
    if (!newAt.has(key)) match.removed.push({ key, was: olds[oldIndex]!, oldIndex });
  });
  return match;
}

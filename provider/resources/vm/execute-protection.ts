/**
 * The executor's steps for placement groups, protection, reverts and snapshots (plan/protection.ts). It finds the
 * objects the steps name and makes the calls; which snapshots go when more than `keep` exist is the one choice
 * left to it, and it is the oldest automatic ones, never a snapshot someone took by hand or with xen.Snapshot.
 */
import type { ProtectionStep } from "../../plan/protection";
import { isXenApiError } from "../../xenapi";
import { isNullRef, map, refs, say, str, type Rec } from "../common";
import { ProviderError } from "../errors";
import type { Run } from "./execute";

/** other_config key on a snapshot taken by snapshotBeforeChange: the uuid of the VM it was taken of. */
export const AUTO_SNAPSHOT_KEY = "pulumi-xen.auto-snapshot-of";

export async function executeProtectionStep(r: Run, step: ProtectionStep): Promise<void> {
  const { xen, ref } = r;
  switch (step.kind) {
    case "setGroup":
      return xen.VM.set_groups(ref, step.group === undefined ? [] : [await groupRef(r, step.group)]);
    case "setBlockedOps": {
      for (const key of step.remove) await xen.VM.remove_from_blocked_operations(ref, key as never);
      const why = `protected by pulumi-xen${r.owner ? ` (${r.owner})` : ""}: change protect in the program to allow it`;
      for (const key of step.add) await xen.VM.add_to_blocked_operations(ref, key as never, why);
      return;
    }
    case "revert":
      return revert(r, step.snapshot);
    case "snapshot":
      return snapshotBefore(r, step.reason, step.keep);
  }
}

async function groupRef(r: Run, group: string): Promise<string> {
  const matches: string[] = [];
  for (const [gref, g] of r.inventory?.all("VM_group") ?? []) {
    const rec = g as unknown as Rec;
    if (rec.uuid === group || rec.name_label === group) matches.push(gref);
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0 && !r.inventory) {
    try {
      return await r.xen.VM_group.get_by_uuid(group);
    } catch (e) {
      if (!isXenApiError(e, "UUID_INVALID")) throw e;
    }
  }
  throw new ProviderError(
    matches.length === 0
      ? `no VM group named "${group}" (a xen.VmGroup's nameLabel or uuid)`
      : `${matches.length} VM groups are named "${group}"; name it by uuid`,
    { path: "group", code: matches.length === 0 ? "NOT_FOUND" : "AMBIGUOUS" },
  );
}

async function revert(r: Run, snapshotUuid: string): Promise<void> {
  let snapshot: string;
  try {
    snapshot = await r.xen.VM.get_by_uuid(snapshotUuid);
  } catch (e) {
    if (isXenApiError(e, "UUID_INVALID"))
      throw new ProviderError(`no snapshot with uuid ${snapshotUuid}`, {
        path: "revertTo",
        code: "NOT_FOUND",
        cause: e,
      });
    throw e;
  }
  const rec = await r.read("VM", snapshot);
  if (rec.is_a_snapshot !== true || rec.snapshot_of !== r.ref)
    throw new ProviderError(`${snapshotUuid} is not a snapshot of this VM; nothing was reverted`, {
      path: "revertTo",
      code: "NOT_A_SNAPSHOT",
    });
  say(`  reverting to snapshot "${rec.name_label}" (${snapshotUuid})`);
  await r.xen.VM.revert(snapshot);
}

async function snapshotBefore(r: Run, reason: string, keep: number): Promise<void> {
  const { xen, ref } = r;
  const vm = await r.read("VM", ref);
  const name = `${vm.name_label} before ${reason || "a change"} (${new Date().toISOString().replace(/\.\d+Z$/, "Z")})`;
  const snap = await xen.VM.snapshot(ref, name);
  await xen.VM.remove_from_other_config(snap, AUTO_SNAPSHOT_KEY);
  await xen.VM.add_to_other_config(snap, AUTO_SNAPSHOT_KEY, vm.uuid);
  say(`  snapshot "${name}" taken (snapshotBeforeChange)`);
  const autos: Array<{ ref: string; time: string; name: string }> = [];
  for (const s of refs(await r.read("VM", ref), "snapshots")) {
    const rec = await r.read("VM", s);
    if (map(rec, "other_config")[AUTO_SNAPSHOT_KEY] === vm.uuid)
      autos.push({ ref: s, time: str(rec, "snapshot_time"), name: rec.name_label ?? "" });
  }
  autos.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  for (const old of autos.slice(0, Math.max(0, autos.length - keep))) {
    await destroySnapshot(r, old.ref);
    say(`  snapshot "${old.name}" removed (snapshotsKept ${keep})`);
  }
}

/** A snapshot and its disks (snapshot VDIs: never the VM's own disks). */
export async function destroySnapshot(r: Pick<Run, "xen" | "read">, snapshot: string): Promise<void> {
  const rec = await r.read("VM", snapshot);
  const vdis: string[] = [];
  for (const vbd of refs(rec, "VBDs")) {
    const b = await r.read("VBD", vbd);
    if (isNullRef(b.VDI) || str(b, "type") !== "Disk") continue;
    const vdi = await r.read("VDI", b.VDI as string);
    if (vdi.is_a_snapshot === true) vdis.push(b.VDI as string);
  }
  await r.xen.VM.destroy(snapshot);
  for (const vdi of vdis) await r.xen.VDI.destroy(vdi).catch(() => undefined);
}

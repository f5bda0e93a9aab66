/**
 * Which VM belongs to which resource instance. Two tags tell the cases apart:
 *
 * - `pulumi-xen.owner` = the ownership key (project/stack/type/name): the VM belongs to this resource name. A
 *   replacement has the same key as the VM it replaces, so this tag alone never makes a VM resumable.
 * - `pulumi-xen.creating` = the ownership key, only while a create has not finished. A create that finds a VM with
 *   it (or a clone still carrying its creation name) resumes that VM; a VM whose create finished is never taken,
 *   so a replacement always makes a new VM and the engine's delete of the old id removes only the old one.
 */
import type { Inventory } from "../../xenapi";
import { OWNER_KEY, map, type Rec } from "../common";

export const CREATING_KEY = "pulumi-xen.creating";

/**
 * The name a clone carries until it is tagged and renamed: were the answer to VM.clone lost (timeout, crash),
 * the next attempt still finds the clone by this name instead of making a second one.
 */
export function cloneName(owner: string): string {
  return `pulumi-xen creating ${owner}`;
}

/** The VM an unfinished create of this instance left behind, if any. */
export function findUnfinishedCreate(inventory: Inventory, owner: string): string | undefined {
  if (!owner) return undefined;
  for (const [ref, vm] of inventory.all("VM")) {
    const rec = vm as unknown as Rec;
    if (map(rec, "other_config")[CREATING_KEY] === owner || rec.name_label === cloneName(owner)) return ref;
  }
  return undefined;
}

export { OWNER_KEY };

/**
 * What a new VM is made from: a template, an existing VM or a snapshot (`source`), by VM.clone (fast: disks are
 * copy-on-write children of the source's) or VM.copy (full: independent copies, onto the SR `disks[0].sr` names).
 */
import type { VmInputs } from "../../schema";
import { formatSize } from "../../units";
import { isXenApiError, type Inventory, type XenApiClient } from "../../xenapi";
import { NULL_REF, map, record, resolveRef, type Rec } from "../common";
import type { PhaseDeadline } from "../deadline";
import { ProviderError } from "../errors";
import { runFor } from "./execute";

export type SourceKind = "template" | "snapshot" | "VM";

const KINDS: Array<{ kind: SourceKind; is: (r: Rec) => boolean }> = [
  { kind: "template", is: (r) => r.is_a_template === true && r.is_a_snapshot !== true },
  { kind: "snapshot", is: (r) => r.is_a_snapshot === true },
  { kind: "VM", is: (r) => r.is_a_template !== true && r.is_control_domain !== true },
];

/** The source by UUID or name_label; a name is looked for among templates, then snapshots, then VMs. */
export async function resolveSource(
  client: XenApiClient,
  inventory: Inventory,
  source: string,
): Promise<{ ref: string; rec: Rec; kind: SourceKind }> {
  let lastMiss: unknown;
  for (const { kind, is } of KINDS) {
    try {
      const ref = await resolveRef(client, "VM", source, "source", is, inventory);
      return { ref, rec: await record(client, "VM", ref), kind };
    } catch (e) {
      if (!(e instanceof ProviderError) || e.code !== "NOT_FOUND") throw e;
      lastMiss = e;
    }
  }
  throw new ProviderError(`no template, snapshot or VM named "${source}"`, {
    path: "source",
    code: "NOT_FOUND",
    cause: lastMiss,
  });
}

/** Parses `other_config.disks` of a template (`<provision><disk device="0" size="..." .../></provision>`). */
export function templateDiskSizes(xml: string | undefined): Map<number, number> {
  const sizes = new Map<number, number>();
  for (const m of (xml ?? "").matchAll(/<disk\b([^>]*)>?/g)) {
    const device = /device="(\d+)"/.exec(m[1]!);
    const size = /size="(\d+)"/.exec(m[1]!);
    if (device && size) sizes.set(Number(device[1]), Number(size[1]));
  }
  return sizes;
}

/** VM.clone or VM.copy of the source under `name`; the caller tags and names the result. */
export async function makeFromSource(
  client: XenApiClient,
  inventory: Inventory,
  news: VmInputs,
  name: string,
  deadline: PhaseDeadline,
): Promise<string> {
  const source = await resolveSource(client, inventory, news.source);
  const bootSize = templateDiskSizes(map(source.rec, "other_config").disks).get(0);
  if (bootSize !== undefined && news.disks[0]?.size !== undefined && news.disks[0].size < bootSize) {
    throw new ProviderError(
      `${formatSize(news.disks[0].size)} is smaller than the boot disk of template "${news.source}" (${formatSize(bootSize)}); disks cannot shrink`,
      { path: "disks[0].size" },
    );
  }
  const xen = runFor({ client, deadline, ref: "", news }).xen;
  try {
    if (news.cloneMode === "full") {
      const sr =
        news.disks[0]?.sr !== undefined
          ? await resolveRef(client, "SR", news.disks[0].sr, "disks[0].sr", undefined, inventory)
          : NULL_REF;
      return await xen.VM.copy(source.ref, name, sr);
    }
    return await xen.VM.clone(source.ref, name);
  } catch (e) {
    if (source.kind === "VM" && isXenApiError(e, "VM_BAD_POWER_STATE"))
      throw new ProviderError(
        `source VM "${news.source}" is ${String(source.rec.power_state)}: XenAPI copies only a halted VM. Halt it, or make the VM from a snapshot of it (xen.Snapshot)`,
        { path: "source", code: "BAD_POWER_STATE", cause: e },
      );
    throw e;
  }
}

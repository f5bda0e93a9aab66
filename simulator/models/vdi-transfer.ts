/**
 * The storage side of xapi's raw disk transfers (import_raw_vdi.ml, export_raw_vdi.ml): the VDI is attached to
 * the serving host's control domain (Sm_fs_ops.with_block_attached_device), read or written, and detached. No
 * HTTP here: server/raw-vdi.ts speaks the protocol.
 */
import { fail } from "../errors";
import { NULL_REF } from "../ids";
import type { Engine } from "./engine";
import { type Write, mergeWrites, setVdiBytes, vdiBytes } from "./vdi-data";

/** Raw disk formats xapi's handlers name (Importexport.Format); the simulator carries raw bytes only. */
export const DISK_FORMATS = ["raw", "vhd", "tar", "qcow2"] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];

/**
 * The most the simulator keeps of one disk's bytes (they live in its state). Writing beyond fails as a device
 * error would; real disks hold their whole virtual size.
 */
export const MAX_STORED_BYTES = 256 * 1024 * 1024;

/** The SR's PBD on `host` is plugged: xapi serves the transfer there, else redirects (Importexport.check_sr_availability). */
export function srAttachedOn(e: Engine, sr: string, host: string): boolean {
  return (e.db.get("SR", sr).PBDs as string[]).some((p) => {
    const pbd = e.db.maybe("PBD", p);
    return pbd?.host === host && pbd.currently_attached === true;
  });
}

/** A host whose PBD for the SR is plugged (Importexport.find_host_for_sr), or undefined. */
export function hostForSr(e: Engine, sr: string): string | undefined {
  for (const p of e.db.get("SR", sr).PBDs as string[]) {
    const pbd = e.db.maybe("PBD", p);
    if (pbd?.currently_attached === true && e.hostLive(pbd.host as string)) return pbd.host as string;
  }
  return undefined;
}

/**
 * What attaching the VDI to `host`'s control domain meets (Attach_helpers.with_vbds: VBD.create + VBD.plug, then
 * the storage backend's activate):
 * - a read-write attach of a read-only VDI: `VDI_READONLY [vdi]` (xapi_vbd.ml create);
 * - a VDI a running guest on another host has attached read-write: the backend refuses to activate it there
 *   (SM blktap2.py _activate_locked: "not detached cleanly", raised as VDIUnavailable, SR_BACKEND_FAILURE_46).
 * The control domain is exempt from xapi's own sharing check (a system domain), and the same host's tapdisk is
 * shared, so a VDI in use by a guest on this very host is read and written as it is.
 */
export function assertAttachable(e: Engine, vdi: string, host: string, write: boolean): void {
  const v = e.db.get("VDI", vdi);
  if (write && v.read_only === true) throw fail("VDI_READONLY", vdi);
  for (const b of v.VBDs as string[]) {
    const vbd = e.db.maybe("VBD", b);
    if (!vbd || vbd.currently_attached !== true || vbd.mode !== "RW") continue;
    const vm = e.db.maybe("VM", vbd.VM);
    if (!vm || (vm.power_state !== "Running" && vm.power_state !== "Paused")) continue;
    if (vm.resident_on === host || vm.resident_on === NULL_REF) continue;
    throw fail(
      "SR_BACKEND_FAILURE_46",
      "",
      `The VDI is not available [opterr=VDI ${v.uuid as string} not detached cleanly]`,
      "",
    );
  }
}

/** The device error a write past the end of the disk ends in (vhd-tool fails; Vhd_tool_wrapper.run_vhd_tool). */
export function deviceIoError() {
  return fail("VDI_IO_ERROR", "Device I/O errors");
}

/** The highest byte the writes reach, or throws the device error when that is past the disk's end. */
export function checkWritesFit(e: Engine, vdi: string, end: number): void {
  const size = e.db.get("VDI", vdi).virtual_size as number;
  if (end > size || end > MAX_STORED_BYTES) throw deviceIoError();
}

/** Writes the imported runs onto the disk (what lies beyond them stays). Call inside a transaction. */
export function writeVdi(e: Engine, vdi: string, writes: Write[]): void {
  const end = writes.reduce((m, w) => Math.max(m, w.offset + w.data.length), 0);
  checkWritesFit(e, vdi, end);
  setVdiBytes(e, vdi, mergeWrites(vdiBytes(e, vdi), writes));
}

/** The disk as a raw image: its bytes, then zeros up to its virtual size. */
export function readVdi(e: Engine, vdi: string): { data: Buffer; size: number } {
  const size = e.db.get("VDI", vdi).virtual_size as number;
  const data = vdiBytes(e, vdi);
  return { data: data.length > size ? data.subarray(0, size) : data, size };
}

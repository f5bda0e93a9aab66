/**
 * What a simulated disk holds, kept with the VDI's simulator-only state (persisted with it, never in a record):
 * - `content`: the opaque string the control plane writes (`/control/vdis/<uuid>/content`);
 * - `raw`: bytes written through `PUT /import_raw_vdi`, base64;
 * - `installedOs`: the system an installer wrote onto the disk;
 * - `media`: what an ISO image in the ISO library is (installer, tools).
 * Every copy of a disk (VDI.copy, clones, snapshots, migration) carries all of them.
 */
import type { Rec } from "./db";
import type { Engine } from "./engine";

/** A guest operating system as its agent reports it (VM_guest_metrics.os_version) and what it brings along. */
export interface GuestOs {
  os: Record<string, string>;
  /** the kernel has Xen PV drivers */
  pvDrivers: boolean;
  /** a guest agent reports to xapi */
  agent: boolean;
  /** feature flags the agent reports (VM_guest_metrics.other) */
  features: string[];
}

/** An ISO image of the library: a bootable installer of `installs`, or a data disc. */
export interface IsoMedia {
  bootable: boolean;
  installs?: GuestOs & { minDiskBytes: number };
}

const DATA_KEYS = ["content", "raw", "installedOs", "media"] as const;

function hidden(e: Engine, vdi: string): Rec {
  return e.hidden(vdi);
}

/** Copies every kind of data the source disk holds onto `to` (what the destination held before is replaced). */
export function copyVdiData(e: Engine, from: string, to: string): void {
  const src = hidden(e, from);
  const dst = hidden(e, to);
  for (const k of DATA_KEYS) {
    const v = src[k];
    if (v !== undefined && v !== null) e.db.setHidden(to, k, v);
    else if (dst[k] !== undefined && dst[k] !== null) e.db.setHidden(to, k, null);
  }
}

/** Drops one kind of data (kept as null: the stored hidden map has no deletion, and null reads as absent). */
function clear(e: Engine, vdi: string, key: (typeof DATA_KEYS)[number]): void {
  const v = hidden(e, vdi)[key];
  if (v !== undefined && v !== null) e.db.setHidden(vdi, key, null);
}

/** The disk's bytes from offset 0: what was imported, else the control-plane content string as UTF-8. */
export function vdiBytes(e: Engine, vdi: string): Buffer {
  const h = hidden(e, vdi);
  if (typeof h.raw === "string" && h.raw) return Buffer.from(h.raw, "base64");
  if (typeof h.content === "string" && h.content) return Buffer.from(h.content, "utf8");
  return Buffer.alloc(0);
}

/** The base64 text of the imported bytes, or undefined; its identity changes with every write. */
export function rawText(e: Engine, vdi: string): string | undefined {
  const raw = hidden(e, vdi).raw;
  return typeof raw === "string" && raw ? raw : undefined;
}

/** A run of bytes written at `offset`. */
export interface Write {
  offset: number;
  data: Buffer;
}

/** The disk's bytes after `writes` land on what it held: beyond the writes, the old data stays. */
export function mergeWrites(old: Buffer, writes: Write[]): Buffer {
  const end = writes.reduce((m, w) => Math.max(m, w.offset + w.data.length), old.length);
  const out = Buffer.alloc(end);
  old.copy(out, 0);
  for (const w of writes) w.data.copy(out, w.offset);
  return out;
}

/**
 * Replaces the disk's bytes with `bytes` (as a raw import leaves them). The disk no longer holds what the
 * simulator knew of it (installed system, ISO media kind, content string). A disk that did not have its whole
 * size allocated (a copy-on-write clone) now has at least the written bytes allocated, and so has its SR.
 */
export function setVdiBytes(e: Engine, vdi: string, bytes: Buffer): void {
  e.db.setHidden(vdi, "raw", bytes.toString("base64"));
  clear(e, vdi, "content");
  clear(e, vdi, "installedOs");
  clear(e, vdi, "media");
  const v = e.db.get("VDI", vdi);
  const used = Math.min(bytes.length, v.virtual_size as number);
  const grow = used - (v.physical_utilisation as number);
  if (grow <= 0) return;
  e.db.set(vdi, "physical_utilisation", used);
  const sr = e.db.maybe("SR", v.SR);
  if (sr) e.db.set(v.SR as string, "physical_utilisation", (sr.physical_utilisation as number) + grow);
}

export function installedOs(e: Engine, vdi: string): GuestOs | undefined {
  const v = hidden(e, vdi).installedOs;
  return v && typeof v === "object" ? (v as GuestOs) : undefined;
}

export function setInstalledOs(e: Engine, vdi: string, os: GuestOs): void {
  e.db.setHidden(vdi, "installedOs", os);
}

export function isoMedia(e: Engine, vdi: string): IsoMedia | undefined {
  const v = hidden(e, vdi).media;
  return v && typeof v === "object" ? (v as IsoMedia) : undefined;
}

export function setIsoMedia(e: Engine, vdi: string, media: IsoMedia): void {
  e.db.setHidden(vdi, "media", media);
}

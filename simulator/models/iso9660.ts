/**
 * A small ISO 9660 reader: the volume label and the files of a CD image, as a Linux guest sees them once it has
 * mounted the disc (ECMA-119 for the layout, SUSP/IEEE P1282 for Rock Ridge, Microsoft's Joliet for UCS-2
 * names). Pure: bytes in, names and file contents out.
 *
 * Names, in the order Linux's isofs prefers them: Rock Ridge `NM` entries of the primary volume's tree; else the
 * Joliet supplementary volume's UCS-2 names; else the ISO name lowercased, without its `;1` version and a
 * trailing dot (mount's `map=normal`).
 */

export const SECTOR = 2048;
/** Volume descriptors start at sector 16 (the first 32 KiB are the system area). */
const FIRST_DESCRIPTOR = 16;
/** How far to look for the terminator: real images have a handful of descriptors. */
const MAX_DESCRIPTORS = 64;
/** Bounds that keep a hostile image from making the reader loop or allocate without end. */
const MAX_ENTRIES = 10_000;
const MAX_DEPTH = 16;

export interface IsoFile {
  /** the name as the guest sees it (see the module comment) */
  name: string;
  /** path from the root, `/`-separated, no leading slash */
  path: string;
  directory: boolean;
  size: number;
  /** first logical block of the extent */
  extent: number;
}

export interface IsoVolume {
  /** the primary volume identifier, trailing blanks removed */
  label: string;
  /** the Joliet volume identifier, when the image has a Joliet descriptor */
  jolietLabel?: string;
  /** which names `files` carries */
  names: "rockridge" | "joliet" | "iso";
  /** every file and directory, depth first, root entries first */
  files: IsoFile[];
}

/** Why the bytes are not a readable ISO 9660 image. */
export class IsoFormatError extends Error {
  override readonly name = "IsoFormatError";
}

interface DirRecord {
  extent: number;
  size: number;
  directory: boolean;
  isoName: Buffer;
  systemUse: Buffer;
}

interface Descriptor {
  type: number;
  offset: number;
}

/** True when the bytes carry an ISO 9660 volume descriptor set. */
export function isIso9660(data: Buffer): boolean {
  return data.length >= (FIRST_DESCRIPTOR + 1) * SECTOR && descriptorAt(data, FIRST_DESCRIPTOR) !== undefined;
}

function descriptorAt(data: Buffer, sector: number): Descriptor | undefined {
  const offset = sector * SECTOR;
  if (offset + SECTOR > data.length) return undefined;
  if (data.toString("latin1", offset + 1, offset + 6) !== "CD001") return undefined;
  return { type: data[offset]!, offset };
}

/** Reads the volume label and the file tree; throws IsoFormatError for anything that is not an ISO image. */
export function readIso(data: Buffer): IsoVolume {
  const descriptors: Descriptor[] = [];
  for (let i = 0; i < MAX_DESCRIPTORS; i++) {
    const d = descriptorAt(data, FIRST_DESCRIPTOR + i);
    if (!d) break;
    if (d.type === 255) break;
    descriptors.push(d);
  }
  const primary = descriptors.find((d) => d.type === 1);
  if (!primary) throw new IsoFormatError("no primary volume descriptor");
  const blockSize = data.readUInt16LE(primary.offset + 128);
  if (blockSize !== SECTOR) throw new IsoFormatError(`logical block size ${blockSize} is not supported`);
  const label = data.toString("latin1", primary.offset + 40, primary.offset + 72).replace(/[ \0]+$/, "");
  const joliet = descriptors.find((d) => d.type === 2 && isJolietEscape(data, d.offset));
  const jolietLabel = joliet
    ? ucs2(data.subarray(joliet.offset + 40, joliet.offset + 72)).replace(/[ \0]+$/, "")
    : undefined;

  const root = dirRecord(data, primary.offset + 156);
  if (!root) throw new IsoFormatError("no root directory record");
  const rr = rockRidgeSkip(data, root);
  if (rr !== undefined) {
    return {
      label,
      ...opt(jolietLabel),
      names: "rockridge",
      files: walk(data, root, (r) => rockRidgeName(data, r, rr)),
    };
  }
  if (joliet) {
    const jroot = dirRecord(data, joliet.offset + 156);
    if (!jroot) throw new IsoFormatError("no Joliet root directory record");
    return {
      label,
      ...opt(jolietLabel),
      names: "joliet",
      files: walk(data, jroot, (r) => stripVersion(ucs2(r.isoName))),
    };
  }
  return { label, names: "iso", files: walk(data, root, (r) => isoName(r.isoName)) };
}

function opt(jolietLabel: string | undefined): { jolietLabel?: string } {
  return jolietLabel === undefined ? {} : { jolietLabel };
}

/** The volume label matches `label` case-insensitively (blkid reports either descriptor's). */
export function hasVolumeLabel(volume: IsoVolume, label: string): boolean {
  const want = label.toLowerCase();
  return volume.label.toLowerCase() === want || volume.jolietLabel?.toLowerCase() === want;
}

/** The file at `path` (names as `readIso` reports them), or undefined. */
export function findFile(volume: IsoVolume, path: string): IsoFile | undefined {
  const want = path.replace(/^\/+/, "");
  return volume.files.find((f) => f.path === want && !f.directory);
}

/** A file's bytes (a view into `data`). */
export function fileBytes(data: Buffer, file: IsoFile): Buffer {
  const start = file.extent * SECTOR;
  const end = start + file.size;
  if (end > data.length) throw new IsoFormatError(`${file.path} runs past the end of the image`);
  return data.subarray(start, end);
}

/** Joliet's escape sequences for UCS-2 levels 1-3 (`%/@`, `%/C`, `%/E`) at offset 88 of the descriptor. */
function isJolietEscape(data: Buffer, offset: number): boolean {
  const esc = data.toString("latin1", offset + 88, offset + 91);
  return esc === "%/@" || esc === "%/C" || esc === "%/E";
}

function ucs2(b: Buffer): string {
  let s = "";
  for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode(b.readUInt16BE(i));
  return s;
}

function stripVersion(name: string): string {
  return name.replace(/;\d+$/, "");
}

/** An ISO name as Linux shows it without extensions: lowercase, no `;1`, no trailing dot. */
function isoName(raw: Buffer): string {
  return stripVersion(raw.toString("latin1")).replace(/\.$/, "").toLowerCase();
}

function dirRecord(data: Buffer, offset: number): DirRecord | undefined {
  const len = data[offset];
  if (!len || offset + len > data.length || len < 34) return undefined;
  const nameLen = data[offset + 32]!;
  if (33 + nameLen > len) return undefined;
  const isoNameEnd = offset + 33 + nameLen;
  // A padding byte follows a name of even length, so that the system use area starts on an even offset.
  const suStart = isoNameEnd + (nameLen % 2 === 0 ? 1 : 0);
  return {
    extent: data.readUInt32LE(offset + 2),
    size: data.readUInt32LE(offset + 10),
    directory: (data[offset + 25]! & 0x02) !== 0,
    isoName: data.subarray(offset + 33, isoNameEnd),
    systemUse: data.subarray(Math.min(suStart, offset + len), offset + len),
  };
}

/** The records of a directory extent ("." and ".." included). Records never cross a sector boundary. */
function records(data: Buffer, dir: DirRecord): DirRecord[] {
  const out: DirRecord[] = [];
  const start = dir.extent * SECTOR;
  const end = Math.min(start + dir.size, data.length);
  let pos = start;
  while (pos < end && out.length < MAX_ENTRIES) {
    const len = data[pos]!;
    if (len === 0) {
      pos = (Math.floor((pos - start) / SECTOR) + 1) * SECTOR + start;
      continue;
    }
    const r = dirRecord(data, pos);
    if (!r) break;
    out.push(r);
    pos += len;
  }
  return out;
}

const isSelfOrParent = (r: DirRecord) => r.isoName.length === 1 && (r.isoName[0] === 0 || r.isoName[0] === 1);

function walk(data: Buffer, root: DirRecord, nameOf: (r: DirRecord) => string | undefined): IsoFile[] {
  const out: IsoFile[] = [];
  const seen = new Set<number>([root.extent]);
  const visit = (dir: DirRecord, prefix: string, depth: number) => {
    const subdirs: [DirRecord, string][] = [];
    for (const r of records(data, dir)) {
      if (isSelfOrParent(r)) continue;
      const name = nameOf(r);
      if (!name) continue;
      const path = prefix ? `${prefix}/${name}` : name;
      out.push({ name, path, directory: r.directory, size: r.size, extent: r.extent });
      if (out.length >= MAX_ENTRIES) return;
      if (r.directory && !seen.has(r.extent)) {
        seen.add(r.extent);
        subdirs.push([r, path]);
      }
    }
    if (depth >= MAX_DEPTH) return;
    for (const [r, path] of subdirs) visit(r, path, depth + 1);
  };
  visit(root, "", 0);
  return out;
}

// ---- Rock Ridge (SUSP) ---------------------------------------------------------------------------------------

interface SuspEntry {
  sig: string;
  body: Buffer;
}

/**
 * SUSP's `SP` entry in the root's "." record marks an image with System Use entries and says how many bytes to
 * skip at the start of each system use area; undefined when the image has none.
 */
function rockRidgeSkip(data: Buffer, root: DirRecord): number | undefined {
  const first = records(data, root)[0];
  if (!first) return undefined;
  const su = first.systemUse;
  if (su.length >= 7 && su.toString("latin1", 0, 2) === "SP" && su[4] === 0xbe && su[5] === 0xef) return su[6]!;
  return undefined;
}

/** The entries of a record's system use area, following `CE` continuation areas. */
function suspEntries(data: Buffer, area: Buffer): SuspEntry[] {
  const out: SuspEntry[] = [];
  let current: Buffer | undefined = area;
  for (let hops = 0; current && hops < 16; hops++) {
    let next: Buffer | undefined;
    let pos = 0;
    while (pos + 4 <= current.length) {
      const sig = current.toString("latin1", pos, pos + 2);
      const len = current[pos + 2]!;
      if (len < 4 || pos + len > current.length) break;
      const body = current.subarray(pos + 4, pos + len);
      if (sig === "ST") break;
      if (sig === "CE" && body.length >= 24) {
        const start = body.readUInt32LE(0) * SECTOR + body.readUInt32LE(8);
        const size = body.readUInt32LE(16);
        if (start + size <= data.length) next = data.subarray(start, start + size);
      } else out.push({ sig, body });
      pos += len;
    }
    current = next;
  }
  return out;
}

/** The name from the record's `NM` entries (continued across entries with flag 1); undefined when it has none. */
function rockRidgeName(data: Buffer, r: DirRecord, skip: number): string | undefined {
  const nm = suspEntries(data, r.systemUse.subarray(skip)).filter((e) => e.sig === "NM");
  if (nm.length === 0) return isoName(r.isoName);
  let name = "";
  for (const e of nm) {
    const flags = e.body[0] ?? 0;
    if (flags & 0x06) return undefined;
    name += e.body.subarray(1).toString("utf8");
    if (!(flags & 0x01)) break;
  }
  return name || undefined;
}

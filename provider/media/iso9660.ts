/**
 * A minimal ISO 9660 image writer: one root directory of plain files, with Rock Ridge names (so `user-data` keeps
 * its lower case and dash, as a NoCloud config drive needs) and ISO names for readers without Rock Ridge. The
 * same files always give the same bytes (no timestamps), so an image's hash says whether its content changed.
 */

const SECTOR = 2048;
/** System area (16 sectors), the primary descriptor, the terminator, two path tables, the root directory. */
const ROOT_SECTOR = 20;
const FIRST_FILE_SECTOR = ROOT_SECTOR + 1;

export interface IsoFile {
  name: string;
  content: Buffer;
}

function both16(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(n, 0);
  b.writeUInt16BE(n, 2);
  return b;
}

function both32(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(n, 0);
  b.writeUInt32BE(n, 4);
  return b;
}

function padded(text: string, length: number): Buffer {
  return Buffer.from(text.padEnd(length, " ").slice(0, length), "ascii");
}

/** The ISO name of a file: upper case d-characters, `NAME.EXT;1` (level 2: up to 30 characters). */
export function isoName(name: string): string {
  const clean = name.toUpperCase().replace(/[^A-Z0-9_.]/g, "_");
  const dot = clean.lastIndexOf(".");
  const [base, ext] = dot < 0 ? [clean, ""] : [clean.slice(0, dot).replace(/\./g, "_"), clean.slice(dot + 1)];
  return `${base.slice(0, 30 - ext.length - 1)}.${ext};1`;
}

/** Rock Ridge system use entries: POSIX attributes and the real name. */
function rockRidge(mode: number, name?: string): Buffer {
  const px = Buffer.concat([
    Buffer.from([0x50, 0x58, 36, 1]), // "PX", length, version
    both32(mode),
    both32(1), // links
    both32(0), // uid
    both32(0), // gid
  ]);
  if (name === undefined) return px;
  const nm = Buffer.concat([Buffer.from([0x4e, 0x4d, 5 + Buffer.byteLength(name), 1, 0]), Buffer.from(name)]);
  return Buffer.concat([px, nm]);
}

/** SUSP "SP" (in the root's own entry): says the system use areas hold SUSP entries (Rock Ridge). */
const SUSP_SP = Buffer.from([0x53, 0x50, 7, 1, 0xbe, 0xef, 0]);
const DIR_MODE = 0o040555;
const FILE_MODE = 0o100444;

function directoryRecord(id: Buffer, sector: number, size: number, directory: boolean, systemUse: Buffer): Buffer {
  const idPad = id.length % 2 === 0 ? 1 : 0;
  const length = 33 + id.length + idPad + systemUse.length;
  if (length > 255) throw new Error(`ISO 9660: the directory entry for ${id.toString()} is too long`);
  return Buffer.concat([
    Buffer.from([length, 0]),
    both32(sector),
    both32(size),
    Buffer.alloc(7), // recording date: not specified
    Buffer.from([directory ? 2 : 0, 0, 0]),
    both16(1), // volume sequence number
    Buffer.from([id.length]),
    id,
    Buffer.alloc(idPad),
    systemUse,
  ]);
}

/** An ISO 9660 image holding `files` in its root directory, labelled `volumeId` (e.g. `cidata`). */
export function buildIso(volumeId: string, files: readonly IsoFile[]): Buffer {
  const sorted = [...files].sort((a, b) => (isoName(a.name) < isoName(b.name) ? -1 : 1));
  const names = new Set(sorted.map((f) => isoName(f.name)));
  if (names.size !== sorted.length) throw new Error("ISO 9660: two files map to the same ISO name");
  let next = FIRST_FILE_SECTOR;
  const placed = sorted.map((f) => {
    const sector = next;
    next += Math.max(1, Math.ceil(f.content.length / SECTOR));
    return { ...f, sector };
  });
  const totalSectors = next;

  const self = (systemUse: Buffer) => directoryRecord(Buffer.from([0]), ROOT_SECTOR, SECTOR, true, systemUse);
  const entries = [
    self(Buffer.concat([SUSP_SP, rockRidge(DIR_MODE)])),
    directoryRecord(Buffer.from([1]), ROOT_SECTOR, SECTOR, true, rockRidge(DIR_MODE)),
    ...placed.map((f) =>
      directoryRecord(
        Buffer.from(isoName(f.name), "ascii"),
        f.sector,
        f.content.length,
        false,
        rockRidge(FILE_MODE, f.name),
      ),
    ),
  ];
  const root = Buffer.concat(entries);
  if (root.length > SECTOR) throw new Error("ISO 9660: too many files for one directory sector");

  const image = Buffer.alloc(totalSectors * SECTOR);
  const pvd = image.subarray(16 * SECTOR, 17 * SECTOR);
  pvd[0] = 1;
  pvd.write("CD001", 1, "ascii");
  pvd[6] = 1;
  padded("LINUX", 32).copy(pvd, 8);
  padded(volumeId, 32).copy(pvd, 40);
  both32(totalSectors).copy(pvd, 80);
  both16(1).copy(pvd, 120);
  both16(1).copy(pvd, 124);
  both16(SECTOR).copy(pvd, 128);
  both32(10).copy(pvd, 132); // path table size: the root alone
  pvd.writeUInt32LE(18, 140);
  pvd.writeUInt32BE(19, 148);
  self(Buffer.alloc(0)).copy(pvd, 156);
  for (const [offset, length] of [
    [190, 128],
    [318, 128],
    [446, 128],
    [574, 128],
    [702, 37],
    [739, 37],
    [776, 37],
  ] as const)
    padded("", length).copy(pvd, offset);
  for (const offset of [813, 830, 847, 864]) pvd.write("0000000000000000", offset, "ascii"); // dates: not specified
  pvd[881] = 1;
  // Volume descriptor set terminator.
  const end = image.subarray(17 * SECTOR);
  end[0] = 255;
  end.write("CD001", 1, "ascii");
  end[6] = 1;
  // Path tables (little and big endian): the root directory.
  const pathEntry = (le: boolean) => {
    const b = Buffer.alloc(10);
    b[0] = 1;
    if (le) b.writeUInt32LE(ROOT_SECTOR, 2);
    else b.writeUInt32BE(ROOT_SECTOR, 2);
    if (le) b.writeUInt16LE(1, 6);
    else b.writeUInt16BE(1, 6);
    return b;
  };
  pathEntry(true).copy(image, 18 * SECTOR);
  pathEntry(false).copy(image, 19 * SECTOR);
  root.copy(image, ROOT_SECTOR * SECTOR);
  for (const f of placed) f.content.copy(image, f.sector * SECTOR);
  return image;
}

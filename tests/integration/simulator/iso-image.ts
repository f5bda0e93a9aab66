/**
 * Test-only ISO 9660 images (ECMA-119), built byte by byte: files in the root directory, named by Rock Ridge
 * `NM` entries, by a Joliet supplementary volume (UCS-2), or by ISO names alone. Enough for the simulator's
 * reader and a NoCloud `cidata` drive; not a general mastering tool.
 */

const SECTOR = 2048;

export interface ImageFile {
  name: string;
  content: Buffer | string;
}

export interface ImageOptions {
  /** the primary volume identifier (e.g. `cidata`) */
  label: string;
  /** how the real names are carried: Rock Ridge (default), Joliet, or ISO names only */
  names?: "rockridge" | "joliet" | "iso";
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

/** `USER-DATA.;1` style: upper case, characters outside d-characters replaced, a dot and a version. */
export function isoNameOf(name: string): string {
  const up = name.toUpperCase().replace(/[^A-Z0-9_.-]/g, "_");
  return up.includes(".") ? `${up};1` : `${up}.;1`;
}

function record(id: Buffer, sector: number, size: number, directory: boolean, systemUse?: Buffer): Buffer {
  const pad = id.length % 2 === 0 ? 1 : 0;
  const len = 33 + id.length + pad + (systemUse?.length ?? 0);
  return Buffer.concat([
    Buffer.from([len, 0]),
    both32(sector),
    both32(size),
    Buffer.from([126, 1, 1, 0, 0, 0, 0]),
    Buffer.from([directory ? 2 : 0, 0, 0]),
    both16(1),
    Buffer.from([id.length]),
    id,
    Buffer.alloc(pad),
    systemUse ?? Buffer.alloc(0),
  ]);
}

const SP = Buffer.from([0x53, 0x50, 7, 1, 0xbe, 0xef, 0]);

function nm(name: string): Buffer {
  const n = Buffer.from(name, "utf8");
  return Buffer.concat([Buffer.from([0x4e, 0x4d, 5 + n.length, 1, 0]), n]);
}

function ucs2(s: string): Buffer {
  const b = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) b.writeUInt16BE(s.charCodeAt(i), i * 2);
  return b;
}

function text(s: string, len: number): Buffer {
  return Buffer.from(s.padEnd(len, " ").slice(0, len), "latin1");
}

function descriptor(type: 1 | 2, label: Buffer, totalSectors: number, root: Buffer, pathTable: number): Buffer {
  const d = Buffer.alloc(SECTOR);
  d[0] = type;
  d.write("CD001", 1, "latin1");
  d[6] = 1;
  text("LINUX", 32).copy(d, 8);
  label.copy(d, 40);
  both32(totalSectors).copy(d, 80);
  if (type === 2) d.write("%/E", 88, "latin1");
  both16(1).copy(d, 120);
  both16(1).copy(d, 124);
  both16(SECTOR).copy(d, 128);
  both32(10).copy(d, 132);
  d.writeUInt32LE(pathTable, 140);
  d.writeUInt32BE(pathTable + 1, 148);
  root.copy(d, 156);
  for (const at of [813, 830, 847, 864]) d.write("0000000000000000", at, "latin1");
  d[881] = 1;
  return d;
}

/** An image holding `files` in its root directory. */
export function isoImage(files: ImageFile[], opts: ImageOptions): Buffer {
  const names = opts.names ?? "rockridge";
  const joliet = names === "joliet";
  // 16 system sectors, PVD, (SVD), terminator, L and M path tables, root directories, then the files.
  let next = 16;
  const pvdAt = next++;
  const svdAt = joliet ? next++ : -1;
  const termAt = next++;
  const pathAt = next;
  next += 2;
  const rootAt = next++;
  const jrootAt = joliet ? next++ : -1;
  const contents = files.map((f) => (typeof f.content === "string" ? Buffer.from(f.content) : f.content));
  const fileAt = contents.map((c) => {
    const at = next;
    next += Math.max(1, Math.ceil(c.length / SECTOR));
    return at;
  });
  const total = next;
  const img = Buffer.alloc(total * SECTOR);

  const rr = names === "rockridge";
  const dir = (self: number, ids: Buffer[], withNm: boolean) => {
    const parts = [
      record(Buffer.from([0]), self, SECTOR, true, rr && withNm ? SP : Buffer.alloc(0)),
      record(Buffer.from([1]), self, SECTOR, true),
      ...ids.map((id, i) =>
        record(id, fileAt[i]!, contents[i]!.length, false, rr && withNm ? nm(files[i]!.name) : undefined),
      ),
    ];
    const body = Buffer.concat(parts);
    if (body.length > SECTOR) throw new Error("iso-image: the root directory must fit in one sector");
    body.copy(img, self * SECTOR);
  };
  dir(
    rootAt,
    files.map((f) => Buffer.from(isoNameOf(f.name), "latin1")),
    true,
  );
  if (joliet)
    dir(
      jrootAt,
      files.map((f) => ucs2(`${f.name};1`)),
      false,
    );
  const rootRecord = record(Buffer.from([0]), rootAt, SECTOR, true);
  descriptor(1, text(opts.label, 32), total, rootRecord, pathAt).copy(img, pvdAt * SECTOR);
  if (joliet) {
    const label = Buffer.alloc(32, 0);
    ucs2(opts.label.padEnd(16, " ").slice(0, 16)).copy(label);
    const jroot = record(Buffer.from([0]), jrootAt, SECTOR, true);
    descriptor(2, label, total, jroot, pathAt).copy(img, svdAt * SECTOR);
  }
  img[termAt * SECTOR] = 255;
  img.write("CD001", termAt * SECTOR + 1, "latin1");
  img[termAt * SECTOR + 6] = 1;
  // Path tables: the root alone (length 1, extent, parent 1, id 0, pad).
  const l = Buffer.from([1, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  l.writeUInt32LE(rootAt, 2);
  l.copy(img, pathAt * SECTOR);
  const m = Buffer.from([1, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
  m.writeUInt32BE(rootAt, 2);
  m.copy(img, (pathAt + 1) * SECTOR);
  contents.forEach((c, i) => c.copy(img, fileAt[i]! * SECTOR));
  return img;
}

/** A NoCloud drive: `meta-data`, `user-data` and, when given, `network-config`. */
export function noCloudDrive(
  files: { metaData: string; userData: string; networkConfig?: string },
  opts: Partial<ImageOptions> = {},
): Buffer {
  const list: ImageFile[] = [
    { name: "meta-data", content: files.metaData },
    { name: "user-data", content: files.userData },
  ];
  if (files.networkConfig !== undefined) list.push({ name: "network-config", content: files.networkConfig });
  return isoImage(list, { label: opts.label ?? "cidata", names: opts.names ?? "rockridge" });
}

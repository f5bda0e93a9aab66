import { randomBytes } from "node:crypto";

/** The one source of randomness: every uuid, MAC and placement tie-break comes from here, so a seed replays. */
export class Ids {
  private state: number;
  private readonly seeded: boolean;

  constructor(seed?: number) {
    this.seeded = seed !== undefined;
    this.state = (seed ?? 0) >>> 0 || 0x9e3779b9;
  }

  private pool = Buffer.alloc(0);
  private poolAt = 0;

  /** mulberry32; crypto randomness (read in blocks) when no seed was given. */
  next(): number {
    if (!this.seeded) {
      if (this.poolAt + 4 > this.pool.length) {
        this.pool = randomBytes(4096);
        this.poolAt = 0;
      }
      const v = this.pool.readUInt32BE(this.poolAt);
      this.poolAt += 4;
      return v / 0x100000000;
    }
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  }

  bytes(n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(Math.floor(this.next() * 256));
    return out;
  }

  uuid(): string {
    return this.uuidText("");
  }

  ref(): string {
    return this.uuidText("OpaqueRef:");
  }

  /**
   * `prefix` and a random (version 4) uuid, written into one buffer: the string is one flat copy, where
   * concatenating pieces would leave V8 a tree of parts for every uuid and ref the store keeps.
   */
  private uuidText(prefix: string): string {
    const b = this.bytes(16);
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const out = Buffer.allocUnsafe(prefix.length + 36);
    let at = out.write(prefix, "latin1");
    b.forEach((x, i) => {
      if (i === 4 || i === 6 || i === 8 || i === 10) out[at++] = DASH;
      out[at++] = HEX[x >> 4]!;
      out[at++] = HEX[x & 15]!;
    });
    return out.toString("latin1");
  }

  /** A locally administered unicast MAC, as xapi generates for VIFs. */
  mac(): string {
    const b = this.bytes(6);
    b[0] = (b[0]! & 0xfc) | 0x02;
    return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
  }

  token(): string {
    return this.bytes(24)
      .map((x) => x.toString(16).padStart(2, "0"))
      .join("");
  }
}

export const NULL_REF = "OpaqueRef:NULL";

const HEX = Buffer.from("0123456789abcdef", "latin1");
const DASH = 0x2d;

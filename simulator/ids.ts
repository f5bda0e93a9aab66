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
    const b = this.bytes(16);
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const h = b.map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  ref(): string {
    return `OpaqueRef:${this.uuid()}`;
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

/** Parsing of the human-friendly sizes and durations accepted by resource inputs. Pure. */

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** `4294967296`, `"4GiB"`, `"512 MiB"`, `"1.5TiB"` -> bytes. Throws with the accepted forms on anything else. */
export function parseSize(value: number | string): number {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`size ${value} must be a whole number of bytes`);
    return value;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = match ? SIZE_UNITS[(match[2] || "b").toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new Error(`"${value}" is not a size: use bytes or a string such as "512MiB", "4GiB" or "1TiB"`);
  }
  const bytes = Math.round(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new Error(`size "${value}" is too large`);
  return bytes;
}

/** Bytes -> the shortest exact binary-unit string, for messages ("4 GiB", "1536 MiB"). */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ["TiB", 1024 ** 4],
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor} ${unit}`;
  }
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  return `${bytes} B`;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `90` (seconds), `"30s"`, `"10m"`, `"1h30m"` -> milliseconds. */
export function parseDuration(value: number | string): number {
  if (typeof value === "number") {
    if (!(value >= 0) || !Number.isFinite(value))
      throw new Error(`duration ${value} must be a non-negative number of seconds`);
    return Math.round(value * 1000);
  }
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  const consumed = parts.map((p) => p[0]).join("");
  if (parts.length === 0 || consumed !== value.replace(/\s+/g, "")) {
    throw new Error(`"${value}" is not a duration: use seconds or a string such as "30s", "10m" or "1h30m"`);
  }
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * DURATION_UNITS[p[2]!]!, 0));
}

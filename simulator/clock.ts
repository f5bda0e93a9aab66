/** Injectable time: the models read `now()` and wait with `sleep()`, never `Date`/`setTimeout` directly. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => (ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms))),
};

/** XenAPI datetime: `YYYYMMDDTHH:MM:SSZ`; the epoch stands for "unset". */
export function xenDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}Z`;
}

export const EPOCH = "19700101T00:00:00Z";

/** Parses a XenAPI datetime (with `Z` or `±hh:mm`, dashes tolerated); undefined if not one. */
export function parseXenDate(s: string): number | undefined {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (!m) return undefined;
  const tz = m[7] && m[7] !== "Z" ? m[7] : "Z";
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${tz.length === 5 ? `${tz.slice(0, 3)}:${tz.slice(3)}` : tz}`;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
}

import { Engine } from "./engine";
import { Rec } from "./db";

/**
 * Performance statistics as xcp-rrdd exports them on `GET /rrd_updates` (xapi `ocaml/libs/xapi-rrd/lib/
 * rrd_updates.ml`): one column per data source, legend `<CF>:host:<uuid>:<ds>` or `<CF>:vm:<uuid>:<ds>`,
 * rows newest first. The simulator keeps no history: each value is a pure function of (object, data source,
 * time), so two reads agree and a test can predict the shape. Knows nothing of HTTP.
 */

/** One exported table: `rrd_updates.ml` type `t`. */
export interface RrdUpdates {
  start: number;
  step: number;
  end: number;
  legend: string[];
  /** newest first, as xapi returns them */
  rows: { t: number; values: number[] }[];
}

/** xcp-rrdd's archives: 5 s for 10 min, 1 min for 2 h, 1 h for a week, 1 day for a year (xen-api/http.md). */
export const ARCHIVES: readonly { step: number; rows: number }[] = [
  { step: 5, rows: 120 },
  { step: 60, rows: 120 },
  { step: 3600, rows: 168 },
  { step: 86400, rows: 366 },
];

export const CFS = ["AVERAGE", "MIN", "MAX", "LAST"] as const;
export type Cf = (typeof CFS)[number];

export interface RrdQuery {
  /** seconds since the epoch; negative = relative to now (rrd_updates.ml create_multi) */
  start: number;
  /** wanted seconds between rows; the archive with the first step at least this long that reaches back to start */
  interval?: number;
  cf: Cf;
  /** include the host's own data sources (`host=true`) */
  host: boolean;
  /** only this VM (`vm_uuid=`) */
  vmUuid?: string;
}

type Source = { name: string; value: (t: number) => number };

/** A stable pseudo-random phase per (object, data source): values wave instead of being constant. */
function phase(key: string): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return ((h >>> 0) % 10000) / 10000;
}

function wave(key: string, t: number, lo: number, hi: number, period = 600): number {
  const p = phase(key);
  return lo + ((hi - lo) * (1 + Math.sin(2 * Math.PI * (t / period + p)))) / 2;
}

function hostSources(e: Engine, ref: string, h: Rec): Source[] {
  const uuid = h.uuid as string;
  const cpus = Math.max(1, Number((h.cpu_info as Record<string, string>).cpu_count ?? 1));
  const m = e.db.has(h.metrics, "host_metrics") ? e.db.get("host_metrics", h.metrics as string) : undefined;
  const totalKib = Number(m?.memory_total ?? 0) / 1024;
  const freeKib = Number(m?.memory_free ?? 0) / 1024;
  const out: Source[] = [];
  for (let i = 0; i < cpus; i++) out.push({ name: `cpu${i}`, value: (t) => wave(`${uuid}cpu${i}`, t, 0.01, 0.3) });
  out.push({ name: "cpu_avg", value: (t) => wave(`${uuid}cpu_avg`, t, 0.02, 0.2) });
  out.push({ name: "memory_total_kib", value: () => totalKib });
  out.push({ name: "memory_free_kib", value: () => freeKib });
  out.push({ name: "loadavg", value: (t) => wave(`${uuid}loadavg`, t, 0.05, 1.5) });
  for (const [, pif] of e.db.all("PIF").filter(([, p]) => p.host === ref)) {
    const dev = pif.device as string;
    out.push({ name: `pif_${dev}_rx`, value: (t) => wave(`${uuid}${dev}rx`, t, 1e3, 5e5) });
    out.push({ name: `pif_${dev}_tx`, value: (t) => wave(`${uuid}${dev}tx`, t, 1e3, 2e5) });
  }
  return out;
}

/** xen's disk name for a userdevice slot ("0" -> xvda), used where the VBD record has no device yet. */
function deviceName(userdevice: string): string {
  const n = Number(userdevice);
  return Number.isInteger(n) && n >= 0 && n < 26 ? `xvd${String.fromCharCode(97 + n)}` : `xvd${userdevice}`;
}

function vmSources(e: Engine, vm: Rec): Source[] {
  const uuid = vm.uuid as string;
  const out: Source[] = [];
  const vcpus = Math.max(1, Number(vm.VCPUs_at_startup ?? 1));
  for (let i = 0; i < vcpus; i++) out.push({ name: `cpu${i}`, value: (t) => wave(`${uuid}cpu${i}`, t, 0.005, 0.6) });
  const memory = Number(vm.memory_dynamic_max ?? 0);
  out.push({ name: "memory", value: () => memory });
  out.push({ name: "memory_target", value: () => Number(vm.memory_target ?? memory) });
  out.push({
    name: "memory_internal_free",
    value: (t) => Math.round(wave(`${uuid}memfree`, t, 0.2, 0.6) * (memory / 1024)),
  });
  for (const ref of vm.VBDs as string[]) {
    if (!e.db.has(ref, "VBD")) continue;
    const vbd = e.db.get("VBD", ref);
    if (vbd.empty || !vbd.currently_attached) continue;
    const dev = (vbd.device as string) || deviceName(vbd.userdevice as string);
    out.push({ name: `vbd_${dev}_read`, value: (t) => wave(`${uuid}${dev}r`, t, 0, 4e6) });
    out.push({ name: `vbd_${dev}_write`, value: (t) => wave(`${uuid}${dev}w`, t, 0, 2e6) });
  }
  for (const ref of vm.VIFs as string[]) {
    if (!e.db.has(ref, "VIF")) continue;
    const dev = e.db.get("VIF", ref).device as string;
    out.push({ name: `vif_${dev}_rx`, value: (t) => wave(`${uuid}vif${dev}rx`, t, 0, 3e5) });
    out.push({ name: `vif_${dev}_tx`, value: (t) => wave(`${uuid}vif${dev}tx`, t, 0, 1e5) });
  }
  return out;
}

/** The archive rrd_updates reads: the finest one at least `interval` long whose rows reach back to `start`. */
export function pickArchive(now: number, start: number, interval = 0): { step: number; rows: number } {
  const fits = ARCHIVES.filter((a) => a.step >= interval);
  return fits.find((a) => now - a.step * a.rows <= start) ?? fits[fits.length - 1] ?? ARCHIVES[ARCHIVES.length - 1]!;
}

/**
 * The host's statistics (if asked) and those of every running VM resident on it, between `start` and `now`
 * (seconds). Row times are multiples of the step, the last one at or before `now` (rrd.ml get_times).
 */
export function rrdUpdates(e: Engine, hostRef: string, q: RrdQuery, nowMs = e.clock.now()): RrdUpdates {
  const now = Math.floor(nowMs / 1000);
  const start = q.start < 0 ? now + q.start : q.start;
  const { step, rows: maxRows } = pickArchive(now, start, q.interval);
  const cols: { legend: string; src: Source }[] = [];
  const h = e.db.get("host", hostRef);
  if (q.host)
    for (const src of hostSources(e, hostRef, h)) cols.push({ legend: `${q.cf}:host:${h.uuid}:${src.name}`, src });
  for (const vmRef of h.resident_VMs as string[]) {
    if (!e.db.has(vmRef, "VM")) continue;
    const vm = e.db.get("VM", vmRef);
    if (vm.power_state !== "Running" && vm.power_state !== "Paused") continue;
    if (q.vmUuid !== undefined && vm.uuid !== q.vmUuid) continue;
    for (const src of vmSources(e, vm)) cols.push({ legend: `${q.cf}:vm:${vm.uuid}:${src.name}`, src });
  }
  const end = now - (now % step);
  const rows: RrdUpdates["rows"] = [];
  for (let i = 0; i < maxRows; i++) {
    const t = end - i * step;
    if (t < start) break;
    rows.push({ t, values: cols.map((c) => c.src.value(t)) });
  }
  const first = start - (start % step) + step;
  return { start: Math.min(first, end), step, end, legend: cols.map((c) => c.legend), rows };
}

/** xapi's number format in exports (xapi-rrd Utils.f_to_s). */
export function formatRrdNumber(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "-Infinity";
  return v.toFixed(4);
}

/** The rrdtool `xport` XML document (rrd_updates.ml xml_of). */
export function rrdUpdatesXml(u: RrdUpdates): string {
  const legend = u.legend.map((l) => `<entry>${l}</entry>`).join("");
  const rows = u.rows
    .map((r) => `<row><t>${r.t}</t>${r.values.map((v) => `<v>${formatRrdNumber(v)}</v>`).join("")}</row>`)
    .join("");
  return (
    `<?xml version="1.0" encoding="UTF-8"?><xport><meta><start>${u.start}</start><step>${u.step}</step>` +
    `<end>${u.end}</end><rows>${u.rows.length}</rows><columns>${u.legend.length}</columns>` +
    `<legend>${legend}</legend></meta><data>${rows}</data></xport>`
  );
}

/** The `json=true` form (rrd_updates.ml json_of_t): values are strings, times integers. */
export function rrdUpdatesJson(u: RrdUpdates): string {
  return JSON.stringify({
    meta: {
      start: u.start,
      step: u.step,
      end: u.end,
      rows: u.rows.length,
      columns: u.legend.length,
      legend: u.legend,
    },
    data: u.rows.map((r) => ({ t: r.t, values: r.values.map(formatRrdNumber) })),
  });
}

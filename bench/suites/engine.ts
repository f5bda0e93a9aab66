/**
 * Engine floor: `pulumi up` / no-change `preview` / `refresh` / `destroy` of N xen.Vm against the simulator at
 * time scale 0, each divided by the same operation on N no-op dynamic resources with the same inputs, run
 * through the same CLI in the same run. Also bytes of state per resource and XenAPI calls per VM of a refresh.
 */
import { Row, Series } from "../lib/report";
import { E2eEnv, SimHandle, Stack, engineEnv, fixture, startSimChild, timed } from "../lib/stackenv";
import { PeakRss } from "../lib/procmem";
import { MiB, fmt, log, median } from "../lib/util";

export interface EngineBenchOptions {
  runs: number;
  ns: number[];
}

type Kind = "vms" | "noop";
const OPS = ["up", "preview", "refresh", "destroy"] as const;
type Op = (typeof OPS)[number];

interface Sample {
  ms: Record<Op, number>;
  /** peak RSS of the dynamic-provider process during `up` */
  providerPeak: number;
  stateBytes: number;
  refreshCalls?: Record<string, number>;
}

const TARGET_AT_300: Partial<Record<Op, string>> = {
  up: "<= 1.3 at N = 300",
  preview: "<= 1.1 at N = 300",
  refresh: "<= 1.5 at N = 300",
};

async function cycle(env: E2eEnv, sim: SimHandle, kind: Kind, n: number): Promise<Sample> {
  if (kind === "vms") await sim.control("POST", "/reset");
  const stack: Stack = await env.openStack(fixture(kind), { config: { "bench:n": { value: String(n) } } });
  try {
    const watch = new PeakRss("dynamic-provider", `PULUMI_HOME=${env.pulumiHome}`).start();
    const up = await timed(() => env.up(stack));
    const peak = watch.stop();
    if (peak.processes === 0) throw new Error("no dynamic-provider process seen during up");
    const created = up.result.summary.resourceChanges?.create ?? 0;
    if (created !== n + 1) throw new Error(`${kind} up created ${created} resources, expected ${n + 1}`);
    const preview = await timed(() => env.preview(stack));
    const same = preview.result.changeSummary["same"] ?? 0;
    if (same !== n + 1) throw new Error(`${kind} preview: ${JSON.stringify(preview.result.changeSummary)}`);
    await sim.control("POST", "/metrics/reset");
    const refresh = await timed(() => env.refresh(stack));
    const m = await sim.metrics();
    const refreshCalls = Object.fromEntries(Object.entries(m.calls).map(([k, v]) => [k, v.count]));
    const stateBytes = Buffer.byteLength(await env.exportState(stack));
    env.log.clear();
    const destroy = await timed(() => env.destroy(stack));
    return {
      ms: { up: up.ms, preview: preview.ms, refresh: refresh.ms, destroy: destroy.ms },
      providerPeak: peak.bytes,
      stateBytes,
      ...(kind === "vms" ? { refreshCalls } : {}),
    };
  } finally {
    env.log.clear();
  }
}

export async function engineBench(o: EngineBenchOptions): Promise<{ rows: Row[]; notes: string[]; series: Series[] }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const medians: Record<Kind, Record<Op, { n: number; seconds: number }[]>> = {
    vms: { up: [], preview: [], refresh: [], destroy: [] },
    noop: { up: [], preview: [], refresh: [], destroy: [] },
  };
  const sim = await startSimChild();
  const env = await engineEnv(sim);
  try {
    // One discarded cycle of each kind first: the first CLI runs pay for cold caches (plugins, ts-node, disk).
    for (const kind of ["vms", "noop"] as const) {
      const s = await cycle(env, sim, kind, Math.min(...o.ns));
      log(`engine warm-up ${kind}: up ${fmt(s.ms.up / 1000)} s (discarded)`);
    }
    for (const n of o.ns) {
      const section = `Engine floor, N = ${n} (xen.Vm against no-op dynamic resources, same CLI)`;
      const samples: Record<Kind, Sample[]> = { vms: [], noop: [] };
      for (let r = 0; r < o.runs; r++) {
        // Alternate which goes first, so that drift of the machine does not favour one side.
        const order: Kind[] = r % 2 === 0 ? ["vms", "noop"] : ["noop", "vms"];
        for (const kind of order) {
          const s = await cycle(env, sim, kind, n);
          samples[kind].push(s);
          log(
            `engine N=${n} run ${r + 1} ${kind}: ${OPS.map((op) => `${op} ${fmt(s.ms[op] / 1000)} s`).join(", ")}, state ${fmt(s.stateBytes / 1024, 0)} KiB`,
          );
        }
      }
      for (const op of OPS) {
        const vm = median(samples.vms.map((s) => s.ms[op]));
        const noop = median(samples.noop.map((s) => s.ms[op]));
        medians.vms[op].push({ n, seconds: vm / 1000 });
        medians.noop[op].push({ n, seconds: noop / 1000 });
        const ratios = samples.vms.map((s, i) => s.ms[op] / samples.noop[i]!.ms[op]);
        rows.push({
          section,
          name: op === "preview" ? "no-change preview" : op === "up" ? "pulumi up (create)" : op,
          measured: `${fmt(vm / 1000)} s`,
          baseline: `${fmt(noop / 1000)} s`,
          ratio: median(ratios),
          target: n === 300 || TARGET_AT_300[op] === undefined ? (TARGET_AT_300[op] ?? "") : `(${TARGET_AT_300[op]})`,
        });
      }
      const calls = samples.vms.map((s) => Object.values(s.refreshCalls ?? {}).reduce((a, b) => a + b, 0));
      rows.push({
        section,
        name: "XenAPI calls of the whole refresh (the same for every N: one inventory per run)",
        measured: `${fmt(median(calls), 0)} calls (${fmt(median(calls) / n)} per VM)`,
        baseline: "-",
        ratio: null,
        target: "<= 30, whatever N",
      });
      const vmBytes = median(samples.vms.map((s) => s.stateBytes));
      const noopBytes = median(samples.noop.map((s) => s.stateBytes));
      rows.push({
        section,
        name: "state per resource (`pulumi stack export` bytes / N)",
        measured: `${fmt(vmBytes / n, 0)} B`,
        baseline: `${fmt(noopBytes / n, 0)} B (no-op resource, its provider serialized inline)`,
        ratio: median(samples.vms.map((s, i) => s.stateBytes / samples.noop[i]!.stateBytes)),
      });
      rows.push({
        section,
        name: "peak RSS of the dynamic-provider process during up",
        measured: `${fmt(median(samples.vms.map((s) => s.providerPeak)) / MiB, 0)} MiB`,
        baseline: `${fmt(median(samples.noop.map((s) => s.providerPeak)) / MiB, 0)} MiB`,
        ratio: median(samples.vms.map((s, i) => s.providerPeak / samples.noop[i]!.providerPeak)),
      });
      if (n === o.ns[o.ns.length - 1]) {
        const perVm = Object.entries(samples.vms[0]!.refreshCalls ?? {})
          .map(([k, v]) => `${k} ${fmt(v / n)}`)
          .join(", ");
        notes.push(`Refresh of N = ${n} VMs, XenAPI calls per VM (first run): ${perVm}.`);
      }
    }
  } finally {
    await env.cleanup();
    await sim.child.stop();
  }
  notes.push(
    "Engine runs: bin/pulumi through the Automation API (tests/e2e/harness: local file backend, TypeScript transpile-only), " +
      "default --parallel, one discarded warm-up cycle of each program first; the simulator (one host with 4 TiB, time scale 0, plain HTTP) in a child process, reset before " +
      "each VM stack. Each operation is timed from the Automation API call to its return, so CLI start-up, the program " +
      "run and checkpoint writes are on both sides of every ratio. Provider peak RSS: VmHWM of the engine's dynamic-provider " +
      "process, polled from /proc every 50 ms during up. Programs: bench/fixtures/vms and bench/fixtures/noop.",
  );
  const colors: Record<Op, string> = { up: "#1f77b4", preview: "#2ca02c", refresh: "#d62728", destroy: "#9467bd" };
  const series: Series[] = [];
  for (const op of ["up", "preview", "refresh"] as const) {
    series.push({ label: `${op}: ${"xen.Vm"}`, color: colors[op], points: medians.vms[op] });
    series.push({ label: `${op}: no-op floor`, color: colors[op], dashed: true, points: medians.noop[op] });
  }
  return { rows, notes, series };
}

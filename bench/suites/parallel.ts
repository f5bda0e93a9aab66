/**
 * Parallel efficiency: `pulumi up --parallel P` of N xen.Vm with the simulator's operation durations switched
 * on (scaled), against the ideal of issue 6: ceil(N / P) batches of one VM's simulated create time (VM.clone +
 * VM.provision + VM.start, the timed steps a create runs one after the other, from the simulator's duration
 * table at that scale). The no-op floor of the same N at the same P is measured in the same run and reported
 * beside it, with the ratio against floor + batches.
 */
import { Row } from "../lib/report";
import { engineEnv, fixture, startSimChild, timed } from "../lib/stackenv";
import { fmt, log, median } from "../lib/util";

export interface ParallelBenchOptions {
  runs: number;
  n: number;
  parallel: number;
  /** time scale of the simulator's durations during the measured up (1 = realistic) */
  scale: number;
}

const CREATE_STEPS = ["VM.clone", "VM.provision", "VM.start"];

export async function parallelBench(o: ParallelBenchOptions): Promise<{ rows: Row[]; notes: string[] }> {
  const sim = await startSimChild();
  const env = await engineEnv(sim);
  const ratios: number[] = [];
  const vmMs: number[] = [];
  const idealMs: number[] = [];
  const floorMs: number[] = [];
  const lenient: number[] = [];
  const aboveFloor: number[] = [];
  const calls: number[] = [];
  const errors: number[] = [];
  let perVm = 0;
  try {
    const { durations } = (await sim.control("GET", "/durations")) as { durations: Record<string, number> };
    perVm = CREATE_STEPS.reduce((s, k) => s + (durations[k] ?? 0), 0) * o.scale;
    const batches = Math.ceil(o.n / o.parallel);
    const config = { "bench:n": { value: String(o.n) } };
    for (let r = 0; r < o.runs; r++) {
      await sim.control("POST", "/reset");
      await sim.control("POST", "/time-scale", { scale: o.scale });
      const vms = await env.openStack(fixture("vms"), { config });
      await sim.control("POST", "/metrics/reset");
      const up = await timed(() => env.up(vms, { parallel: o.parallel }));
      const m = await sim.metrics();
      calls.push(m.total);
      errors.push(Object.values(m.calls).reduce((a, c) => a + c.errors, 0));
      await sim.control("POST", "/time-scale", { scale: 0 });
      await env.destroy(vms);
      const noop = await env.openStack(fixture("noop"), { config });
      const floor = await timed(() => env.up(noop, { parallel: o.parallel }));
      await env.destroy(noop);
      env.log.clear();
      // The ideal: batches x one VM's simulated create. The no-op floor is reported beside it.
      const ideal = batches * perVm;
      vmMs.push(up.ms);
      idealMs.push(ideal);
      floorMs.push(floor.ms);
      ratios.push(up.ms / ideal);
      lenient.push(up.ms / (ideal + floor.ms));
      aboveFloor.push((up.ms - floor.ms) / ideal);
      log(
        `parallel run ${r + 1}: up ${fmt(up.ms / 1000)} s, ideal ${batches} x ${fmt(perVm / 1000)} s, no-op floor ${fmt(floor.ms / 1000)} s`,
      );
    }
  } finally {
    await env.cleanup();
    await sim.child.stop();
  }
  const section = `Parallel efficiency (N = ${o.n}, --parallel ${o.parallel}, simulator durations at scale ${o.scale})`;
  return {
    rows: [
      {
        section,
        name: "pulumi up wall time / ideal",
        measured: `${fmt(median(vmMs) / 1000)} s`,
        baseline: `ideal ${fmt(median(idealMs) / 1000)} s = ${Math.ceil(o.n / o.parallel)} batches x ${fmt(perVm / 1000)} s (no-op floor at the same --parallel: ${fmt(median(floorMs) / 1000)} s)`,
        ratio: median(ratios),
        target: "<= 1.15",
      },
      {
        section,
        name: "the same above the engine's own floor: (wall - no-op floor) / ideal",
        measured: `${fmt((median(vmMs) - median(floorMs)) / 1000)} s`,
        baseline: `ideal ${fmt(median(idealMs) / 1000)} s`,
        ratio: median(aboveFloor),
        target: "",
      },
    ],
    notes: [
      `Parallel efficiency: one VM's simulated create is ${CREATE_STEPS.join(" + ")} from the simulator's duration table ` +
        `x scale ${o.scale} = ${fmt(perVm / 1000)} s. The ratio is the issue's (wall time of the whole pulumi up, CLI start-up ` +
        `included, / batches x that); against the more lenient ideal of no-op floor + batches x that it is ` +
        `${fmt(median(lenient))}. The floor is pulumi up of ${o.n} no-op resources at the same --parallel in the same run; destroys run at time scale 0 and are not timed. XenAPI calls during the timed up (median): ` +
        `${fmt(median(calls) / o.n)} per VM, ${median(errors)} failed calls in all.`,
    ],
  };
}

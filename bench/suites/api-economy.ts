/**
 * API economy: XenAPI calls per VM that `pulumi up`/`destroy` of N xen.Vm make for a create, a live update
 * (memory), a restart update (maxMemory with allowRestart) and a delete, counted by the simulator's metrics,
 * beside the minimal call sequence for each (stated below, per VM; one-off calls per run such as the login
 * and template/SR lookups are left out of the minimum but counted in the measurement).
 */
import { Row } from "../lib/report";
import { engineEnv, fixture, startSimChild } from "../lib/stackenv";
import { fmt, log, median } from "../lib/util";

interface Phase {
  name: string;
  minimal: string[];
  config?: Record<string, string>;
  destroy?: boolean;
  expect: { op: "create" | "update" | "delete"; count: (n: number) => number };
}

const PHASES: Phase[] = [
  {
    name: "create (running VM from a template, its 10 GiB disk, 1 vCPU, 512 MiB of 1 GiB)",
    minimal: [
      "VM.clone",
      "VM.provision",
      "VM.set_VCPUs_at_startup",
      "VM.set_VCPUs_max",
      "VM.set_memory_limits",
      "VM.add_to_other_config (ownership key)",
      "VM.start",
      "VM.get_record",
    ],
    expect: { op: "create", count: (n) => n + 1 },
  },
  {
    name: "live update (memory 512 MiB -> 768 MiB, running)",
    minimal: ["VM.get_by_uuid", "VM.set_memory_dynamic_range", "VM.get_record"],
    config: { "bench:memory": "768MiB" },
    expect: { op: "update", count: (n) => n },
  },
  {
    name: "restart update (maxMemory 1 GiB -> 2 GiB, allowRestart)",
    minimal: ["VM.get_by_uuid", "VM.clean_shutdown", "VM.set_memory_limits", "VM.start", "VM.get_record"],
    config: { "bench:maxMemory": "2GiB" },
    expect: { op: "update", count: (n) => n },
  },
  {
    name: "delete (running VM with one disk)",
    minimal: ["VM.get_by_uuid", "VM.hard_shutdown", "VM.get_VBDs", "VBD.get_VDI", "VDI.destroy", "VM.destroy"],
    destroy: true,
    expect: { op: "delete", count: (n) => n + 1 },
  },
];

export async function apiEconomyBench(o: { n: number; runs: number }): Promise<{ rows: Row[]; notes: string[] }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const section = `API economy (XenAPI calls per VM, N = ${o.n} VMs in one pulumi up)`;
  const sim = await startSimChild();
  const env = await engineEnv(sim);
  const counts: number[][] = PHASES.map(() => []);
  const breakdowns: Record<string, number>[] = [];
  try {
    for (let r = 0; r < o.runs; r++) {
      await sim.control("POST", "/reset");
      const stack = await env.openStack(fixture("vms"), {
        config: { "bench:n": { value: String(o.n) }, "bench:allowRestart": { value: "true" } },
      });
      for (const [i, phase] of PHASES.entries()) {
        for (const [k, v] of Object.entries(phase.config ?? {})) await stack.setConfig(k, { value: v });
        await sim.control("POST", "/metrics/reset");
        let changes: Record<string, number> | undefined;
        if (phase.destroy) changes = (await env.destroy(stack)).summary.resourceChanges;
        else changes = (await env.up(stack)).summary.resourceChanges;
        const got = changes?.[phase.expect.op] ?? 0;
        if (got !== phase.expect.count(o.n))
          throw new Error(
            `${phase.name}: ${JSON.stringify(changes)}, expected ${phase.expect.op} ${phase.expect.count(o.n)}`,
          );
        const m = await sim.metrics();
        const errors = Object.entries(m.calls).filter(([, v]) => v.errors > 0);
        counts[i]!.push(m.total);
        if (r === 0) {
          breakdowns[i] = Object.fromEntries(Object.entries(m.calls).map(([k, v]) => [k, v.count]));
          if (errors.length)
            notes.push(`${phase.name}: calls that failed: ${errors.map(([k, v]) => `${k} x${v.errors}`).join(", ")}.`);
        }
        log(`api: run ${r + 1} ${phase.name}: ${m.total} calls for ${o.n} VMs`);
        env.log.clear();
      }
    }
  } finally {
    await env.cleanup();
    await sim.child.stop();
  }
  for (const [i, phase] of PHASES.entries()) {
    const perVm = median(counts[i]!) / o.n;
    rows.push({
      section,
      name: phase.name,
      measured: `${fmt(perVm)} calls per VM`,
      baseline: `minimal: ${phase.minimal.length} per VM`,
      ratio: perVm / phase.minimal.length,
      target: "<= 1.25",
    });
    const spread = new Set(counts[i]).size > 1 ? ` (totals differed between runs: ${counts[i]!.join(", ")})` : "";
    notes.push(
      `API economy, ${phase.name}: measured per VM ${Object.entries(breakdowns[i] ?? {})
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${fmt(v / o.n)}`)
        .join(", ")}${spread}. Minimal per VM: ${phase.minimal.join(", ")}.`,
    );
  }
  return { rows, notes };
}

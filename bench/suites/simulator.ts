/**
 * Simulator throughput, memory and start-up at 100 hosts / 10,000 VMs, each beside a bare Node HTTP server
 * measured in the same run with the same client and concurrency.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { benchInventory } from "../lib/inventory";
import { Row } from "../lib/report";
import { Child, MiB, RawClient, fmt, log, median } from "../lib/util";

export interface SimulatorBenchOptions {
  runs: number;
  hosts: number;
  vms: number;
  /** measuring window of each throughput run */
  windowMs: number;
  concurrency: number;
  /** sequential calls per run for VM.get_all_records (the whole pool) */
  slowCalls: number;
}

const PASSWORD = "bench-root-pw";

interface Workload {
  name: string;
  concurrency: number;
  body: (i: number) => string;
  /** slow calls: this many sequential calls instead of a time window */
  sequential?: number;
}

export async function simulatorBench(o: SimulatorBenchOptions): Promise<{ rows: Row[]; notes: string[] }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const section = `Simulator (${o.hosts} hosts, ${o.vms.toLocaleString("en-US")} VMs)`;
  const inventory = benchInventory(o.hosts);
  const cfg = JSON.stringify({ inventory, rootPassword: PASSWORD });
  log(`simulator: starting ${o.hosts} hosts`);
  const { child: sim, ready } = await Child.start("sim-child.ts", [cfg]);
  const bare = await Child.start("bare-child.ts");
  const simClient = new RawClient(String(ready.url), Math.max(o.concurrency, 1));
  const bareClient = new RawClient(String(bare.ready.url), Math.max(o.concurrency, 1));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-xen-bench-sim-"));
  try {
    const emptyRss = Number((await sim.ask({ type: "rss" })).rss);
    log(`simulator: creating ${o.vms} VMs`);
    const pop = await sim.ask({ type: "populate", vms: o.vms });
    if (Number(pop.vms) !== o.vms || Number(pop.hosts) !== o.hosts)
      throw new Error(`populate made ${String(pop.vms)} VMs on ${String(pop.hosts)} hosts`);
    log(`simulator: ${o.vms} VMs in ${fmt(Number(pop.ms) / 1000)} s`);
    notes.push(
      `Simulator state: ${o.hosts} generated identical hosts joined into one pool (pool.join), then ${o.vms.toLocaleString("en-US")} Halted VMs, ` +
        `each VM.clone of "Debian Bookworm 12" + VM.provision (one 10 GiB VDI and VBD), called through the simulator's own ` +
        `dispatcher inside its process (same handlers as over HTTP, no transport): ${fmt(Number(pop.ms) / 1000, 1)} s. ` +
        `Throughput: one discarded run per side, then the measured runs alternating simulator and bare server; plain HTTP (no TLS), JSON-RPC 2.0, one keep-alive client in the benchmark process; ` +
        `the bare server answers every request with the simulator's own reply to that call. Both servers are child ` +
        `processes run by plain node (no ts-node); the simulator is the compiled dist/ build.`,
    );

    const session = (await simClient.call("session.login_with_password", ["root", PASSWORD, "1.0", "bench"])) as string;
    const records = (await simClient.call("VM.get_all_records_where", [
      session,
      'field "is_a_template" = "false" and field "is_control_domain" = "false"',
    ])) as Record<string, unknown>;
    const vms = Object.keys(records);
    if (vms.length !== o.vms) throw new Error(`expected ${o.vms} VMs, the pool lists ${vms.length}`);
    const rpc = (method: string, params: unknown[], id: number) =>
      JSON.stringify({ jsonrpc: "2.0", method, params: [session, ...params], id });
    const workloads: Workload[] = [
      {
        name: "VM.get_record",
        concurrency: o.concurrency,
        body: (i) => rpc("VM.get_record", [vms[i % vms.length]], i),
      },
      {
        name: "VM.set_name_label",
        concurrency: o.concurrency,
        body: (i) => rpc("VM.set_name_label", [vms[(i * 7919) % vms.length], `bench-renamed-${i}`], i),
      },
      {
        name: "VM.get_all_records",
        concurrency: 1,
        sequential: o.slowCalls,
        body: (i) => rpc("VM.get_all_records", [], i),
      },
    ];
    for (const w of workloads) {
      // The baseline answers with the simulator's own reply to this call: the same bytes on the wire.
      const sample = await simClient.post("/jsonrpc", w.body(0));
      await bare.child.ask({ type: "body", body: sample });
      const simRates: number[] = [];
      const bareRates: number[] = [];
      const ratios: number[] = [];
      const measure = (c: RawClient) =>
        w.sequential ? c.sequential(w.body, w.sequential) : c.load(w.body, w.concurrency, o.windowMs);
      // A discarded run of each side first (JIT, and the simulator's heap settling after the bulk load).
      await measure(simClient);
      await measure(bareClient);
      for (let r = 0; r < o.runs; r++) {
        const s = await measure(simClient);
        const b = await measure(bareClient);
        simRates.push(s);
        bareRates.push(b);
        ratios.push(s / b);
        log(`simulator: ${w.name} run ${r + 1}: ${fmt(s)} calls/s vs bare ${fmt(b)} calls/s`);
      }
      rows.push({
        section,
        name: `${w.name} calls/s (concurrency ${w.concurrency}, reply ${fmt(sample.length / 1024, 1)} KiB)`,
        measured: `${fmt(median(simRates))} calls/s`,
        baseline: `bare Node HTTP, same reply: ${fmt(median(bareRates))} calls/s`,
        ratio: median(ratios),
        note: "share of the bare server's rate (higher is better)",
      });
    }

    // Resident memory: the simulator's process against the bare server's, both after a full GC.
    const rssRatios: number[] = [];
    const simRss: number[] = [];
    const bareRss: number[] = [];
    for (let r = 0; r < o.runs; r++) {
      const s = Number((await sim.ask({ type: "rss" })).rss);
      const b = Number((await bare.child.ask({ type: "rss" })).rss);
      simRss.push(s);
      bareRss.push(b);
      rssRatios.push(s / b);
    }
    rows.push({
      section,
      name: "resident memory (RSS after GC)",
      measured: `${fmt(median(simRss) / MiB, 0)} MiB (${fmt((median(simRss) - emptyRss) / o.vms / 1024, 1)} KiB per VM over the empty pool's ${fmt(emptyRss / MiB, 0)} MiB)`,
      baseline: `bare Node HTTP server: ${fmt(median(bareRss) / MiB, 0)} MiB`,
      ratio: median(rssRatios),
    });

    // Start-up from stored state: the same pool written to a data directory, loaded by a new process.
    const saved = await sim.ask({ type: "save", dir: dataDir });
    log(`simulator: saved ${String(saved.objects)} objects for the start-up runs`);
    const startRatios: number[] = [];
    const simStart: number[] = [];
    const bareStart: number[] = [];
    const simLoad: number[] = [];
    for (let r = 0; r < o.runs; r++) {
      const s = await Child.start("sim-child.ts", [JSON.stringify({ inventory, rootPassword: PASSWORD, dataDir })]);
      await s.child.stop();
      if (Number(s.ready.vms) !== o.vms) throw new Error(`restarted simulator lists ${String(s.ready.vms)} VMs`);
      const b = await Child.start("bare-child.ts");
      await b.child.stop();
      simStart.push(s.readyMs);
      simLoad.push(Number(s.ready.startMs));
      bareStart.push(b.readyMs);
      startRatios.push(s.readyMs / b.readyMs);
      log(`simulator: start-up run ${r + 1}: ${fmt(s.readyMs, 0)} ms vs bare ${fmt(b.readyMs, 0)} ms`);
    }
    rows.push({
      section,
      name: "start-up with that state (spawn to listening, state loaded from --data)",
      measured: `${fmt(median(simStart), 0)} ms (of which startSimulator() ${fmt(median(simLoad), 0)} ms)`,
      baseline: `bare Node HTTP server process: ${fmt(median(bareStart), 0)} ms`,
      ratio: median(startRatios),
    });
  } finally {
    simClient.close();
    bareClient.close();
    await sim.stop();
    await bare.child.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return { rows, notes };
}

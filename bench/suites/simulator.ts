/**
 * Simulator throughput, memory and start-up at 100 hosts / 10,000 VMs, each beside a bare Node HTTP server
 * measured in the same run with the same client and concurrency; and what the web view following the pool costs
 * the API, against the same calls with no view connected.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadFeed } from "../../simulator/web";
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

    const view = await webViewFigures(o, section, simClient, String(ready.url), vms, rpc);
    rows.push(...view.rows);
    notes.push(...view.notes);

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

/** Renames per second going on while VM.get_all_records is timed with and without the web view. */
const VIEW_WRITER_RATE = 100;

/**
 * The web view's cost to the API: the page's own event.from loop (bench/lib/view-child.ts runs
 * simulator/web/static/feed.js in its own process, as a browser tab would) connected or paused, the same calls
 * timed in each state, alternating, after one discarded pair.
 */
async function webViewFigures(
  o: SimulatorBenchOptions,
  section: string,
  client: RawClient,
  url: string,
  vms: string[],
  rpc: (method: string, params: unknown[], id: number) => string,
): Promise<{ rows: Row[]; notes: string[] }> {
  const feed = loadFeed();
  const feedPace = { interval: feed.MIN_INTERVAL_MS, mib: feed.BYTES_PER_SECOND / MiB };
  log("simulator: web view connecting (its first event.from answer is the whole pool)");
  const view = await Child.start("view-child.ts", [JSON.stringify({ url, username: "root", password: PASSWORD })]);
  const writerClient = new RawClient(url, 16);
  let stop = false;
  let renames = 0;
  // A steady writer in both states, so that the view has changes to follow: open loop (a call every 1/rate s,
  // whether or not the last one has answered), so that a VM.get_all_records in progress delays renames but does
  // not drop them.
  const writer = (async () => {
    const t0 = performance.now();
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; !stop; i++) {
      const sent: Promise<void> = writerClient
        .post("/jsonrpc", rpc("VM.set_name_label", [vms[(i * 7919) % vms.length], `view-${i}`], i))
        .then(() => {
          renames++;
          inFlight.delete(sent);
        });
      inFlight.add(sent);
      if (inFlight.size >= 64) await Promise.race(inFlight);
      const due = t0 + ((i + 1) * 1000) / VIEW_WRITER_RATE - performance.now();
      if (due > 0) await new Promise((r) => setTimeout(r, due));
    }
    await Promise.all(inFlight);
  })();
  try {
    const stats = async () => {
      const s = await view.child.ask({ type: "stats" });
      return { calls: Number(s.calls), events: Number(s.events), cpuMs: Number(s.cpuMs), at: performance.now() };
    };
    const listRecords = (i: number) => rpc("VM.get_all_records", [], i);
    // A resumed view first catches up on what changed while it was paused: that answer is not the steady state.
    const connect = async (connected: boolean) => {
      await view.child.ask({ type: connected ? "resume" : "pause" });
      await new Promise((r) => setTimeout(r, 500));
    };
    const measure = async (connected: boolean) => {
      await connect(connected);
      const before = await stats();
      const renamesBefore = renames;
      let calls = 0;
      while (calls < o.slowCalls || performance.now() - before.at < o.windowMs) {
        const text = await client.post("/jsonrpc", listRecords(calls));
        if (text.slice(0, 200).includes('"error"')) throw new Error(`VM.get_all_records failed: ${text.slice(0, 300)}`);
        calls++;
      }
      const after = await stats();
      const seconds = (after.at - before.at) / 1000;
      return {
        ms: (seconds * 1000) / calls,
        writes: (renames - renamesBefore) / seconds,
        polls: (after.calls - before.calls) / seconds,
        events: (after.events - before.events) / seconds,
        cpu: (after.cpuMs - before.cpuMs) / (seconds * 1000),
      };
    };
    const mutate = async (connected: boolean) => {
      await connect(connected);
      const before = await stats();
      const rate = await client.load(
        (i) => rpc("VM.set_name_label", [vms[(i * 104729) % vms.length], `view-load-${i}`], i),
        o.concurrency,
        o.windowMs,
      );
      const after = await stats();
      const seconds = (after.at - before.at) / 1000;
      return {
        rate,
        polls: (after.calls - before.calls) / seconds,
        events: (after.events - before.events) / seconds,
        cpu: (after.cpuMs - before.cpuMs) / (seconds * 1000),
      };
    };
    /** Both states alternately, after one discarded pair: per state the medians, and the median per-run ratio. */
    const alternate = async (
      what: string,
      run: (connected: boolean) => Promise<{ value: number; polls: number; events: number; cpu: number }>,
    ) => {
      await run(false);
      await run(true);
      const off: number[] = [];
      const on: number[] = [];
      const ratios: number[] = [];
      const polls: number[] = [];
      const events: number[] = [];
      const cpu: number[] = [];
      for (let r = 0; r < o.runs; r++) {
        const a = await run(false);
        const b = await run(true);
        off.push(a.value);
        on.push(b.value);
        ratios.push(b.value / a.value);
        polls.push(b.polls);
        events.push(b.events);
        cpu.push(b.cpu);
        log(`simulator: ${what} run ${r + 1}: ${fmt(b.value)} with the view, ${fmt(a.value)} without`);
      }
      return {
        off: median(off),
        on: median(on),
        ratio: median(ratios),
        polls: median(polls),
        events: median(events),
        cpu: median(cpu),
      };
    };
    const writes: number[] = [];
    const lat = await alternate("VM.get_all_records ms", async (c) => {
      const m = await measure(c);
      writes.push(m.writes);
      return { value: m.ms, polls: m.polls, events: m.events, cpu: m.cpu };
    });
    stop = true;
    await writer;
    const mut = await alternate("VM.set_name_label calls/s", async (c) => {
      const m = await mutate(c);
      return { value: m.rate, polls: m.polls, events: m.events, cpu: m.cpu };
    });
    const rows: Row[] = [
      {
        section,
        name: `VM.get_all_records latency with the web view following the pool while a second client renames VMs (${fmt(median(writes), 0)}/s)`,
        measured: `${fmt(lat.on, 0)} ms (the view: ${fmt(lat.polls, 1)} event.from/s, ${fmt(lat.events, 0)} events/s, ${fmt(lat.cpu * 100, 0)}% of a CPU)`,
        baseline: `no view connected: ${fmt(lat.off, 0)} ms`,
        ratio: lat.ratio,
        note: "1.0 = the view costs the API nothing (lower is better)",
      },
      {
        section,
        name: `VM.set_name_label calls/s (concurrency ${o.concurrency}) with the web view following the changes`,
        measured: `${fmt(mut.on)} calls/s (the view: ${fmt(mut.polls, 1)} event.from/s, ${fmt(mut.events, 0)} events/s, ${fmt(mut.cpu * 100, 0)}% of a CPU)`,
        baseline: `no view connected: ${fmt(mut.off)} calls/s`,
        ratio: mut.ratio,
        note: "share of the rate without a view (higher is better)",
      },
    ];
    const notes = [
      `Web view: the page's own data side (simulator/web/static/feed.js: sign-in, the event.from loop with at most ` +
        `one call per ${feedPace.interval} ms and about ${feedPace.mib} MiB of answers a second, the records it keeps and the datacenter it draws, without the DOM) in its own process ` +
        `standing in for a browser tab, signed in as root; its first answer (the whole pool: ${String(view.ready.vms)} VMs, ` +
        `${String(view.ready.hosts)} hosts) took ${fmt(Number(view.ready.ms), 0)} ms. "No view connected" is the same process ` +
        `with its loop stopped; the two states alternate within each run, after one discarded pair. The latency figure ` +
        `is sequential VM.get_all_records for ${fmt(o.windowMs / 1000, 1)} s (at least ${o.slowCalls}) per state while a second client renames VMs at ` +
        `${VIEW_WRITER_RATE}/s in both states (open loop: calls queue while VM.get_all_records holds the simulator); the throughput figure is the VM.set_name_label load above, each rename ` +
        `a change for the view (which, past its byte budget, paces itself and gets each VM's latest state). The view's process shares the machine's CPUs with the simulator and the ` +
        `load, as a browser on the same machine would: its CPU share is given beside each figure.`,
    ];
    return { rows, notes };
  } finally {
    stop = true;
    await writer.catch(() => undefined);
    writerClient.close();
    await view.child.stop();
  }
}

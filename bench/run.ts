/**
 * `npm run bench [-- --quick] [-- --only simulator,api,parallel,engine,peer] [-- --runs N] [-- --ns 10,50]
 * [-- --peer-ns 10,50]`
 *
 * Every figure is a ratio against a baseline measured in the same run (median of the per-run ratios), so
 * that a noisy machine moves both sides together. Prints the markdown table and writes it, with the machine
 * and versions, to bench/results/latest.md and a timestamped copy, plus the chart bench/results/latest.svg.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Row, Series, distAge, machine, markdown, svgChart } from "./lib/report";
import { PEER_DIR, peerBuilt } from "./lib/peer";
import { BENCH_DIR, log, removeCompiledChildren } from "./lib/util";
import { apiEconomyBench } from "./suites/api-economy";
import { engineBench } from "./suites/engine";
import { parallelBench } from "./suites/parallel";
import { peerBench } from "./suites/peer";
import { simulatorBench } from "./suites/simulator";

interface Args {
  quick: boolean;
  only: Set<string>;
  runs: number;
  ns: number[];
  peerNs: number[];
  /** the default set (no --only) left the peer out because it is not built */
  peerSkipped: boolean;
}

function positiveInts(flag: string, list: string): number[] {
  const ns = list.split(",").map(Number);
  if (ns.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${flag} takes positive integers, e.g. 10,50`);
  return ns;
}

function parseArgs(argv: string[]): Args {
  const get = (flag: string) => {
    const i = argv.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
    if (i < 0) return undefined;
    return argv[i]!.includes("=") ? argv[i]!.split("=")[1] : argv[i + 1];
  };
  const quick = argv.includes("--quick");
  const runs = Number(get("--runs") ?? 3);
  if (!Number.isInteger(runs) || runs < 3) throw new Error("--runs must be an integer >= 3 (figures are medians)");
  const ns = positiveInts("--ns", get("--ns") ?? (quick ? "10,50,100" : "10,50,100,300"));
  // The peer is in the default set once built; `--only peer` builds it first.
  const only = get("--only");
  const peerSkipped = only === undefined && !peerBuilt();
  const suites = only ?? `simulator,api,parallel,engine${peerSkipped ? "" : ",peer"}`;
  return {
    quick,
    only: new Set(suites.split(",")),
    runs,
    ns,
    peerNs: positiveInts("--peer-ns", get("--peer-ns") ?? "10,50"),
    peerSkipped,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const meta = machine();
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ");
  const loadAtStart = load();
  const rows: Row[] = [];
  const notes: string[] = [];
  const series: Series[] = [];
  if (args.only.has("simulator")) {
    const r = await simulatorBench({
      runs: args.runs,
      hosts: 100,
      vms: 10_000,
      windowMs: args.quick ? 1500 : 4000,
      concurrency: 16,
      slowCalls: args.quick ? 3 : 8,
    });
    rows.push(...r.rows);
    notes.push(...r.notes);
  }
  if (args.only.has("api")) {
    const r = await apiEconomyBench({ n: 10, runs: args.runs });
    rows.push(...r.rows);
    notes.push(...r.notes);
  }
  if (args.only.has("parallel")) {
    const r = await parallelBench({ runs: args.runs, n: 100, parallel: 32, scale: args.quick ? 0.5 : 1 });
    rows.push(...r.rows);
    notes.push(...r.notes);
  }
  if (args.only.has("engine")) {
    const r = await engineBench({ runs: args.runs, ns: args.ns });
    rows.push(...r.rows);
    notes.push(...r.notes);
    series.push(...r.series);
  }
  if (args.only.has("peer")) {
    const r = await peerBench({ runs: args.runs, ns: args.peerNs });
    rows.push(...r.rows);
    notes.push(...r.notes);
  } else if (args.peerSkipped)
    notes.push(`The peer suite was left out: the peer is not built in ${PEER_DIR} (\`--only peer\` builds it).`);
  const distAtEnd = distAge();
  if (distAtEnd.split(";")[0] !== meta["dist/ (compiled provider and simulator)"]!.split(";")[0])
    notes.unshift(
      `dist/ was rebuilt while this run was going (${distAtEnd.split(";")[0]}): figures measured before and after that ` +
        `use different builds of the provider and simulator.`,
    );
  meta["load average (1/5/15 min)"] =
    `${loadAtStart} at the start, ${load()} at the end (other work on the machine moves both sides of each ratio)`;
  meta["variant"] =
    `${args.quick ? "--quick" : "full"}, ${args.runs} runs per figure, total ${Math.round((Date.now() - started) / 1000)} s`;
  const md = markdown("pulumi-xen benchmarks", rows, meta, notes);
  process.stdout.write(md);
  const dir = path.join(BENCH_DIR, "results");
  fs.mkdirSync(dir, { recursive: true });
  const stamp = meta.date!.replace(/[:]/g, "-").replace(/\..*$/, "Z");
  fs.writeFileSync(path.join(dir, "latest.md"), md);
  fs.writeFileSync(path.join(dir, `${stamp}.md`), md);
  if (series.length > 0) {
    const svg = svgChart("pulumi up / preview / refresh: VMs against no-op resources", series);
    fs.writeFileSync(path.join(dir, "latest.svg"), svg);
    fs.writeFileSync(path.join(dir, `${stamp}.svg`), svg);
  }
  removeCompiledChildren();
  log(`wrote ${path.relative(process.cwd(), path.join(dir, "latest.md"))}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

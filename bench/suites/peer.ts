/**
 * Side by side with the peer (the official XenServer Terraform provider under OpenTofu, bench/lib/peer.ts): for
 * each N, both tools create N VMs of one shape against a fresh simulator at time scale 1, then a no-change
 * plan / preview, a refresh, a memory change of every VM and a destroy. Wall time and XenAPI calls per phase
 * (the simulator's call counters, reset before each phase); ratio = pulumi-xen / peer, lower is better. Each
 * tool's floor, the same five phases on N resources that do nothing (pulumi: fixtures/noop; tofu:
 * terraform_data), is measured in the same run.
 */
import * as fs from "node:fs";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { Row } from "../lib/report";
import {
  GiB,
  PEER_DIR,
  PEER_PROVIDER_VERSION,
  PeerShape,
  applySummary,
  ensurePeer,
  floorConfig,
  peerConfig,
  peerWorkDir,
  tofu,
} from "../lib/peer";
import { E2eEnv, SIM_PASSWORD, SimHandle, engineEnv, fixture, startSimChild, timed } from "../lib/stackenv";
import { REPO_ROOT, RawClient, fmt, log, median } from "../lib/util";

export interface PeerBenchOptions {
  runs: number;
  ns: number[];
}

const PHASES = ["create", "plan", "refresh", "update", "destroy"] as const;
type Phase = (typeof PHASES)[number];
const PHASE_NAMES: Record<Phase, string> = {
  create: "create",
  plan: "no-change plan / preview",
  refresh: "refresh",
  update: "memory 1 -> 2 GiB, every VM",
  destroy: "destroy",
};
type Tool = "pulumi" | "peer" | "pulumiFloor" | "peerFloor";

const SHAPE = { template: "Debian Bookworm 12", vcpus: 1, network: "VM Network" };

interface Cycle {
  ms: Record<Phase, number>;
  calls: Record<Phase, number>;
  /** calls per method, per phase */
  methods: Record<Phase, Record<string, number>>;
  /** disks per VM after create (the shape check) */
  disks?: number;
  /** `tofu init`, not part of the phases */
  initMs?: number;
}

function emptyCycle(): Cycle {
  const per = <T>(v: () => T) => Object.fromEntries(PHASES.map((p) => [p, v()])) as Record<Phase, T>;
  return { ms: per(() => 0), calls: per(() => 0), methods: per(() => ({})) };
}

/** Runs one phase with the simulator's counters reset before it; records its wall time and calls. */
async function phase(c: Cycle, p: Phase, sim: SimHandle | undefined, op: () => Promise<unknown>): Promise<void> {
  if (sim) await sim.control("POST", "/metrics/reset");
  const { ms } = await timed(op);
  c.ms[p] = ms;
  if (!sim) return;
  const m = await sim.metrics();
  c.calls[p] = m.total;
  c.methods[p] = Object.fromEntries(Object.entries(m.calls).map(([k, v]) => [k, v.count]));
}

/** A fresh simulator child with realistic operation durations (time scale 1). */
async function freshSim(): Promise<SimHandle> {
  const sim = await startSimChild();
  await sim.control("POST", "/time-scale", { scale: 1 });
  return sim;
}

/**
 * The VMs as both tools must leave them: N of them, Halted, 1 vCPU, `gib` GiB static and dynamic max, one VIF
 * on the network. Read outside the measured phases. Returns the disks per VM (each tool's own default).
 */
async function checkShape(sim: SimHandle, n: number, gib: number): Promise<number> {
  const c = new RawClient(sim.url, 1);
  try {
    const s = await c.call("session.login_with_password", ["root", SIM_PASSWORD, "1.0", "bench"]);
    const vms = Object.values(
      (await c.call("VM.get_all_records", [s])) as Record<string, Record<string, unknown>>,
    ).filter((r) => r.is_a_template !== true && r.is_control_domain !== true);
    const nets = (await c.call("network.get_all_records", [s])) as Record<string, Record<string, unknown>>;
    const vifs = (await c.call("VIF.get_all_records", [s])) as Record<string, Record<string, unknown>>;
    const vbds = (await c.call("VBD.get_all_records", [s])) as Record<string, Record<string, unknown>>;
    const bad = vms.filter((r) => {
      const v = (r.VIFs as string[]).map((x) => vifs[x]!);
      return (
        r.power_state !== "Halted" ||
        r.VCPUs_max !== SHAPE.vcpus ||
        r.VCPUs_at_startup !== SHAPE.vcpus ||
        r.memory_static_max !== gib * GiB ||
        r.memory_dynamic_max !== gib * GiB ||
        v.length !== 1 ||
        nets[v[0]!.network as string]?.name_label !== SHAPE.network
      );
    });
    if (vms.length !== n || bad.length > 0)
      throw new Error(`expected ${n} VMs of the shape, found ${vms.length}, ${bad.length} not of the shape`);
    const disks = vms.map((r) => (r.VBDs as string[]).filter((b) => vbds[b]?.type === "Disk").length);
    return median(disks);
  } finally {
    c.close();
  }
}

function pulumiConfig(n: number, gib: number) {
  return {
    "bench:n": { value: String(n) },
    "bench:memory": { value: `${gib}GiB` },
    "bench:maxMemory": { value: `${gib}GiB` },
    "bench:powerState": { value: "Halted" },
    "bench:network": { value: SHAPE.network },
  };
}

/** pulumi up / preview / refresh / up (memory) / destroy of fixtures/vms (with `sim`) or fixtures/noop. */
async function pulumiCycle(env: E2eEnv, sim: SimHandle | undefined, n: number): Promise<Cycle> {
  const c = emptyCycle();
  const kind = sim ? "vms" : "noop";
  const expect = (what: string, got: number | undefined, want: number) => {
    if (got !== want) throw new Error(`pulumi ${kind} ${what}: ${got ?? 0}, expected ${want}`);
  };
  const stack = await env.openStack(fixture(kind), { config: pulumiConfig(n, 1) });
  try {
    await phase(c, "create", sim, async () =>
      expect("created", (await env.up(stack)).summary.resourceChanges?.create, n + 1),
    );
    if (sim) c.disks = await checkShape(sim, n, 1);
    await phase(c, "plan", sim, async () =>
      expect("unchanged in preview", (await env.preview(stack)).changeSummary["same"], n + 1),
    );
    await phase(c, "refresh", sim, () => env.refresh(stack));
    await stack.setAllConfig(pulumiConfig(n, 2));
    await phase(c, "update", sim, async () =>
      expect("updated", (await env.up(stack)).summary.resourceChanges?.update, n),
    );
    if (sim) await checkShape(sim, n, 2);
    await phase(c, "destroy", sim, async () =>
      expect("deleted", (await env.destroy(stack)).summary.resourceChanges?.delete, n + 1),
    );
  } finally {
    env.log.clear();
  }
  return c;
}

/** tofu apply / plan / refresh / apply (memory) / destroy of N xenserver_vm (with `sim`) or N terraform_data. */
async function peerCycle(sim: SimHandle | undefined, n: number): Promise<Cycle> {
  const c = emptyCycle();
  const shape: PeerShape = { n, ...SHAPE };
  const dir = peerWorkDir(sim ? peerConfig(sim.url, SIM_PASSWORD, shape) : floorConfig(shape));
  const what = sim ? "xenserver_vm" : "terraform_data";
  const mem = (gib: number) => ["-input=false", "-var", `mem_gib=${gib}`];
  const expect = (step: string, got: number, want: number) => {
    if (got !== want) throw new Error(`tofu ${what} ${step}: ${got}, expected ${want}`);
  };
  try {
    c.initMs = (await tofu(dir, ["init", "-input=false"])).ms;
    await phase(c, "create", sim, async () =>
      expect("added", applySummary((await tofu(dir, ["apply", "-auto-approve", ...mem(1)])).output).added, n),
    );
    if (sim) c.disks = await checkShape(sim, n, 1);
    // -detailed-exitcode: 0 = no changes, 2 = changes (a failure here)
    await phase(c, "plan", sim, () => tofu(dir, ["plan", "-detailed-exitcode", ...mem(1)]));
    await phase(c, "refresh", sim, () => tofu(dir, ["refresh", ...mem(1)]));
    await phase(c, "update", sim, async () =>
      expect("changed", applySummary((await tofu(dir, ["apply", "-auto-approve", ...mem(2)])).output).changed, n),
    );
    if (sim) await checkShape(sim, n, 2);
    await phase(c, "destroy", sim, async () =>
      expect("destroyed", applySummary((await tofu(dir, ["destroy", "-auto-approve", ...mem(2)])).output).destroyed, n),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return c;
}

/** One cycle of `tool` at N: a fresh simulator (time scale 1) for each tool's run; floors need none. */
async function runTool(tool: Tool, n: number): Promise<Cycle> {
  const sim = tool === "pulumi" || tool === "peer" ? await freshSim() : undefined;
  // The engine env carries XEN_URL; the no-op floor never calls it (port 9 is discard: nothing listens).
  const env =
    tool === "pulumi" || tool === "pulumiFloor" ? await engineEnv(sim ?? { url: "http://127.0.0.1:9" }) : undefined;
  try {
    if (tool === "peer" || tool === "peerFloor") return await peerCycle(sim, n);
    return await pulumiCycle(env!, sim, n);
  } finally {
    await env?.cleanup();
    await sim?.child.stop();
  }
}

const total = (c: Cycle, k: "ms" | "calls") => PHASES.reduce((s, p) => s + c[k][p], 0);

function pulumiDefaultParallel(): string {
  try {
    const help = execFileSync(path.join(REPO_ROOT, "bin", "pulumi"), ["up", "--help"], { encoding: "utf8" });
    return /--parallel[^\n]*\(default (\d+)\)/.exec(help)?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

function target(n: number, at50: string, at200?: string): string {
  if (n === 50) return at50;
  if (n === 200 && at200) return at200;
  return `(${at50} at N = 50${at200 ? `, ${at200} at N = 200` : ""})`;
}

/** The busiest methods of a phase, per VM. */
function breakdown(methods: Record<string, number>, n: number, top = 8): string {
  const all = Object.entries(methods).sort((a, b) => b[1] - a[1]);
  const shown = all.slice(0, top).map(([k, v]) => `${k} ${fmt(v / n)}`);
  return all.length > top ? `${shown.join(", ")}, ... (${all.length} methods)` : shown.join(", ") || "none";
}

export async function peerBench(o: PeerBenchOptions): Promise<{ rows: Row[]; notes: string[] }> {
  const started = performance.now();
  await ensurePeer();
  const rows: Row[] = [];
  const notes: string[] = [];
  const tofuVersion = (await tofu(process.cwd(), ["version"])).output.split("\n")[0]!.trim();
  // One discarded cycle of each first: the first runs pay for cold caches (plugins, ts-node, the page cache).
  for (const tool of ["pulumi", "peer", "pulumiFloor", "peerFloor"] as const) {
    const c = await runTool(tool, Math.min(...o.ns));
    log(`peer warm-up ${tool}: total ${fmt(total(c, "ms") / 1000)} s (discarded)`);
  }
  const initMs: number[] = [];
  const disks: Partial<Record<Tool, number>> = {};
  for (const n of o.ns) {
    const section = `Side by side with the XenServer Terraform provider (OpenTofu), N = ${n}, time scale 1 (ratio = pulumi-xen / peer)`;
    const s: Record<Tool, Cycle[]> = { pulumi: [], peer: [], pulumiFloor: [], peerFloor: [] };
    for (let r = 0; r < o.runs; r++) {
      // Alternate which tool goes first, so that drift of the machine does not favour one side.
      const order: Tool[] =
        r % 2 === 0 ? ["pulumi", "peer", "pulumiFloor", "peerFloor"] : ["peer", "pulumi", "peerFloor", "pulumiFloor"];
      for (const tool of order) {
        const c = await runTool(tool, n);
        s[tool].push(c);
        if (c.initMs !== undefined) initMs.push(c.initMs);
        if (c.disks !== undefined) disks[tool] = c.disks;
        log(
          `peer N=${n} run ${r + 1} ${tool}: ${PHASES.map((p) => `${p} ${fmt(c.ms[p] / 1000)} s/${c.calls[p]}`).join(", ")}`,
        );
      }
    }
    const med = (t: Tool, f: (c: Cycle) => number) => median(s[t].map(f));
    const ratio = (f: (c: Cycle) => number, a: Tool = "pulumi", b: Tool = "peer") =>
      median(s[a].map((c, i) => f(c) / f(s[b][i]!)));
    const sec = (ms: number) => `${fmt(ms / 1000)} s`;
    for (const p of PHASES) {
      const wall = (c: Cycle) => c.ms[p];
      rows.push({
        section,
        name: `${PHASE_NAMES[p]}: wall time`,
        measured: `${sec(med("pulumi", wall))} (floor ${sec(med("pulumiFloor", wall))})`,
        baseline: `${sec(med("peer", wall))} (floor ${sec(med("peerFloor", wall))})`,
        ratio: ratio(wall),
        target: p === "create" ? target(n, "<= 0.8") : "",
      });
      const calls = (c: Cycle) => c.calls[p];
      rows.push({
        section,
        name: `${PHASE_NAMES[p]}: XenAPI calls`,
        measured: `${fmt(med("pulumi", calls), 0)} (${fmt(med("pulumi", calls) / n, 1)} per VM)`,
        baseline: `${fmt(med("peer", calls), 0)} (${fmt(med("peer", calls) / n, 1)} per VM)`,
        ratio: ratio(calls),
        target: target(n, "<= 0.5"),
      });
    }
    const wallTotal = (c: Cycle) => total(c, "ms");
    rows.push({
      section,
      name: "total wall time of the five phases",
      measured: sec(med("pulumi", wallTotal)),
      baseline: sec(med("peer", wallTotal)),
      ratio: ratio(wallTotal),
      target: target(n, "<= 1.2", "<= 0.8"),
    });
    rows.push({
      section,
      name: "XenAPI calls of the five phases",
      measured: fmt(
        med("pulumi", (c) => total(c, "calls")),
        0,
      ),
      baseline: fmt(
        med("peer", (c) => total(c, "calls")),
        0,
      ),
      ratio: ratio((c) => total(c, "calls")),
    });
    rows.push({
      section,
      name: "floor: the five phases on N resources that do nothing",
      note: "pulumi: fixtures/noop dynamic resources; tofu: terraform_data",
      measured: sec(med("pulumiFloor", wallTotal)),
      baseline: sec(med("peerFloor", wallTotal)),
      ratio: ratio(wallTotal, "pulumiFloor", "peerFloor"),
    });
    const above = s.pulumi.map((c, i) => wallTotal(c) - wallTotal(s.pulumiFloor[i]!));
    const peerAbove = s.peer.map((c, i) => wallTotal(c) - wallTotal(s.peerFloor[i]!));
    rows.push({
      section,
      name: "total wall time above each tool's floor",
      note: "what the provider and XenAPI add to the engine's own cost",
      measured: sec(median(above)),
      baseline: sec(median(peerAbove)),
      ratio: median(above.map((a, i) => a / peerAbove[i]!)),
    });
    if (n === o.ns[o.ns.length - 1]) {
      for (const tool of ["pulumi", "peer"] as const)
        notes.push(
          `${tool === "pulumi" ? "pulumi-xen" : "The peer"} at N = ${n}, XenAPI calls per VM by phase (first run): ` +
            PHASES.map((p) => `*${PHASE_NAMES[p]}*: ${breakdown(s[tool][0]!.methods[p], n)}`).join("; ") +
            ".",
        );
    }
  }
  notes.unshift(
    `Side by side with the peer: the official XenServer Terraform provider (xenserver/terraform-provider-xenserver ` +
      `${PEER_PROVIDER_VERSION}, built from ../shared/peers/terraform-provider-xenserver into ${PEER_DIR}) under ${tofuVersion}, ` +
      `against pulumi-xen (bin/pulumi through the Automation API, tests/e2e/harness, fixtures/vms). Both as a new user ` +
      `runs them: pulumi's default --parallel (${pulumiDefaultParallel()} on this machine) and OpenTofu's default ` +
      `-parallelism (10); \`tofu plan\` and the memory \`tofu apply\` refresh every resource first, as they do by ` +
      `default, while \`pulumi preview\` and \`pulumi up\` do not. Each tool's run gets a fresh simulator child (one ` +
      `host, time scale 1: VM.clone and VM.provision 1 s each, VM.destroy 0.2 s; plain HTTP); its call counters ` +
      `are reset before each phase. Each phase is one CLI command timed from start to exit; \`tofu init\` (offline, ` +
      `from the build's filesystem mirror; median ${fmt(median(initMs) / 1000)} s) and stack creation are not timed. ` +
      `Shape: N VMs from "${SHAPE.template}", ${SHAPE.vcpus} vCPU, 1 GiB (static and dynamic max), one NIC on ` +
      `"${SHAPE.network}", Halted (the peer starts a VM only with a guest-agent wait), no extra disk; checked in the ` +
      `simulator after create and after the memory change. Disks per VM: pulumi-xen ${disks.pulumi ?? "?"} (the ` +
      `template's 10 GiB boot disk, disks[0]), the peer ${disks.peer ?? "?"} (it removes the template's disk ` +
      `specification before VM.provision, so a VM has only the hard_drive entries it declares). The floor: the same ` +
      `five commands on N resources that do nothing (pulumi: fixtures/noop; tofu: terraform_data, built in). Ratios ` +
      `are medians of the per-run ratios (${o.runs} runs per N, tools alternating first). Suite time: ` +
      `${fmt((performance.now() - started) / 60000, 1)} min.`,
  );
  return { rows, notes };
}

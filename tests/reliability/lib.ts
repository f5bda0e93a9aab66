/**
 * Shared pieces of the reliability run: the case model, a seeded PRNG, simulator control-plane calls, a
 * child-process simulator that can be killed with SIGKILL, and the leftover checks (orphans, duplicates).
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import type { Stack } from "@pulumi/pulumi/automation";
import { XenApiClient } from "../../provider/xenapi";
import type { E2eEnv } from "../e2e/harness";

export const REPO = path.resolve(__dirname, "..", "..");
export const FIXTURE_VMS = path.join(__dirname, "fixtures", "vms");
export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;

// ---- cases -------------------------------------------------------------------------------------------------

export type Outcome = "pass" | "fail" | "skip";

export interface CaseReport {
  /** What happened, in one line (first `up` result, retries seen, figures). */
  detail: string;
  /** What was left behind afterwards ("none" when nothing). */
  leftovers: string;
}

export interface CaseResult extends CaseReport {
  group: string;
  name: string;
  outcome: Outcome;
  seed: number | undefined;
  ms: number;
}

/** Thrown by a case that cannot run here; reported as skipped, never as passed. */
export class Skip extends Error {}

/** A failed expectation: the message is what the table shows. */
export class CheckFailed extends Error {
  constructor(
    message: string,
    readonly leftovers = "",
  ) {
    super(message);
  }
}

export function check(cond: unknown, message: string, leftovers = ""): asserts cond {
  if (!cond) throw new CheckFailed(message, leftovers);
}

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
}

/** Seed of a case: derived from the run seed and the case name, so one case can be replayed alone. */
export function caseSeed(runSeed: number, name: string): number {
  let h = runSeed >>> 0 || 1;
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function oneLine(s: string, max = 160): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

// ---- simulator control plane -------------------------------------------------------------------------------

export interface SimHandle {
  url: string;
  controlUrl: string;
  controlToken: string;
}

export async function control(sim: SimHandle, method: string, p: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${sim.controlUrl}/${p}`, {
    method,
    headers: { authorization: `Bearer ${sim.controlToken}`, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`control ${method} ${p}: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as unknown;
}

export type Metrics = Record<string, { count: number; errors: number }>;

export async function metrics(sim: SimHandle): Promise<Metrics> {
  return ((await control(sim, "GET", "metrics")) as { calls: Metrics }).calls;
}

/** Calls of `method`, sync and Async together. */
export function calls(m: Metrics, method: string): number {
  return (m[method]?.count ?? 0) + (m[`Async.${method}`]?.count ?? 0);
}

export async function checksum(sim: SimHandle): Promise<string> {
  return ((await control(sim, "GET", "checksum")) as { checksum: string }).checksum;
}

// ---- a simulator in a child process (for kill -9) ------------------------------------------------------------

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface ChildSim extends SimHandle {
  proc: ChildProcess;
  output: () => string;
  /** SIGKILL, then wait for the process to be gone. */
  kill9(): Promise<void>;
  /** SIGTERM and wait (clean stop). */
  stop(): Promise<void>;
}

export interface ChildSimOptions {
  port: number;
  dataDir: string;
  rootPassword: string;
  timeScale: number;
  seed?: number;
  failedLoginDelayMs?: number;
}

/** Starts `simulator/bin/xen-simulator` over plain HTTP and waits for its "ready" line. */
export async function startChildSim(o: ChildSimOptions): Promise<ChildSim> {
  const args = [
    path.join(REPO, "simulator", "bin", "xen-simulator"),
    "--port",
    String(o.port),
    "--data",
    o.dataDir,
    "--http",
    "--time-scale",
    String(o.timeScale),
    "--root-password",
    o.rootPassword,
    "--failed-login-delay-ms",
    String(o.failedLoginDelayMs ?? 0),
    ...(o.seed !== undefined ? ["--seed", String(o.seed)] : []),
  ];
  const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const started = Date.now();
  let ready: { url: string; control: string } | undefined;
  while (!ready) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`simulator exited during start-up: ${oneLine(out, 400)}`);
    if (Date.now() - started > 30_000) {
      proc.kill("SIGKILL");
      throw new Error(`simulator not ready within 30 s: ${oneLine(out, 400)}`);
    }
    for (const line of out.split("\n")) {
      if (!line.includes('"ready"')) continue;
      const j = JSON.parse(line) as { url: string; control: string };
      ready = j;
    }
    if (!ready) await sleep(50);
  }
  const controlToken = fs.readFileSync(path.join(o.dataDir, "control-token"), "utf8").trim();
  return {
    url: ready.url,
    controlUrl: ready.control,
    controlToken,
    proc,
    output: () => out,
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await Promise.race([exited, sleep(10_000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
}

// ---- leftovers ----------------------------------------------------------------------------------------------

export type VmRec = Record<string, unknown> & { uuid: string; name_label: string };

/** VMs other than control domains and the inventory's default templates (an unprovisioned clone counts). */
export async function userVms(xen: XenApiClient): Promise<Map<string, VmRec>> {
  const out = new Map<string, VmRec>();
  for (const [ref, vm] of await xen.getAllRecords("VM")) {
    const r = vm as unknown as VmRec;
    if (r.is_default_template !== true && r.is_control_domain !== true) out.set(ref, r);
  }
  return out;
}

export const VM_TYPE = "pulumi-nodejs:dynamic/xen:Vm";

/** Vm resources in the exported state (secrets stay encrypted): id and name. */
export async function stateVms(env: E2eEnv, stack: Stack): Promise<Array<{ id: string; urn: string }>> {
  const state = JSON.parse(await env.exportState(stack)) as {
    deployment: { resources?: Array<{ type: string; id?: string; urn: string }> };
  };
  return (state.deployment.resources ?? [])
    .filter((r) => r.type === VM_TYPE)
    .map((r) => ({ id: r.id ?? "", urn: r.urn }));
}

export interface Leftovers {
  orphans: string[];
  duplicates: string[];
  dangling: string[];
  orphanDisks: string[];
}

export function describeLeftovers(l: Leftovers): string {
  const parts: string[] = [];
  if (l.orphans.length) parts.push(`${l.orphans.length} orphan VM (${l.orphans.slice(0, 3).join(", ")})`);
  if (l.duplicates.length) parts.push(`duplicates: ${l.duplicates.slice(0, 3).join(", ")}`);
  if (l.dangling.length) parts.push(`${l.dangling.length} state entry without VM`);
  if (l.orphanDisks.length) parts.push(`${l.orphanDisks.length} orphan disk (${l.orphanDisks.slice(0, 2).join(", ")})`);
  return parts.length ? parts.join("; ") : "none";
}

/**
 * Compares the pool with the state: every VM not present at the start (`baseline`) must be in the state, no two
 * VMs share a name, every state entry has its VM, and no disk tagged by a stack is detached from every VM.
 */
export async function leftovers(
  xen: XenApiClient,
  env: E2eEnv,
  stack: Stack,
  baseline: ReadonlySet<string>,
): Promise<Leftovers> {
  const vms = [...(await userVms(xen)).values()].filter((v) => !baseline.has(v.uuid));
  const inState = await stateVms(env, stack);
  const ids = new Set(inState.map((r) => r.id));
  const orphans = vms.filter((v) => !ids.has(v.uuid)).map((v) => `${v.name_label} ${v.uuid.slice(0, 8)}`);
  const byName = new Map<string, number>();
  for (const v of vms) byName.set(v.name_label, (byName.get(v.name_label) ?? 0) + 1);
  const duplicates = [...byName].filter(([, n]) => n > 1).map(([name, n]) => `${name} x${n}`);
  const present = new Set(vms.map((v) => v.uuid));
  const dangling = inState.filter((r) => !present.has(r.id)).map((r) => r.urn.split("::").pop() ?? r.urn);
  const orphanDisks: string[] = [];
  for (const vdi of (await xen.getAllRecords("VDI")).values()) {
    const r = vdi as unknown as {
      uuid: string;
      name_label: string;
      VBDs: string[];
      other_config: Record<string, string>;
    };
    if (r.other_config?.["pulumi-xen.owner"] && (r.VBDs ?? []).length === 0) orphanDisks.push(r.name_label);
  }
  return { orphans, duplicates, dangling, orphanDisks };
}

export function clean(l: Leftovers): boolean {
  return !l.orphans.length && !l.duplicates.length && !l.dangling.length && !l.orphanDisks.length;
}

/** The line of engine output that says best what went wrong (the cause, not "1 error occurred"), for the table. */
export function errorSummary(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const score = (l: string) =>
    (/\b[A-Z][A-Z_]{5,}\b/.test(l) ? 3 : 0) +
    (/network failure|HTTP \d{3}|TLS|certificate|timeout|ECONN|refused|restarted|lacks permission|needs .* free/i.test(
      l,
    )
      ? 3
      : 0) +
    (/error:/.test(l) ? 1 : 0) -
    (/pulumi:pulumi:Stack/.test(l) ? 2 : 0) -
    (/error occurred|update failed|preview failed|^at |code: \d+|stderr:|stdout:|Resource monitor/i.test(l) ? 6 : 0);
  const lines = text
    .split("\n")
    .map((l) => l.trim().replace(/^[+~-] pulumi-nodejs:dynamic\/xen:\w+ \S+ \w+ \(\d+s\)( \[diff: [^\]]*\];?)? ?/, ""))
    .filter((l) => l.length > 0);
  let best = "";
  let bestScore = -Infinity;
  for (const l of lines) {
    const sc = score(l);
    if (sc > bestScore) [best, bestScore] = [l, sc];
  }
  return oneLine(best || text, 220);
}

/** A XenApiClient for checks, closed by the caller. */
export function xenClient(url: string, username: string, password: string): XenApiClient {
  return new XenApiClient({ url, username, password });
}

// ---- running cases -----------------------------------------------------------------------------------------

export interface RunContext {
  runSeed: number;
  /** Only cases whose "group/name" matches run (RELIABILITY_ONLY); the others are not listed. */
  selected(group: string, name: string): boolean;
  log(line: string): void;
}

/** Runs one case: a returned report is a pass, Skip a skip, anything else thrown a failure. */
export async function runCase(
  ctx: RunContext,
  group: string,
  name: string,
  seed: number | undefined,
  fn: () => Promise<CaseReport>,
): Promise<CaseResult> {
  const started = Date.now();
  ctx.log(`[${group}] ${name}${seed !== undefined ? ` (seed ${seed})` : ""} ...`);
  let result: CaseResult;
  try {
    const r = await fn();
    result = { group, name, seed, outcome: "pass", ...r, ms: Date.now() - started };
  } catch (e) {
    if (e instanceof Skip) {
      result = { group, name, seed, outcome: "skip", detail: e.message, leftovers: "n/a", ms: Date.now() - started };
    } else {
      const msg = e instanceof Error ? e.message : String(e);
      result = {
        group,
        name,
        seed,
        outcome: "fail",
        detail: e instanceof CheckFailed ? msg : `unexpected: ${errorSummary(e)}`,
        leftovers: e instanceof CheckFailed && e.leftovers ? e.leftovers : "not checked",
        ms: Date.now() - started,
      };
    }
  }
  ctx.log(
    `[${group}] ${name}: ${result.outcome.toUpperCase()} in ${(result.ms / 1000).toFixed(1)} s — ${result.detail}`,
  );
  return result;
}

/** Runs `tasks` with at most `limit` at a time, results in task order. */
export async function pooled<T>(limit: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return out;
}

/** One raw JSON-RPC 2.0 call: the result, or throws with the XenAPI error (code first) or the transport failure. */
export async function rpc<T = unknown>(url: string, method: string, params: unknown[], timeoutMs = 20_000): Promise<T> {
  const res = await fetch(`${url}/jsonrpc`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", method, params, id: 1 }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status} ${oneLine(text, 120)}`);
  const j = JSON.parse(text) as { result?: T; error?: { message: string; data: unknown[] } };
  if (j.error) throw new RpcError(j.error.message, j.error.data.map(String));
  return j.result as T;
}

export class RpcError extends Error {
  constructor(
    readonly code: string,
    readonly params: string[],
  ) {
    super([code, ...params].join(" "));
  }
}

/** Full texts (engine errors, simulator output) kept for a failed case, in a directory printed at the end. */
export const ARTIFACTS = path.join(os.tmpdir(), `pulumi-xen-reliability-${process.pid}`);

export function saveText(name: string, text: string): string {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name.replace(/[^\w.-]+/g, "_").slice(0, 100)}.txt`);
  fs.writeFileSync(file, text);
  return file;
}

/**
 * Fault matrix under the real engine: for each fault, one stack on its own simulator goes through create (one VM),
 * update (memory 1 -> 1.5 GiB and maxMemory 2 -> 3 GiB, which needs a restart) and delete (count 0), with the
 * fault injected during the first `up` of each phase. Each phase is a case: the first `up` succeeds or fails with
 * a message naming the cause, a second `up` (when the first failed) converges, no VM or disk is left over, and
 * `preview` shows no change.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import type { Stack } from "@pulumi/pulumi/automation";
import { startSimulator, type RunningSimulator } from "../../simulator";
import { XenApiClient, isTransportError } from "../../provider/xenapi";
import { createE2eEnv, type E2eEnv } from "../e2e/harness";
import {
  caseSeed,
  check,
  CheckFailed,
  clean,
  control,
  describeLeftovers,
  errorSummary,
  FIXTURE_VMS,
  freePort,
  GiB,
  leftovers,
  metrics,
  oneLine,
  pooled,
  rpc,
  runCase,
  saveText,
  Skip,
  sleep,
  startChildSim,
  stateVms,
  userVms,
  xenClient,
  type CaseResult,
  type ChildSim,
  type RunContext,
  type SimHandle,
} from "./lib";

const GROUP = "1 fault matrix";
const PASSWORD = "rel-faults-root-pw-51c2";
type Phase = "create" | "update" | "delete";
const PHASES: Phase[] = ["create", "update", "delete"];

/** The mutation each phase certainly makes, where request-level faults are injected. */
const MUTATION: Record<Phase, string> = {
  create: "Async.VM.clone",
  update: "VM.set_memory_limits",
  delete: "Async.VM.destroy",
};

/** Read-only methods the provider calls in every phase. */
const READS = [
  "VM.get_record",
  "VBD.get_record",
  "VDI.get_record",
  "VIF.get_record",
  "SR.get_record",
  "network.get_record",
  "host.get_record",
  "VM_metrics.get_record",
  "VM.get_by_uuid",
  "VM.get_by_name_label",
  "VM.get_all_records",
  "pool.get_all",
  "pool.get_default_SR",
  "event.from",
  "task.get_record",
  "VBD.get_all_records",
  "VDI.get_all_records",
];

interface Chain {
  sim: SimHandle;
  env: E2eEnv;
  stack: Stack;
  xen: XenApiClient;
  baseline: Set<string>;
  /** Fault actions the simulator took since the last reset (in-process simulators only). */
  hits: string[];
}

interface FaultKind {
  key: string;
  label: string;
  /** Text the first `up`'s error must contain when it fails (the cause, said clearly). */
  cause: RegExp;
  /** Child-process simulator (for kill -9) instead of an in-process one. */
  child?: boolean;
  /** Phases this fault applies to (default all three). */
  phases?: Phase[];
  /** Injects the fault for `phase`; may return a task that runs alongside the first `up`. */
  inject(chain: Chain, phase: Phase, restart: () => Promise<void>): Promise<(() => Promise<string>) | void>;
}

const faultKinds: FaultKind[] = [
  {
    key: "http503",
    label: "HTTP 503 x2 on the phase's mutation",
    cause: /HTTP 503|503/,
    async inject(c, phase) {
      await control(c.sim, "POST", "faults", { method: MUTATION[phase], httpStatus: 503, count: 2 });
    },
  },
  {
    key: "drop",
    label: "connection dropped x2 on the phase's mutation",
    cause: /ECONNRESET|socket hang up|connection|network/i,
    async inject(c, phase) {
      await control(c.sim, "POST", "faults", { method: MUTATION[phase], drop: true, count: 2 });
    },
  },
  {
    key: "rate20",
    label: "20% of reads dropped (17 read methods, whole first up)",
    cause: /ECONNRESET|socket hang up|connection|network/i,
    async inject(c) {
      for (const method of READS) await control(c.sim, "POST", "faults", { method, drop: true, rate: 0.2 });
    },
  },
  {
    key: "rate20x",
    label: "20% of reads fail with a XenAPI error (17 read methods, whole first up)",
    cause: /INTERNAL_ERROR/,
    async inject(c) {
      for (const method of READS)
        await control(c.sim, "POST", "faults", {
          method,
          error: ["INTERNAL_ERROR", "injected read failure"],
          rate: 0.2,
        });
    },
  },
  {
    key: "task",
    label: "task fails x1 (VM.provision / VM.start_on / VM.destroy)",
    cause: /SR_FULL|HOST_NOT_ENOUGH_FREE_MEMORY|INTERNAL_ERROR/,
    async inject(c, phase) {
      const spec = {
        create: { method: "VM.provision", error: ["SR_FULL", String(10 * GiB), "0"] },
        update: { method: "VM.start_on", error: ["HOST_NOT_ENOUGH_FREE_MEMORY", String(3 * GiB), String(GiB)] },
        delete: { method: "VM.destroy", error: ["INTERNAL_ERROR", "injected task failure"] },
      }[phase];
      await control(c.sim, "POST", "faults", { ...spec, count: 1 });
    },
  },
  {
    key: "session",
    label: "session expires x1 (SESSION_INVALID on the phase's mutation)",
    cause: /SESSION_INVALID/,
    async inject(c, phase) {
      await control(c.sim, "POST", "faults", {
        method: MUTATION[phase],
        error: ["SESSION_INVALID", "OpaqueRef:expired"],
        count: 1,
      });
    },
  },
  {
    key: "kill9",
    label: "simulator kill -9 mid-apply, restarted on the same --data",
    cause: /ECONNREFUSED|ECONNRESET|socket hang up|restarted|connection|network|SESSION_INVALID/i,
    child: true,
    async inject(c, phase, restart) {
      // The operation in flight when the simulator dies (time scale 1: clone 1 s, start 3 s, shutdown 0.5-2 s).
      const inFlight = {
        create: ["Async.VM.clone", "Async.VM.provision"],
        update: ["Async.VM.clean_shutdown", "Async.VM.hard_shutdown", "Async.VM.start_on"],
        delete: ["Async.VM.clean_shutdown", "Async.VM.hard_shutdown", "Async.VM.destroy"],
      }[phase];
      // Metrics are cumulative per simulator process: only calls made from now on count.
      const before = await metrics(c.sim);
      return async () => {
        const until = Date.now() + 60_000;
        while (Date.now() < until) {
          let m;
          try {
            m = await metrics(c.sim);
          } catch {
            await sleep(50);
            continue;
          }
          const seen = inFlight.find((x) => (m[x]?.count ?? 0) > (before[x]?.count ?? 0));
          if (seen) {
            await sleep(150);
            await restart();
            return `killed during ${seen}`;
          }
          await sleep(25);
        }
        return "operation never reached: not killed";
      };
    },
  },
  {
    key: "kill9-clone",
    label: "simulator kill -9 the moment the clone exists, before it is tagged",
    cause: /ECONNREFUSED|ECONNRESET|socket hang up|restarted|connection|network|SESSION_INVALID/i,
    child: true,
    phases: ["create"],
    async inject(c, _phase, restart) {
      // The riskiest moment for an orphan: the clone is committed, the provider has not tagged it yet.
      const s = await rpc<string>(c.sim.url, "session.login_with_password", ["root", PASSWORD, "1.0", "reliability"]);
      const before = (await rpc<string[]>(c.sim.url, "VM.get_all", [s])).length;
      return async () => {
        const until = Date.now() + 60_000;
        while (Date.now() < until) {
          let n: number;
          try {
            n = (await rpc<string[]>(c.sim.url, "VM.get_all", [s], 2000)).length;
          } catch {
            await sleep(20);
            continue;
          }
          if (n > before) {
            await restart();
            return "killed as the clone appeared";
          }
          await sleep(5);
        }
        return "operation never reached: not killed";
      };
    },
  },
];

/** Config of each phase (applied before its first `up`). */
async function configure(stack: Stack, phase: Phase): Promise<void> {
  if (phase === "create") await stack.setAllConfig({ "rel:count": { value: "1" } });
  if (phase === "update")
    await stack.setAllConfig({
      "rel:memory": { value: "1536MiB" },
      "rel:maxMemory": { value: "3GiB" },
      "rel:allowRestart": { value: "true" },
    });
  if (phase === "delete") await stack.setConfig("rel:count", { value: "0" });
}

/** The pool is in the state the phase asked for. */
async function verifyPhase(c: Chain, phase: Phase): Promise<string> {
  const inState = await stateVms(c.env, c.stack);
  const vms = [...(await userVms(c.xen)).values()].filter((v) => !c.baseline.has(v.uuid));
  if (phase === "delete") {
    check(inState.length === 0 && vms.length === 0, `after delete: ${inState.length} in state, ${vms.length} in pool`);
    return "VM gone";
  }
  check(inState.length === 1, `expected 1 VM in state, found ${inState.length}`);
  const vm = vms.find((v) => v.uuid === inState[0]!.id);
  check(vm, `the state's VM ${inState[0]!.id} is not in the pool`);
  check(vm.power_state === "Running", `VM is ${String(vm.power_state)}, not Running`);
  const want = phase === "create" ? 2 * GiB : 3 * GiB;
  check(
    Number(vm.memory_static_max) === want,
    `memory_static_max ${Number(vm.memory_static_max) / GiB} GiB, want ${want / GiB}`,
  );
  return `VM Running, maxMemory ${want / GiB} GiB`;
}

function changes(summary: Record<string, number | undefined> | undefined): string[] {
  return Object.entries(summary ?? {})
    .filter(([k, n]) => k !== "same" && (n ?? 0) > 0)
    .map(([k, n]) => `${k} ${n}`);
}

async function runPhase(ctx: RunContext, fk: FaultKind, c: Chain, phase: Phase, restart: () => Promise<void>) {
  const name = `${phase} / ${fk.label}`;
  const seed = caseSeed(ctx.runSeed, `${fk.key}`);
  if (!ctx.selected(GROUP, name)) return undefined;
  return runCase(ctx, GROUP, name, seed, async () => {
    await configure(c.stack, phase);
    c.hits.length = 0;
    const during = await fk.inject(c, phase, restart);
    const duringP = during ? during() : Promise.resolve("");
    let first: string;
    let firstOk = true;
    try {
      const r = await c.env.up(c.stack, { parallel: 8 });
      first = `up ${r.summary.result}`;
    } catch (e) {
      firstOk = false;
      first = `up failed: ${errorSummary(e)}`;
      const text = e instanceof Error ? e.message : String(e);
      saveText(`faults-${fk.key}-${phase}-first-up`, text);
      check(fk.cause.test(text), `first up failed without naming the cause (${fk.cause}): ${first}`);
    }
    const duringNote = await duringP;
    await control(c.sim, "DELETE", "faults");
    // The fault must have happened, or the case proves nothing.
    let fired: string;
    if (fk.child) {
      check(duringNote.startsWith("killed"), `${duringNote}`);
      fired = duringNote;
      if (fk.key === "kill9-clone") {
        // Metrics belong to the restarted process: a tag call there means the kill came before the tag.
        const m = await metrics(c.sim);
        fired +=
          (m["VM.add_to_other_config"]?.count ?? 0) > 0
            ? ", tag sent after the restart"
            : ", tag landed before the kill";
      }
    } else {
      // A rate fault may by chance not fire over a short phase: inconclusive, reported as skipped (never as passed).
      if (c.hits.length === 0 && fk.key.startsWith("rate"))
        throw new Skip(`inconclusive: the 20% fault did not fire in this phase (${first}); replay with another seed`);
      check(c.hits.length > 0, "the fault never fired (the phase did not call the faulted method)");
      fired = `fault fired ${c.hits.length}x`;
    }
    let second = "";
    if (!firstOk) {
      try {
        const r = await c.env.up(c.stack, { parallel: 8 });
        second = `; second up ${r.summary.result}`;
      } catch (e) {
        saveText(`faults-${fk.key}-${phase}-second-up`, e instanceof Error ? e.message : String(e));
        const l = await leftovers(c.xen, c.env, c.stack, c.baseline).catch(() => undefined);
        throw new CheckFailed(
          `${first}; second up failed: ${errorSummary(e)}`,
          l ? describeLeftovers(l) : "not checked",
        );
      }
    }
    const l = await leftovers(c.xen, c.env, c.stack, c.baseline);
    check(clean(l), `${first}${second}; leftovers found`, describeLeftovers(l));
    const shape = await verifyPhase(c, phase);
    const pre = await c.env.preview(c.stack);
    const pending = changes(pre.changeSummary as Record<string, number>);
    check(pending.length === 0, `${first}${second}; preview still shows ${pending.join(", ")}`, describeLeftovers(l));
    return {
      detail: oneLine(`${first} (${fired})${second}; ${shape}; preview: no changes`, 300),
      leftovers: describeLeftovers(l),
    };
  });
}

async function runChain(ctx: RunContext, fk: FaultKind): Promise<CaseResult[]> {
  const phases = fk.phases ?? PHASES;
  const wanted = phases.some((p) => ctx.selected(GROUP, `${p} / ${fk.label}`));
  if (!wanted) return [];
  const seed = caseSeed(ctx.runSeed, fk.key);
  let inproc: RunningSimulator | undefined;
  let child: ChildSim | undefined;
  let dataDir: string | undefined;
  let sim: SimHandle;
  const hits: string[] = [];
  let restart: () => Promise<void> = async () => undefined;
  let env: E2eEnv | undefined;
  let xen: XenApiClient | undefined;
  try {
    if (fk.child) {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "rel-kill9-"));
      const port = await freePort();
      // No --seed: a seeded simulator reuses refs after a restart (a separate case in group 4 shows it).
      const opts = { port, dataDir, rootPassword: PASSWORD, timeScale: 1 };
      child = await startChildSim(opts);
      const handle: SimHandle = { url: child.url, controlUrl: child.controlUrl, controlToken: child.controlToken };
      sim = handle;
      restart = async () => {
        await child!.kill9();
        child = await startChildSim(opts);
        Object.assign(handle, { url: child.url, controlUrl: child.controlUrl, controlToken: child.controlToken });
      };
    } else {
      inproc = await startSimulator({
        port: 0,
        http: true,
        timeScale: 0,
        failedLoginDelayMs: 0,
        rootPassword: PASSWORD,
        seed,
      });
      const core = inproc.core;
      const original = core.applyFault.bind(core);
      core.applyFault = async (method: string) => {
        const a = await original(method);
        if (a.kind !== "none") hits.push(`${method}:${a.kind}`);
        return a;
      };
      sim = inproc;
    }
    env = await createE2eEnv({
      name: `rel-${fk.key}`,
      envVars: { XEN_URL: sim.url, XEN_USERNAME: "root", XEN_PASSWORD: PASSWORD },
    });
    const stack = await env.openStack(FIXTURE_VMS, { stackName: `rel-${fk.key}-${process.pid}` });
    xen = xenClient(sim.url, "root", PASSWORD);
    const baseline = new Set([...(await userVms(xen)).values()].map((v) => v.uuid));
    const chain: Chain = { sim, env, stack, xen, baseline, hits };
    const out: CaseResult[] = [];
    for (const phase of phases) {
      const r = await runPhase(ctx, fk, chain, phase, restart);
      if (r) out.push(r);
    }
    return out;
  } finally {
    await xen?.close().catch(() => undefined);
    await env?.cleanup().catch(() => undefined);
    await inproc?.close().catch(() => undefined);
    await child?.stop().catch(() => undefined);
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Latency past the call timeout under the engine needs a lower client timeout than the provider's 60 s. */
function latencyEngineSkips(ctx: RunContext): Promise<CaseResult>[] {
  return PHASES.filter((p) => ctx.selected(GROUP, `${p} / latency past the call timeout (engine)`)).map((p) =>
    runCase(ctx, GROUP, `${p} / latency past the call timeout (engine)`, undefined, async () => {
      throw new Skip(
        "not built yet under the engine: XEN_TIMEOUT now lowers the provider's per-call timeout, but this run has " +
          "no case that injects the spike through it. Covered at client level below, and a lost Async.VM.clone " +
          'answer by tests/integration/provider ("a clone whose answer was lost").',
      );
    }),
  );
}

/**
 * The same fault at client level, where timeoutMs can be set: a read that stalls past the timeout is retried and
 * answers; a mutation that stalls fails with a timeout error that says so (it is not repeated blindly).
 */
async function latencyClient(ctx: RunContext): Promise<CaseResult | undefined> {
  const name = "latency past the call timeout (client, timeoutMs 300, spike 1500 ms)";
  if (!ctx.selected(GROUP, name)) return undefined;
  const seed = caseSeed(ctx.runSeed, "latency");
  return runCase(ctx, GROUP, name, seed, async () => {
    const sim = await startSimulator({
      port: 0,
      http: true,
      timeScale: 0,
      failedLoginDelayMs: 0,
      rootPassword: PASSWORD,
      seed,
    });
    const xen = new XenApiClient({ url: sim.url, username: "root", password: PASSWORD, timeoutMs: 300 });
    try {
      const vms = await xen.call<string[]>("VM.get_all", []);
      const ref = vms[0]!;
      await control(sim, "POST", "faults", { method: "VM.get_record", latencyMs: 1500, count: 1 });
      const t0 = Date.now();
      const rec = await xen.call<{ uuid: string }>("VM.get_record", [ref]);
      const readMs = Date.now() - t0;
      check(typeof rec.uuid === "string", "the retried read returned no record");
      await control(sim, "POST", "faults", { method: "VM.set_name_description", latencyMs: 1500, count: 1 });
      let mutErr: unknown;
      try {
        await xen.call("VM.set_name_description", [ref, "latency"]);
      } catch (e) {
        mutErr = e;
      }
      check(mutErr !== undefined, "a mutation stalled past the timeout returned success");
      check(isTransportError(mutErr, "timeout"), `mutation failed with ${errorSummary(mutErr)}, not a timeout`);
      const msg = (mutErr as Error).message;
      check(/VM\.set_name_description/.test(msg) && /300 ms/.test(msg), `unclear timeout message: ${oneLine(msg)}`);
      const m = await metrics(sim);
      check((m["VM.set_name_description"]?.count ?? 0) <= 1, "the timed-out mutation was sent again");
      return {
        detail: oneLine(`read retried after timeout, answered in ${readMs} ms; mutation: "${oneLine(msg, 120)}"`, 300),
        leftovers: "none",
      };
    } finally {
      await xen.close().catch(() => undefined);
      await sim.close();
    }
  });
}

export async function runFaults(ctx: RunContext): Promise<CaseResult[]> {
  const chains = await pooled(
    3,
    faultKinds.map((fk) => () => runChain(ctx, fk)),
  );
  const skips = await Promise.all(latencyEngineSkips(ctx));
  const client = await latencyClient(ctx);
  return [...chains.flat(), ...skips, ...(client ? [client] : [])];
}

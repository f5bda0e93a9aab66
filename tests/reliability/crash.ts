/**
 * Crash safety of the simulator: a burst of mutations from several clients, `kill -9` at a seeded moment, a restart
 * on the same --data; every acknowledged mutation must be there and the store consistent. Several rounds.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import {
  caseSeed,
  check,
  freePort,
  Rng,
  rpc,
  runCase,
  sleep,
  startChildSim,
  type CaseResult,
  type ChildSim,
  type RunContext,
} from "./lib";

const GROUP = "4 crash safety";
const PASSWORD = "rel-crash-root-pw-93be";
const ROUNDS = 3;
const WORKERS = 6;

type Rec = Record<string, unknown>;

interface Acked {
  otherConfig: Array<{ vm: string; key: string; value: string }>;
  vdis: Array<{ ref: string; name: string }>;
  /** per VM (one writer each): the original and the acknowledged descriptions in order, and the one in flight */
  descriptions: Map<string, { acked: string[]; inFlight?: string }>;
}

async function login(url: string): Promise<string> {
  return rpc<string>(url, "session.login_with_password", ["root", PASSWORD, "1.0", "crash"]);
}

/** References between objects hold both ways (VM <-> VBD <-> VDI -> SR); returns what is broken. */
async function integrity(url: string, s: string): Promise<string[]> {
  const get = (cls: string) => rpc<Record<string, Rec>>(url, `${cls}.get_all_records`, [s]);
  const [vms, vbds, vdis, srs] = await Promise.all([get("VM"), get("VBD"), get("VDI"), get("SR")]);
  const broken: string[] = [];
  for (const [ref, vbd] of Object.entries(vbds)) {
    const vm = vms[vbd.VM as string];
    if (!vm) broken.push(`VBD ${ref} -> missing VM`);
    else if (!(vm.VBDs as string[]).includes(ref)) broken.push(`VM ${vm.uuid as string} does not list its VBD`);
    if (vbd.VDI !== "OpaqueRef:NULL") {
      const vdi = vdis[vbd.VDI as string];
      if (!vdi) broken.push(`VBD ${ref} -> missing VDI`);
      else if (!(vdi.VBDs as string[]).includes(ref)) broken.push(`VDI ${vdi.uuid as string} does not list its VBD`);
    }
  }
  for (const [ref, vm] of Object.entries(vms))
    for (const v of vm.VBDs as string[]) if (!vbds[v]) broken.push(`VM ${ref} lists a missing VBD`);
  for (const [ref, vdi] of Object.entries(vdis)) if (!srs[vdi.SR as string]) broken.push(`VDI ${ref} -> missing SR`);
  return broken;
}

async function round(sim: ChildSim, rng: Rng, acked: Acked, r: number): Promise<{ sent: number; ack: number }> {
  const url = sim.url;
  const s = await login(url);
  const template = (await rpc<string[]>(url, "VM.get_by_name_label", [s, "Debian Bookworm 12"]))[0]!;
  const pool = (await rpc<string[]>(url, "pool.get_all", [s]))[0]!;
  const sr = await rpc<string>(url, "pool.get_default_SR", [s, pool]);
  const vms: string[] = [];
  for (let w = 0; w < WORKERS; w++) vms.push(await rpc<string>(url, "VM.clone", [s, template, `crash-r${r}-w${w}`]));
  let sent = 0;
  let ack = 0;
  let stop = false;
  const worker = async (w: number) => {
    const vm = vms[w]!;
    const original = await rpc<string>(url, "VM.get_name_description", [s, vm]);
    const desc: { acked: string[]; inFlight?: string } = { acked: [original] };
    acked.descriptions.set(vm, desc);
    for (let i = 0; !stop; i++) {
      const kind = i % 3;
      sent++;
      try {
        if (kind === 0) {
          const key = `k-r${r}-w${w}-${i}`;
          const value = `v${rng.int(0, 1e9)}`;
          await rpc(url, "VM.add_to_other_config", [s, vm, key, value], 5000);
          acked.otherConfig.push({ vm, key, value });
        } else if (kind === 1) {
          const name = `crash-vdi-r${r}-w${w}-${i}`;
          const ref = await rpc<string>(
            url,
            "VDI.create",
            [
              s,
              {
                name_label: name,
                name_description: "",
                SR: sr,
                virtual_size: 1024 ** 3,
                type: "user",
                sharable: false,
                read_only: false,
                other_config: {},
                xenstore_data: {},
                sm_config: {},
                tags: [],
              },
            ],
            5000,
          );
          acked.vdis.push({ ref, name });
        } else {
          const d = `d-r${r}-w${w}-${i}`;
          desc.inFlight = d;
          await rpc(url, "VM.set_name_description", [s, vm, d], 5000);
          desc.acked.push(d);
          desc.inFlight = undefined;
        }
        ack++;
      } catch {
        return; // the simulator is gone
      }
    }
  };
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
  // Kill at a seeded point once the burst is well under way (by acknowledged count, not time: the machine may be busy).
  const killAt = rng.int(40, 120);
  const until = Date.now() + 30_000;
  while (ack < killAt && Date.now() < until) await sleep(5);
  await sleep(rng.int(0, 20));
  await sim.kill9();
  stop = true;
  await Promise.all(workers);
  return { sent, ack };
}

async function crashCase(ctx: RunContext): Promise<CaseResult | undefined> {
  const name = `kill -9 during a burst of mutations (${WORKERS} clients, ${ROUNDS} rounds), restart on the same --data`;
  if (!ctx.selected(GROUP, name)) return undefined;
  const seed = caseSeed(ctx.runSeed, "crash-burst");
  return runCase(ctx, GROUP, name, seed, async () => {
    const rng = new Rng(seed);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "rel-crash-"));
    const port = await freePort();
    // No --seed for the process: a seeded simulator reuses refs after a restart (see the case below).
    const opts = { port, dataDir, rootPassword: PASSWORD, timeScale: 0 };
    let sim: ChildSim | undefined = await startChildSim(opts);
    const acked: Acked = { otherConfig: [], vdis: [], descriptions: new Map() };
    let sent = 0;
    let ack = 0;
    try {
      for (let r = 0; r < ROUNDS; r++) {
        const res = await round(sim, rng, acked, r);
        sent += res.sent;
        ack += res.ack;
        sim = await startChildSim(opts);
      }
      const s = await login(sim.url);
      const missing: string[] = [];
      const vms = await rpc<Record<string, Rec>>(sim.url, "VM.get_all_records", [s]);
      for (const m of acked.otherConfig) {
        const oc = vms[m.vm]?.other_config as Record<string, string> | undefined;
        if (oc?.[m.key] !== m.value) missing.push(`other_config ${m.key}`);
      }
      const vdis = await rpc<Record<string, Rec>>(sim.url, "VDI.get_all_records", [s]);
      for (const v of acked.vdis) if (vdis[v.ref]?.name_label !== v.name) missing.push(`VDI ${v.name}`);
      for (const [vm, d] of acked.descriptions) {
        const have = vms[vm]?.name_description as string | undefined;
        const last = d.acked[d.acked.length - 1];
        if (have !== last && have !== d.inFlight) missing.push(`description of VM ${vm}: ${have} (acked ${last})`);
      }
      check(
        missing.length === 0,
        `${missing.length} acknowledged mutations lost, e.g. ${missing.slice(0, 3).join(", ")}`,
      );
      const broken = await integrity(sim.url, s);
      check(broken.length === 0, `store inconsistent after restart: ${broken.slice(0, 3).join("; ")}`);
      check(ack >= 40 * ROUNDS, `only ${ack} mutations acknowledged before the kills: the burst proved little`);
      return {
        detail: `${ROUNDS} kills; ${ack} of ${sent} mutations acknowledged, all ${ack} present after restart; references consistent`,
        leftovers: "none",
      };
    } finally {
      await sim?.stop().catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
}

/** A simulator started with --seed and restarted on its --data must not hand out refs that already exist. */
async function seededRestart(ctx: RunContext): Promise<CaseResult | undefined> {
  const name = "restart with --seed on the same --data: new objects get fresh refs";
  if (!ctx.selected(GROUP, name)) return undefined;
  const seed = caseSeed(ctx.runSeed, "seeded-restart");
  return runCase(ctx, GROUP, name, seed, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "rel-seeded-"));
    const opts = { port: await freePort(), dataDir, rootPassword: PASSWORD, timeScale: 0, seed: seed % 100_000 };
    let sim: ChildSim | undefined = await startChildSim(opts);
    try {
      const s1 = await login(sim.url);
      const pool = (await rpc<string[]>(sim.url, "pool.get_all", [s1]))[0]!;
      await sim.kill9();
      sim = await startChildSim(opts);
      const s2 = await login(sim.url);
      const vms = await rpc<Record<string, Rec>>(sim.url, "VM.get_all_records", [s2]);
      const existing = new Set<string>([pool, s1, ...Object.keys(vms)]);
      check(
        !existing.has(s2),
        `the first ref handed out after the restart (session ${s2.slice(0, 22)}…) is already the ${s2 === pool ? "pool's" : "session's / a VM's"} ref: the seeded id generator starts over instead of continuing`,
        "state with two objects under one ref",
      );
      return { detail: "the session created after the restart has a ref of its own", leftovers: "none" };
    } finally {
      await sim?.stop().catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
}

export async function runCrash(ctx: RunContext): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const r of [await crashCase(ctx), await seededRestart(ctx)]) if (r) out.push(r);
  return out;
}

/**
 * Concurrency: 50 VMs created at once (one program, --parallel 50) in a two-host pool that can hold only part of
 * them. No host may be overcommitted, every VM that does not fit must fail with the memory reason spelled out
 * (needed vs available), no VM may fail for another reason, and none may be refused while a host still had room.
 */
import { startSimulator, type Inventory } from "../../simulator";
import { defaultInventory } from "../../simulator/sim";
import { createE2eEnv } from "../e2e/harness";
import {
  caseSeed,
  check,
  clean,
  describeLeftovers,
  FIXTURE_VMS,
  GiB,
  leftovers,
  oneLine,
  runCase,
  saveText,
  stateVms,
  userVms,
  xenClient,
  type CaseResult,
  type RunContext,
} from "./lib";

const GROUP = "2 concurrency";
const PASSWORD = "rel-conc-root-pw-6a1e";
const N = 50;
const HOST_GIB = 20;

function smallPool(): Inventory {
  const inv = defaultInventory();
  inv.hosts = inv.hosts.slice(0, 2).map((h) => ({ ...h, memoryGiB: HOST_GIB }));
  inv.srs = (inv.srs ?? []).filter((s) => inv.hosts.some((h) => h.name === s.host));
  return inv;
}

type Rec = Record<string, unknown>;

export async function runConcurrency(ctx: RunContext): Promise<CaseResult[]> {
  const name = `${N} VMs created at once on a 2 x ${HOST_GIB} GiB pool (room for about 34)`;
  if (!ctx.selected(GROUP, name)) return [];
  const seed = caseSeed(ctx.runSeed, "concurrency");
  const r = await runCase(ctx, GROUP, name, seed, async () => {
    const sim = await startSimulator({
      port: 0,
      http: true,
      timeScale: 0,
      failedLoginDelayMs: 0,
      rootPassword: PASSWORD,
      seed,
      inventory: smallPool(),
    });
    const env = await createE2eEnv({
      name: "rel-concurrency",
      envVars: { XEN_URL: sim.url, XEN_USERNAME: "root", XEN_PASSWORD: PASSWORD },
    });
    const xen = xenClient(sim.url, "root", PASSWORD);
    try {
      const baseline = new Set([...(await userVms(xen)).values()].map((v) => v.uuid));
      const stack = await env.openStack(FIXTURE_VMS, {
        stackName: `rel-concurrency-${process.pid}`,
        config: {
          "rel:count": { value: String(N) },
          "rel:prefix": { value: "c" },
          "rel:memory": { value: "1GiB" },
          "rel:maxMemory": { value: "1GiB" },
          "rel:join": { value: "127.42.0.2" },
        },
      });
      let upError = "";
      const t0 = Date.now();
      try {
        await env.up(stack, { parallel: N });
      } catch (e) {
        upError = e instanceof Error ? e.message : String(e);
      }
      const upMs = Date.now() - t0;

      // Hosts: memory_total against the memory reserved by everything resident there (control domain included).
      const hosts = await xen.getAllRecords("host");
      check(hosts.size === 2, `the program should have joined 2 hosts into one pool, the pool has ${hosts.size}`);
      const all = await xen.getAllRecords("VM");
      const perHost: string[] = [];
      let maxFree = 0;
      for (const [href, h] of hosts) {
        const metrics = (await xen.getRecord(
          "host_metrics",
          (h as unknown as Rec).metrics as string,
        )) as unknown as Rec;
        const total = Number(metrics.memory_total);
        let used = 0;
        let count = 0;
        for (const vm of all.values()) {
          const v = vm as unknown as Rec;
          if (v.resident_on !== href || v.power_state !== "Running") continue;
          used += Number(v.memory_dynamic_min) + Number(v.memory_overhead ?? 0);
          if (v.is_control_domain !== true) count++;
        }
        const hostName = (h as unknown as Rec).name_label as string;
        check(
          used <= total,
          `${hostName} overcommitted: ${(used / GiB).toFixed(2)} GiB reserved > ${(total / GiB).toFixed(2)} GiB`,
        );
        maxFree = Math.max(maxFree, total - used);
        perHost.push(`${hostName} ${count} VMs, ${(used / GiB).toFixed(1)}/${(total / GiB).toFixed(1)} GiB`);
      }

      const inState = await stateVms(env, stack);
      check(inState.length === N, `${inState.length} of ${N} VMs in the state`);
      const vms = [...(await userVms(xen)).values()].filter((v) => !baseline.has(v.uuid));
      const running = vms.filter((v) => v.power_state === "Running");
      const halted = vms.filter((v) => v.power_state !== "Running");
      check(running.length > 0, "no VM started");
      check(halted.length > 0, `all ${N} VMs started: the pool was not near capacity, the case proves nothing`);
      check(upError !== "", `up succeeded although ${halted.length} VMs are not running`);

      // Every failure is the memory one, explained with figures, on the VM that failed; nothing else went wrong.
      saveText("concurrency-up", upError);
      const failed = new Map<string, string>();
      // Diagnostics: "  pulumi-nodejs:dynamic/xen:Vm (c-37):" followed by its indented error lines.
      for (const m of upError.matchAll(/xen:Vm \((c-\d+)\):\n((?:[ \t]+\S[^\n]*\n?)+)/g))
        failed.set(m[1]!, m[2]!.replace(/\s+/g, " ").trim());
      const explainedRe = /needs (\d+(?:\.\d+)?) GiB but the host has only (\d+(?:\.\d+)?) GiB free/;
      const unexplained = [...failed].filter(([, msg]) => !explainedRe.test(msg));
      const haltedNames = new Set(halted.map((v) => v.name_label));
      check(
        failed.size === halted.length && [...failed.keys()].every((n) => haltedNames.has(n)),
        `${halted.length} VMs not running, but the engine reports ${failed.size} failed VMs (${[...failed.keys()].slice(0, 5).join(", ")})`,
      );
      check(
        unexplained.length === 0,
        `${unexplained.length} failures do not explain needed vs available memory, e.g. ${oneLine(unexplained[0]?.join(": ") ?? "", 200)}`,
      );
      const example = explainedRe.exec([...failed.values()][0] ?? "")?.[0] ?? "";
      // None refused while a host still had room for it.
      const need = GiB;
      check(maxFree < need, `a VM was refused although a host still had ${(maxFree / GiB).toFixed(2)} GiB free`);

      const l = await leftovers(xen, env, stack, baseline);
      check(clean(l), "leftovers found", describeLeftovers(l));
      return {
        detail: oneLine(
          `${running.length} started, ${halted.length} refused, each with "${example}"; ${perHost.join("; ")}; up took ${(upMs / 1000).toFixed(0)} s`,
          400,
        ),
        leftovers: `${describeLeftovers(l)} (the ${halted.length} refused VMs stay Halted in the state, tagged)`,
      };
    } finally {
      await xen.close().catch(() => undefined);
      await env.cleanup().catch(() => undefined);
      await sim.close();
    }
  });
  return [r];
}

/**
 * The simulator in its own process, so that its resident memory is its own. Argument: JSON
 * `{ inventory, dataDir?, rootPassword }`. Loads the compiled simulator (dist/, as `xen-simulator` does) when
 * present, else the TypeScript source.
 *
 * Messages: `{type:"populate", vms}` joins every host into the first host's pool and creates `vms` VMs
 * (VM.clone of a template and VM.provision, i.e. one disk each, through the simulator's own dispatcher: the same handlers as over HTTP, without
 * the transport); `{type:"save", dir}` writes the whole state into a data directory in one sqlite transaction
 * (for start-up from stored state); `{type:"rss"}` runs a full GC and answers the resident set size.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as Sim from "../../simulator";
import type { Inventory } from "../../simulator/inventory/types";

const ROOT = process.env.BENCH_REPO_ROOT!;
const compiled = path.join(ROOT, "dist", "simulator", "index.js");
const simDir = fs.existsSync(compiled) ? path.dirname(compiled) : path.join(ROOT, "simulator");
if (simDir !== path.dirname(compiled)) require("ts-node").register({ transpileOnly: true });
const sim: typeof Sim = require(simDir);
const { SqliteStore } = require(path.join(simDir, "persist")) as typeof import("../../simulator/persist");

interface Config {
  inventory: Inventory;
  dataDir?: string;
  rootPassword: string;
}
const cfg = JSON.parse(process.argv[2] ?? "{}") as Config;

async function main(): Promise<void> {
  const t0 = performance.now();
  const running = await sim.startSimulator({
    port: 0,
    http: true,
    timeScale: 0,
    failedLoginDelayMs: 0,
    rootPassword: cfg.rootPassword,
    inventory: cfg.inventory,
    ...(cfg.dataDir ? { dataDir: cfg.dataDir } : {}),
  });
  const startMs = performance.now() - t0;
  const core = running.core;
  const hostRefs = () => core.engine.db.all("host").map(([ref]) => ref);
  const call = async (method: string, params: unknown[], host: string): Promise<unknown> => {
    const r = await core.call(method, params, host);
    if (!r.ok) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
    return r.value;
  };

  process.on("message", (m: { type: string; vms?: number; dir?: string }) => {
    void (async () => {
      try {
        if (m.type === "rss") {
          global.gc?.();
          process.send!({ rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed });
        } else if (m.type === "populate") {
          const t = performance.now();
          const hosts = hostRefs();
          const master = hosts.find((h) => core.engine.db.get("host", h).address === "127.42.0.1")!;
          for (const h of hosts) {
            if (h === master) continue;
            const s = await call("session.login_with_password", ["root", cfg.rootPassword, "1.0", "bench"], h);
            await call("pool.join", [s, "127.42.0.1", "root", cfg.rootPassword], h);
          }
          const s = await call("session.login_with_password", ["root", cfg.rootPassword, "1.0", "bench"], master);
          const templates = (await call("VM.get_by_name_label", [s, "Debian Bookworm 12"], master)) as string[];
          for (let i = 0; i < (m.vms ?? 0); i++) {
            const vm = await call("VM.clone", [s, templates[0], `bench-vm-${i}`], master);
            await call("VM.provision", [s, vm], master);
          }
          const vms = core.engine.db.all("VM").filter(([, r]) => r.is_a_template !== true && !r.is_control_domain);
          process.send!({ ms: performance.now() - t, vms: vms.length, hosts: hostRefs().length });
        } else if (m.type === "save" && m.dir) {
          // The whole state in one sqlite transaction, in the format the simulator loads from --data.
          const t = performance.now();
          const store = new SqliteStore(m.dir);
          store.clear();
          store.setMeta("inventory", JSON.stringify(core.engine.inventory));
          store.save([...core.engine.db.objects.values()], [], core.engine.db.gen);
          store.close();
          process.send!({ ms: performance.now() - t, objects: core.engine.db.objects.size });
        } else {
          process.send!({ error: `unknown message ${m.type}` });
        }
      } catch (err) {
        process.send!({ error: String(err instanceof Error ? err.stack : err) });
      }
    })();
  });
  process.on("SIGTERM", () => {
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  process.send!({
    url: running.url,
    controlUrl: running.controlUrl,
    controlToken: running.controlToken,
    startMs,
    vms: core.engine.db.all("VM").filter(([, r]) => r.is_a_template !== true && !r.is_control_domain).length,
    hosts: hostRefs().length,
  });
}

main().catch((err: unknown) => {
  process.send!({ error: String(err instanceof Error ? err.stack : err) });
  process.exit(1);
});

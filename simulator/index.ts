import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Inventory } from "./inventory/types";
import { hostAddress } from "./models/seed";
import { listen } from "./server/http";
import { tlsMaterial } from "./server/tls";
import { SimulatorCore } from "./sim";

export type { Inventory } from "./inventory/types";
export { SimulatorCore } from "./sim";

/** How to run the simulator. Every field is optional. */
export interface SimulatorOptions {
  /** TCP port shared by every host address; default 8443; 0 = a random free port */
  port?: number;
  /** persistence directory (sqlite, CA, control token); in-memory when undefined */
  dataDir?: string;
  /** inventory object or path to a JSON file; default: the built-in datacenter (inventory/default.json) */
  inventory?: Inventory | string;
  /** root's password; default env XEN_SIM_PASSWORD or "xen-root-pw" */
  rootPassword?: string;
  /** plain HTTP instead of TLS */
  http?: boolean;
  /** multiplier of simulated operation durations: 0 = instant (library default), 1 = realistic */
  timeScale?: number;
  /** delay before SESSION_AUTHENTICATION_FAILED; default 5000 * timeScale */
  failedLoginDelayMs?: number;
  /** start from the inventory even if the data dir holds state */
  reset?: boolean;
  /** seed of the id generator (deterministic uuids/refs/MACs) */
  seed?: number;
  /** bearer token of the control plane; default: generated (and written to <dataDir>/control-token) */
  controlToken?: string;
  /** structured log sink */
  log?: (line: object) => void;
}

/** A started simulator. */
export interface RunningSimulator {
  /** master URL of the first host, e.g. https://127.42.0.1:8443 */
  url: string;
  /** host name_label -> URL of its management address */
  hostUrls: Record<string, string>;
  /** base of the control plane, e.g. https://127.42.0.1:8443/control */
  controlUrl: string;
  controlToken: string;
  /** PEM file of the generated CA (TLS mode) */
  caCertPath?: string;
  caCert?: string;
  /** the in-process core (tests and benchmarks) */
  core: SimulatorCore;
  close(): Promise<void>;
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const log = opts.log ?? (() => undefined);
  const timeScale = opts.timeScale ?? 0;
  const core = new SimulatorCore({
    rootPassword: opts.rootPassword ?? process.env.XEN_SIM_PASSWORD ?? "xen-root-pw",
    timeScale,
    log,
    ...(opts.inventory !== undefined ? { inventory: opts.inventory } : {}),
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(opts.failedLoginDelayMs !== undefined ? { failedLoginDelayMs: opts.failedLoginDelayMs } : {}),
    ...(opts.reset ? { reset: true } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
  });
  const inv = core.engine.inventory;
  const addresses = inv.hosts.map((h, i) => hostAddress(h, i));
  let controlToken = opts.controlToken;
  if (!controlToken) {
    const file = opts.dataDir ? path.join(opts.dataDir, "control-token") : undefined;
    if (file && fs.existsSync(file) && !opts.reset) controlToken = fs.readFileSync(file, "utf8").trim();
    if (!controlToken) controlToken = randomBytes(24).toString("hex");
    if (file) fs.writeFileSync(file, `${controlToken}\n`, { mode: 0o600 });
  }
  let tls: { key: string; cert: string } | undefined;
  let caCertPath: string | undefined;
  let caCert: string | undefined;
  let tmpDir: string | undefined;
  if (!opts.http) {
    const dir = opts.dataDir ?? (tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "xen-sim-")));
    const m = tlsMaterial(dir, addresses);
    tls = { key: m.key, cert: m.cert };
    caCertPath = m.caCertPath;
    caCert = m.caCert;
  }
  let listening;
  try {
    listening = await listen(core, addresses, { port: opts.port ?? 8443, controlToken, log, ...(tls ? { tls } : {}) });
  } catch (err) {
    core.close();
    throw err;
  }
  const scheme = tls ? "https" : "http";
  const urlOf = (a: string) => `${scheme}://${a}:${listening.port}`;
  const hostUrls = Object.fromEntries(inv.hosts.map((h, i) => [h.name, urlOf(addresses[i]!)]));
  log({
    level: "info",
    msg: "simulator listening",
    hosts: hostUrls,
    control: `${urlOf(addresses[0]!)}/control`,
    caCertPath,
  });
  let closed = false;
  return {
    url: urlOf(addresses[0]!),
    hostUrls,
    controlUrl: `${urlOf(addresses[0]!)}/control`,
    controlToken,
    ...(caCertPath ? { caCertPath } : {}),
    ...(caCert ? { caCert } : {}),
    core,
    close: async () => {
      if (closed) return;
      closed = true;
      await listening.close();
      core.close();
      if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
      log({ level: "info", msg: "simulator stopped" });
    },
  };
}

/**
 * `npm run demo`: the example datacenter through the real Pulumi engine against the embedded simulator.
 *   1. builds the toolchain (cached) and the package if needed;
 *   2. starts the simulator in the background unless one is already answering (state in .state/simulator);
 *   3. `pulumi up --yes` of the root Pulumi.yaml (examples/datacenter) on the local file backend, with progress;
 *   4. prints the stack outputs as a placement table, and the address of the simulator's web view.
 * `npm run demo -- --destroy` tears the stack down; `--time-scale N` sets simulated operation time (default 0.05).
 * `npm run demo -- --maintenance [HOST]` then rolls one host through maintenance through XenAPI, as xen.Host's
 * `maintenance: true` does (disable, live evacuation; back in service after `--hold S` seconds, default 20), at
 * realistic speed so that the web view shows each VM moving.
 */
import { spawn, spawnSync, type SpawnSyncOptions } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import { XenApiClient } from "../provider/xenapi";

const ROOT = path.resolve(__dirname, "..");
const STATE = path.join(ROOT, ".state");
const SIM_DATA = path.join(STATE, "simulator");
const SIM_PORT = Number(process.env.XEN_SIM_PORT ?? 8443);
const MASTER = `https://127.42.0.1:${SIM_PORT}`;
const PASSWORD = process.env.XEN_SIM_PASSWORD ?? "xen-root-pw";
const STACK = process.env.PULUMI_XEN_STACK ?? "dev";

const args = process.argv.slice(2);
const destroy = args.includes("--destroy");
const scaleAt = args.indexOf("--time-scale");
const timeScale = scaleAt >= 0 ? args[scaleAt + 1]! : "0.05";
const maintenanceAt = args.indexOf("--maintenance");
const maintenanceHost =
  maintenanceAt >= 0 && args[maintenanceAt + 1] && !args[maintenanceAt + 1]!.startsWith("--")
    ? args[maintenanceAt + 1]
    : undefined;
const holdAt = args.indexOf("--hold");
const holdSeconds = holdAt >= 0 ? Number(args[holdAt + 1]) : 20;
if (!Number.isFinite(holdSeconds) || holdSeconds < 0) {
  console.error("[demo] --hold takes a number of seconds >= 0");
  process.exit(2);
}
/** The web view: the simulator serves it at / of the pool master's address. */
const VIEW = `${MASTER}/`;

function log(line: string) {
  console.log(`[demo] ${line}`);
}

function run(cmd: string, cmdArgs: string[], opts: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, cmdArgs, { stdio: "inherit", cwd: ROOT, ...opts });
  if (r.status !== 0) {
    console.error(`[demo] failed: ${cmd} ${cmdArgs.join(" ")} (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
  return r;
}

function caPath(): string | undefined {
  for (const name of ["ca.pem", "ca.crt", "tls/ca.pem", "ca-cert.pem"]) {
    const p = path.join(SIM_DATA, name);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

function answers(): Promise<boolean> {
  return new Promise((resolve) => {
    const ca = caPath();
    const req = https.request(
      `${MASTER}/jsonrpc`,
      { method: "POST", ...(ca ? { ca: fs.readFileSync(ca) } : { rejectUnauthorized: false }), timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode !== undefined);
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
    req.end(JSON.stringify({ jsonrpc: "2.0", method: "system.listMethods", params: [], id: 1 }));
  });
}

async function ensureSimulator() {
  if (await answers()) {
    log(`simulator already answering at ${MASTER}`);
    return;
  }
  fs.mkdirSync(SIM_DATA, { recursive: true });
  const out = fs.openSync(path.join(STATE, "simulator.log"), "a");
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, "simulator/bin/xen-simulator"),
      "--port",
      String(SIM_PORT),
      "--data",
      SIM_DATA,
      "--time-scale",
      timeScale,
    ],
    { cwd: ROOT, detached: true, stdio: ["ignore", out, out], env: { ...process.env, XEN_SIM_PASSWORD: PASSWORD } },
  );
  child.unref();
  log(`started the simulator (pid ${child.pid}, time scale ${timeScale}); log: .state/simulator.log`);
  for (let i = 0; i < 100; i++) {
    if (await answers()) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  console.error("[demo] the simulator did not answer within 30 s; see .state/simulator.log");
  process.exit(1);
}

function apiClient(env: NodeJS.ProcessEnv): XenApiClient {
  return new XenApiClient({
    url: env.XEN_URL!,
    username: env.XEN_USERNAME!,
    password: env.XEN_PASSWORD!,
    ...(env.XEN_CA_CERT ? { caCert: fs.readFileSync(env.XEN_CA_CERT, "utf8") } : { insecure: true }),
  });
}

function viewHint() {
  const ca = caPath();
  log(`web view: ${VIEW} (sign in as root / ${PASSWORD}, or readonly / readonly-pw)`);
  if (ca)
    log(
      `  its certificate is signed by the simulator's own CA, ${path.relative(ROOT, ca)}: trust it or accept the warning`,
    );
}

/** The simulator's control plane, when the demo's data directory holds its token (a simulator the demo started). */
async function controlPlane(route: string, body?: unknown): Promise<Record<string, unknown> | undefined> {
  const tokenFile = path.join(SIM_DATA, "control-token");
  if (!fs.existsSync(tokenFile)) return undefined;
  const ca = caPath();
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve) => {
    const req = https.request(
      `${MASTER}/control${route}`,
      {
        method: payload === undefined ? "GET" : "POST",
        headers: { Authorization: `Bearer ${fs.readFileSync(tokenFile, "utf8").trim()}` },
        ...(ca ? { ca: fs.readFileSync(ca) } : { rejectUnauthorized: false }),
        timeout: 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          try {
            resolve(res.statusCode === 200 ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as never) : undefined);
          } catch {
            resolve(undefined);
          }
        });
      },
    );
    req.on("error", () => resolve(undefined));
    req.on("timeout", () => req.destroy());
    req.end(payload);
  });
}

/**
 * One host through maintenance, as xen.Host's `maintenance: true` and then `false` do it: the VMs that would
 * prevent evacuation first (none may), host.disable, host.evacuate (live migrations), a pause, host.enable.
 * Without a name: the pool member, other than the master, that can be evacuated and holds the most guests.
 */
async function maintenanceRoll(env: NodeJS.ProcessEnv, wanted: string | undefined) {
  const client = apiClient(env);
  const scale = (await controlPlane("/time-scale"))?.scale;
  try {
    const hosts = [...(await client.getAllRecords("host")).entries()];
    const [pool] = (await client.getAllRecords("pool")).values();
    const vms = await client.getAllRecords("VM");
    const guests = (ref: string) =>
      [...vms.values()].filter((v) => v.resident_on === ref && !v.is_control_domain && v.power_state !== "Halted");
    const candidates = hosts.filter(([ref, h]) =>
      wanted ? h.name_label === wanted : ref !== pool?.master && h.enabled,
    );
    if (candidates.length === 0) throw new Error(wanted ? `no host named ${wanted} in the pool` : "no host to roll");
    const blocked = new Map<string, string[]>();
    for (const [ref, h] of candidates) {
      const blockers = await client.call<Record<string, string[]>>("host.get_vms_which_prevent_evacuation", [ref]);
      const reasons = Object.entries(blockers).map(
        ([vm, [code, ...params]]) =>
          `${String(vms.get(vm)?.name_label ?? vm)}: ${code}${params.length ? ` [${params.join(", ")}]` : ""}`,
      );
      if (reasons.length) blocked.set(String(h.name_label), reasons);
    }
    const ready = candidates
      .filter(([, h]) => !blocked.has(String(h.name_label)))
      .sort((a, b) => guests(b[0]).length - guests(a[0]).length);
    for (const [name, reasons] of blocked) log(`${name} cannot be evacuated now: ${reasons.join("; ")}`);
    if (ready.length === 0) throw new Error("no host can go into maintenance now");
    const [ref, host] = ready[0]!;
    const name = String(host.name_label);
    const moving = guests(ref).length;
    // Realistic timing for the roll, so that each live migration shows in the view; put back afterwards.
    if (scale !== undefined) await controlPlane("/time-scale", { scale: 1 });
    log(
      `${name}: entering maintenance (host.disable, host.evacuate of ${moving} VM${moving === 1 ? "" : "s"}); watch ${VIEW}`,
    );
    await client.callAsync("host.disable", [ref]);
    await client.callAsync("host.evacuate", [ref]);
    log(`${name} is in maintenance, its VMs run on the other hosts; back in service in ${holdSeconds} s`);
    await new Promise((r) => setTimeout(r, holdSeconds * 1000));
    await client.callAsync("host.enable", [ref]);
    log(`${name} is back in service (its VMs stay where they are: moved by maintenance is not drift)`);
  } finally {
    if (scale !== undefined) await controlPlane("/time-scale", { scale });
    await client.close().catch(() => undefined);
  }
}

async function hostNames(env: NodeJS.ProcessEnv): Promise<Map<string, string>> {
  const client = apiClient(env);
  try {
    const names = new Map<string, string>();
    for (const host of (await client.getAllRecords("host")).values()) names.set(host.uuid, String(host.name_label));
    return names;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** A VM in the stack output `placement`: the uuid of its host, power state, domain type, first IP. */
type PlacementRow = { host?: string; powerState?: string; domainType?: string; ip?: string };

/** The same rows as the stack's `placement` output, read from XenAPI now (the output dates from the last up). */
async function livePlacement(
  env: NodeJS.ProcessEnv,
  placement: Record<string, PlacementRow>,
): Promise<Record<string, PlacementRow>> {
  const client = apiClient(env);
  try {
    const hosts = await client.getAllRecords("host");
    const byName = new Map<string, { resident_on: unknown; power_state: unknown }>();
    for (const vm of (await client.getAllRecords("VM")).values())
      if (!vm.is_a_template && !vm.is_a_snapshot && !vm.is_control_domain) byName.set(String(vm.name_label), vm);
    return Object.fromEntries(
      Object.entries(placement).map(([name, row]) => {
        const vm = byName.get(name);
        const host = vm ? hosts.get(String(vm.resident_on))?.uuid : undefined;
        return [name, { ...row, ...(vm ? { powerState: String(vm.power_state) } : {}), ...(host ? { host } : {}) }];
      }),
    );
  } finally {
    await client.close().catch(() => undefined);
  }
}

function placementTable(outputs: Record<string, unknown>, names: Map<string, string>) {
  type Row = PlacementRow;
  const placement = (outputs.placement ?? {}) as Record<string, Row>;
  const rows = Object.entries(placement).map(([name, p]) => [
    name,
    p.powerState ?? "-",
    p.domainType ?? "-",
    p.host ? (names.get(p.host) ?? p.host) : "-",
    p.ip || "-",
  ]);
  const head = ["VM", "power", "domain", "host", "IP"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log("\n" + line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
  console.log("");
}

async function main() {
  log("toolchain (cached after the first build)");
  run("bash", ["scripts/install-toolchain.sh"]);
  log("building the package (dist/)");
  run("npm", ["run", "--silent", "build"]);
  await ensureSimulator();
  viewHint();

  const ca = caPath();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XEN_URL: MASTER,
    XEN_USERNAME: "root",
    XEN_PASSWORD: PASSWORD,
    ...(ca ? { XEN_CA_CERT: ca } : { XEN_INSECURE: "true" }),
  };
  const pulumi = (pulumiArgs: string[], opts: SpawnSyncOptions = {}) =>
    run("bash", ["scripts/pulumi-env.sh", "pulumi", ...pulumiArgs], { env, ...opts });

  const selected = spawnSync("bash", ["scripts/pulumi-env.sh", "pulumi", "stack", "select", STACK], {
    cwd: ROOT,
    env,
    stdio: "ignore",
  });
  if (selected.status !== 0) pulumi(["stack", "init", STACK]);

  if (destroy) {
    pulumi(["destroy", "--yes", "--stack", STACK]);
    log("stack destroyed");
    return;
  }
  pulumi(["up", "--yes", "--stack", STACK]);
  const out = pulumi(["stack", "output", "--json", "--stack", STACK], { stdio: ["ignore", "pipe", "inherit"] });
  placementTable(JSON.parse(String(out.stdout)), await hostNames(env).catch(() => new Map<string, string>()));
  if (maintenanceAt >= 0) {
    const outputs = JSON.parse(String(out.stdout)) as { placement?: Record<string, PlacementRow> };
    await maintenanceRoll(env, maintenanceHost);
    placementTable({ placement: await livePlacement(env, outputs.placement ?? {}) }, await hostNames(env));
  }
  viewHint();
  log("run `npm run demo` again: it reports no changes; `npm run demo -- --destroy` tears it down");
}

main().catch((e) => {
  console.error(`[demo] ${(e as Error).message}`);
  process.exit(1);
});

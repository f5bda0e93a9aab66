/**
 * `npm run demo`: the example datacenter through the real Pulumi engine against the embedded simulator.
 *   1. builds the toolchain (cached) and the package if needed;
 *   2. starts the simulator in the background unless one is already answering (state in .state/simulator);
 *   3. `pulumi up --yes` of the root Pulumi.yaml (examples/datacenter) on the local file backend, with progress;
 *   4. prints the stack outputs as a placement table.
 * `npm run demo -- --destroy` tears the stack down; `--time-scale N` sets simulated operation time (default 0.05).
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

async function hostNames(env: NodeJS.ProcessEnv): Promise<Map<string, string>> {
  const client = new XenApiClient({
    url: env.XEN_URL!,
    username: env.XEN_USERNAME!,
    password: env.XEN_PASSWORD!,
    ...(env.XEN_CA_CERT ? { caCert: fs.readFileSync(env.XEN_CA_CERT, "utf8") } : { insecure: true }),
  });
  try {
    const names = new Map<string, string>();
    for (const host of (await client.getAllRecords("host")).values()) names.set(host.uuid, String(host.name_label));
    return names;
  } finally {
    await client.close().catch(() => undefined);
  }
}

function placementTable(outputs: Record<string, unknown>, names: Map<string, string>) {
  type Row = { host?: string; powerState?: string; domainType?: string; ip?: string };
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
  log("run `npm run demo` again: it reports no changes; `npm run demo -- --destroy` tears it down");
}

main().catch((e) => {
  console.error(`[demo] ${(e as Error).message}`);
  process.exit(1);
});

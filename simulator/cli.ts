import * as path from "node:path";
import { startSimulator } from "./index";

const HELP = `xen-simulator: a XenAPI (JSON-RPC) simulator of XenServer/XCP-ng pools

  --port N            port on every host address (default 8443; 0 = random)
  --data DIR          persist state, CA and control token in DIR (default: in memory)
  --inventory FILE    datacenter inventory JSON (default: built-in 4-host datacenter)
  --root-password PW  root's password (default: env XEN_SIM_PASSWORD or "xen-root-pw")
  --http              plain HTTP instead of TLS
  --time-scale N      multiplier of simulated operation durations (default 1; 0 = instant)
  --reset             discard stored state and start from the inventory
  --control-token T   bearer token of /control (default: generated, written to DIR/control-token)
  --seed N            deterministic ids
  --failed-login-delay-ms N
  --help`;

function parse(argv: string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf("=");
    const key = a.slice(2, eq >= 0 ? eq : undefined);
    if (["http", "reset", "help"].includes(key)) out[key] = true;
    else if (eq >= 0) out[key] = a.slice(eq + 1);
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`--${key} needs a value`);
      out[key] = v;
    }
  }
  return out;
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const known = [
    "port",
    "data",
    "inventory",
    "root-password",
    "http",
    "time-scale",
    "reset",
    "control-token",
    "seed",
    "failed-login-delay-ms",
  ];
  for (const k of Object.keys(args)) if (!known.includes(k)) throw new Error(`unknown flag --${k}`);
  const log = (line: object) =>
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`);
  const num = (k: string) => (typeof args[k] === "string" ? Number(args[k]) : undefined);
  const dataDir = typeof args.data === "string" ? path.resolve(args.data) : undefined;
  // Handlers go in before start-up so that a signal during start-up still ends the process cleanly.
  const running: { sim?: Awaited<ReturnType<typeof startSimulator>> } = {};
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log({ level: "info", msg: "shutting down", signal });
    (running.sim ? running.sim.close() : Promise.resolve()).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  const sim = await startSimulator({
    port: num("port") ?? 8443,
    timeScale: num("time-scale") ?? 1,
    log,
    ...(dataDir ? { dataDir } : {}),
    ...(typeof args.inventory === "string" ? { inventory: path.resolve(args.inventory) } : {}),
    ...(typeof args["root-password"] === "string" ? { rootPassword: args["root-password"] } : {}),
    ...(args.http ? { http: true } : {}),
    ...(args.reset ? { reset: true } : {}),
    ...(typeof args["control-token"] === "string" ? { controlToken: args["control-token"] } : {}),
    ...(num("seed") !== undefined ? { seed: num("seed")! } : {}),
    ...(num("failed-login-delay-ms") !== undefined ? { failedLoginDelayMs: num("failed-login-delay-ms")! } : {}),
  });
  log({
    level: "info",
    msg: "ready",
    url: sim.url,
    hosts: sim.hostUrls,
    control: sim.controlUrl,
    controlToken:
      dataDir && typeof args["control-token"] !== "string"
        ? { file: path.join(dataDir, "control-token") }
        : args["control-token"]
          ? "(from --control-token)"
          : sim.controlToken,
    caCertPath: sim.caCertPath ?? null,
  });
  running.sim = sim;
  if (stopping) await sim.close();
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: "fatal", msg: String(err instanceof Error ? err.message : err) })}\n`,
  );
  process.exit(1);
});

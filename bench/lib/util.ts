/** Small helpers shared by the benchmark suites: statistics, child processes, a lean JSON-RPC client. */
import { ChildProcess, fork } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import * as ts from "typescript";

export const BENCH_DIR = path.resolve(__dirname, "..");
export const REPO_ROOT = path.resolve(BENCH_DIR, "..");

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return "n/a";
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  return n.toFixed(digits);
}

export const MiB = 1024 * 1024;

let childDir: string | undefined;

/**
 * Children are transpiled once to plain JavaScript and run by plain `node`, so that neither their start-up
 * time nor their memory includes ts-node and the TypeScript compiler. They may import only node: modules and
 * types; anything else they load by absolute path (BENCH_REPO_ROOT).
 */
function compiledChild(script: string): string {
  childDir ??= fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-xen-bench-children-"));
  const out = path.join(childDir, script.replace(/\.ts$/, ".js"));
  if (!fs.existsSync(out)) {
    const source = fs.readFileSync(path.join(BENCH_DIR, "lib", script), "utf8");
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: script,
    });
    fs.writeFileSync(out, js.outputText);
  }
  return out;
}

export function removeCompiledChildren(): void {
  if (childDir) fs.rmSync(childDir, { recursive: true, force: true });
  childDir = undefined;
}

/** A child process (plain node, see compiledChild) that talks over IPC. */
export class Child {
  private readonly waiters: ((m: Record<string, unknown>) => void)[] = [];
  private readonly exited: Promise<void>;

  private constructor(readonly proc: ChildProcess) {
    proc.on("message", (m) => this.waiters.shift()?.(m as Record<string, unknown>));
    this.exited = new Promise((r) => proc.once("exit", () => r()));
  }

  /** Starts `script` and resolves with the child and the wall time from spawn to its first message. */
  static async start(
    script: string,
    args: string[] = [],
  ): Promise<{ child: Child; readyMs: number; ready: Record<string, unknown> }> {
    const file = compiledChild(script);
    const t0 = performance.now();
    const proc = fork(file, args, {
      execArgv: ["--expose-gc"],
      cwd: REPO_ROOT,
      env: { ...process.env, BENCH_REPO_ROOT: REPO_ROOT },
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    const child = new Child(proc);
    const ready = await child.next();
    if (ready.error) throw new Error(`${script}: ${String(ready.error)}`);
    return { child, readyMs: performance.now() - t0, ready };
  }

  next(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`child exited (${code}) before answering`));
      this.proc.once("exit", onExit);
      this.waiters.push((m) => {
        this.proc.off("exit", onExit);
        resolve(m);
      });
    });
  }

  async ask(msg: Record<string, unknown>): Promise<Record<string, unknown>> {
    const answer = this.next();
    this.proc.send(msg);
    const a = await answer;
    if (a.error) throw new Error(String(a.error));
    return a;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGTERM");
    await this.exited;
  }
}

/** Keep-alive HTTP POSTs of raw bodies; the same code drives the simulator and the bare server. */
export class RawClient {
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(url: string, maxSockets: number) {
    this.url = new URL(url);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  post(pathname: string, body: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent: this.agent,
          host: this.url.hostname,
          port: this.url.port,
          path: pathname,
          method: "POST",
          headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
            else resolve(text);
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  /** JSON-RPC 2.0 call; throws on a XenAPI error. */
  async call(method: string, params: unknown[]): Promise<unknown> {
    const text = await this.post("/jsonrpc", JSON.stringify({ jsonrpc: "2.0", method, params, id: 1 }));
    const r = JSON.parse(text) as { result?: unknown; error?: { message: string; data?: unknown } };
    if (r.error) throw new Error(`${method}: ${r.error.message} ${JSON.stringify(r.error.data ?? [])}`);
    return r.result;
  }

  /**
   * Sends `body(i)` for i = 0, 1, ... from `concurrency` loops until `durationMs` has passed (after a short
   * warm-up that is not counted); returns completed calls per second.
   */
  async load(body: (i: number) => string, concurrency: number, durationMs: number, warmupMs = 1000): Promise<number> {
    let i = 0;
    let counted = 0;
    let counting = false;
    let stop = false;
    const loop = async () => {
      while (!stop) {
        const text = await this.post("/jsonrpc", body(i++));
        if (text.includes('"error"')) throw new Error(`call failed: ${text.slice(0, 300)}`);
        if (counting) counted++;
      }
    };
    const loops = Array.from({ length: concurrency }, loop);
    await new Promise((r) => setTimeout(r, warmupMs));
    counting = true;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, durationMs));
    counting = false;
    const elapsed = performance.now() - t0;
    const n = counted;
    stop = true;
    await Promise.all(loops);
    return (n / elapsed) * 1000;
  }

  /** `count` sequential calls after one uncounted call; returns calls per second (for slow calls). */
  async sequential(body: (i: number) => string, count: number): Promise<number> {
    await this.post("/jsonrpc", body(0));
    const t0 = performance.now();
    for (let i = 1; i <= count; i++) {
      const text = await this.post("/jsonrpc", body(i));
      if (text.slice(0, 200).includes('"error"')) throw new Error(`call failed: ${text.slice(0, 300)}`);
    }
    return (count / (performance.now() - t0)) * 1000;
  }

  close(): void {
    this.agent.destroy();
  }
}

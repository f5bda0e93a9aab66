/**
 * End-to-end test harness: the real Pulumi CLI (./bin, from `npm run toolchain`) driven through the
 * Automation API on an isolated local backend.
 *
 * Each `createE2eEnv()` gets its own temporary directory holding a file backend and a PULUMI_HOME,
 * so test files never share state and nothing reaches the network. Everything the CLI prints is
 * collected in `env.log`, so a test can assert that no secret ever appeared in any output.
 *
 *   const env = await createE2eEnv({ envVars: { XEN_URL: sim.url, XEN_PASSWORD: "..." } });
 *   afterAll(() => env.cleanup());
 *   const stack = await env.openStack(fixtureDir("smoke"), { config: { who: "e2e" } });
 *   const res = await env.up(stack);
 *
 * Programs run in place (workDir = the program's directory, inside this repo, so `@pulumi/pulumi`
 * and the project's own modules resolve by walking up to the repo's node_modules). Stack names are
 * unique per env, and `cleanup()` removes the stacks it opened together with their
 * `Pulumi.<stack>.yaml` files.
 *
 * TypeScript: programs run through ts-node in transpile-only mode by default
 * (PULUMI_NODEJS_TRANSPILE_ONLY=true), which saves 1-2 s per operation; the repository-wide
 * `npm run typecheck` type-checks tests/ and examples/. Pass `typeCheck: true` to make ts-node
 * type-check too (type errors then fail the operation with "Unable to compile TypeScript").
 */
import { execFile } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import {
  ConfigMap,
  DestroyOptions,
  DestroyResult,
  LocalWorkspace,
  PreviewOptions,
  PreviewResult,
  PulumiCommand,
  RefreshOptions,
  RefreshResult,
  Stack,
  UpOptions,
  UpResult,
} from "@pulumi/pulumi/automation";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const BIN_DIR = path.join(REPO_ROOT, "bin");
/** Generous per-test timeout for anything that runs the CLI (use with jest.setTimeout). */
export const E2E_TIMEOUT_MS = 10 * 60 * 1000;
/** The local-backend passphrase; fine for throwaway state, never for anything shared. */
export const E2E_PASSPHRASE = "pulumi-xen-e2e";

/** Absolute path of a program under tests/e2e/fixtures. */
export function fixtureDir(name: string): string {
  return path.join(__dirname, "fixtures", name);
}

/** Throws a clear error unless `npm run toolchain` has assembled ./bin. */
export function requireToolchain(): void {
  const missing = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"].filter(
    (f) => !fs.existsSync(path.join(BIN_DIR, f)),
  );
  if (missing.length > 0) {
    throw new Error(`missing ${missing.map((f) => `bin/${f}`).join(", ")}: run 'npm run toolchain' first`);
  }
}

/** Everything the CLI wrote (stdout and stderr of every operation, plus error messages), in order. */
export class OutputLog {
  private readonly chunks: string[] = [];
  readonly onOutput = (out: string): void => {
    this.chunks.push(out);
  };
  readonly onError = (err: string): void => {
    this.chunks.push(err);
  };
  /** Adds arbitrary text (e.g. an exported state or a simulator log) to what `contains` searches. */
  add(text: string): void {
    this.chunks.push(text);
  }
  text(): string {
    return this.chunks.join("");
  }
  contains(needle: string): boolean {
    return this.text().includes(needle);
  }
  clear(): void {
    this.chunks.length = 0;
  }
}

export interface E2eEnvOptions {
  /** Label for the temporary directory (defaults to "e2e"). */
  name?: string;
  /** Extra environment for the CLI, the program and the dynamic provider (e.g. XEN_URL, XEN_PASSWORD). */
  envVars?: Record<string, string>;
  /** Let ts-node type-check the program (default false: transpile only). */
  typeCheck?: boolean;
}

export interface OpenStackOptions {
  /** Defaults to a unique name; must be unique per program directory across concurrent test files. */
  stackName?: string;
  /** Stack configuration, e.g. `{ "xen:allowRestart": { value: "true" }, who: { value: "x", secret: true } }`. */
  config?: ConfigMap;
}

export interface E2eEnv {
  /** Temporary directory holding `backend/` and `home/`. */
  readonly dir: string;
  readonly backendUrl: string;
  readonly pulumiHome: string;
  /** The complete environment given to the CLI (`PULUMI_*` plus the caller's `envVars`). */
  readonly envVars: Record<string, string>;
  readonly log: OutputLog;
  readonly pulumiCommand: PulumiCommand;
  /** Creates or selects a stack of the program in `workDir` on this env's backend. */
  openStack(workDir: string, opts?: OpenStackOptions): Promise<Stack>;
  /** Stack operations with output collected in `log` and colour off; errors are logged, then rethrown. */
  up(stack: Stack, opts?: UpOptions): Promise<UpResult>;
  preview(stack: Stack, opts?: PreviewOptions): Promise<PreviewResult>;
  refresh(stack: Stack, opts?: RefreshOptions): Promise<RefreshResult>;
  destroy(stack: Stack, opts?: DestroyOptions): Promise<DestroyResult>;
  /**
   * `pulumi stack export` as JSON text, secrets left encrypted (unlike `Stack.exportStack()`, which
   * decrypts them). Also appended to `log`, so secret checks cover the state.
   */
  exportState(stack: Stack): Promise<string>;
  /** Raw text of every file in the backend directory (checkpoints, backups, history). */
  backendText(): Promise<string>;
  /** Removes the stacks opened here (with their Pulumi.<stack>.yaml) and the temporary directory. */
  cleanup(): Promise<void>;
}

function run(cmd: string, args: string[], cwd: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd, env: { ...process.env, ...env }, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/** Creates an isolated backend + PULUMI_HOME and the Automation API plumbing around ./bin/pulumi. */
export async function createE2eEnv(opts: E2eEnvOptions = {}): Promise<E2eEnv> {
  requireToolchain();
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), `pulumi-xen-${opts.name ?? "e2e"}-`));
  const backendDir = path.join(dir, "backend");
  const pulumiHome = path.join(dir, "home");
  await fs.promises.mkdir(backendDir, { recursive: true });
  await fs.promises.mkdir(pulumiHome, { recursive: true });
  const backendUrl = `file://${backendDir}`;
  const envVars: Record<string, string> = {
    PULUMI_BACKEND_URL: backendUrl,
    PULUMI_HOME: pulumiHome,
    PULUMI_CONFIG_PASSPHRASE: E2E_PASSPHRASE,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_NODEJS_TRANSPILE_ONLY: opts.typeCheck ? "false" : "true",
    PATH: `${BIN_DIR}${path.delimiter}${process.env["PATH"] ?? ""}`,
    ...opts.envVars,
  };
  const pulumiCommand = await PulumiCommand.get({ root: REPO_ROOT });
  const log = new OutputLog();
  const opened: Stack[] = [];
  const suffix = crypto.randomBytes(4).toString("hex");
  let counter = 0;

  const logged = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      log.add(`\n${err instanceof Error ? err.message : String(err)}\n`);
      throw err;
    }
  };
  const io = { onOutput: log.onOutput, onError: log.onError, color: "never" as const };

  return {
    dir,
    backendUrl,
    pulumiHome,
    envVars,
    log,
    pulumiCommand,
    async openStack(workDir, o = {}) {
      const stackName = o.stackName ?? `e2e-${suffix}-${counter++}`;
      const stack = await LocalWorkspace.createOrSelectStack({ stackName, workDir }, { pulumiCommand, envVars });
      opened.push(stack);
      if (o.config) await stack.setAllConfig(o.config);
      return stack;
    },
    up: (stack, o) => logged(() => stack.up({ ...io, ...o })),
    preview: (stack, o) => logged(() => stack.preview({ ...io, ...o })),
    refresh: (stack, o) => logged(() => stack.refresh({ ...io, ...o })),
    destroy: (stack, o) => logged(() => stack.destroy({ ...io, ...o })),
    async exportState(stack) {
      const workDir = (stack.workspace as LocalWorkspace).workDir;
      const text = await run(pulumiCommand.command, ["stack", "export", "--stack", stack.name], workDir, envVars);
      log.add(text);
      return text;
    },
    async backendText() {
      const files = await fs.promises.readdir(backendDir, { recursive: true, withFileTypes: true });
      const texts = await Promise.all(
        files.filter((f) => f.isFile()).map((f) => fs.promises.readFile(path.join(f.parentPath, f.name), "utf8")),
      );
      return texts.join("\n");
    },
    async cleanup() {
      for (const stack of opened.splice(0)) {
        const ws = stack.workspace as LocalWorkspace;
        try {
          await ws.removeStack(stack.name, { force: true });
        } catch {
          // already removed, or the backend is gone; the config file is handled below
        }
        await fs.promises.rm(path.join(ws.workDir, `Pulumi.${stack.name}.yaml`), { force: true });
      }
      if (process.env["PULUMI_XEN_E2E_KEEP"] === "1") return; // keep state for debugging
      await fs.promises.rm(dir, { recursive: true, force: true });
    },
  };
}

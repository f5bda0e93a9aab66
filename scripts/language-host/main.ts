/**
 * A Node.js language host for the Pulumi CLI: the `pulumirpc.LanguageRuntime` gRPC service.
 *
 * Why this exists: Pulumi's own host, `pulumi-language-nodejs`, is a Go program in the module
 * `github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3`. That module has no tags and
 * the Go module proxy reachable from our machines refuses it (HTTP 403 for every version), and no
 * binary download reaches them either. The CLI itself builds fine from `pkg/v3`. So this file
 * supplies the language host in TypeScript, using the generated stubs that ship inside
 * `@pulumi/pulumi/proto`.
 *
 * It mirrors the Go host for what the CLI calls when running a Node.js program: it prints the
 * port it listens on, then `Run` spawns `node <@pulumi/pulumi/cmd/run> --monitor ... <entry>`
 * with the stack configuration in `PULUMI_CONFIG`/`PULUMI_CONFIG_SECRET_KEYS`, exactly as the
 * Go host does, and maps the exit code the same way (32 = the program already reported its
 * error, so the CLI should just bail).
 *
 * Deliberate simplifications (this project's programs only use dynamic providers, whose plugin
 * `pulumi-resource-pulumi-nodejs` is bundled next to the CLI):
 *  - GetRequiredPlugins/GetRequiredPackages answer "none" instead of scanning node_modules for
 *    packages that declare a resource plugin.
 *  - InstallDependencies does not run a package manager: dependencies are installed by `npm ci`.
 *  - GenerateProgram (`pulumi import`, `pulumi convert`) runs scripts/gen-program, a Go tool around the
 *    same TypeScript code generator the Go host calls (pkg/v3/codegen/nodejs), built on first use.
 *  - Other code generation, packing, linking and RunPlugin are not implemented (UNIMPLEMENTED).
 *
 * Usage (as the CLI launches it): pulumi-language-nodejs [-flag=value ...] <engine-address>
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

import * as grpc from "@grpc/grpc-js";
import type { Empty } from "google-protobuf/google/protobuf/empty_pb";
import * as emptyPb from "google-protobuf/google/protobuf/empty_pb";
import * as languageGrpc from "@pulumi/pulumi/proto/language_grpc_pb";
import * as languagePb from "@pulumi/pulumi/proto/language_pb";
import * as hclPb from "@pulumi/pulumi/proto/codegen/hcl_pb";
import * as pluginPb from "@pulumi/pulumi/proto/plugin_pb";

/** Exit code the Node.js run script uses after it has already shown the user a good error. */
const EXIT_ERROR_ALREADY_REPORTED = 32;
/** Same limit the Go plugins use for gRPC messages (rpcutil.maxRPCMessageSize). */
const MAX_RPC_MESSAGE_SIZE = 400 * 1024 * 1024;

export interface HostFlags {
  engineAddress: string;
  tracing: string;
  root: string;
  /** Command-line default for the `typescript` runtime option (Go host flag `-typescript`). */
  typescript: boolean;
}

/** Parses Go `flag`-style arguments (`-name=value`, `--name value`, bare booleans) plus the engine address. */
export function parseFlags(argv: readonly string[]): HostFlags {
  const flags: HostFlags = { engineAddress: "", tracing: "", root: "", typescript: true };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    switch (name) {
      case "typescript":
        flags.typescript = value === undefined ? true : value !== "false";
        break;
      case "tracing":
      case "root":
        if (value === undefined) value = argv[++i] ?? "";
        flags[name] = value;
        break;
      default:
        // The Go host would refuse an unknown flag; being lenient costs nothing here.
        process.stderr.write(`pulumi-language-nodejs: ignoring unknown flag ${arg}\n`);
    }
  }
  flags.engineAddress = positional[0] ?? "";
  return flags;
}

/** Plain-JS view of `ProgramInfo.options` (the `runtime.options` block of Pulumi.yaml). */
type RuntimeOptions = Record<string, unknown>;

function runtimeOptions(info: languagePb.ProgramInfo | undefined): RuntimeOptions {
  const opts = info?.getOptions()?.toJavaScript();
  return opts && typeof opts === "object" ? (opts as RuntimeOptions) : {};
}

/** Resolves `@pulumi/pulumi/cmd/run` as the Go host does: from the program, so the program's own SDK runs it. */
function locateRunScript(programDirectory: string): string {
  const override = process.env["PULUMI_LANGUAGE_NODEJS_RUN_PATH"];
  const request = override && override !== "" ? override : "@pulumi/pulumi/cmd/run";
  try {
    return require.resolve(request, { paths: [programDirectory] });
  } catch {
    throw new Error(
      `It looks like the Pulumi SDK has not been installed (cannot resolve ${request} from ${programDirectory}). ` +
        "Have you run npm install or yarn install?",
    );
  }
}

export interface RunCommand {
  node: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Builds the `node` command line and environment for a RunRequest, matching the Go host's constructArguments. */
export function buildRunCommand(req: languagePb.RunRequest, flags: HostFlags, engineAddress: string): RunCommand {
  const info = req.getInfo();
  const options = runtimeOptions(info);
  const pwd = req.getPwd() || info?.getProgramDirectory() || process.cwd();
  const programDirectory = info?.getProgramDirectory() || pwd;
  const entryPoint = info?.getEntryPoint() || req.getProgram() || ".";

  const args: string[] = [];
  const nodeargs = options["nodeargs"];
  if (typeof nodeargs === "string" && nodeargs.trim() !== "") args.push(...nodeargs.trim().split(/\s+/));
  if (req.getAttachDebugger()) args.push("--inspect-brk");
  args.push(locateRunScript(programDirectory));
  const add = (name: string, value: string | number | undefined): void => {
    if (value !== undefined && value !== "") args.push(`--${name}`, String(value));
  };
  add("monitor", req.getMonitorAddress());
  add("engine", engineAddress);
  add("organization", req.getOrganization());
  add("project", req.getProject());
  add("root-directory", info?.getRootDirectory());
  add("stack", req.getStack());
  add("pwd", pwd);
  if (req.getDryrun()) args.push("--dry-run");
  if (req.getQuerymode()) args.push("--query-mode");
  add("parallel", req.getParallel());
  add("tracing", flags.tracing);
  args.push(entryPoint, ...req.getArgsList());

  const config: Record<string, string> = {};
  for (const [k, v] of req.getConfigMap().entries()) config[k] = v;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULUMI_CONFIG: JSON.stringify(config),
    PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(req.getConfigsecretkeysList()),
  };
  // `runtime.options.typescript: false` turns ts-node off; the default is on, as with the Go host.
  const typescript = typeof options["typescript"] === "boolean" ? options["typescript"] : flags.typescript;
  if (typescript) env["PULUMI_NODEJS_TYPESCRIPT"] = "true";
  if (typeof options["tsconfig"] === "string" && options["tsconfig"] !== "") {
    env["PULUMI_NODEJS_TSCONFIG_PATH"] = options["tsconfig"];
  }
  return { node: process.execPath, args, env, cwd: pwd };
}

/** Runs the program to completion and maps its exit status onto a RunResponse, as the Go host does. */
function runProgram(cmd: RunCommand): Promise<languagePb.RunResponse> {
  return new Promise((resolve) => {
    const resp = new languagePb.RunResponse();
    // The program's stdout/stderr go straight to ours; the CLI shows them to the user.
    const child = spawn(cmd.node, cmd.args, { cwd: cmd.cwd, env: cmd.env, stdio: ["ignore", "inherit", "inherit"] });
    running.add(child.pid ?? -1);
    let settled = false;
    child.on("error", (err) => {
      if (settled) return;
      settled = true;
      resp.setError(`Problem executing program (could not run language executor): ${err.message}`);
      resolve(resp);
    });
    child.on("exit", (code, signal) => {
      running.delete(child.pid ?? -1);
      if (settled) return;
      settled = true;
      if (code === 0) {
        // success
      } else if (code === EXIT_ERROR_ALREADY_REPORTED) {
        resp.setBail(true);
      } else if (code !== null) {
        resp.setError(`Program exited with non-zero exit code: ${code}`);
      } else {
        resp.setError(`Program exited unexpectedly: killed by signal ${signal ?? "unknown"}`);
      }
      resolve(resp);
    });
  });
}

const running = new Set<number>();

/** Walks up from `dir` to the nearest package.json. */
function findPackageJson(dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const candidate = path.join(d, "package.json");
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(d) === d) return undefined;
  }
}

/** Direct dependencies of the program with their installed versions (for `pulumi about`). */
function programDependencies(programDirectory: string): languagePb.DependencyInfo[] {
  const pkgPath = findPackageJson(programDirectory);
  if (!pkgPath) return [];
  const pkg = JSON.parse(fs.readFileSync(pkgPath, "utf8")) as { dependencies?: Record<string, string> };
  const out: languagePb.DependencyInfo[] = [];
  for (const name of Object.keys(pkg.dependencies ?? {}).sort()) {
    let version = "";
    try {
      const installed = require.resolve(`${name}/package.json`, { paths: [path.dirname(pkgPath)] });
      version = (JSON.parse(fs.readFileSync(installed, "utf8")) as { version?: string }).version ?? "";
    } catch {
      continue; // not installed, or does not export its package.json
    }
    out.push(new languagePb.DependencyInfo().setName(name).setVersion(version));
  }
  return out;
}

function sdkVersion(): string {
  const pkgJson = require.resolve("@pulumi/pulumi/package.json");
  return (JSON.parse(fs.readFileSync(pkgJson, "utf8")) as { version: string }).version;
}

/** Where the sources of the PCL -> TypeScript tool are: this file runs from bin/language-host/ in the checkout. */
const GEN_PROGRAM_SRC = path.resolve(__dirname, "..", "..", "scripts", "gen-program");

interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with `input` on its stdin, collecting its output. */
function runCollect(command: string, args: readonly string[], input: string): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    running.add(child.pid ?? -1);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => stdout.push(b));
    child.stderr.on("data", (b: Buffer) => stderr.push(b));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      running.delete(child.pid ?? -1);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
      });
    });
    child.stdin.on("error", () => undefined); // a tool that exits early is reported by its exit status
    child.stdin.end(input);
  });
}

function describeExit(r: ProcessResult): string {
  const status = r.code !== null ? `exit status ${r.code}` : `signal ${r.signal ?? "unknown"}`;
  return `${status}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ""}`;
}

/**
 * The gen-program binary: `PULUMI_XEN_GEN_PROGRAM` if set, else the cached build of scripts/gen-program
 * (its build.sh compiles it when the sources changed, which takes seconds once the CLI is built).
 */
async function genProgramBinary(): Promise<string> {
  const override = process.env["PULUMI_XEN_GEN_PROGRAM"];
  if (override) return override;
  const build = path.join(GEN_PROGRAM_SRC, "build.sh");
  if (!fs.existsSync(build)) throw new Error(`cannot generate programs: ${build} is missing`);
  const r = await runCollect("bash", [build], "");
  if (r.code !== 0) throw new Error(`could not build ${GEN_PROGRAM_SRC} (${describeExit(r)})`);
  return r.stdout.trim();
}

/** A `pulumirpc.codegen.Range` in protobuf's JSON mapping (int64 fields arrive as strings). */
interface RangeJson {
  filename?: string;
  start?: { line?: string | number; column?: string | number; byte?: string | number };
  end?: { line?: string | number; column?: string | number; byte?: string | number };
}

/** What scripts/gen-program writes: a GenerateProgramResponse in protobuf's JSON mapping, enums as numbers. */
interface GenerateProgramJson {
  source?: Record<string, string>;
  diagnostics?: {
    severity?: number;
    summary?: string;
    detail?: string;
    subject?: RangeJson;
    context?: RangeJson;
  }[];
}

function toPos(p: RangeJson["start"]): hclPb.Pos {
  return new hclPb.Pos()
    .setLine(Number(p?.line ?? 0))
    .setColumn(Number(p?.column ?? 0))
    .setByte(Number(p?.byte ?? 0));
}

function toRange(r: RangeJson): hclPb.Range {
  return new hclPb.Range()
    .setFilename(r.filename ?? "")
    .setStart(toPos(r.start))
    .setEnd(toPos(r.end));
}

/** Converts the tool's JSON answer into the RPC response. */
export function toGenerateProgramResponse(json: GenerateProgramJson): languagePb.GenerateProgramResponse {
  const resp = new languagePb.GenerateProgramResponse();
  for (const [name, base64] of Object.entries(json.source ?? {})) {
    resp.getSourceMap().set(name, new Uint8Array(Buffer.from(base64, "base64")));
  }
  resp.setDiagnosticsList(
    (json.diagnostics ?? []).map((d) => {
      const diag = new hclPb.Diagnostic()
        .setSeverity((d.severity ?? hclPb.DiagnosticSeverity.DIAG_INVALID) as hclPb.DiagnosticSeverity)
        .setSummary(d.summary ?? "")
        .setDetail(d.detail ?? "");
      if (d.subject) diag.setSubject(toRange(d.subject));
      if (d.context) diag.setContext(toRange(d.context));
      return diag;
    }),
  );
  return resp;
}

/** GenerateProgram: PCL (from `pulumi import`/`convert`) to TypeScript, by scripts/gen-program. */
async function generateProgram(req: languagePb.GenerateProgramRequest): Promise<languagePb.GenerateProgramResponse> {
  const request = {
    source: Object.fromEntries(req.getSourceMap().entries()),
    loaderTarget: req.getLoaderTarget(),
    strict: req.getStrict(),
  };
  const tool = await genProgramBinary();
  const r = await runCollect(tool, [], JSON.stringify(request));
  if (r.code !== 0) throw new Error(`${tool} failed (${describeExit(r)})`);
  return toGenerateProgramResponse(JSON.parse(r.stdout) as GenerateProgramJson);
}

function fail(callback: (err: grpc.ServiceError | null) => void, err: unknown, code = grpc.status.UNKNOWN): void {
  const message = err instanceof Error ? err.message : String(err);
  callback(Object.assign(new Error(message), { code, details: message, metadata: new grpc.Metadata() }));
}

/** The handlers the CLI uses; any other method answers UNIMPLEMENTED (grpc-js default). */
export function createHandlers(flags: HostFlags): Partial<languageGrpc.ILanguageRuntimeServer> {
  let engineAddress = flags.engineAddress;
  return {
    handshake(call, callback) {
      // Newer CLIs pass the engine address here instead of on the command line.
      if (call.request.getEngineAddress()) engineAddress = call.request.getEngineAddress();
      callback(null, new languagePb.LanguageHandshakeResponse());
    },
    getPluginInfo(_call, callback) {
      callback(null, new pluginPb.PluginInfo().setVersion(sdkVersion()));
    },
    getRequiredPlugins(_call, callback) {
      callback(null, new languagePb.GetRequiredPluginsResponse().setPluginsList([]));
    },
    getRequiredPackages(_call, callback) {
      callback(null, new languagePb.GetRequiredPackagesResponse().setPackagesList([]));
    },
    installDependencies(call) {
      // Dependencies are installed by `npm ci`; there is nothing to stream.
      call.end();
    },
    runtimeOptionsPrompts(_call, callback) {
      callback(null, new languagePb.RuntimeOptionsResponse().setPromptsList([]));
    },
    about(_call, callback) {
      callback(null, new languagePb.AboutResponse().setExecutable(process.execPath).setVersion(process.version));
    },
    getProgramDependencies(call, callback) {
      try {
        const dir = call.request.getInfo()?.getProgramDirectory() || call.request.getPwd() || process.cwd();
        callback(null, new languagePb.GetProgramDependenciesResponse().setDependenciesList(programDependencies(dir)));
      } catch (err) {
        fail(callback, err);
      }
    },
    run(call, callback) {
      let cmd: RunCommand;
      try {
        cmd = buildRunCommand(call.request, flags, engineAddress);
      } catch (err) {
        fail(callback, err);
        return;
      }
      runProgram(cmd).then(
        (resp) => callback(null, resp),
        (err: unknown) => fail(callback, err),
      );
    },
    generateProgram(call, callback) {
      generateProgram(call.request).then(
        (resp) => callback(null, resp),
        (err: unknown) => fail(callback, err),
      );
    },
    cancel(_call, callback) {
      // Like the Go host: the running program is stopped by the engine closing its monitor.
      callback(null, new emptyPb.Empty() as Empty);
    },
  };
}

function main(): void {
  const flags = parseFlags(process.argv.slice(2));
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_RPC_MESSAGE_SIZE,
    "grpc.max_send_message_length": MAX_RPC_MESSAGE_SIZE,
  });
  server.addService(languageGrpc.LanguageRuntimeService, createHandlers(flags) as grpc.UntypedServiceImplementation);
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      process.stderr.write(`could not start language host RPC server: ${err.message}\n`);
      process.exit(1);
    }
    // The CLI reads the port from the first line of our stdout.
    process.stdout.write(`${port}\n`);
  });
  // The CLI runs plugins in their own process group and stops them with SIGINT (then SIGKILL after a
  // grace period) when it closes them: exit promptly, taking any still-running program with us.
  const stop = (): void => {
    for (const pid of running) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    server.forceShutdown();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (require.main === module) main();

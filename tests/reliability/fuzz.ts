/**
 * Fuzzing with a seeded PRNG: malformed JSON-RPC requests against a simulator process (it must stay up, answer
 * every request with a well-formed error and keep its state checksum), and random inputs to every resource's
 * check() (valid inputs or failures with a property path, never an exception).
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";

import { providers } from "../../provider";
import { UNKNOWN } from "../../provider/schema";
import { buildRegistry } from "../../simulator/sim";
import {
  caseSeed,
  check,
  checksum,
  freePort,
  oneLine,
  Rng,
  runCase,
  saveText,
  startChildSim,
  type CaseResult,
  type ChildSim,
  type RunContext,
} from "./lib";

const GROUP = "3 fuzzing";
const PASSWORD = "rel-fuzz-root-pw-0d77";
const REQUESTS = { "JSON-RPC": 3000, "XML-RPC": 1000 } as const;
type Transport = keyof typeof REQUESTS;

interface Answer {
  status: number;
  type: string;
  body: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

function post(url: string, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": body.length },
        timeout: 20_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers["content-type"] ?? ""),
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 20 s")));
    req.on("error", reject);
    req.end(body);
  });
}

// ---- request generators ---------------------------------------------------------------------------------------

const ODD_STRINGS = [
  "\u0000",
  "\ud800",
  "\udfff\ud800",
  "\ufeff",
  "\u202e\u0645\u0631\u062d\u0628\u0627",
  "🦀🔥💥".repeat(50),
  "Z\u0351\u0352\u0353a\u0354\u0355l\u0356g\u0357o",
  "\u2028\u2029",
  "OpaqueRef:\u0000",
  "__proto__",
  "constructor",
  "' OR 1=1 --",
  "../../../etc/passwd",
  "%s%s%n",
  "a".repeat(70_000),
];

function wrongValue(rng: Rng, type: string): unknown {
  // A value the dispatcher must refuse for `type` before the model runs (wrong type or a handle that does not exist).
  if (type.startsWith("ref:")) return rng.pick([42, null, {}, ["x"], true, `OpaqueRef:fuzz-${rng.int(0, 1e9)}`]);
  if (type.startsWith("set:")) return rng.pick([7, "set", { a: 1 }, true]);
  if (type.startsWith("record:")) return rng.pick(["record", 3, ["a"], true]);
  if (type === "string") return rng.pick([1, true, null, [], { a: "b" }]);
  if (type === "int" || type === "float") return rng.pick(["12x", true, [], {}, "NaN"]);
  if (type === "bool") return rng.pick(["yes", 2, [], {}]);
  if (type === "datetime") return rng.pick([[], {}, true]);
  if (type.startsWith("map")) return rng.pick([[1, 2], "map", 5, true]);
  if (type.startsWith("enum:")) return rng.pick(["NotAValue\u0000", 5, [], {}]);
  return rng.pick([[], {}, 1.5, "x"]);
}

function deep(n: number): string {
  return "[".repeat(n) + "]".repeat(n);
}

interface Gen {
  kind: string;
  /** XML-RPC on /RPC2 instead of JSON-RPC on /jsonrpc */
  xml?: boolean;
  body: (rng: Rng, session: string) => Buffer;
}

function xmlCall(method: string, params: string[]): string {
  const ps = params.map((v) => `<param><value>${v}</value></param>`).join("");
  return `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${ps}</params></methodCall>`;
}

function xmlGens(): Gen[] {
  const str = (x: string) => `<string>${x}</string>`;
  return [
    {
      kind: "XML-RPC: bad XML",
      xml: true,
      body: (rng, session) => {
        const valid = xmlCall("VM.get_all", [str(session)]);
        return Buffer.from(
          rng.pick([
            valid.slice(0, rng.int(0, valid.length - 1)),
            valid.replace("</methodName>", ""),
            `${valid}<extra>`,
            "<methodCall>",
            "not xml at all",
            `<methodCall><methodName>VM.get_all</methodName><params><param><value><weird>1</weird></value></param></params></methodCall>`,
            `<methodCall><methodName>VM.get_all</methodName><params>${"<param><value><array><data>".repeat(200)}</params></methodCall>`,
          ]),
        );
      },
    },
    {
      kind: "XML-RPC: odd entities and unicode",
      xml: true,
      body: (rng, session) =>
        Buffer.from(
          xmlCall(rng.pick(["VM.get_by_name_label", "VM.get_record", "VM.nope", "constructor"]), [
            str(session),
            str(rng.pick(["&#x110000;", "&#99999999999;", "&#xD800;", "&#0;", "&bogus;", "\u202e", "🦀", "&#x1F980;"])),
            str("one parameter too many"),
          ]),
        ),
    },
    {
      kind: "XML-RPC: wrong types",
      xml: true,
      body: (rng, session) =>
        Buffer.from(
          xmlCall(rng.pick(["VM.set_name_label", "VM.start", "VDI.create", "pool.join"]), [
            str(session),
            rng.pick(["<int>1</int>", "<boolean>1</boolean>", "<array><data></data></array>", "<struct></struct>"]),
            rng.pick([
              "<struct><member><name>__proto__</name><value><string>x</string></value></member></struct>",
              "<int>x</int>",
              "<double>NaN</double>",
            ]),
          ]),
        ),
    },
  ];
}

/** An XML-RPC Failure response, an HTTP 500 "XML-RPC parse error", or HTTP 413. */
function wellFormedXmlError(a: Answer): string | undefined {
  if (a.status === 413) return undefined;
  if (a.status === 500 && /XML-RPC parse error/.test(a.body)) return undefined;
  if (a.status !== 200) return `HTTP ${a.status}: ${oneLine(a.body, 80)}`;
  if (!/<name>Status<\/name><value>(<string>)?Failure/.test(a.body) || !/ErrorDescription/.test(a.body))
    return `not an XML-RPC Failure: ${oneLine(a.body, 80)}`;
  return undefined;
}

function gens(methods: ReturnType<typeof buildRegistry>["methods"]): Gen[] {
  const defs = [...methods.values()].filter((d) => d.name !== "session.login_with_password");
  const withSession = defs.filter((d) => d.session && d.params.length > 0 && d.params.some((p) => p.type !== "any"));
  // A wrong arity exists for every message except one that takes no mandatory parameter but has versioned ones.
  const arityDefs = defs.filter((d) => d.session || d.params.some((p) => !("default" in p)));
  const s = (o: unknown) => Buffer.from(JSON.stringify(o));
  return [
    {
      kind: "bad JSON",
      body: (rng) => {
        const valid = JSON.stringify({ jsonrpc: "2.0", method: "VM.get_all", params: ["x"], id: 1 });
        const cut = valid.slice(0, rng.int(0, valid.length - 1));
        return Buffer.from(
          rng.pick([
            cut,
            `${valid}}`,
            valid.replace(/"/g, "'"),
            "",
            "{",
            "nul",
            '{"method": "VM.get_all", "id": 1,}',
            String.fromCharCode(...Array.from({ length: rng.int(1, 200) }, () => rng.int(0, 255))),
          ]),
        );
      },
    },
    {
      kind: "random bytes / invalid UTF-8",
      body: (rng) => Buffer.from(Array.from({ length: rng.int(1, 4096) }, () => rng.int(0, 255))),
    },
    {
      kind: "not an envelope",
      body: (rng) =>
        s(
          rng.pick<unknown>([
            null,
            42,
            "VM.get_all",
            [],
            [{ method: "VM.get_all", id: 1 }],
            {},
            { method: 5, id: 1 },
            { method: "", id: 1 },
            { method: "VM.get_all" },
            { method: "VM.get_all", id: null },
            { method: "VM.get_all", id: { a: 1 } },
            { method: "VM.get_all", id: [1] },
            { method: "VM.get_all", id: 1, params: "x" },
            { method: "VM.get_all", id: 1, params: 7 },
            { method: "VM.get_all", id: 1, jsonrpc: "3.0" },
            { method: ["VM.get_all"], id: 1 },
          ]),
        ),
    },
    {
      kind: "unknown method / odd unicode",
      body: (rng, session) =>
        s({
          jsonrpc: rng.pick(["2.0", "1.0", undefined]),
          method: rng.pick([rng.pick(ODD_STRINGS), `VM.${rng.pick(ODD_STRINGS)}`, `Async.${rng.pick(ODD_STRINGS)}`]),
          params: [session, rng.pick(ODD_STRINGS)],
          id: rng.pick<string | number>([rng.int(0, 1e6), rng.pick(ODD_STRINGS)]),
        }),
    },
    {
      kind: "wrong arity",
      body: (rng, session) => {
        const d = rng.pick(arityDefs);
        const need = (d.session ? 1 : 0) + d.params.length;
        const minimum = (d.session ? 1 : 0) + d.params.filter((p) => !("default" in p)).length;
        // xapi ignores extra parameters of a message with versioned (defaulted) ones: only too few is wrong there.
        const versioned = minimum < need;
        const n = (versioned || rng.bool()) && minimum > 0 ? rng.int(0, minimum - 1) : need + rng.int(1, 3);
        const params = Array.from({ length: n }, (_, i) => (i === 0 && d.session ? session : rng.pick(ODD_STRINGS)));
        return s({ jsonrpc: "2.0", method: rng.bool(0.2) && d.async ? `Async.${d.name}` : d.name, params, id: 1 });
      },
    },
    {
      kind: "wrong types (valid session)",
      body: (rng, session) => {
        const d = rng.pick(withSession);
        const params = [
          session,
          ...d.params.map((p) => (p.type === "any" ? wrongValue(rng, "ref:x") : wrongValue(rng, p.type))),
        ];
        // Sync forms only: an Async.* call returns a task at once and reports argument errors in the task.
        return s({ jsonrpc: "2.0", method: d.name, params, id: "t" });
      },
    },
    {
      kind: "bad session",
      body: (rng) => {
        const d = rng.pick(withSession);
        const params = [
          rng.pick(["", "OpaqueRef:NULL", `OpaqueRef:${rng.int(0, 1e9)}`, rng.pick(ODD_STRINGS), 5, null]),
        ];
        for (let i = 0; i < d.params.length; i++) params.push(`OpaqueRef:${rng.int(0, 1e9)}`);
        return s({ method: d.name, params, id: 9 });
      },
    },
    {
      kind: "deeply nested",
      body: (rng, session) => {
        const n = rng.pick([65, 100, 1000, 100_000, 1_000_000]);
        return Buffer.from(`{"jsonrpc":"2.0","method":"VM.get_record","params":["${session}",${deep(n)}],"id":1}`);
      },
    },
    {
      kind: "huge body",
      body: (rng, session) => {
        const size = rng.pick([3.9, 4.5, 8]) * 1024 * 1024;
        return Buffer.from(
          // One parameter too many: malformed whatever the size, so anything but an error is wrong.
          `{"jsonrpc":"2.0","method":"VM.get_by_name_label","params":["${session}","${"x".repeat(size)}","extra"],"id":1}`,
        );
      },
    },
  ];
}

/** A well-formed JSON-RPC error for the request's version, an HTTP 500 "Malformed_method_request", or HTTP 413. */
function wellFormedError(a: Answer): string | undefined {
  if (a.status === 413) return undefined;
  if (a.status === 500 && /Jsonrpc\.Malformed_method_request/.test(a.body)) return undefined;
  if (a.status !== 200) return `HTTP ${a.status}: ${oneLine(a.body, 80)}`;
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(a.body) as Record<string, unknown>;
  } catch {
    return `HTTP 200 with a body that is not JSON: ${oneLine(a.body, 80)}`;
  }
  if (j.jsonrpc === "2.0") {
    const e = j.error as { code?: unknown; message?: unknown; data?: unknown } | undefined;
    if (!e || typeof e.message !== "string" || !e.message || !Array.isArray(e.data))
      return `JSON-RPC 2.0 answer without a proper error: ${oneLine(a.body, 80)}`;
    return undefined;
  }
  const e = j.error;
  if (!Array.isArray(e) || e.length === 0 || !e.every((x) => typeof x === "string") || j.result !== null)
    return `answer that is not a XenAPI error: ${oneLine(a.body, 80)}`;
  return undefined;
}

async function fuzzRpc(ctx: RunContext, transport: Transport): Promise<CaseResult | undefined> {
  const total = REQUESTS[transport];
  const name = `${total} malformed ${transport} requests to a simulator process`;
  if (!ctx.selected(GROUP, name)) return undefined;
  const seed = caseSeed(ctx.runSeed, `fuzz-${transport}`);
  return runCase(ctx, GROUP, name, seed, async () => {
    const rng = new Rng(seed);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "rel-fuzz-"));
    let sim: ChildSim | undefined;
    try {
      sim = await startChildSim({ port: await freePort(), dataDir, rootPassword: PASSWORD, timeScale: 0, seed });
      const rpc = `${sim.url}/jsonrpc`;
      const login = await post(
        rpc,
        Buffer.from(
          JSON.stringify({
            jsonrpc: "2.0",
            method: "session.login_with_password",
            params: ["root", PASSWORD, "1.0", "fuzz"],
            id: 0,
          }),
        ),
      );
      const session = (JSON.parse(login.body) as { result: string }).result;
      check(typeof session === "string" && session.startsWith("OpaqueRef:"), `login failed: ${login.body}`);
      const before = await checksum(sim);
      const generators = transport === "XML-RPC" ? xmlGens() : gens(buildRegistry().methods);
      const byKind = new Map<string, number>();
      const bad: string[] = [];
      const badBodies: string[] = [];
      const plan = Array.from({ length: total }, (_, i) => {
        // Huge and very deep bodies are costly: keep them to a few dozen.
        let g = rng.pick(generators);
        while ((g.kind === "huge body" || g.kind === "deeply nested") && !rng.bool(0.15)) g = rng.pick(generators);
        return { i, g, body: g.body(rng, session) };
      });
      let next = 0;
      const worker = async () => {
        while (next < plan.length) {
          const p = plan[next++]!;
          byKind.set(p.g.kind, (byKind.get(p.g.kind) ?? 0) + 1);
          let problem: string | undefined;
          try {
            problem = p.g.xml
              ? wellFormedXmlError(await post(`${sim!.url}/RPC2`, p.body))
              : wellFormedError(await post(rpc, p.body));
          } catch (e) {
            problem = `no answer (${(e as Error).message})`;
          }
          if (problem) {
            bad.push(
              `#${p.i} ${p.g.kind}: ${problem} for ${oneLine(
                p.body
                  .subarray(0, 90)
                  .toString("utf8")
                  .replace(/[\s\S]/g, (ch) => (ch.charCodeAt(0) < 32 ? "?" : ch)),
                100,
              )}`,
            );
            badBodies.push(`#${p.i} ${p.g.kind}: ${problem}\n${p.body.subarray(0, 2000).toString("utf8")}\n`);
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      const alive = sim.proc.exitCode === null && sim.proc.signalCode === null;
      check(alive, `the simulator died: ${oneLine(sim.output().slice(-400))}`);
      const after = await checksum(sim);
      const internal = sim
        .output()
        .split("\n")
        .filter((l) => /"level":"(error|fatal)"/.test(l));
      if (bad.length) saveText(`fuzz-${transport}-bad-answers`, badBodies.join("\n"));
      // The simulator's own account of what blew up: distinct exception messages.
      const exceptions = [
        ...new Set(internal.map((l) => (JSON.parse(l) as { error?: string; msg?: string }).error ?? l)),
      ];
      // One example per distinct (kind, problem), so that different causes all show.
      const distinct = new Map<string, string>();
      for (const b of bad) {
        const key = b.replace(/^#\d+ /, "").slice(0, 60);
        if (!distinct.has(key)) distinct.set(key, b);
      }
      const problems: string[] = [];
      if (bad.length)
        problems.push(
          `${bad.length} of ${total} answers were not well-formed errors${exceptions.length ? ` (simulator exceptions: ${exceptions.slice(0, 4).join("; ")})` : ""}; e.g. ${[...distinct.values()].slice(0, 2).join(" | ")}`,
        );
      else if (internal.length) problems.push(`${internal.length} internal errors logged: ${exceptions.join("; ")}`);
      problems.push(
        before === after
          ? "no crash, state checksum unchanged"
          : `state checksum changed: ${before.slice(0, 12)} -> ${after.slice(0, 12)}`,
      );
      check(
        problems.length === 1 && before === after,
        problems.join("; "),
        before === after ? "none (checksum unchanged)" : "state changed",
      );
      const kinds = [...byKind].map(([k, n]) => `${k} ${n}`).join(", ");
      return {
        detail: `0 crashes, ${total} well-formed errors, checksum unchanged (${after.slice(0, 12)}); ${kinds}`,
        leftovers: "none",
      };
    } finally {
      await sim?.stop().catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
}

// ---- check() ---------------------------------------------------------------------------------------------------

const KEYS: Record<"Vm" | "Host" | "Pool", string[]> = {
  Vm: [
    "template",
    "source",
    "cloneMode",
    "firmware",
    "secureBoot",
    "vtpm",
    "bootOrder",
    "cdrom",
    "cloudInit",
    "cloudInitChangePolicy",
    "nameLabel",
    "description",
    "vcpus",
    "maxVcpus",
    "memory",
    "maxMemory",
    "disks",
    "networks",
    "powerState",
    "affinityHost",
    "haRestartPriority",
    "tags",
    "otherConfig",
    "allowRestart",
    "waitForIp",
    "adopt",
    "timeouts",
    "url",
    "ownershipKey",
  ],
  Host: ["address", "enabled", "maintenance", "nameLabel", "tags", "ejectOnDelete", "url"],
  Pool: ["nameLabel", "description", "defaultSr", "ha", "tags", "otherConfig", "url"],
};

const VALID: Record<"Vm" | "Host" | "Pool", Record<string, unknown>> = {
  Vm: { template: "Debian Bookworm 12", nameLabel: "vm", vcpus: 1, memory: "1GiB" },
  Host: { address: "10.0.0.2" },
  Pool: { nameLabel: "pool" },
};

function randomValue(rng: Rng, depth = 0): unknown {
  const leaf = (): unknown =>
    rng.pick<() => unknown>([
      () => rng.int(-1e6, 1e6),
      () => rng.next() * 1e12,
      () => rng.pick([0, -0, NaN, Infinity, -Infinity, 1e308, -1, 2 ** 53 + 1, 0.5])!,
      () =>
        rng.pick(["", "1GiB", "512MiB", "-1GiB", "1e400", "10 GiB", "0x10", "1TiB", "9999999PiB", "30s", "-5m", "1h"]),
      () => rng.pick(ODD_STRINGS),
      () => rng.pick([true, false, null, undefined]),
      () => UNKNOWN,
      () => rng.pick(["Running", "Halted", "Paused", "Suspended", "running", "restart", "best-effort"]),
      () => rng.pick(["https://10.0.0.1", "http://", "ftp://x", "not a url", "https://[::1]:443"]),
      () => rng.pick(["02:00:00:aa:bb:cc", "zz:00:00:aa:bb:cc", "8ef2a0d4-1b6c-4b1e-9a3e-0c1d2e3f4a5b", "not-a-uuid"]),
    ])();
  if (depth > 3) return leaf();
  const r = rng.next();
  if (r < 0.6) return leaf();
  if (r < 0.8) return Array.from({ length: rng.int(0, 4) }, () => randomValue(rng, depth + 1));
  const o: Record<string, unknown> = {};
  const keys = ["size", "sr", "nameLabel", "network", "mac", "create", "update", "delete", "enabled", "__proto__", "x"];
  for (let i = rng.int(0, 4); i > 0; i--) o[rng.pick(keys)] = randomValue(rng, depth + 1);
  return rng.bool(0.1) ? JSON.parse(`{"__proto__": {"polluted": true}, "size": 1}`) : o;
}

function randomInputs(rng: Rng, type: "Vm" | "Host" | "Pool"): Record<string, unknown> {
  const base: Record<string, unknown> = rng.bool(0.5) ? { ...VALID[type] } : {};
  for (let i = rng.int(0, 6); i > 0; i--) base[rng.pick(KEYS[type])] = randomValue(rng);
  if (rng.bool(0.1)) base[rng.pick(["bogus", "__provider", "uuid", "constructor"])] = randomValue(rng);
  return base;
}

async function fuzzCheck(ctx: RunContext, type: "Vm" | "Host" | "Pool", n: number): Promise<CaseResult | undefined> {
  const name = `${n} random inputs to ${type}.check()`;
  if (!ctx.selected(GROUP, name)) return undefined;
  const seed = caseSeed(ctx.runSeed, `check-${type}`);
  return runCase(ctx, GROUP, name, seed, async () => {
    const rng = new Rng(seed);
    const provider = providers[type];
    let valid = 0;
    let failures = 0;
    const problems: string[] = [];
    for (let i = 0; i < n; i++) {
      const news = randomInputs(rng, type);
      const olds = rng.bool(0.3) ? randomInputs(rng, type) : {};
      let res: Awaited<ReturnType<NonNullable<typeof provider.check>>>;
      try {
        res = await provider.check!(olds, news);
      } catch (e) {
        problems.push(`#${i} threw ${oneLine(String(e), 100)} for ${oneLine(JSON.stringify(news) ?? "", 100)}`);
        continue;
      }
      const fs_ = res.failures ?? [];
      if (fs_.length > 0) {
        failures++;
        for (const f of fs_) {
          const pathOk = typeof f.property === "string" && f.property.length > 0;
          const reasonOk = typeof f.reason === "string" && f.reason.length > 0;
          // A failure of the object as a whole ("(inputs)") must at least name the offending key.
          const rootOk = f.property !== "(inputs)" || /"[^"]+"|'[^']+'/.test(f.reason);
          if (!pathOk || !reasonOk || !rootOk)
            problems.push(`#${i} failure without a usable property path: ${oneLine(JSON.stringify(f), 120)}`);
        }
      } else if (res.inputs) {
        valid++;
        // Valid inputs stay valid: checking them again must not fail.
        try {
          const again = await provider.check!({}, res.inputs);
          if ((again.failures ?? []).length > 0)
            problems.push(
              `#${i} accepted inputs fail a second check: ${oneLine(JSON.stringify(again.failures), 120)} for ${oneLine(JSON.stringify(news) ?? "", 100)}`,
            );
        } catch (e) {
          problems.push(`#${i} re-check threw ${oneLine(String(e), 100)}`);
        }
      } else problems.push(`#${i} neither inputs nor failures`);
    }
    check(({} as Record<string, unknown>)["polluted"] === undefined, "Object.prototype was polluted");
    check(
      problems.length === 0,
      `${problems.length} of ${n} broke the contract, e.g. ${problems.slice(0, 2).join(" | ")}`,
      "n/a",
    );
    return { detail: `${valid} valid, ${failures} rejected with property paths, 0 exceptions`, leftovers: "n/a" };
  });
}

export async function runFuzz(ctx: RunContext): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const r of [
    await fuzzRpc(ctx, "JSON-RPC"),
    await fuzzRpc(ctx, "XML-RPC"),
    await fuzzCheck(ctx, "Vm", 5000),
    await fuzzCheck(ctx, "Host", 2000),
    await fuzzCheck(ctx, "Pool", 2000),
  ])
    if (r) out.push(r);
  agent.destroy();
  return out;
}

import * as http from "node:http";
import * as https from "node:https";
import { AddressInfo } from "node:net";
import { XenApiError } from "../errors";
import { authenticate, checkSession } from "../models/methods/session";
import { CFS, Cf, rrdUpdates as readRrd, rrdUpdatesJson, rrdUpdatesXml } from "../models/rrd";
import { JsonText } from "../models/wire";
import { FaultSpec, SimulatorCore } from "../sim";
import { serveView } from "../web";
import { Envelope, Malformed, encodeError, encodeResult, parseEnvelope } from "./jsonrpc";
import { exportRawVdi, importRawVdi } from "./raw-vdi";
import { XmlMalformed, encodeMethodResponse, parseMethodCall, resultType } from "./xmlrpc";

/** Requests above this size are refused (HTTP 413) before parsing. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

function readBody(req: http.IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true;
      else chunks.push(c);
    });
    req.on("end", () => resolve(over ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: http.ServerResponse, status: number, body: string | Buffer, type = "application/json"): void {
  res.writeHead(status, {
    "Content-Type": type,
    "Access-Control-Allow-Origin": "*",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * A larger reply goes out through two reused buffers of this size (one on its way to the socket while the next
 * fills), so that it never holds a copy of itself.
 */
const REPLY_CHUNK_BYTES = 1024 * 1024;

/** Sends JSON text that is already serialized (record getters, see models/wire.ts). */
async function sendText(res: http.ServerResponse, text: JsonText): Promise<void> {
  if (text.bytes <= REPLY_CHUNK_BYTES) {
    const body = Buffer.allocUnsafe(text.bytes);
    text.writeTo(body);
    return send(res, 200, body);
  }
  res.writeHead(200, {
    "Content-Type": "application/json",
    "Access-Control-Allow-Origin": "*",
    "Content-Length": text.bytes,
  });
  let previous: Promise<boolean> | undefined;
  for (const piece of text.chunks([Buffer.allocUnsafe(REPLY_CHUNK_BYTES), Buffer.allocUnsafe(REPLY_CHUNK_BYTES)])) {
    const sent = written(res, piece);
    // The next piece refills the previous one's buffer: that one must be out first.
    if (previous && !(await previous)) return;
    previous = sent;
  }
  if (previous && !(await previous)) return;
  res.end();
}

/** Resolves once `chunk` has gone to the socket (true), or the connection closed first (false). */
function written(res: http.ServerResponse, chunk: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const gone = () => resolve(false);
    res.once("close", gone);
    res.write(chunk, (err) => {
      res.off("close", gone);
      resolve(!err);
    });
  });
}

function malformed(res: http.ServerResponse, what: string): void {
  send(
    res,
    500,
    `<html><body><h1>HTTP 500 internal server error</h1>Jsonrpc.Malformed_method_request(${what})</body></html>`,
    "text/html",
  );
}

export interface ServerOptions {
  port: number;
  tls?: { key: string; cert: string };
  controlToken: string;
  log: (line: object) => void;
}

export interface Listening {
  port: number;
  servers: (http.Server | https.Server)[];
  close(): Promise<void>;
}

function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  return addr.startsWith("127.") || addr === "::1" || addr.startsWith("::ffff:127.");
}

/** One listener per host address on a shared port (port 0: the first bind picks it). */
export async function listen(core: SimulatorCore, addresses: string[], opts: ServerOptions): Promise<Listening> {
  const servers: (http.Server | https.Server)[] = [];
  const sockets = new Set<import("node:net").Socket>();
  let port = opts.port;
  for (const address of addresses) {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      handle(core, address, req, res, opts).catch((err: unknown) => {
        opts.log({ level: "error", msg: "request failed", error: String(err) });
        if (!res.headersSent) send(res, 500, "internal error", "text/plain");
        else res.destroy();
      });
    };
    const server = opts.tls
      ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler)
      : http.createServer(handler);
    server.keepAliveTimeout = 5000;
    server.on(opts.tls ? "secureConnection" : "connection", (s: import("node:net").Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, address, () => {
        server.off("error", reject);
        resolve();
      });
    });
    if (port === 0) port = (server.address() as AddressInfo).port;
    servers.push(server);
  }
  return {
    port,
    servers,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

export type Route = "jsonrpc" | "xmlrpc" | "rrd" | "import_raw_vdi" | "export_raw_vdi" | "index" | "none";

/**
 * Which handler serves a request. xapi matches handlers by the longest path prefix (Http_svr's radix tree):
 * `/jsonrpc` is JSON-RPC, `/rrd_updates` statistics, `PUT /import_raw_vdi` and `GET /export_raw_vdi` raw disk
 * transfers, and any other POST falls to the `/` handler, which is XML-RPC (so `/RPC2` and Xen Orchestra's
 * `/xmlrpc` are XML-RPC too).
 */
export function routeOf(method: string, path: string): Route {
  if (method === "POST") return path.startsWith("/jsonrpc") ? "jsonrpc" : "xmlrpc";
  if (method === "PUT" && path.startsWith("/import_raw_vdi")) return "import_raw_vdi";
  if (method === "GET" && path.startsWith("/export_raw_vdi")) return "export_raw_vdi";
  if (method === "GET" && path.startsWith("/rrd_updates")) return "rrd";
  if (method === "GET" && path === "/") return "index";
  return "none";
}

async function handle(
  core: SimulatorCore,
  address: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  opts: ServerOptions,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://x");
  if (req.method === "OPTIONS") {
    res.writeHead(200, {
      "Access-Control-Allow-Origin": "*",
      "Access-Control-Allow-Methods": "POST, GET, PUT, DELETE, OPTIONS",
      "Access-Control-Allow-Headers": "Content-Type, Authorization",
      "Content-Length": 0,
    });
    res.end();
    return;
  }
  if (url.pathname.startsWith("/control")) return control(core, url, req, res, opts);
  const host = core.engine.hostOfAddress(address);
  // A crashed host is unreachable: its management address drops every connection.
  if (!host || !core.engine.hostLive(host)) {
    req.socket.destroy();
    return;
  }
  const route = routeOf(req.method ?? "GET", url.pathname);
  if (route === "rrd") return rrdUpdates(core, host, url, req, res);
  if (route === "import_raw_vdi") return importRawVdi(core, host, url, req, res);
  if (route === "export_raw_vdi") return exportRawVdi(core, host, url, req, res);
  if (route === "index") return serveView(res);
  if (route === "none") {
    send(res, 404, "not found", "text/plain");
    return;
  }
  const body = await readBody(req, MAX_BODY_BYTES);
  if (body === null) {
    send(res, 413, "request body too large", "text/plain");
    return;
  }
  if (route === "xmlrpc") return xmlrpc(core, address, host, body, req, res);
  let env: Envelope;
  try {
    env = parseEnvelope(body);
  } catch (e) {
    if (e instanceof Malformed) return malformed(res, e.message);
    throw e;
  }
  const started = Date.now();
  const action = await core.applyFault(env.method);
  if (action.kind === "drop") {
    core.record({
      host: address,
      method: env.method,
      params: env.params,
      ms: Date.now() - started,
      result: { ok: false, error: "dropped" },
    });
    req.socket.destroy();
    return;
  }
  if (action.kind === "http") {
    core.record({
      host: address,
      method: env.method,
      params: env.params,
      ms: Date.now() - started,
      result: { ok: false, error: `HTTP ${action.status}` },
    });
    send(res, action.status, `injected HTTP ${action.status}`, "text/plain");
    return;
  }
  const result =
    action.kind === "error"
      ? { ok: false as const, error: action.error }
      : await core.call(env.method, env.params, host, { json: true });
  core.record({ host: address, method: env.method, params: env.params, ms: Date.now() - started, result });
  const reply = result.ok ? encodeResult(env, result.value) : encodeError(env, result.error);
  if (reply instanceof JsonText) return sendText(res, reply);
  send(res, 200, reply);
}

async function xmlrpc(
  core: SimulatorCore,
  address: string,
  host: string,
  body: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  let call: { method: string; params: unknown[] };
  try {
    call = parseMethodCall(body);
  } catch (e) {
    if (e instanceof XmlMalformed)
      return send(res, 500, `<html><body>XML-RPC parse error: ${e.message}</body></html>`, "text/html");
    throw e;
  }
  const started = Date.now();
  const action = await core.applyFault(call.method);
  if (action.kind === "drop") {
    req.socket.destroy();
    return;
  }
  if (action.kind === "http") return send(res, action.status, `injected HTTP ${action.status}`, "text/plain");
  const result =
    action.kind === "error"
      ? { ok: false as const, error: action.error }
      : await core.call(call.method, call.params, host);
  core.record({ host: address, method: call.method, params: call.params, ms: Date.now() - started, result });
  const type = resultType(call.method, core.reg.get(call.method)?.result);
  send(res, 200, encodeMethodResponse(result, type, call.method), "text/xml");
}

/**
 * `GET /rrd_updates?session_id=&start=&cf=&interval=&host=true&json=true` (xcp-rrdd's handler, proxied by
 * xapi): the host's and its VMs' statistics. Needs a live session (or HTTP basic credentials, which xapi also
 * accepts); anything else is HTTP 401.
 */
async function rrdUpdates(
  core: SimulatorCore,
  host: string,
  url: URL,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const e = core.engine;
  const q = url.searchParams;
  const pool = e.db.poolOf(host)!;
  if (!authorized(core, pool, q.get("session_id"), req.headers.authorization)) {
    res.writeHead(401, { "WWW-Authenticate": 'Basic realm="xapi"', "Content-Length": 0 });
    res.end();
    return;
  }
  const start = Number(q.get("start") ?? "0");
  const interval = Number(q.get("interval") ?? "0");
  const cf = (q.get("cf") ?? "AVERAGE").toUpperCase();
  if (!Number.isFinite(start) || !Number.isFinite(interval) || !(CFS as readonly string[]).includes(cf))
    return send(res, 400, "bad rrd_updates query", "text/plain");
  const vmUuid = q.get("vm_uuid");
  const updates = readRrd(e, host, {
    start: Math.trunc(start),
    interval,
    cf: cf as Cf,
    host: q.get("host") === "true",
    ...(vmUuid ? { vmUuid } : {}),
  });
  if (q.get("json") === "true") return send(res, 200, rrdUpdatesJson(updates));
  send(res, 200, rrdUpdatesXml(updates), "text/xml");
}

function authorized(core: SimulatorCore, pool: string, session: string | null, auth: string | undefined): boolean {
  if (session) {
    try {
      checkSession(core.engine, session, pool);
      return true;
    } catch {
      return false;
    }
  }
  const m = /^Basic (.+)$/i.exec(auth ?? "");
  if (!m) return false;
  const raw = Buffer.from(m[1]!, "base64").toString("utf8");
  const i = raw.indexOf(":");
  return i > 0 && authenticate(core.engine, raw.slice(0, i), raw.slice(i + 1)) !== undefined;
}

async function control(
  core: SimulatorCore,
  url: URL,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  opts: ServerOptions,
): Promise<void> {
  if (!isLoopback(req.socket.remoteAddress))
    return send(res, 403, JSON.stringify({ error: "control plane is loopback-only" }));
  if (req.headers.authorization !== `Bearer ${opts.controlToken}`)
    return send(res, 401, JSON.stringify({ error: "unauthorized" }));
  const raw = await readBody(req, MAX_BODY_BYTES);
  if (raw === null) return send(res, 413, JSON.stringify({ error: "body too large" }));
  let body: Record<string, unknown> = {};
  if (raw.trim()) {
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return send(res, 400, JSON.stringify({ error: "invalid JSON" }));
    }
  }
  const ok = (v: unknown = { ok: true }) => send(res, 200, JSON.stringify(v));
  const bad = (msg: string, status = 400) => send(res, status, JSON.stringify({ error: msg }));
  const route = `${req.method} ${url.pathname.replace(/\/+$/, "")}`;
  const e = core.engine;
  try {
    switch (route) {
      case "POST /control/reset":
        core.reset(body.inventory as never);
        return ok();
      case "POST /control/time-scale": {
        const s = Number(body.scale);
        if (!Number.isFinite(s) || s < 0) return bad("scale must be a number >= 0");
        e.timeScale = s;
        return ok({ scale: s });
      }
      case "GET /control/time-scale":
        return ok({ scale: e.timeScale });
      case "POST /control/durations":
        for (const [k, v] of Object.entries(body)) {
          if (typeof v !== "number" || v < 0) return bad(`duration for ${k} must be a number >= 0`);
          e.durations[k] = v;
        }
        return ok({ durations: e.durations });
      case "GET /control/durations":
        return ok({ durations: e.durations });
      case "POST /control/faults":
        return ok({ id: core.addFault(body as unknown as FaultSpec) });
      case "DELETE /control/faults":
        core.clearFaults();
        return ok();
      case "GET /control/metrics": {
        const calls = Object.fromEntries(core.metrics);
        const total = [...core.metrics.values()].reduce((s, m) => s + m.count, 0);
        return ok({ calls, total });
      }
      case "POST /control/metrics/reset":
        core.metrics.clear();
        return ok();
      case "GET /control/recorder":
        return ok({
          requests: core.recorder
            .slice(-1000)
            .map((r) => ({ ...r, time: new Date((r as { time: number }).time).toISOString() })),
        });
      case "DELETE /control/recorder":
        core.recorder = [];
        return ok();
      case "GET /control/checksum":
        return ok({ checksum: core.checksum() });
      case "GET /control/hosts":
        return ok({
          hosts: e.db.all("host").map(([ref, h]) => ({
            ref,
            uuid: h.uuid,
            name_label: h.name_label,
            address: h.address,
            live: e.hostLive(ref),
            master: e.masterOf(e.db.poolOf(ref)!) === ref,
            pool: e.db.get("pool", e.db.poolOf(ref)!).uuid,
          })),
        });
    }
    const m = /^POST \/control\/hosts\/([^/]+)\/(crash|recover)$/.exec(route);
    if (m) {
      if (m[2] === "crash") core.crash(m[1]!);
      else core.recover(m[1]!);
      return ok();
    }
    const t = /^POST \/control\/vms\/([^/]+)\/install-tools$/.exec(route);
    if (t) {
      core.installTools(t[1]!);
      return ok();
    }
    const con = /^GET \/control\/vms\/([^/]+)\/console$/.exec(route);
    if (con) {
      // An unknown uuid is UUID_INVALID, answered 404 below.
      const vm = e.db.byUuidRef("VM", decodeURIComponent(con[1]!));
      return ok({ lines: e.console.lines(vm) });
    }
    const c = /^(GET|PUT) \/control\/vdis\/([^/]+)\/content$/.exec(route);
    if (c) {
      const uuid = decodeURIComponent(c[2]!);
      const current = core.vdiContent(uuid);
      if (current === undefined) return bad(`no VDI with uuid ${uuid}`, 404);
      if (c[1] === "GET") return ok({ content: current });
      if (typeof body.content !== "string") return bad("content must be a string");
      core.setVdiContent(uuid, body.content);
      return ok({ content: body.content });
    }
    return bad(`no control route ${route}`, 404);
  } catch (err) {
    if (err instanceof XenApiError) return bad(err.toArray().join(" "), 404);
    return bad(String(err instanceof Error ? err.message : err));
  }
}

/**
 * The wire: one JSON-RPC 2.0 POST to `<endpoint>/jsonrpc` per call. Calls are data (`{ method, params }`); the
 * client never touches HTTP. Everything that can go wrong ends as a {@link XenApiError} (the host said no) or a
 * {@link XenTransportError} (no usable answer) with a message saying what to check.
 */
import axios, { type AxiosInstance } from "axios";
import { XenApiError, XenTransportError } from "./errors";
import { createAgents, type Agents, type TlsOptions, TlsVerificationError } from "./tls";

/** One XenAPI call as data. `params` include the session ref where the method takes one. */
export interface RpcRequest {
  method: string;
  params: readonly unknown[];
}

export interface SendOptions {
  /** Hard limit for this HTTP exchange. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Sends one call to one endpoint and returns the decoded `result`, or throws a XenApiError / XenTransportError. */
export interface Transport {
  /** Base URL, e.g. `https://10.0.0.1`. */
  readonly endpoint: string;
  /** `host[:port]` used in error messages. */
  readonly host: string;
  send(req: RpcRequest, opts: SendOptions): Promise<unknown>;
  close(): void;
}

export type TransportFactory = (endpoint: string) => Transport;

export interface HttpTransportOptions extends TlsOptions {
  maxResponseBytes?: number;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * A XenAPI `float` parameter as JSON. Older ocaml-rpc (`float_of_rpc`) accepts only Float (or String), and a JSON
 * integer literal decodes as Int, so whole numbers get a small fraction (Xen Orchestra sends event.from 60.1).
 */
export function xapiFloat(n: number): number {
  return Number.isInteger(n) ? n + 0.01 : n;
}

/** `https://h:443/`, `https://h/jsonrpc` -> `https://h:443`; rejects anything but http(s) URLs. */
export function normalizeEndpoint(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`invalid XenAPI URL '${url}': expected https://host[:port]`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new Error(`invalid XenAPI URL '${url}': only https:// (or http:// for tests) is supported`);
  }
  const path = parsed.pathname.replace(/\/+$/, "").replace(/\/jsonrpc$/, "");
  return `${parsed.protocol}//${parsed.host}${path}`;
}

/** The endpoint of the pool coordinator named by HOST_IS_SLAVE: same scheme and port, other host. */
export function masterEndpoint(current: string, masterAddress: string): string {
  const u = new URL(current);
  const addr = masterAddress.trim();
  u.hostname = addr.includes(":") && !addr.startsWith("[") ? `[${addr}]` : addr;
  return normalizeEndpoint(u.toString());
}

function snippet(body: string, max = 200): string {
  const text = body
    .replace(/<script[\s\S]*?<\/script>/gi, " ")
    .replace(/<style[\s\S]*?<\/style>/gi, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Decodes a parsed JSON-RPC response body (v1 or v2, and the XML-RPC-style `{Status, Value|ErrorDescription}` some
 * proxies re-encode): returns `result` or throws XenApiError / XenTransportError("malformed").
 */
export function decodeRpcResponse(body: unknown, method: string, host: string, expectedId?: unknown): unknown {
  const malformed = (why: string) =>
    new XenTransportError({
      kind: "malformed",
      method,
      host,
      message: `${method} on ${host}: the response is not a valid JSON-RPC answer (${why}). Is ${host} a XenAPI host, and is nothing (proxy, load balancer) rewriting responses?`,
    });
  if (!isObject(body)) throw malformed("not a JSON object");
  const err = body.error;
  if (err !== undefined && err !== null) {
    // v1.0: ["CODE", "p1", ...]
    if (Array.isArray(err) && err.length > 0 && typeof err[0] === "string") {
      throw new XenApiError({ code: err[0], params: err.slice(1), method, host });
    }
    // v2.0: {code: 1, message: "CODE", data: ["p1", ...]} (api_server_common.ml error_code_lit = 1)
    if (isObject(err) && typeof err.message === "string" && err.message !== "") {
      const data = err.data;
      const params = Array.isArray(data) ? data : data === undefined || data === null ? [] : [data];
      throw new XenApiError({ code: err.message, params, method, host });
    }
    throw malformed(`unrecognised error member ${JSON.stringify(err).slice(0, 120)}`);
  }
  if (typeof body.Status === "string") {
    if (body.Status === "Success") return body.Value;
    const desc = body.ErrorDescription;
    if (Array.isArray(desc) && typeof desc[0] === "string") {
      throw new XenApiError({ code: desc[0], params: desc.slice(1), method, host });
    }
    throw malformed("XML-RPC style failure without ErrorDescription");
  }
  if (!("result" in body)) throw malformed("neither result nor error");
  if (expectedId !== undefined && body.id !== undefined && body.id !== null && body.id !== expectedId) {
    throw malformed(`response id ${JSON.stringify(body.id)} does not match request id ${JSON.stringify(expectedId)}`);
  }
  return body.result;
}

const NETWORK_HINTS: Record<string, string> = {
  ECONNREFUSED: "nothing is listening there: check the URL and port, and that xapi is running (xe-toolstack-restart)",
  ENOTFOUND: "the host name does not resolve: check the URL",
  EAI_AGAIN: "DNS lookup failed temporarily",
  ECONNRESET: "the connection was reset (host restarting, toolstack restart, or a proxy/firewall in between)",
  EPIPE: "the connection was closed while sending",
  EHOSTUNREACH: "the host is unreachable: check the network path",
  ENETUNREACH: "the network is unreachable",
  ETIMEDOUT: "the TCP connection timed out: check the host address and firewalls",
};

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|EPROTO|XEN_TLS_|HOSTNAME_MISMATCH|ALTNAME/;

interface ErrLike {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
}

function rootCause(e: unknown): ErrLike {
  let cur = e as ErrLike;
  for (let i = 0; i < 5 && cur && isObject(cur.cause); i++) cur = cur.cause as ErrLike;
  return cur ?? {};
}

/**
 * An axios error carries the request config, whose body holds the call's params (the password, for a login).
 * Keep only name, code, message and the underlying socket/TLS error as the cause chain.
 */
export function withoutRequest(e: unknown): unknown {
  if (!axios.isAxiosError(e)) return e;
  const inner = e.cause !== undefined && !axios.isAxiosError(e.cause) ? e.cause : undefined;
  const err = new Error(e.message, inner === undefined ? undefined : { cause: inner });
  err.name = "AxiosError";
  return Object.assign(err, e.code === undefined ? {} : { code: e.code });
}

/** Maps an axios/socket error to a XenTransportError. `why` says whether our own timer or the caller aborted. */
export function classifyTransportFailure(
  e: unknown,
  ctx: { method: string; host: string; why: "timeout" | "aborted" | undefined; timeoutMs: number; maxBytes: number },
): XenTransportError {
  const { method, host } = ctx;
  const where = `${method} on ${host}`;
  const safe = withoutRequest(e);
  if (ctx.why === "timeout") {
    return new XenTransportError({
      kind: "timeout",
      method,
      host,
      cause: safe,
      message: `${where}: no complete answer within ${ctx.timeoutMs} ms. The host may be overloaded or unreachable; long operations should use Async.* (callAsync); raise timeoutMs if the host is just slow.`,
    });
  }
  if (ctx.why === "aborted") {
    return new XenTransportError({
      kind: "aborted",
      method,
      host,
      cause: safe,
      message: `${where}: aborted by the caller`,
    });
  }
  const outer = (e ?? {}) as ErrLike;
  const inner = rootCause(e);
  const tlsErr = [outer, inner, outer.cause as ErrLike].find((x) => x instanceof TlsVerificationError) as
    TlsVerificationError | undefined;
  if (tlsErr) {
    return new XenTransportError({
      kind: "tls",
      method,
      host,
      cause: safe,
      causeCode: tlsErr.code,
      message: `${where}: ${tlsErr.message.replace(/^TLS: /, "TLS verification failed: ")}`,
    });
  }
  const code = typeof inner.code === "string" ? inner.code : typeof outer.code === "string" ? outer.code : "";
  const msg = String(inner.message ?? outer.message ?? e);
  if (/maxContentLength/.test(String(outer.message ?? "")) || code === "ERR_FR_MAX_CONTENT_LENGTH_EXCEEDED") {
    return new XenTransportError({
      kind: "too-large",
      method,
      host,
      cause: safe,
      message: `${where}: the response exceeded ${ctx.maxBytes} bytes (maxResponseBytes). Use narrower calls (get_record instead of get_all_records) or raise maxResponseBytes.`,
    });
  }
  if (TLS_CODES.test(code)) {
    return new XenTransportError({
      kind: "tls",
      method,
      host,
      cause: safe,
      causeCode: code,
      message: `${where}: TLS failure (${code}: ${msg}). Check caCert / fingerprint, and that the URL is https:// to the XAPI port.`,
    });
  }
  if (code === "ECONNABORTED" || code === "ETIMEDOUT" || /timeout/i.test(code)) {
    return new XenTransportError({
      kind: code === "ETIMEDOUT" ? "network" : "timeout",
      method,
      host,
      cause: safe,
      causeCode: code,
      message: `${where}: ${NETWORK_HINTS[code] ?? `timed out (${msg})`}.`,
    });
  }
  const hint = NETWORK_HINTS[code] ?? (/socket hang up/i.test(msg) ? NETWORK_HINTS.ECONNRESET : undefined);
  return new XenTransportError({
    kind: "network",
    method,
    host,
    cause: safe,
    causeCode: code || (/socket hang up/i.test(msg) ? "ECONNRESET" : undefined),
    message: `${where}: network failure${code ? ` (${code})` : ""}: ${hint ?? msg}.`,
  });
}

/** Classifies a complete HTTP answer; returns the decoded result or throws. Pure apart from JSON.parse. */
export function interpretHttpResponse(input: {
  status: number;
  contentType: string;
  body: string;
  method: string;
  host: string;
  id: unknown;
}): unknown {
  const { status, body, method, host } = input;
  const ct = input.contentType.toLowerCase();
  const where = `${method} on ${host}`;
  const head = body.trimStart().slice(0, 64).toLowerCase();
  const looksHtml = ct.includes("html") || head.startsWith("<!doctype html") || head.startsWith("<html");
  const looksXml = !looksHtml && (ct.includes("xml") || head.startsWith("<?xml") || head.startsWith("<methodresponse"));
  if (status !== 200) {
    const text = snippet(body);
    const why =
      status === 500
        ? "the host rejected the request (xapi answers malformed JSON-RPC with HTTP 500) or failed internally"
        : status === 404
          ? "no /jsonrpc endpoint here: is this a XenAPI host, and is the host new enough to speak JSON-RPC?"
          : status === 401 || status === 403
            ? "access denied by the HTTP server or a proxy in front of it"
            : status >= 502 && status <= 504
              ? "a proxy or the host's web server could not reach xapi (restarting?)"
              : "unexpected HTTP status";
    throw new XenTransportError({
      kind: "http-status",
      method,
      host,
      status,
      message: `${where}: HTTP ${status}: ${why}.${text ? ` Body: ${text}` : ""}`,
    });
  }
  if (looksXml) {
    throw new XenTransportError({
      kind: "malformed",
      method,
      host,
      status,
      message: `${where}: the host answered XML instead of JSON. Hosts without JSON-RPC (XenServer before 7.3) are not supported; upgrade the host.`,
    });
  }
  if (looksHtml) {
    throw new XenTransportError({
      kind: "malformed",
      method,
      host,
      status,
      message: `${where}: the host answered an HTML page instead of JSON-RPC (a proxy, captive portal or web UI?): ${snippet(body)}`,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    const truncated = body.length === 0 ? "an empty body" : `${body.length} bytes of invalid or truncated JSON`;
    throw new XenTransportError({
      kind: "malformed",
      method,
      host,
      status,
      cause: e,
      causeCode: "INVALID_JSON",
      message: `${where}: the host answered ${truncated} (content-type '${input.contentType || "none"}'). The connection may have been cut mid-response.`,
    });
  }
  return decodeRpcResponse(parsed, method, host, input.id);
}

/** The real transport: axios over keep-alive agents with the TLS policy of {@link createAgents}. */
export class HttpTransport implements Transport {
  readonly endpoint: string;
  readonly host: string;
  private readonly http: AxiosInstance;
  private readonly agents: Agents;
  private readonly ownsAgents: boolean;
  private readonly maxBytes: number;
  private nextId = 0;

  constructor(endpoint: string, opts: HttpTransportOptions = {}, agents?: Agents) {
    this.endpoint = normalizeEndpoint(endpoint);
    this.host = new URL(this.endpoint).host;
    this.ownsAgents = agents === undefined;
    this.agents = agents ?? createAgents(opts);
    this.maxBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.http = axios.create({
      baseURL: this.endpoint,
      httpAgent: this.agents.httpAgent,
      httpsAgent: this.agents.httpsAgent,
      // xapi is addressed directly; an environment proxy would bypass the TLS policy above.
      proxy: false,
      maxRedirects: 0,
      maxContentLength: this.maxBytes,
      responseType: "text",
      responseEncoding: "utf8",
      transformResponse: [(d: unknown) => d],
      validateStatus: () => true,
      headers: { "Content-Type": "application/json", Accept: "application/json" },
    });
  }

  async send(req: RpcRequest, opts: SendOptions): Promise<unknown> {
    const { method } = req;
    const id = ++this.nextId;
    const controller = new AbortController();
    let why: "timeout" | "aborted" | undefined;
    const ctx = () => ({ method, host: this.host, why, timeoutMs: opts.timeoutMs, maxBytes: this.maxBytes });
    if (opts.signal?.aborted) {
      why = "aborted";
      throw classifyTransportFailure(opts.signal.reason, ctx());
    }
    const onAbort = () => {
      why ??= "aborted";
      controller.abort();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(
      () => {
        why ??= "timeout";
        controller.abort();
      },
      Math.max(1, opts.timeoutMs),
    );
    try {
      const body = JSON.stringify({ jsonrpc: "2.0", method, params: req.params, id });
      const res = await this.http.post<string>("/jsonrpc", body, { signal: controller.signal });
      if (why) throw classifyTransportFailure(new Error(why), ctx());
      const ct = res.headers["content-type"];
      return interpretHttpResponse({
        status: res.status,
        contentType: typeof ct === "string" ? ct : "",
        body: typeof res.data === "string" ? res.data : String(res.data ?? ""),
        method,
        host: this.host,
        id,
      });
    } catch (e) {
      if (e instanceof XenApiError || e instanceof XenTransportError) throw e;
      throw classifyTransportFailure(e, ctx());
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Destroys the keep-alive agents if this transport created them (shared agents belong to the client). */
  close(): void {
    if (this.ownsAgents) this.agents.destroy();
  }
}

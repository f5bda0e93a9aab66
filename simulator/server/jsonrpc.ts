import { XenApiError } from "../errors";
import { JsonText } from "../models/wire";

/** JSON-RPC 1.0 and 2.0 envelopes of XenAPI calls (XENAPI.md §1.2): requests in, results and errors out. */

/** Deeper JSON is malformed for XenAPI (no datamodel type nests this far). */
export const MAX_DEPTH = 64;

/** A request xapi answers with HTTP 500 (Jsonrpc.Malformed_method_request). */
export class Malformed extends Error {}

function depth(v: unknown, d = 0): number {
  if (d > MAX_DEPTH) return d;
  if (Array.isArray(v)) return v.reduce<number>((m, x) => Math.max(m, depth(x, d + 1)), d + 1);
  if (v && typeof v === "object") return Object.values(v).reduce<number>((m, x) => Math.max(m, depth(x, d + 1)), d + 1);
  return d;
}

export interface Envelope {
  v2: boolean;
  id: string | number;
  method: string;
  params: unknown[];
}

/** JSON-RPC 1.0/2.0 request validation; throws Malformed for HTTP 500 cases. */
export function parseEnvelope(body: string): Envelope {
  let req: unknown;
  try {
    req = JSON.parse(body);
  } catch {
    throw new Malformed("invalid JSON");
  }
  if (typeof req !== "object" || req === null || Array.isArray(req)) throw new Malformed("not an object");
  if (depth(req) > MAX_DEPTH) throw new Malformed("nesting too deep");
  const r = req as Record<string, unknown>;
  if (r.jsonrpc !== undefined && r.jsonrpc !== "2.0" && r.jsonrpc !== "1.0") throw new Malformed("bad jsonrpc version");
  if (typeof r.method !== "string" || !r.method) throw new Malformed("missing method");
  if (!("id" in r) || r.id === null || (typeof r.id !== "string" && typeof r.id !== "number"))
    throw new Malformed("missing id");
  let params: unknown[];
  if (r.params === undefined) params = [];
  else if (Array.isArray(r.params)) params = r.params;
  else if (typeof r.params === "object" && r.params !== null) params = [r.params];
  else throw new Malformed("params must be an array");
  return { v2: r.jsonrpc === "2.0", id: r.id, method: r.method, params };
}

/**
 * The reply to a successful call. A JsonText result stays text: the envelope's two halves around it give the
 * same bytes as JSON.stringify of the envelope around the value.
 */
export function encodeResult(env: Pick<Envelope, "v2" | "id">, value: unknown): string | JsonText {
  if (value instanceof JsonText)
    return value.within(
      env.v2 ? '{"jsonrpc":"2.0","result":' : '{"result":',
      `${env.v2 ? "" : ',"error":null'},"id":${JSON.stringify(env.id)}}`,
    );
  return JSON.stringify(
    env.v2 ? { jsonrpc: "2.0", result: value, id: env.id } : { result: value, error: null, id: env.id },
  );
}

export function encodeError(env: Pick<Envelope, "v2" | "id">, err: XenApiError): string {
  return JSON.stringify(
    env.v2
      ? { jsonrpc: "2.0", error: { code: 1, message: err.code, data: err.params }, id: env.id }
      : { result: null, error: err.toArray(), id: env.id },
  );
}

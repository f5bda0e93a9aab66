import { CLASSES, CLASS_BY_LOWER } from "../models/schema";
import { CallResult } from "./dispatch";

/**
 * XML-RPC on every POST path but `/jsonrpc` (the older XenAPI transport): `{Status:"Success", Value}` or
 * `{Status:"Failure", ErrorDescription:[code, ...params]}`. Values are typed as xapi types them: ints as
 * untyped strings, floats as `<double>` (even whole ones), datetimes as `<dateTime.iso8601>`, booleans as
 * `<boolean>`. The type comes from the datamodel (the field or the message result), not from the JS value.
 */

interface Node {
  tag: string;
  children: Node[];
  text: string;
}

export class XmlMalformed extends Error {}

function decode(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_m, e: string) => {
    if (e === "lt") return "<";
    if (e === "gt") return ">";
    if (e === "amp") return "&";
    if (e === "quot") return '"';
    if (e === "apos") return "'";
    const code = e.startsWith("#x") ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    if (!(code >= 0 && code <= 0x10ffff)) throw new XmlMalformed(`character reference &${e}; is out of range`);
    return String.fromCodePoint(code);
  });
}

function parseXml(xml: string): Node {
  const root: Node = { tag: "#root", children: [], text: "" };
  const stack: Node[] = [root];
  const re = /<\?[^>]*\?>|<!--[\s\S]*?-->|<(\/?)([A-Za-z0-9_.:-]+)[^>]*?(\/?)>|([^<]+)/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(xml))) {
    if (m.index !== consumed) throw new XmlMalformed("unexpected character");
    consumed = re.lastIndex;
    if (m[4] !== undefined) {
      stack[stack.length - 1]!.text += decode(m[4]);
      continue;
    }
    if (!m[2]) continue;
    if (m[1]) {
      const top = stack.pop();
      if (!top || top.tag !== m[2] || stack.length === 0) throw new XmlMalformed(`unbalanced </${m[2]}>`);
      continue;
    }
    const node: Node = { tag: m[2], children: [], text: "" };
    stack[stack.length - 1]!.children.push(node);
    if (!m[3]) stack.push(node);
    if (stack.length > 128) throw new XmlMalformed("nesting too deep");
  }
  if (consumed !== xml.length || stack.length !== 1) throw new XmlMalformed("truncated document");
  return root;
}

function child(n: Node, tag: string): Node | undefined {
  return n.children.find((c) => c.tag === tag);
}

function toValue(v: Node): unknown {
  const t = v.children[0];
  if (!t) return v.text;
  switch (t.tag) {
    case "string":
    case "dateTime.iso8601":
    case "base64":
      return t.text;
    case "int":
    case "i4":
    case "i8":
      return Number(t.text.trim());
    case "double":
      return Number(t.text.trim());
    case "boolean":
      return t.text.trim() === "1";
    case "nil":
      return null;
    case "array":
      return (child(t, "data")?.children ?? []).filter((c) => c.tag === "value").map(toValue);
    case "struct": {
      const out: Record<string, unknown> = {};
      for (const m of t.children.filter((c) => c.tag === "member")) {
        const name = child(m, "name")?.text ?? "";
        const val = child(m, "value");
        out[name] = val ? toValue(val) : "";
      }
      return out;
    }
    default:
      throw new XmlMalformed(`unknown value type ${t.tag}`);
  }
}

export function parseMethodCall(xml: string): { method: string; params: unknown[] } {
  const doc = parseXml(xml);
  const call = child(doc, "methodCall");
  const name = call && child(call, "methodName");
  if (!call || !name || !name.text.trim()) throw new XmlMalformed("missing methodName");
  const params = (child(call, "params")?.children ?? [])
    .filter((p) => p.tag === "param")
    .map((p) => {
      const v = child(p, "value");
      if (!v) throw new XmlMalformed("param without value");
      return toValue(v);
    });
  return { method: name.text.trim(), params };
}

/**
 * A wire type: a datamodel field type (`float`, `datetime`, `int`, `bool`, `string`, `ref:C`, `enum:E`,
 * `set:<t>`, `map`), or a result shape: `record:C`, `records:C` (ref -> record map), `events` (event.from's
 * batch), `event` (one event). `undefined`: typed by the JS value (whole numbers untyped, others `<double>`).
 */
export type WireType = string | undefined;

/** The type of a message's result, from its name and the registry's declared result type. */
export function resultType(method: string, declared = ""): WireType {
  if (method.startsWith("Async.")) return undefined; // a task ref
  if (method === "event.from") return "events";
  if (method === "event.next") return "set:event";
  const dot = method.indexOf(".");
  const cls = method.slice(0, dot);
  const msg = method.slice(dot + 1);
  const def = CLASSES[cls];
  if (def) {
    if (msg === "get_record") return `record:${cls}`;
    if (msg === "get_all_records" || msg === "get_all_records_where") return `records:${cls}`;
    if (cls === "message" && msg === "get_since") return "records:message";
    const field = msg.startsWith("get_") ? def.byName.get(msg.slice(4)) : undefined;
    if (field) return field.type;
  }
  if (["datetime", "float", "int", "bool", "string"].includes(declared)) return declared;
  const rec = /^(\w+) record$/.exec(declared);
  return rec && CLASSES[rec[1]!] ? `record:${rec[1]}` : undefined;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function double(v: unknown): string {
  const n = Number(v);
  return `<value><double>${Number.isInteger(n) ? n.toFixed(1) : String(n)}</double></value>`;
}

function struct(entries: [string, string][]): string {
  return `<value><struct>${entries.map(([k, x]) => `<member><name>${escapeXml(k)}</name>${x}</member>`).join("")}</struct></value>`;
}

function record(cls: string | undefined, v: unknown): string {
  const def = cls === undefined ? undefined : CLASSES[cls];
  if (!v || typeof v !== "object") return encodeValue(v);
  return struct(Object.entries(v).map(([k, x]) => [k, encodeValue(x, def?.byName.get(k)?.type)]));
}

function event(v: unknown): string {
  if (!v || typeof v !== "object") return encodeValue(v);
  const ev = v as Record<string, unknown>;
  const cls = CLASS_BY_LOWER.get(String(ev.class));
  return struct(Object.entries(ev).map(([k, x]) => [k, k === "snapshot" ? record(cls, x) : encodeValue(x)]));
}

/** One XML-RPC `<value>`, typed by `type` where known, else by the JS value. */
export function encodeValue(v: unknown, type?: WireType): string {
  if (v === undefined || v === null || v === "") return "<value></value>";
  if (type === "float" && (typeof v === "number" || typeof v === "string")) return double(v);
  if (type === "datetime" && typeof v === "string")
    return `<value><dateTime.iso8601>${escapeXml(v)}</dateTime.iso8601></value>`;
  if (type?.startsWith("record:")) return record(type.slice(7), v);
  if (type?.startsWith("records:") && typeof v === "object" && !Array.isArray(v)) {
    const cls = type.slice(8);
    return struct(Object.entries(v).map(([ref, r]) => [ref, record(cls, r)]));
  }
  if (type === "event") return event(v);
  if (type === "events" && typeof v === "object" && !Array.isArray(v))
    return struct(Object.entries(v).map(([k, x]) => [k, encodeValue(x, k === "events" ? "set:event" : undefined)]));
  if (Array.isArray(v)) {
    const elem = type?.startsWith("set:") ? type.slice(4) : undefined;
    return `<value><array><data>${v.map((x) => encodeValue(x, elem)).join("")}</data></array></value>`;
  }
  if (typeof v === "string") return `<value>${escapeXml(v)}</value>`;
  if (typeof v === "number") return Number.isInteger(v) ? `<value>${v}</value>` : double(v);
  if (typeof v === "boolean") return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
  return struct(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, encodeValue(x)]));
}

/**
 * `method` picks xapi's one exception (api_server.ml): a successful system.listMethods answers its array bare,
 * without the `{Status, Value}` struct.
 */
export function encodeMethodResponse(result: CallResult, type?: WireType, method?: string): string {
  const bare = result.ok && method === "system.listMethods";
  const body = bare
    ? encodeValue(result.value)
    : result.ok
      ? struct([
          ["Status", encodeValue("Success")],
          ["Value", encodeValue(result.value ?? "", type)],
        ])
      : struct([
          ["Status", encodeValue("Failure")],
          ["ErrorDescription", encodeValue(result.error.toArray().map(String))],
        ]);
  return `<?xml version="1.0"?><methodResponse><params><param>${body}</param></params></methodResponse>`;
}

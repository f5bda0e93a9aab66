import { xmlValue } from "../models/engine";
import { CallResult } from "./dispatch";

/**
 * XML-RPC on `POST /` and `/RPC2` (the older XenAPI transport): `{Status:"Success", Value}` or
 * `{Status:"Failure", ErrorDescription:[code, ...params]}`; ints travel as untyped strings.
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

export function encodeMethodResponse(result: CallResult): string {
  const body = result.ok
    ? { Status: "Success", Value: result.value ?? "" }
    : { Status: "Failure", ErrorDescription: result.error.toArray() };
  return `<?xml version="1.0"?><methodResponse><params><param>${xmlValue(body)}</param></params></methodResponse>`;
}

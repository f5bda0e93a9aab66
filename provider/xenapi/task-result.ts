/**
 * `task.result` is an XML-RPC value fragment even over JSON-RPC (xapi taskHelper.ml; Xen Orchestra parses it with an
 * XML-RPC parser in `_getTaskResult.mjs`). A small, strict parser for the value grammar.
 */

export type XmlRpcValue = string | number | boolean | null | Date | XmlRpcValue[] | { [k: string]: XmlRpcValue };

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (all, ent: string) => {
    if (ent.startsWith("#x")) return String.fromCodePoint(parseInt(ent.slice(2), 16));
    if (ent.startsWith("#")) return String.fromCodePoint(parseInt(ent.slice(1), 10));
    return ENTITIES[ent] ?? all;
  });
}

class Parser {
  private pos = 0;
  constructor(private readonly src: string) {}

  fail(what: string): never {
    throw new Error(`invalid XML-RPC value fragment at offset ${this.pos}: ${what}`);
  }

  skipWs(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos])) this.pos++;
  }

  /** Reads `<name>` or `<name/>`; returns the name and whether it self-closed. */
  openTag(): { name: string; selfClosing: boolean } {
    this.skipWs();
    const m = /^<([A-Za-z][\w.:-]*)\s*(\/?)>/.exec(this.src.slice(this.pos));
    if (!m) this.fail("expected an opening tag");
    this.pos += m[0].length;
    return { name: m[1], selfClosing: m[2] === "/" };
  }

  peekClose(name: string): boolean {
    this.skipWs();
    return this.src.startsWith(`</${name}>`, this.pos);
  }

  closeTag(name: string): void {
    this.skipWs();
    if (!this.src.startsWith(`</${name}>`, this.pos)) this.fail(`expected </${name}>`);
    this.pos += name.length + 3;
  }

  text(): string {
    const end = this.src.indexOf("<", this.pos);
    if (end < 0) this.fail("unterminated element");
    const raw = this.src.slice(this.pos, end);
    this.pos = end;
    return decodeEntities(raw);
  }

  value(): XmlRpcValue {
    const open = this.openTag();
    if (open.name !== "value") this.fail(`expected <value>, got <${open.name}>`);
    if (open.selfClosing) return "";
    // Untyped <value>text</value> is a string (XML-RPC spec); xapi sends refs this way.
    const start = this.pos;
    const raw = this.text();
    if (this.src.startsWith("</value>", this.pos)) {
      this.pos += "</value>".length;
      return raw;
    }
    this.pos = start;
    const v = this.typed();
    this.closeTag("value");
    return v;
  }

  typed(): XmlRpcValue {
    const { name, selfClosing } = this.openTag();
    if (selfClosing) {
      if (name === "nil") return null;
      if (name === "string") return "";
      if (name === "array" || name === "struct") return name === "array" ? [] : {};
      this.fail(`unexpected <${name}/>`);
    }
    switch (name) {
      case "string": {
        const s = this.text();
        this.closeTag(name);
        return s;
      }
      case "int":
      case "i4":
      case "i8":
      case "double": {
        const s = this.text().trim();
        this.closeTag(name);
        const n = Number(s);
        if (s === "" || !Number.isFinite(n)) this.fail(`bad number '${s}'`);
        return n;
      }
      case "boolean": {
        const s = this.text().trim();
        this.closeTag(name);
        if (s !== "0" && s !== "1") this.fail(`bad boolean '${s}'`);
        return s === "1";
      }
      case "dateTime.iso8601": {
        const s = this.text().trim();
        this.closeTag(name);
        return s;
      }
      case "nil":
        this.closeTag(name);
        return null;
      case "array": {
        const items: XmlRpcValue[] = [];
        const data = this.openTag();
        if (data.name !== "data") this.fail("expected <data>");
        if (!data.selfClosing) {
          while (!this.peekClose("data")) items.push(this.value());
          this.closeTag("data");
        }
        this.closeTag("array");
        return items;
      }
      case "struct": {
        const out: Record<string, XmlRpcValue> = {};
        while (!this.peekClose("struct")) {
          const member = this.openTag();
          if (member.name !== "member") this.fail("expected <member>");
          const n = this.openTag();
          if (n.name !== "name") this.fail("expected <name>");
          const key = n.selfClosing ? "" : this.text();
          if (!n.selfClosing) this.closeTag("name");
          out[key] = this.value();
          this.closeTag("member");
        }
        this.closeTag("struct");
        return out;
      }
      default:
        return this.fail(`unknown type <${name}>`);
    }
  }

  end(): void {
    this.skipWs();
    if (this.pos !== this.src.length) this.fail("trailing content");
  }
}

/** Parses one XML-RPC `<value>` fragment into JS values (structs as objects, arrays as arrays). Throws on bad input. */
export function decodeXmlRpcValue(xml: string): XmlRpcValue {
  const p = new Parser(xml.trim());
  const v = p.value();
  p.end();
  return v;
}

/**
 * Decodes `task.result`: `"<value>OpaqueRef:x</value>"` -> `"OpaqueRef:x"`; `"<value></value>"`, `"<value/>"` and
 * `""` (old hosts) -> `""`; `<string>`/`<int>`/`<boolean>` scalars -> their text; arrays and structs -> JSON text.
 * A bare string without markup is returned trimmed. Throws on malformed XML.
 */
export function decodeTaskResult(xml: string): string {
  const s = (xml ?? "").trim();
  if (s === "") return "";
  if (!s.startsWith("<")) return decodeEntities(s);
  const v = decodeXmlRpcValue(s);
  if (v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

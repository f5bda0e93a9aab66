import { fail } from "../../errors";
import { Rec } from "../db";

/**
 * The get_all_records_where expression language, as xapi parses it (ocaml/database db_filter_lex.mll,
 * db_filter_parse.mly, db_filter.ml):
 *
 *   expr  := value "=" value | expr "and" expr | expr "or" expr | "not" expr | "true" | "false" | "(" expr ")"
 *   value := "<literal>" | field "<column>"
 *
 * Quirks kept from the grammar: `and` and `or` share one precedence level, left-associative, so
 * `a or b and c` is `(a or b) and c`; `not` binds loosest, so `not a and b` is `not (a and b)`. Literals
 * have no escapes (a string runs to the next `"`). Values compare as strings, fields marshalled as the
 * database stores them (sets and maps as S-expressions).
 *
 * Columns are database names: a namespaced field's parts joined by `__` (escaping.ml escape_id), so
 * `name_label` is `name__label` and `memory_static_max` is `memory__static_max`; `_ref` is the object's ref.
 * The simulator also accepts the API name (`name_label`), which xapi would refuse.
 */
export type Where = (rec: Rec, ref?: string) => boolean;

type Tok = { k: "str"; v: string } | { k: "kw"; v: string };

const KEYWORDS = ["true", "false", "field", "and", "or", "not"] as const;

function tokens(expr: string, bad: () => Error): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === " " || c === "\t" || c === "\n") i++;
    else if (c === "=" || c === "(" || c === ")") {
      out.push({ k: "kw", v: c });
      i++;
    } else if (c === '"') {
      const j = expr.indexOf('"', i + 1);
      if (j < 0) throw bad();
      out.push({ k: "str", v: expr.slice(i + 1, j) });
      i = j + 1;
    } else {
      // The lexer matches keywords as bare prefixes (no word boundary), like ocamllex does.
      const kw = KEYWORDS.find((k) => expr.startsWith(k, i));
      if (!kw) throw bad();
      out.push({ k: "kw", v: kw });
      i += kw.length;
    }
  }
  return out;
}

/** Resolves a column name to a record value (undefined: no such column). */
function column(rec: Rec, ref: string | undefined, col: string): unknown {
  if (col === "_ref") return ref;
  if (col in rec) return rec[col];
  const api = col.replace(/__/g, "_");
  return col.includes("__") && api in rec ? rec[api] : undefined;
}

/** Schema.Value.marshal: how xapi's database stores a value as a string. */
export function marshal(v: unknown): string {
  const quote = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  if (typeof v === "string") return v;
  if (typeof v === "boolean" || typeof v === "number") return String(v);
  if (Array.isArray(v)) return `(${v.map((x) => quote(String(x))).join(" ")})`;
  if (v && typeof v === "object")
    return `(${Object.entries(v)
      .map(([k, x]) => `(${quote(k)} ${quote(String(x))})`)
      .join(" ")})`;
  return "";
}

export function parseWhere(expr: string): Where {
  const bad = () => fail("INTERNAL_ERROR", `Invalid expression: ${expr}`);
  const toks = tokens(expr, bad);
  let i = 0;
  const peek = () => toks[i];
  const isKw = (t: Tok | undefined, v: string) => t?.k === "kw" && t.v === v;
  const value = (): ((rec: Rec, ref?: string) => string) => {
    const t = toks[i++];
    if (t?.k === "str") return () => t.v;
    if (isKw(t, "field")) {
      const c = toks[i++];
      if (c?.k !== "str") throw bad();
      return (rec, ref) => {
        const v = column(rec, ref, c.v);
        // Row.find on a missing column: Db_exn.DBCache_NotFound, which xapi reports as INTERNAL_ERROR.
        if (v === undefined) throw fail("INTERNAL_ERROR", "missing field", c.v, "");
        return marshal(v);
      };
    }
    throw bad();
  };
  const unary = (): Where => {
    const t = peek();
    if (isKw(t, "not")) {
      i++;
      const e = chain();
      return (r, ref) => !e(r, ref);
    }
    if (isKw(t, "true") || isKw(t, "false")) {
      i++;
      return () => t!.v === "true";
    }
    if (isKw(t, "(")) {
      i++;
      const e = chain();
      if (!isKw(toks[i++], ")")) throw bad();
      return e;
    }
    const a = value();
    if (!isKw(toks[i++], "=")) throw bad();
    const b = value();
    return (r, ref) => a(r, ref) === b(r, ref);
  };
  const chain = (): Where => {
    let l = unary();
    for (;;) {
      const t = peek();
      if (!isKw(t, "and") && !isKw(t, "or")) return l;
      i++;
      const a = l;
      const b = unary();
      l = t!.v === "and" ? (r, ref) => a(r, ref) && b(r, ref) : (r, ref) => a(r, ref) || b(r, ref);
    }
  };
  const e = chain();
  if (i !== toks.length) throw bad();
  return e;
}

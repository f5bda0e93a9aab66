import { fail } from "../../errors";
import { Rec } from "../db";

/**
 * The get_all_records_where expression language (xapi db_filter): `field "name_label" = "x"`, `true`,
 * `false`, `not`, `and`, `or`, parentheses. Values compare as strings.
 */
export function parseWhere(expr: string): (r: Rec) => boolean {
  const toks = expr.match(/"(?:[^"\\]|\\.)*"|\(|\)|=|[A-Za-z_]+/g) ?? [];
  let i = 0;
  const peek = () => toks[i];
  const take = () => toks[i++];
  const bad = () => fail("INTERNAL_ERROR", `Invalid expression: ${expr}`);
  const str = () => {
    const t = take();
    if (!t || !t.startsWith('"')) throw bad();
    return JSON.parse(t) as string;
  };
  const value = (r: Rec, kind: string, v: string) => (kind === "field" ? stringify(r[v]) : v);
  const operand = (): { kind: string; v: string } => {
    const t = take();
    if (t === "field") return { kind: "field", v: str() };
    if (t && t.startsWith('"')) return { kind: "literal", v: JSON.parse(t) as string };
    throw bad();
  };
  const atom = (): ((r: Rec) => boolean) => {
    const t = peek();
    if (t === "(") {
      take();
      const e = or();
      if (take() !== ")") throw bad();
      return e;
    }
    if (t === "not") {
      take();
      const e = atom();
      return (r) => !e(r);
    }
    if (t === "true" || t === "false") {
      take();
      return () => t === "true";
    }
    const a = operand();
    if (take() !== "=") throw bad();
    const b = operand();
    return (r) => value(r, a.kind, a.v) === value(r, b.kind, b.v);
  };
  const and = (): ((r: Rec) => boolean) => {
    let l = atom();
    while (peek() === "and") {
      take();
      const a = l;
      const b = atom();
      l = (r) => a(r) && b(r);
    }
    return l;
  };
  const or = (): ((r: Rec) => boolean) => {
    let l = and();
    while (peek() === "or") {
      take();
      const a = l;
      const b = and();
      l = (r) => a(r) || b(r);
    }
    return l;
  };
  const e = or();
  if (i !== toks.length) throw bad();
  return e;
}

function stringify(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "boolean" || typeof v === "number") return String(v);
  return JSON.stringify(v);
}

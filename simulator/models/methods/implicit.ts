import { fail } from "../../errors";
import { MESSAGES, OTHER_GETTERS } from "../../../xenapi-model/messages";
import { Ctx, Engine } from "../engine";
import { CLASSES, ClassDef, ENUMS, EnumName } from "../schema";
import { JsonText } from "../wire";
import { MethodDef, Registry, p } from "./registry";
import { parseWhere } from "./where";

/**
 * A record as an in-process caller gets it. A shallow copy is a consistent snapshot, and the caller's own: the
 * store never writes into a nested value (every change assigns a new one), and the nested values it holds are
 * frozen.
 */
export function recordCopy(e: Engine, cls: string, ref: string, pool: string): Record<string, unknown> {
  return { ...e.db.get(cls, ref, pool) };
}

/** The ref must name an object of `cls` visible in the caller's pool. */
export function own(e: Engine, ctx: Ctx, cls: string, ref: unknown): string {
  if (typeof ref !== "string") throw fail("HANDLE_INVALID", cls, String(ref));
  e.db.obj(cls, ref, ctx.pool);
  return ref;
}

/** Type check of a value against a schema field type (setters and create records). */
export function checkFieldValue(cls: string, field: string, type: string, v: unknown): unknown {
  const bad = () => fail("FIELD_TYPE_ERROR", field);
  if (type === "string" || type === "datetime") {
    if (typeof v !== "string") throw bad();
    return v;
  }
  if (type === "int") {
    const n = typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n)) throw bad();
    return n;
  }
  if (type === "float") {
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    if (typeof n !== "number" || Number.isNaN(n)) throw bad();
    return n;
  }
  if (type === "bool") {
    if (v === "true" || v === "false") return v === "true";
    if (typeof v !== "boolean") throw bad();
    return v;
  }
  if (type.startsWith("ref:")) {
    if (typeof v !== "string") throw bad();
    return v;
  }
  if (type.startsWith("enum:")) {
    const vals = ENUMS[type.slice(5) as EnumName] as readonly string[];
    if (typeof v !== "string" || !vals.includes(v)) throw fail("INVALID_VALUE", field, String(v));
    return v;
  }
  if (type === "map") {
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad();
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) {
      if (typeof x === "object" && x !== null) throw bad();
      out[k] = String(x);
    }
    return out;
  }
  if (type.startsWith("set:")) {
    if (!Array.isArray(v)) throw bad();
    const elem = type.slice(4);
    return [...new Set(v.map((x) => checkFieldValue(cls, field, elem, x)))];
  }
  return v;
}

/**
 * Validates a ref-typed field value: NULL or an object of the right class in the pool. Classes we do not model
 * (console, VTPM, ...) accept only NULL.
 */
export function checkRefField(e: Engine, ctx: Ctx, type: string, v: string): void {
  if (v === "OpaqueRef:NULL") return;
  const cls = type.slice(4);
  if (!e.db.has(v, cls) || e.db.poolOf(v) !== ctx.pool) throw fail("HANDLE_INVALID", cls, v);
}

function registerClass(reg: Registry, c: ClassDef): void {
  const C = c.name;
  const self = `self:ref:${C}`;
  reg.add({
    name: `${C}.get_record`,
    params: p(self),
    result: `${C} record`,
    implicit: true,
    run: (e, ctx, [r]) => recordCopy(e, C, r as string, ctx.pool),
    json: (e, ctx, [r]) => JsonText.record(e.db.obj(C, r as string, ctx.pool)),
  });
  reg.add({
    name: `${C}.get_all`,
    params: [],
    result: `${C} ref set`,
    implicit: true,
    run: (e, ctx) => e.db.refs(C, ctx.pool),
  });
  reg.add({
    name: `${C}.get_all_records`,
    params: [],
    implicit: true,
    run: (e, ctx) => Object.fromEntries(e.db.all(C, ctx.pool).map(([r, rec]) => [r, { ...rec }])),
    json: (e, ctx) => JsonText.records(e.db.objs(C, ctx.pool)),
  });
  reg.add({
    name: `${C}.get_all_records_where`,
    params: p("expr:string"),
    implicit: true,
    run: (e, ctx, [expr]) => {
      const f = parseWhere(expr as string);
      return Object.fromEntries(
        e.db
          .all(C, ctx.pool)
          .filter(([r, rec]) => f(rec, r))
          .map(([r, rec]) => [r, { ...rec }]),
      );
    },
    json: (e, ctx, [expr]) => {
      const f = parseWhere(expr as string);
      return JsonText.records(e.db.objs(C, ctx.pool).filter((o) => f(o.rec, o.ref)));
    },
  });
  reg.add({
    name: `${C}.get_all_where`,
    params: p("expr:string"),
    result: `${C} ref set`,
    implicit: true,
    run: (e, ctx, [expr]) => {
      const f = parseWhere(expr as string);
      return e.db
        .all(C, ctx.pool)
        .filter(([r, rec]) => f(rec, r))
        .map(([r]) => r);
    },
  });
  reg.add({
    name: `${C}.get_by_uuid`,
    params: p("uuid:string"),
    result: C,
    implicit: true,
    run: (e, ctx, [u]) => e.db.byUuidRef(C, u as string, ctx.pool),
  });
  if (c.byName.has("name_label"))
    reg.add({
      name: `${C}.get_by_name_label`,
      params: p("label:string"),
      implicit: true,
      run: (e, ctx, [l]) =>
        e.db
          .all(C, ctx.pool)
          .filter(([, rec]) => rec.name_label === l)
          .map(([r]) => r),
    });
  // Roles and parameter lists are the datamodel's (the registry applies them); the handlers are ours.
  for (const f of c.fields) {
    reg.add({
      name: `${C}.get_${f.name}`,
      params: p(self),
      implicit: true,
      run: (e, ctx, [r]) => e.db.get(C, r as string, ctx.pool)[f.name],
    });
    // An RO field may still have a datamodel setter message (VM.set_actions_after_crash); explicit handlers
    // registered later replace this generic one where the setter has rules of its own.
    if (!f.rw && !(`${C}.set_${f.name}` in MESSAGES)) continue;
    reg.add({
      name: `${C}.set_${f.name}`,
      params: [
        { name: "self", type: `ref:${C}` },
        { name: "value", type: "any" },
      ],
      implicit: true,
      run: (e, ctx, [r, v]) => {
        const val = checkFieldValue(C, f.name, f.type, v);
        if (f.type.startsWith("ref:")) checkRefField(e, ctx, f.type, val as string);
        e.db.set(r as string, f.name, val);
        return "";
      },
    });
    if (f.type === "map") {
      reg.add({
        name: `${C}.add_to_${f.name}`,
        params: p(self, "key:string", "value:string"),
        implicit: true,
        run: (e, ctx, [r, k, v]) => {
          const rec = e.db.get(C, r as string, ctx.pool);
          const m = rec[f.name] as Record<string, string>;
          if ((k as string) in m) throw fail("MAP_DUPLICATE_KEY", C, f.name, rec.uuid, k);
          e.db.set(r as string, f.name, { ...m, [k as string]: v as string });
          return "";
        },
      });
      reg.add({
        name: `${C}.remove_from_${f.name}`,
        params: p(self, "key:string"),
        implicit: true,
        run: (e, ctx, [r, k]) => {
          const m = e.db.get(C, r as string, ctx.pool)[f.name] as Record<string, string>;
          if (!((k as string) in m)) return "";
          const next = { ...m };
          delete next[k as string];
          e.db.set(r as string, f.name, next);
          return "";
        },
      });
    }
    if (f.type.startsWith("set:")) {
      const elem = f.type.slice(4);
      const sing = f.name === "tags" ? "tags" : f.name;
      reg.add({
        name: `${C}.add_${sing}`,
        params: [
          { name: "self", type: `ref:${C}` },
          { name: "value", type: elem === "string" ? "string" : "any" },
        ],
        implicit: true,
        run: (e, ctx, [r, v]) => {
          const cur = e.db.get(C, r as string, ctx.pool)[f.name] as unknown[];
          const val = checkFieldValue(C, f.name, elem, v);
          if (!cur.includes(val)) e.db.set(r as string, f.name, [...cur, val]);
          return "";
        },
      });
      reg.add({
        name: `${C}.remove_${sing}`,
        params: [
          { name: "self", type: `ref:${C}` },
          { name: "value", type: elem === "string" ? "string" : "any" },
        ],
        implicit: true,
        run: (e, ctx, [r, v]) => {
          const cur = e.db.get(C, r as string, ctx.pool)[f.name] as unknown[];
          if (cur.includes(v))
            e.db.set(
              r as string,
              f.name,
              cur.filter((x) => x !== v),
            );
          return "";
        },
      });
    }
  }
}

/**
 * A getter of a datamodel class the simulator does not model (VGPU, PCI, ...), answered as xapi answers for a
 * class with no objects: empty sets, and for any ref or uuid the error of an object that does not exist. An
 * expression is still parsed first, as xapi's db_filter does.
 */
function otherGetter(cls: string, msg: string): MethodDef["run"] {
  switch (msg) {
    case "get_all":
    case "get_by_name_label":
      return () => [];
    case "get_all_records":
      return () => ({});
    case "get_all_where":
      return (_e, _ctx, [expr]) => (parseWhere(expr as string), []);
    case "get_all_records_where":
      return (_e, _ctx, [expr]) => (parseWhere(expr as string), {});
    case "get_by_uuid":
      return (_e, _ctx, [u]) => {
        throw fail("UUID_INVALID", cls, u);
      };
    default: // get_record and the field getters: every ref is dangling
      return (_e, _ctx, [r]) => {
        throw fail("HANDLE_INVALID", cls, r);
      };
  }
}

export function registerImplicit(reg: Registry): void {
  for (const c of Object.values(CLASSES)) registerClass(reg, c);
  for (const name of Object.keys(OTHER_GETTERS)) {
    const [cls, msg] = name.split(".") as [string, string];
    reg.add({ name, params: [], implicit: true, run: otherGetter(cls, msg) });
  }
}

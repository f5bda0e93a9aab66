import { NULL_REF } from "../ids";
import { CLASSES } from "./schema";

/**
 * How the store keeps values small. A pool of thousands of VMs cloned from a few templates repeats the same
 * texts, maps and sets in every record; the store keeps one copy of each:
 * - strings: one copy per distinct text (enum values, dates, descriptions, map contents), except in the fields
 *   that name objects (FieldRule.names): there is nothing to share, they are kept as given;
 * - empty maps and sets: one frozen instance each;
 * - other maps, and sets of plain values (enums, strings, numbers): one frozen instance per distinct content;
 * - sets of refs name other objects, so they differ from record to record: frozen, not looked up.
 * Copies are found in bounded tables that start over when full: values handed out before stay shared, later
 * ones start new copies, and the tables never hold more than a fixed number of entries.
 *
 * Every map and set the store holds is frozen: the store replaces values and never writes into one, and a caller
 * holding a record (or a shallow copy of it) cannot change the store, or the JSON text cached for it, by writing
 * into a nested value.
 */

export const EMPTY_MAP: Readonly<Record<string, never>> = Object.freeze({});
export const EMPTY_SET: readonly never[] = Object.freeze([]);

/**
 * Longer strings (blobs, metadata exports) seldom repeat and are kept as they are; the bound also caps what the
 * table keeps alive (16384 texts of at most 256 characters).
 */
const MAX_INTERNED_LENGTH = 256;

/** Remembers up to `max` values by key; when full it starts over. */
export class Recent<T> {
  private readonly byKey = new Map<string, T>();
  constructor(private readonly max: number) {}

  get(key: string): T | undefined {
    return this.byKey.get(key);
  }

  add(key: string, v: T): T {
    if (this.byKey.size >= this.max) this.byKey.clear();
    this.byKey.set(key, v);
    return v;
  }
}

/** Distinct texts (about 40 bytes of table each, and the text it keeps alive until the table starts over). */
const texts = new Recent<string>(16384);
/** Distinct maps and sets, keyed by their JSON text (about 150 bytes each). */
const shared = new Recent<object>(4096);

/** The one copy of this text. */
export function intern(s: string): string {
  if (s.length > MAX_INTERNED_LENGTH) return s;
  return texts.get(s) ?? texts.add(s, s);
}

/**
 * The one frozen instance with this content. Only values of strings, booleans and finite numbers are looked
 * up: their JSON text tells them apart (it would not tell `undefined` from absent, or NaN from null).
 */
function share<T extends object>(v: T, items: unknown[]): T {
  for (const x of items) {
    const t = typeof x;
    if (t !== "string" && t !== "boolean" && !(t === "number" && Number.isFinite(x))) return Object.freeze(v);
  }
  const key = JSON.stringify(v);
  return (shared.get(key) as T | undefined) ?? (shared.add(key, Object.freeze(v)) as T);
}

function isEmpty(v: object): boolean {
  for (const _ in v) return false;
  return true;
}

/** An object literal's kind, from any realm (structuredClone may hand back another realm's objects). */
function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/**
 * A value as the store keeps it. `type` is the schema type of the field (`set:ref:VM`, `map`, ...), undefined
 * for simulator-only values. Frozen values are taken as they are (the store's own values are frozen).
 */
export function compactValue(type: string | undefined, v: unknown): unknown {
  if (typeof v === "string") {
    if (type?.startsWith("ref:")) return v === NULL_REF ? NULL_REF : v;
    return intern(v);
  }
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) {
    if (v.length === 0) return EMPTY_SET;
    if (Object.isFrozen(v)) return v;
    const elem = type?.startsWith("set:") ? type.slice(4) : undefined;
    const out = v.map((x) => compactValue(elem, x));
    return elem?.startsWith("ref:") ? Object.freeze(out) : share(out, out);
  }
  if (Object.isFrozen(v) || !isPlainObject(v)) return v;
  if (isEmpty(v)) return EMPTY_MAP;
  const out: Record<string, unknown> = {};
  const items: unknown[] = [];
  // Property keys are kept once by V8 already.
  for (const k in v) items.push((out[k] = compactValue(undefined, v[k])));
  return share(out, items);
}

/** What the store needs to know of a record field to keep its values, from the class schema. */
export interface FieldRule {
  /** the schema type; undefined for a field the schema does not have */
  type: string | undefined;
  /**
   * the field names this object (uuid, name_label) or others (refs, sets of refs): its value is particular to the
   * record (but for NULL and the empty set), so there is nothing to share
   */
  names: boolean;
}

const UNKNOWN_FIELD: FieldRule = { type: undefined, names: false };
const rules = new Map<string, Map<string, FieldRule>>();

function rulesOf(cls: string): Map<string, FieldRule> {
  let m = rules.get(cls);
  if (!m) {
    const fields = CLASSES[cls]?.fields ?? [];
    m = new Map(
      fields.map((f) => {
        const names =
          f.name === "uuid" || f.name === "name_label" || f.type.startsWith("ref:") || f.type.startsWith("set:ref:");
        return [f.name, { type: f.type, names }];
      }),
    );
    rules.set(cls, m);
  }
  return m;
}

export function fieldRule(cls: string, field: string): FieldRule {
  return rulesOf(cls).get(field) ?? UNKNOWN_FIELD;
}

function compactWith(rule: FieldRule, v: unknown): unknown {
  if (typeof v === "string" && rule.names) return v === NULL_REF ? NULL_REF : v;
  return compactValue(rule.type, v);
}

/** A record field's value as the store keeps it. */
export function compactField(cls: string, field: string, v: unknown): unknown {
  return compactWith(fieldRule(cls, field), v);
}

/** Compacts every value of a record of `cls` in place. */
export function compactRecord(cls: string, rec: Record<string, unknown>): void {
  const m = rulesOf(cls);
  for (const k in rec) rec[k] = compactWith(m.get(k) ?? UNKNOWN_FIELD, rec[k]);
}

/** Simulator-only state: most objects have none and share one frozen empty map (setHidden replaces it). */
export function compactHidden(hidden: Record<string, unknown>): Record<string, unknown> {
  if (isEmpty(hidden)) return EMPTY_MAP as Record<string, unknown>;
  for (const k in hidden) hidden[k] = compactValue(undefined, hidden[k]);
  return hidden;
}

import { fail } from "../errors";
import { NULL_REF } from "../ids";
import { compactField, compactHidden, compactRecord, compactValue, fieldRule, intern } from "./compact";
import { CLASSES, RELATIONS, SET_RELATIONS, defaultFor } from "./schema";

export type Rec = Record<string, unknown>;

/** Both directions of each many-to-many link: a class's set field and the other side's. */
const SET_LINKS = SET_RELATIONS.flatMap((r) => [
  { cls: r.a, field: r.aSet, other: r.b, otherField: r.bSet },
  { cls: r.b, field: r.bSet, other: r.a, otherField: r.aSet },
]);

/**
 * A record's JSON text, built on its first read by models/wire.ts: `segments` concatenated are
 * JSON.stringify(rec), `bytes` is their UTF-8 length.
 */
export interface RecordText {
  readonly segments: readonly string[];
  readonly bytes: number;
}

/** One stored object. `pool` partitions the store: each pool master sees only its own pool's objects. */
export interface Obj {
  cls: string;
  ref: string;
  pool: string;
  gen: number;
  created: number;
  rec: Rec;
  /**
   * simulator-only state that XenAPI does not expose (e.g. whether the guest has PV drivers); one shared frozen
   * empty map for objects without any (setHidden replaces it)
   */
  hidden: Rec;
  /** the record's JSON text while the record is unchanged: every change to `rec` drops it */
  text?: RecordText | undefined;
}

export interface Tombstone {
  cls: string;
  ref: string;
  pool: string;
  gen: number;
  created: number;
}

/** Where committed changes go (sqlite when a data dir is set). Called inside commit, before the reply. */
export interface Persister {
  save(changed: Obj[], deleted: string[], gen: number): void;
}

/**
 * The object store. Mutations run in a transaction: the first touch of an object journals a copy, a throw
 * rolls every touched object back, and commit persists the touched set at once, so a call is all or nothing.
 * Values are stored compacted (models/compact.ts): strings shared, maps and sets frozen and shared by content.
 */
export class Db {
  readonly objects = new Map<string, Obj>();
  private readonly byClass = new Map<string, Set<string>>();
  /** pool -> class -> refs, so that a pool's objects are found without scanning the others' */
  private readonly byPool = new Map<string, Map<string, Set<string>>>();
  /** class -> uuid -> ref */
  private readonly byUuid = new Map<string, Map<string, string>>();
  gen = 0;
  tombstones: Tombstone[] = [];
  persister: Persister | undefined;
  /** runs inside every transaction just before commit, with the refs it touched (derived fields) */
  beforeCommit: ((touched: string[]) => void) | undefined;
  private journal: Map<string, Obj | null> | null = null;
  private journalGen = 0;
  private journalTomb = 0;
  /**
   * Sets grown in place in this transaction: a set is copied on its first change in a transaction (readers and
   * the journal may hold the old one), then grows in the copy (a pool's SR gains thousands of VDIs in one seed);
   * frozen when the transaction ends.
   */
  private readonly growing = new Set<unknown[]>();
  private waiters = new Set<() => void>();

  constructor() {
    for (const c of Object.keys(CLASSES)) {
      this.byClass.set(c, new Set());
      this.byUuid.set(c, new Map());
    }
  }

  // ---- transactions -------------------------------------------------------------------------------------
  inTx(): boolean {
    return this.journal !== null;
  }

  /** Runs `fn` atomically. Nested calls join the outer transaction. */
  tx<T>(fn: () => T): T {
    if (this.journal) return fn();
    this.journal = new Map();
    this.journalGen = this.gen;
    this.journalTomb = this.tombstones.length;
    try {
      const out = fn();
      if (out instanceof Promise) throw new Error("transaction bodies must be synchronous");
      if (this.beforeCommit && this.journal.size) this.beforeCommit([...this.journal.keys()]);
      this.commit();
      return out;
    } catch (e) {
      this.rollback();
      throw e;
    } finally {
      this.journal = null;
      if (this.growing.size > 0) {
        for (const a of this.growing) Object.freeze(a);
        this.growing.clear();
      }
    }
  }

  private commit(): void {
    const j = this.journal!;
    if (j.size === 0) return;
    const changed: Obj[] = [];
    const deleted: string[] = [];
    for (const ref of j.keys()) {
      const o = this.objects.get(ref);
      if (o) changed.push(o);
      else deleted.push(ref);
    }
    this.persister?.save(changed, deleted, this.gen);
    if (this.tombstones.length > 20000) this.tombstones = this.tombstones.slice(-10000);
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  private rollback(): void {
    const j = this.journal!;
    for (const [ref, before] of j) {
      const cur = this.objects.get(ref);
      if (cur) this.unindex(cur);
      if (before) {
        this.objects.set(ref, before);
        this.index(before);
      } else this.objects.delete(ref);
    }
    this.gen = this.journalGen;
    this.tombstones.length = this.journalTomb;
  }

  private touch(ref: string): void {
    if (!this.journal) throw new Error("mutation outside a transaction");
    if (!this.journal.has(ref)) {
      const o = this.objects.get(ref);
      this.journal.set(ref, o ? journalCopy(o) : null);
    }
  }

  /** Wakes every blocked waiter (shutdown). */
  wakeAll(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /** Resolves when the next transaction commits (event.from blocking). */
  waitForCommit(): { promise: Promise<void>; cancel: () => void } {
    let w: () => void = () => undefined;
    const promise = new Promise<void>((r) => {
      w = r;
      this.waiters.add(w);
    });
    return { promise, cancel: () => this.waiters.delete(w) };
  }

  // ---- indexes ------------------------------------------------------------------------------------------
  private poolSet(pool: string, cls: string): Set<string> {
    let m = this.byPool.get(pool);
    if (!m) this.byPool.set(pool, (m = new Map()));
    let set = m.get(cls);
    if (!set) m.set(cls, (set = new Set()));
    return set;
  }

  private index(o: Obj): void {
    this.byClass.get(o.cls)!.add(o.ref);
    this.poolSet(o.pool, o.cls).add(o.ref);
    const uuid = o.rec.uuid;
    if (typeof uuid === "string" && uuid) this.byUuid.get(o.cls)!.set(uuid, o.ref);
  }

  private unindex(o: Obj): void {
    this.byClass.get(o.cls)!.delete(o.ref);
    this.byPool.get(o.pool)?.get(o.cls)?.delete(o.ref);
    const uuid = o.rec.uuid;
    if (typeof uuid === "string") this.byUuid.get(o.cls)!.delete(uuid);
  }

  /** Loads a stored object (start-up from disk); no journal, no relation upkeep. */
  load(o: Obj): void {
    // Read back, each row has its own copy of these few texts.
    o.cls = intern(o.cls);
    o.pool = intern(o.pool);
    // State written before a field existed (VM.groups) gets the field's default, as xapi's database upgrade does.
    for (const f of CLASSES[o.cls]?.fields ?? [])
      if (!(f.name in o.rec)) o.rec[f.name] = f.default === undefined ? defaultFor(f.type) : structuredClone(f.default);
    compactRecord(o.cls, o.rec);
    o.hidden = compactHidden(o.hidden);
    this.objects.set(o.ref, o);
    this.index(o);
    if (o.gen > this.gen) this.gen = o.gen;
  }

  clear(): void {
    this.objects.clear();
    for (const s of this.byClass.values()) s.clear();
    this.byPool.clear();
    for (const m of this.byUuid.values()) m.clear();
    this.tombstones = [];
  }

  // ---- reads --------------------------------------------------------------------------------------------
  has(ref: unknown, cls?: string): boolean {
    if (typeof ref !== "string") return false;
    const o = this.objects.get(ref);
    return !!o && (!cls || o.cls === cls);
  }

  obj(cls: string, ref: string, pool?: string): Obj {
    const o = this.objects.get(ref);
    if (!o || o.cls !== cls || (pool !== undefined && o.pool !== pool)) throw fail("HANDLE_INVALID", cls, ref);
    return o;
  }

  /** The live record (read-only by convention; mutate through set/update). */
  get(cls: string, ref: string, pool?: string): Rec {
    return this.obj(cls, ref, pool).rec;
  }

  maybe(cls: string, ref: unknown): Rec | undefined {
    if (typeof ref !== "string") return undefined;
    const o = this.objects.get(ref);
    return o && o.cls === cls ? o.rec : undefined;
  }

  refs(cls: string, pool?: string): string[] {
    const s = pool === undefined ? this.byClass.get(cls) : this.byPool.get(pool)?.get(cls);
    return s ? [...s] : [];
  }

  count(cls: string, pool?: string): number {
    return (pool === undefined ? this.byClass.get(cls) : this.byPool.get(pool)?.get(cls))?.size ?? 0;
  }

  all(cls: string, pool?: string): [string, Rec][] {
    return this.refs(cls, pool).map((r) => [r, this.objects.get(r)!.rec]);
  }

  /** The stored objects of a class (read-only by convention, as records are). */
  objs(cls: string, pool?: string): Obj[] {
    const s = pool === undefined ? this.byClass.get(cls) : this.byPool.get(pool)?.get(cls);
    return s ? Array.from(s, (r) => this.objects.get(r)!) : [];
  }

  byUuidRef(cls: string, uuid: string, pool?: string): string {
    const ref = this.byUuid.get(cls)?.get(uuid);
    if (!ref || (pool !== undefined && this.objects.get(ref)!.pool !== pool)) throw fail("UUID_INVALID", cls, uuid);
    return ref;
  }

  poolOf(ref: string): string | undefined {
    return this.objects.get(ref)?.pool;
  }

  // ---- writes -------------------------------------------------------------------------------------------
  /** Stores a new object. The store owns `rec` and `hidden` from now on (their values are compacted in place). */
  create(cls: string, pool: string, ref: string, rec: Rec, hidden: Rec = {}): string {
    pool = intern(pool);
    this.touch(ref);
    compactRecord(cls, rec);
    const o: Obj = {
      cls,
      ref,
      pool,
      gen: ++this.gen,
      created: this.gen,
      rec,
      hidden: compactHidden(hidden),
      text: undefined,
    };
    this.objects.set(ref, o);
    this.index(o);
    for (const r of RELATIONS) {
      if (r.child !== cls) continue;
      const p = rec[r.field];
      if (typeof p === "string" && p !== NULL_REF && this.has(p, r.parent)) this.addToSet(p, r.set, ref);
    }
    for (const l of SET_LINKS) {
      if (l.cls !== cls) continue;
      for (const x of (rec[l.field] as string[] | undefined) ?? [])
        if (this.has(x, l.other)) this.addToSet(x, l.otherField, ref);
    }
    return ref;
  }

  /** Sets one field, keeping back-references consistent. */
  set(ref: string, field: string, value: unknown): void {
    const o = this.objects.get(ref);
    if (!o) throw new Error(`no object ${ref}`);
    const old = o.rec[field];
    value = compactField(o.cls, field, value);
    this.touch(ref);
    if (field === "uuid") this.unindex(o);
    o.rec[field] = value;
    if (field === "uuid") this.index(o);
    this.changed(o);
    for (const r of RELATIONS) {
      if (r.child !== o.cls || r.field !== field || old === value) continue;
      if (typeof old === "string" && this.has(old, r.parent)) this.removeFromSet(old, r.set, ref);
      if (typeof value === "string" && value !== NULL_REF && this.has(value, r.parent))
        this.addToSet(value, r.set, ref);
    }
    for (const l of SET_LINKS) {
      if (l.cls !== o.cls || l.field !== field) continue;
      const before = new Set((old as string[] | undefined) ?? []);
      const after = new Set((value as string[] | undefined) ?? []);
      for (const x of before) if (!after.has(x) && this.has(x, l.other)) this.removeFromSet(x, l.otherField, ref);
      for (const x of after) if (!before.has(x) && this.has(x, l.other)) this.addToSet(x, l.otherField, ref);
    }
  }

  update(ref: string, patch: Rec): void {
    for (const [k, v] of Object.entries(patch)) this.set(ref, k, v);
  }

  /**
   * Sets a field in memory only: no journal, no persistence, no event (a session's last_active, which every
   * call touches: a read must not cost a durable write).
   */
  setVolatile(ref: string, field: string, value: unknown): void {
    const o = this.objects.get(ref);
    if (!o) return;
    o.rec[field] = compactField(o.cls, field, value);
    o.text = undefined;
  }

  /** Sets simulator-only state (not part of the record, so no event). */
  setHidden(ref: string, key: string, value: unknown): void {
    const o = this.objects.get(ref);
    if (!o) return;
    this.touch(ref);
    if (Object.isFrozen(o.hidden)) o.hidden = { ...o.hidden };
    o.hidden[key] = compactValue(undefined, value);
  }

  /** Marks an object modified without changing it (event.inject). */
  bump(ref: string): void {
    const o = this.objects.get(ref);
    if (!o) return;
    this.touch(ref);
    o.gen = ++this.gen;
  }

  /** After a change to `o.rec`: a new generation for event.from, and the cached JSON text is stale. */
  private changed(o: Obj): void {
    o.gen = ++this.gen;
    o.text = undefined;
  }

  setPool(ref: string, pool: string): void {
    const o = this.objects.get(ref);
    if (!o) return;
    this.touch(ref);
    this.unindex(o);
    o.pool = intern(pool);
    this.index(o);
    o.gen = ++this.gen;
  }

  private addToSet(ref: string, field: string, item: string): void {
    const o = this.objects.get(ref)!;
    const cur = (o.rec[field] as string[] | undefined) ?? [];
    if (cur.includes(item)) return;
    this.touch(ref);
    if (this.growing.has(cur)) cur.push(item);
    else {
      const next = [...cur, item];
      this.growing.add(next);
      o.rec[field] = next;
    }
    this.changed(o);
  }

  private removeFromSet(ref: string, field: string, item: string): void {
    const o = this.objects.get(ref)!;
    const cur = (o.rec[field] as string[] | undefined) ?? [];
    if (!cur.includes(item)) return;
    this.touch(ref);
    o.rec[field] = compactValue(
      fieldRule(o.cls, field).type,
      cur.filter((x) => x !== item),
    );
    this.changed(o);
  }

  destroy(ref: string): void {
    const o = this.objects.get(ref);
    if (!o) return;
    for (const r of RELATIONS) {
      if (r.child !== o.cls) continue;
      const p = o.rec[r.field];
      if (typeof p === "string" && this.has(p, r.parent)) this.removeFromSet(p, r.set, ref);
    }
    for (const l of SET_LINKS) {
      if (l.cls !== o.cls) continue;
      for (const x of (o.rec[l.field] as string[] | undefined) ?? [])
        if (this.has(x, l.other)) this.removeFromSet(x, l.otherField, ref);
    }
    this.touch(ref);
    this.unindex(o);
    this.objects.delete(ref);
    this.tombstones.push({ cls: o.cls, ref, pool: o.pool, gen: ++this.gen, created: o.created });
  }
}

/**
 * What a rollback restores. Shallow copies suffice: nested values are replaced, never written into (a frozen
 * hidden map is replaced too, by setHidden).
 */
function journalCopy(o: Obj): Obj {
  return { ...o, rec: { ...o.rec }, hidden: Object.isFrozen(o.hidden) ? o.hidden : { ...o.hidden } };
}

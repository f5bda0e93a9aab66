import { fail } from "../errors";
import { NULL_REF } from "../ids";
import { CLASSES, RELATIONS } from "./schema";

export type Rec = Record<string, unknown>;

/** One stored object. `pool` partitions the store: each pool master sees only its own pool's objects. */
export interface Obj {
  cls: string;
  ref: string;
  pool: string;
  gen: number;
  created: number;
  rec: Rec;
  /** simulator-only state that XenAPI does not expose (e.g. whether the guest has PV drivers) */
  hidden: Rec;
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
 */
export class Db {
  readonly objects = new Map<string, Obj>();
  private readonly byClass = new Map<string, Set<string>>();
  /** pool -> class -> refs, so that a pool's objects are found without scanning the others' */
  private readonly byPool = new Map<string, Map<string, Set<string>>>();
  private readonly byUuid = new Map<string, string>();
  gen = 0;
  tombstones: Tombstone[] = [];
  persister: Persister | undefined;
  /** runs inside every transaction just before commit, with the refs it touched (derived fields) */
  beforeCommit: ((touched: string[]) => void) | undefined;
  private journal: Map<string, Obj | null> | null = null;
  private journalGen = 0;
  private journalTomb = 0;
  private waiters = new Set<() => void>();

  constructor() {
    for (const c of Object.keys(CLASSES)) this.byClass.set(c, new Set());
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
      // Shallow copies suffice: nested values are never mutated in place, only replaced.
      this.journal.set(ref, o ? { ...o, rec: { ...o.rec }, hidden: { ...o.hidden } } : null);
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
    if (typeof uuid === "string" && uuid) this.byUuid.set(`${o.cls}/${uuid}`, o.ref);
  }

  private unindex(o: Obj): void {
    this.byClass.get(o.cls)!.delete(o.ref);
    this.byPool.get(o.pool)?.get(o.cls)?.delete(o.ref);
    const uuid = o.rec.uuid;
    if (typeof uuid === "string") this.byUuid.delete(`${o.cls}/${uuid}`);
  }

  /** Loads a stored object as is (start-up from disk); no journal, no relation upkeep. */
  load(o: Obj): void {
    this.objects.set(o.ref, o);
    this.index(o);
    if (o.gen > this.gen) this.gen = o.gen;
  }

  clear(): void {
    this.objects.clear();
    for (const s of this.byClass.values()) s.clear();
    this.byPool.clear();
    this.byUuid.clear();
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

  byUuidRef(cls: string, uuid: string, pool?: string): string {
    const ref = this.byUuid.get(`${cls}/${uuid}`);
    if (!ref || (pool !== undefined && this.objects.get(ref)!.pool !== pool)) throw fail("UUID_INVALID", cls, uuid);
    return ref;
  }

  poolOf(ref: string): string | undefined {
    return this.objects.get(ref)?.pool;
  }

  // ---- writes -------------------------------------------------------------------------------------------
  create(cls: string, pool: string, ref: string, rec: Rec, hidden: Rec = {}): string {
    this.touch(ref);
    const o: Obj = { cls, ref, pool, gen: ++this.gen, created: this.gen, rec, hidden };
    this.objects.set(ref, o);
    this.index(o);
    for (const r of RELATIONS) {
      if (r.child !== cls) continue;
      const p = rec[r.field];
      if (typeof p === "string" && p !== NULL_REF && this.has(p, r.parent)) this.addToSet(p, r.set, ref);
    }
    return ref;
  }

  /** Sets one field, keeping back-references consistent. */
  set(ref: string, field: string, value: unknown): void {
    const o = this.objects.get(ref);
    if (!o) throw new Error(`no object ${ref}`);
    const old = o.rec[field];
    this.touch(ref);
    if (field === "uuid") this.unindex(o);
    o.rec[field] = value;
    if (field === "uuid") this.index(o);
    o.gen = ++this.gen;
    for (const r of RELATIONS) {
      if (r.child !== o.cls || r.field !== field || old === value) continue;
      if (typeof old === "string" && this.has(old, r.parent)) this.removeFromSet(old, r.set, ref);
      if (typeof value === "string" && value !== NULL_REF && this.has(value, r.parent))
        this.addToSet(value, r.set, ref);
    }
  }

  update(ref: string, patch: Rec): void {
    for (const [k, v] of Object.entries(patch)) this.set(ref, k, v);
  }

  /** Marks an object modified without changing it (event.inject). */
  setHidden(ref: string, key: string, value: unknown): void {
    const o = this.objects.get(ref);
    if (!o) return;
    this.touch(ref);
    o.hidden[key] = value;
  }

  bump(ref: string): void {
    const o = this.objects.get(ref);
    if (!o) return;
    this.touch(ref);
    o.gen = ++this.gen;
  }

  setPool(ref: string, pool: string): void {
    const o = this.objects.get(ref);
    if (!o) return;
    this.touch(ref);
    this.unindex(o);
    o.pool = pool;
    this.index(o);
    o.gen = ++this.gen;
  }

  private addToSet(ref: string, field: string, item: string): void {
    const o = this.objects.get(ref)!;
    const cur = (o.rec[field] as string[] | undefined) ?? [];
    if (cur.includes(item)) return;
    this.touch(ref);
    // Copy on the first change in this transaction (readers and the journal may hold the old array); later
    // changes in the same transaction append to the private copy.
    const before = this.journal!.get(ref);
    if (before === null || (before && before.rec[field] !== cur)) cur.push(item);
    else o.rec[field] = [...cur, item];
    o.gen = ++this.gen;
  }

  private removeFromSet(ref: string, field: string, item: string): void {
    const o = this.objects.get(ref)!;
    const cur = (o.rec[field] as string[] | undefined) ?? [];
    if (!cur.includes(item)) return;
    this.touch(ref);
    o.rec[field] = cur.filter((x) => x !== item);
    o.gen = ++this.gen;
  }

  destroy(ref: string): void {
    const o = this.objects.get(ref);
    if (!o) return;
    for (const r of RELATIONS) {
      if (r.child !== o.cls) continue;
      const p = o.rec[r.field];
      if (typeof p === "string" && this.has(p, r.parent)) this.removeFromSet(p, r.set, ref);
    }
    this.touch(ref);
    this.unindex(o);
    this.objects.delete(ref);
    this.tombstones.push({ cls: o.cls, ref, pool: o.pool, gen: ++this.gen, created: o.created });
  }
}

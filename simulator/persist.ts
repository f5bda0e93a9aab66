import * as fs from "node:fs";
import * as path from "node:path";
import Database from "better-sqlite3";
import { Obj, Persister } from "./models/db";

/**
 * Crash-safe store: sqlite in WAL mode with synchronous=FULL. Each XenAPI call's changes are written in one
 * sqlite transaction before the reply goes out, so an acknowledged change survives kill -9 and a failed call
 * leaves nothing behind.
 */
export class SqliteStore implements Persister {
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement;
  private readonly del: Database.Statement;
  private readonly setMetaStmt: Database.Statement;
  private readonly saveTx: (changed: Obj[], deleted: string[], gen: number) => void;

  constructor(dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.db = new Database(path.join(dir, "state.db"));
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.exec(`CREATE TABLE IF NOT EXISTS objects (ref TEXT PRIMARY KEY, cls TEXT NOT NULL, pool TEXT NOT NULL,
      gen INTEGER NOT NULL, created INTEGER NOT NULL, rec TEXT NOT NULL, hidden TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);`);
    this.upsert = this.db.prepare(
      "INSERT INTO objects (ref, cls, pool, gen, created, rec, hidden) VALUES (?, ?, ?, ?, ?, ?, ?) " +
        "ON CONFLICT(ref) DO UPDATE SET cls=excluded.cls, pool=excluded.pool, gen=excluded.gen, rec=excluded.rec, hidden=excluded.hidden",
    );
    this.del = this.db.prepare("DELETE FROM objects WHERE ref = ?");
    this.setMetaStmt = this.db.prepare(
      "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v=excluded.v",
    );
    this.saveTx = this.db.transaction((changed: Obj[], deleted: string[], gen: number) => {
      for (const o of changed)
        this.upsert.run(o.ref, o.cls, o.pool, o.gen, o.created, JSON.stringify(o.rec), JSON.stringify(o.hidden));
      for (const r of deleted) this.del.run(r);
      this.setMetaStmt.run("gen", String(gen));
    });
  }

  save(changed: Obj[], deleted: string[], gen: number): void {
    this.saveTx(changed, deleted, gen);
  }

  /** Streams the stored objects (rows are parsed one at a time to keep the start-up peak low). */
  *load(): Generator<Obj> {
    const rows = this.db
      .prepare("SELECT ref, cls, pool, gen, created, rec, hidden FROM objects")
      .iterate() as IterableIterator<{
      ref: string;
      cls: string;
      pool: string;
      gen: number;
      created: number;
      rec: string;
      hidden: string;
    }>;
    // The same fields in the same order as the store's own objects: one object shape for all of them.
    for (const r of rows)
      yield {
        cls: r.cls,
        ref: r.ref,
        pool: r.pool,
        gen: r.gen,
        created: r.created,
        rec: JSON.parse(r.rec) as Obj["rec"],
        hidden: JSON.parse(r.hidden) as Obj["hidden"],
        text: undefined,
      };
  }

  count(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM objects").get() as { n: number }).n;
  }

  getMeta(k: string): string | undefined {
    const row = this.db.prepare("SELECT v FROM meta WHERE k = ?").get(k) as { v: string } | undefined;
    return row?.v;
  }

  setMeta(k: string, v: string): void {
    this.setMetaStmt.run(k, v);
  }

  clear(): void {
    this.db.exec("DELETE FROM objects; DELETE FROM meta;");
  }

  close(): void {
    this.db.close();
  }
}

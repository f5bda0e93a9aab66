import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { Clock } from "./clock";
import { XenApiError, fail } from "./errors";
import defaultInventoryJson from "./inventory/default.json";
import { Inventory } from "./inventory/types";
import { Engine } from "./models/engine";
import { registerAppliance } from "./models/methods/appliance";
import { registerFirmware } from "./models/methods/firmware";
import { registerHost } from "./models/methods/host";
import { registerImplicit } from "./models/methods/implicit";
import { registerNetwork } from "./models/methods/network";
import { crashHost, recoverHost, registerPool } from "./models/methods/pool";
import { Registry } from "./models/methods/registry";
import { registerSession } from "./models/methods/session";
import { registerStorage, setVdiContent, vdiContent } from "./models/methods/storage";
import { registerTaskEvent } from "./models/methods/task_event";
import { registerVm } from "./models/methods/vm";
import { registerVmDevices } from "./models/methods/vm-devices";
import { registerVmGroup } from "./models/methods/vm-group";
import { registerVtpm } from "./models/methods/vtpm";
import { seedDatacenter } from "./models/seed";
import { ensureSmRecords } from "./models/sm";
import { Ids } from "./ids";
import { SqliteStore } from "./persist";
import { CallResult, Dispatcher } from "./server/dispatch";

/** The built-in datacenter (imported so that it ships with the compiled code). */
export function defaultInventory(): Inventory {
  return structuredClone(defaultInventoryJson as unknown as Inventory);
}

export function loadInventory(inv: Inventory | string | undefined): Inventory {
  if (inv === undefined) return defaultInventory();
  if (typeof inv === "string") return JSON.parse(fs.readFileSync(inv, "utf8")) as Inventory;
  return structuredClone(inv);
}

/** Every method, explicit handlers registered after (and so overriding) the implicit ones. */
export function buildRegistry(): Registry {
  const reg = new Registry();
  registerImplicit(reg);
  registerSession(reg);
  registerVm(reg);
  registerVmDevices(reg);
  registerStorage(reg);
  registerNetwork(reg);
  registerHost(reg);
  registerPool(reg);
  registerFirmware(reg);
  registerVtpm(reg);
  registerVmGroup(reg);
  registerAppliance(reg);
  registerTaskEvent(reg);
  return reg;
}

export interface FaultSpec {
  method: string;
  error?: string[];
  drop?: boolean;
  count?: number;
  rate?: number;
  latencyMs?: number;
  httpStatus?: number;
}
interface Fault extends FaultSpec {
  id: string;
}
export type FaultAction =
  { kind: "none" } | { kind: "error"; error: XenApiError } | { kind: "drop" } | { kind: "http"; status: number };

export interface MethodStats {
  count: number;
  errors: number;
  totalMs: number;
}

export interface CoreOptions {
  dataDir?: string;
  inventory?: Inventory | string;
  rootPassword: string;
  timeScale: number;
  failedLoginDelayMs?: number;
  reset?: boolean;
  seed?: number;
  clock?: Clock;
  log: (line: object) => void;
}

const SECRET_PARAMS: Record<string, number[]> = {
  "session.login_with_password": [1],
  "pool.join": [3],
  "pool.join_force": [3],
  "Async.pool.join": [3],
  "Async.pool.join_force": [3],
};

/** The simulator without its HTTP front: engine, methods, persistence, faults, metrics, recorder. */
export class SimulatorCore {
  engine!: Engine;
  readonly reg = buildRegistry();
  dispatcher!: Dispatcher;
  store: SqliteStore | undefined;
  private faults: Fault[] = [];
  private faultSeq = 0;
  metrics = new Map<string, MethodStats>();
  recorder: object[] = [];

  constructor(readonly opts: CoreOptions) {
    if (opts.dataDir) this.store = new SqliteStore(opts.dataDir);
    this.boot(opts.reset === true ? loadInventory(opts.inventory) : undefined);
  }

  /** Builds a fresh engine: from disk if state exists and no reset inventory is given, else seeded. */
  private boot(resetInventory: Inventory | undefined): void {
    const o = this.opts;
    const old = this.engine;
    const e = new Engine({
      rootPassword: o.rootPassword,
      timeScale: old?.timeScale ?? o.timeScale,
      log: o.log,
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      ...(o.clock ? { clock: o.clock } : {}),
      ...(o.failedLoginDelayMs !== undefined ? { failedLoginDelayMs: o.failedLoginDelayMs } : {}),
    });
    if (old) {
      // Operations still in flight on the old state must not write into the new one.
      old.db.persister = undefined;
      e.durations = old.durations;
      e.failedLoginDelayMs = old.failedLoginDelayMs;
      old.close();
    }
    e.innerFault = async (method) => {
      const a = await this.applyFault(method);
      if (a.kind === "error") throw a.error;
      if (a.kind === "drop" || a.kind === "http") throw fail("INTERNAL_ERROR", "connection dropped (injected fault)");
    };
    this.engine = e;
    this.dispatcher = new Dispatcher(e, this.reg);
    const s = this.store;
    const stored = s && !resetInventory ? s.count() : 0;
    if (s && stored > 0) {
      e.inventory = JSON.parse(s.getMeta("inventory") ?? "null") ?? loadInventory(o.inventory);
      if (o.inventory !== undefined && JSON.stringify(loadInventory(o.inventory)) !== JSON.stringify(e.inventory))
        o.log({
          level: "warn",
          msg: "the data dir holds state from another inventory; it is kept (use reset to start from the new one)",
        });
      for (const obj of s.load()) e.db.load(obj);
      e.db.gen = Math.max(e.db.gen, Number(s.getMeta("gen") ?? 0));
      // A seed makes fresh state reproducible; replaying it over stored state would hand out refs that exist.
      if (o.seed !== undefined) e.ids = new Ids();
      e.db.persister = s;
      this.recoverAfterRestart();
      o.log({ level: "info", msg: "state loaded", objects: stored, dataDir: o.dataDir });
      return;
    }
    const inv = resetInventory ?? loadInventory(o.inventory);
    if (s) {
      s.clear();
      s.setMeta("inventory", JSON.stringify(inv));
      e.db.persister = s;
    }
    seedDatacenter(e, inv);
    o.log({ level: "info", msg: "state seeded from inventory", hosts: inv.hosts.length });
  }

  /**
   * After a restart nothing is in flight: pending tasks fail, reservations and current operations clear. Pools
   * stored without storage-driver records get them.
   */
  private recoverAfterRestart(): void {
    const e = this.engine;
    e.tx(() => {
      for (const pool of e.db.refs("pool")) ensureSmRecords(e, pool, e.inventory);
      for (const [t, rec] of e.db.all("task"))
        if (rec.status === "pending" || rec.status === "cancelling")
          e.finishTask(t, { ok: false, error: fail("INTERNAL_ERROR", "xapi restarted while the task was running") });
      for (const cls of ["VM", "host", "pool", "SR", "VDI"])
        for (const [ref, rec] of e.db.all(cls)) {
          if (Object.keys(rec.current_operations as object).length) e.db.set(ref, "current_operations", {});
          if (cls === "VM" && rec.scheduled_to_be_resident_on !== "OpaqueRef:NULL")
            e.db.set(ref, "scheduled_to_be_resident_on", "OpaqueRef:NULL");
          if (
            cls === "VM" &&
            rec.power_state === "Running" &&
            rec.guest_metrics === "OpaqueRef:NULL" &&
            rec.is_control_domain !== true
          ) {
            const h = e.hidden(ref);
            if (h.pvDrivers === true || h.agent === true) e.reportGuest(ref);
          }
        }
    });
  }

  /** Clean state from `inventory`, by default the one the simulator was started with. */
  reset(inventory?: Inventory | string): void {
    this.faults = [];
    this.metrics.clear();
    this.recorder = [];
    this.boot(loadInventory(inventory ?? this.opts.inventory));
  }

  close(): void {
    this.engine.close();
    // Work still in flight after close must not touch the closed store.
    this.engine.db.persister = undefined;
    this.store?.close();
  }

  // ---- calls ---------------------------------------------------------------------------------------------
  /** `json`: the answer goes into a JSON-RPC reply and may be JSON text already (see Conn.json). */
  async call(method: string, params: unknown[], host: string, opts: { json?: boolean } = {}): Promise<CallResult> {
    return this.dispatcher.call(method, params, { host, ...opts });
  }

  record(entry: {
    host: string;
    method: string;
    params: unknown[];
    ms: number;
    result: CallResult | { ok: false; error: string };
  }): void {
    const secret = Object.hasOwn(SECRET_PARAMS, entry.method) ? SECRET_PARAMS[entry.method]! : [];
    const params = entry.params.map((p, i) => (secret.includes(i) ? "******" : p));
    const r = entry.result;
    const outcome = r.ok
      ? { ok: true }
      : { ok: false, error: r.error instanceof XenApiError ? r.error.toArray() : r.error };
    this.recorder.push({
      time: new Date().toISOString(),
      host: entry.host,
      method: entry.method,
      params,
      ms: entry.ms,
      ...outcome,
    });
    // Trimmed in chunks so that recording stays O(1) per call.
    if (this.recorder.length > 2000) this.recorder = this.recorder.slice(-1000);
    const m = this.metrics.get(entry.method) ?? { count: 0, errors: 0, totalMs: 0 };
    m.count++;
    if (!r.ok) m.errors++;
    m.totalMs += entry.ms;
    this.metrics.set(entry.method, m);
  }

  // ---- faults --------------------------------------------------------------------------------------------
  addFault(spec: FaultSpec): string {
    if (typeof spec.method !== "string" || !spec.method) throw new Error("fault needs a method");
    if (spec.error !== undefined && (!Array.isArray(spec.error) || spec.error.length === 0))
      throw new Error("error must be [code, ...params]");
    const id = `fault-${++this.faultSeq}`;
    this.faults.push({ ...spec, id });
    return id;
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Applies the first fault matching `method`: latency first, then the failure (if any). */
  async applyFault(method: string): Promise<FaultAction> {
    const f = this.faults.find((x) => x.method === method || x.method === "*");
    if (!f) return { kind: "none" };
    if (f.rate !== undefined && this.engine.ids.next() >= f.rate) return { kind: "none" };
    if (f.count !== undefined) {
      f.count--;
      if (f.count <= 0) this.faults = this.faults.filter((x) => x !== f);
    }
    if (f.latencyMs) await new Promise((r) => setTimeout(r, f.latencyMs));
    if (f.drop) return { kind: "drop" };
    if (f.httpStatus) return { kind: "http", status: f.httpStatus };
    if (f.error) return { kind: "error", error: new XenApiError(f.error[0]!, f.error.slice(1)) };
    return { kind: "none" };
  }

  // ---- hosts ---------------------------------------------------------------------------------------------
  hostByUuid(uuid: string): string {
    return this.engine.db.byUuidRef("host", uuid);
  }

  crash(uuid: string): void {
    crashHost(this.engine, this.hostByUuid(uuid));
  }

  recover(uuid: string): void {
    recoverHost(this.engine, this.hostByUuid(uuid));
  }

  /** Installs guest tools in a VM (Windows): PV drivers and the agent from now on. */
  installTools(uuid: string): void {
    const e = this.engine;
    const vm = e.db.byUuidRef("VM", uuid);
    e.tx(() => {
      e.db.setHidden(vm, "pvDrivers", true);
      e.db.setHidden(vm, "agent", true);
      e.db.setHidden(vm, "features", [
        "feature-shutdown",
        "feature-poweroff",
        "feature-reboot",
        "feature-suspend",
        "feature-vcpu-hotplug",
      ]);
      const r = e.db.get("VM", vm);
      if (r.power_state === "Running" || r.power_state === "Paused") e.reportGuest(vm);
      e.db.bump(vm);
    });
  }

  /** The VDI's simulated content (control plane); undefined for an unknown uuid. */
  vdiContent(uuid: string): string | undefined {
    const vdi = this.vdiByUuid(uuid);
    return vdi === undefined ? undefined : vdiContent(this.engine, vdi);
  }

  /**
   * Writes the VDI's simulated content, as a guest writing to its disk would (no XenAPI field changes, so no
   * event); false for an unknown uuid.
   */
  setVdiContent(uuid: string, content: string): boolean {
    const e = this.engine;
    const vdi = this.vdiByUuid(uuid);
    if (vdi === undefined) return false;
    e.tx(() => setVdiContent(e, vdi, content));
    return true;
  }

  private vdiByUuid(uuid: string): string | undefined {
    try {
      return this.engine.db.byUuidRef("VDI", uuid);
    } catch (err) {
      if (err instanceof XenApiError && err.code === "UUID_INVALID") return undefined;
      throw err;
    }
  }

  /** A hash of the whole state as persisted (session activity times excluded). */
  checksum(): string {
    const h = createHash("sha256");
    const objs = [...this.engine.db.objects.values()].sort((a, b) => (a.ref < b.ref ? -1 : 1));
    for (const o of objs) {
      const rec = o.cls === "session" ? { ...o.rec, last_active: "" } : o.rec;
      const hidden = o.cls === "session" ? { ...o.hidden, lastActive: 0 } : o.hidden;
      h.update(`${o.ref}\n${o.cls}\n${o.pool}\n${canonical(rec)}\n${canonical(hidden)}\n`);
    }
    return h.digest("hex");
  }
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

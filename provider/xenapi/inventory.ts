/**
 * Inventory cache: primed with one `get_all_records` per class, then kept fresh by a single `event.from` long-poll
 * loop (the Xen Orchestra pattern), so reading hundreds of VMs costs no per-VM calls.
 *
 * Only the loop mutates the cache (re-primes included), so an old event batch can never overwrite a newer prime.
 */
import { isTransportError, isXenApiError } from "./errors";
import { XEN_CLASSES, parseRecord, xenClassFromWire, type XenClass, type XenRecord, describeIssues } from "./records";
import { backoffDelay } from "./retry";
import { xapiFloat } from "./transport";
import { sleep } from "./waiter";

/** The client surface the inventory needs (keeps this file free of a cycle on the class). */
export interface InventoryClient {
  call<T = unknown>(
    method: string,
    params?: readonly unknown[],
    opts?: { signal?: AbortSignal; timeoutMs?: number; deadlineMs?: number },
  ): Promise<T>;
  readonly endpoint: string;
}

export interface InventoryOptions {
  /** Seconds each event.from may block; default 30 (Xen Orchestra uses 60.1). */
  eventWaitSeconds?: number;
  /** How long refresh() waits for the watcher to catch up before re-priming; default 15 s. */
  refreshTimeoutMs?: number;
}

interface InternalOptions extends InventoryOptions {
  log?: (line: string) => void;
  onClose?: () => void;
}

/** Classes cached when none are given: everything but tasks and messages (which only grow). */
export const DEFAULT_INVENTORY_CLASSES: readonly XenClass[] = XEN_CLASSES.filter(
  (c) => c !== "task" && c !== "message",
);

/** Codes that mean our token is useless and the cache must be rebuilt. */
const REPRIME_CODES = new Set(["EVENTS_LOST", "EVENT_FROM_TOKEN_PARSE_FAILURE", "SESSION_NOT_REGISTERED"]);

interface EventRecord {
  class?: unknown;
  operation?: unknown;
  ref?: unknown;
  snapshot?: unknown;
}

interface Barrier {
  target: string;
  resolve: () => void;
}

type AnyRecord = XenRecord<XenClass>;

export class Inventory {
  readonly classes: readonly XenClass[];
  private readonly client: InventoryClient;
  private readonly opts: InternalOptions;
  private readonly cache = new Map<XenClass, Map<string, AnyRecord>>();
  private readonly uuids = new Map<XenClass, Map<string, string>>();
  private token = "";
  private primedEndpoint = "";
  private closed = false;
  private needReprime = false;
  private reprimeWaiters: Array<() => void> = [];
  private barriers: Barrier[] = [];
  private pollAbort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  /** Number of completed primes (initial one included). */
  primes = 0;
  /** The last error of the watch loop, cleared by the next successful event batch. */
  lastError: unknown;

  constructor(client: InventoryClient, classes: readonly XenClass[] | undefined, opts: InternalOptions = {}) {
    const wanted = new Set<XenClass>(classes && classes.length > 0 ? classes : DEFAULT_INVENTORY_CLASSES);
    wanted.add("pool"); // refresh() barriers touch the pool object
    this.classes = [...wanted];
    this.client = client;
    this.opts = opts;
    for (const c of this.classes) {
      this.cache.set(c, new Map());
      this.uuids.set(c, new Map());
    }
  }

  /** Primes the cache and starts the watcher. */
  async start(): Promise<void> {
    await this.prime();
    this.loop = this.run();
  }

  /** The cached record, or undefined if unknown. */
  get<C extends XenClass>(cls: C, ref: string): XenRecord<C> | undefined {
    return this.cache.get(cls)?.get(ref) as XenRecord<C> | undefined;
  }

  /** A snapshot copy of all cached records of a class. */
  all<C extends XenClass>(cls: C): Map<string, XenRecord<C>> {
    return new Map((this.cache.get(cls) ?? new Map()) as Map<string, XenRecord<C>>);
  }

  /** Looks up an object by uuid: its ref and record. */
  byUuid<C extends XenClass>(cls: C, uuid: string): { ref: string; record: XenRecord<C> } | undefined {
    const ref = this.uuids.get(cls)?.get(uuid);
    if (ref === undefined) return undefined;
    const record = this.get(cls, ref);
    return record === undefined ? undefined : { ref, record };
  }

  /**
   * Makes the cache reflect every change made before this call: touches the pool with `event.inject` and waits for
   * the watcher to pass the returned token; re-primes if that does not work.
   */
  async refresh(): Promise<void> {
    if (this.closed) throw new Error("inventory is closed");
    const timeoutMs = this.opts.refreshTimeoutMs ?? 15_000;
    try {
      const poolRef = [...(this.cache.get("pool")?.keys() ?? [])][0];
      if (poolRef === undefined || this.needReprime || this.lastError !== undefined) throw new Error("not healthy");
      const target = await this.client.call<string>("event.inject", ["pool", poolRef], { deadlineMs: timeoutMs });
      if (typeof target !== "string") throw new Error("event.inject returned no token");
      if (this.token >= target) return;
      let timer: NodeJS.Timeout | undefined;
      const reached = await Promise.race([
        new Promise<boolean>((resolve) => this.barriers.push({ target, resolve: () => resolve(true) })),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (reached) return;
      throw new Error("watcher did not catch up");
    } catch (e) {
      this.opts.log?.(`[xenapi] inventory refresh by re-priming (${(e as Error).message})`);
      await this.requestReprime();
    }
  }

  /** Stops the watcher. The cache stays readable. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pollAbort?.abort();
    for (const b of this.barriers) b.resolve();
    this.barriers = [];
    for (const w of this.reprimeWaiters) w();
    this.reprimeWaiters = [];
    this.opts.onClose?.();
  }

  /** Resolves when the watcher loop stopped (after close()). */
  async stopped(): Promise<void> {
    await this.loop;
  }

  private requestReprime(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.needReprime = true;
    const done = new Promise<void>((resolve) => this.reprimeWaiters.push(resolve));
    this.pollAbort?.abort();
    if (!this.loop) this.loop = this.run();
    return done;
  }

  private subscriptions(): string[] {
    return this.classes.map((c) => c.toLowerCase());
  }

  private store(cls: XenClass, ref: string, raw: unknown): boolean {
    const parsed = parseRecord(cls, raw);
    if (!parsed.success) {
      this.opts.log?.(`[xenapi] inventory: skipping ${cls} ${ref}: ${describeIssues(parsed.error)}`);
      return false;
    }
    const rec = parsed.data as AnyRecord;
    const old = this.cache.get(cls)!.get(ref) as { uuid?: string } | undefined;
    if (old?.uuid !== undefined) this.uuids.get(cls)!.delete(old.uuid);
    this.cache.get(cls)!.set(ref, rec);
    this.uuids.get(cls)!.set((rec as { uuid: string }).uuid, ref);
    return true;
  }

  private remove(cls: XenClass, ref: string): void {
    const old = this.cache.get(cls)!.get(ref) as { uuid?: string } | undefined;
    if (old?.uuid !== undefined) this.uuids.get(cls)!.delete(old.uuid);
    this.cache.get(cls)!.delete(ref);
  }

  private async primeClass(cls: XenClass, signal?: AbortSignal): Promise<void> {
    const raw = await this.client.call<Record<string, unknown>>(`${cls}.get_all_records`, [], signal ? { signal } : {});
    this.cache.get(cls)!.clear();
    this.uuids.get(cls)!.clear();
    for (const [ref, rec] of Object.entries(raw ?? {})) this.store(cls, ref, rec);
  }

  /** Token first, then the records: events after the token replay anything the reads raced with. */
  private async prime(signal?: AbortSignal): Promise<void> {
    const res = await this.client.call<{ token?: unknown }>(
      "event.from",
      [["pool"], "", xapiFloat(0)],
      signal ? { signal } : {},
    );
    if (typeof res?.token !== "string") throw new Error("event.from returned no token");
    for (const cls of this.classes) await this.primeClass(cls, signal);
    this.token = res.token;
    this.primedEndpoint = this.client.endpoint;
    this.primes++;
    this.resolveBarriers();
  }

  private resolveBarriers(): void {
    const ready = this.barriers.filter((b) => this.token >= b.target);
    this.barriers = this.barriers.filter((b) => this.token < b.target);
    for (const b of ready) b.resolve();
  }

  private async apply(batch: { events?: unknown; token?: unknown; valid_ref_counts?: unknown }): Promise<void> {
    const events = Array.isArray(batch.events) ? (batch.events as EventRecord[]) : [];
    const subscribed = new Set(this.classes);
    for (const ev of events) {
      const cls = typeof ev.class === "string" ? xenClassFromWire(ev.class) : undefined;
      if (!cls || !subscribed.has(cls) || typeof ev.ref !== "string") continue;
      if (ev.operation === "del") {
        this.remove(cls, ev.ref);
      } else if (ev.snapshot !== undefined && ev.snapshot !== null) {
        this.store(cls, ev.ref, ev.snapshot);
      }
    }
    if (typeof batch.token === "string") this.token = batch.token;
    // valid_ref_counts reveals deletions we missed; re-read just those classes (Xen Orchestra does this for tasks).
    const counts = batch.valid_ref_counts;
    if (counts && typeof counts === "object") {
      for (const cls of this.classes) {
        const n = (counts as Record<string, unknown>)[cls.toLowerCase()];
        if (typeof n === "number" && n !== this.cache.get(cls)!.size) {
          this.opts.log?.(`[xenapi] inventory: ${cls} count ${this.cache.get(cls)!.size} != host's ${n}; re-reading`);
          await this.primeClass(cls, this.pollAbort?.signal);
        }
      }
    }
  }

  private async run(): Promise<void> {
    const waitSeconds = this.opts.eventWaitSeconds ?? 30;
    let failures = 0;
    while (!this.closed) {
      this.pollAbort = new AbortController();
      const signal = this.pollAbort.signal;
      try {
        if (this.needReprime || this.client.endpoint !== this.primedEndpoint) {
          await this.prime(signal);
          this.needReprime = false;
          const waiters = this.reprimeWaiters;
          this.reprimeWaiters = [];
          for (const w of waiters) w();
        }
        const batch = await this.client.call<Record<string, unknown>>(
          "event.from",
          [this.subscriptions(), this.token, xapiFloat(waitSeconds)],
          { signal },
        );
        await this.apply(batch ?? {});
        this.lastError = undefined;
        failures = 0;
        this.resolveBarriers();
      } catch (e) {
        if (this.closed) break;
        if (isTransportError(e, "aborted") && signal.aborted) continue; // reprime requested
        if (isXenApiError(e) && REPRIME_CODES.has(e.code)) {
          this.opts.log?.(`[xenapi] inventory: ${e.code}; re-priming`);
          this.needReprime = true;
          continue;
        }
        this.lastError = e;
        failures++;
        const delay = backoffDelay(failures, { baseMs: 500, capMs: 30_000 });
        this.opts.log?.(`[xenapi] inventory watcher error (${(e as Error).message}); retrying in ${delay} ms`);
        try {
          await sleep(delay, signal);
        } catch {
          // woken for a reprime or close
        }
      }
    }
    this.pollAbort = undefined;
  }
}

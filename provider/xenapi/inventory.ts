/**
 * Inventory cache: primed with one `get_all_records` per class, then kept fresh by the client's one `event.from`
 * loop ({@link EventWatcher}), so reading hundreds of VMs costs no per-VM calls.
 *
 * Only the watcher's loop calls prime() and apply(), so an old event batch can never overwrite a newer prime.
 */
import type { EventConsumer, EventRecord, EventWatcher } from "./events";
import { XEN_CLASSES, parseRecord, xenClassFromWire, type XenClass, type XenRecord, describeIssues } from "./records";

/** The client surface the inventory needs (keeps this file free of a cycle on the class). */
export interface InventoryClient {
  call<T = unknown>(
    method: string,
    params?: readonly unknown[],
    opts?: { signal?: AbortSignal; timeoutMs?: number; deadlineMs?: number },
  ): Promise<T>;
}

export interface InventoryOptions {
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

type AnyRecord = XenRecord<XenClass>;

export class Inventory implements EventConsumer {
  readonly classes: readonly XenClass[];
  private readonly client: InventoryClient;
  private readonly watcher: EventWatcher;
  private readonly opts: InternalOptions;
  private readonly cache = new Map<XenClass, Map<string, AnyRecord>>();
  private readonly uuids = new Map<XenClass, Map<string, string>>();
  private closed = false;
  /** Number of completed primes (initial one included). */
  primes = 0;

  constructor(
    client: InventoryClient,
    watcher: EventWatcher,
    classes: readonly XenClass[] | undefined,
    opts: InternalOptions = {},
  ) {
    const wanted = new Set<XenClass>(classes && classes.length > 0 ? classes : DEFAULT_INVENTORY_CLASSES);
    wanted.add("pool"); // refresh() barriers touch the pool object
    this.classes = [...wanted];
    this.client = client;
    this.watcher = watcher;
    this.opts = opts;
    for (const c of this.classes) {
      this.cache.set(c, new Map());
      this.uuids.set(c, new Map());
    }
  }

  /** Primes the cache through the watcher's loop and keeps it fresh from then on. */
  async start(): Promise<void> {
    await this.watcher.addConsumer(this);
  }

  /** The last error of the event loop, cleared by its next successful batch. */
  get lastError(): unknown {
    return this.watcher.lastError;
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
   * Makes the cache reflect every change this process made before the call (read-your-writes; see
   * {@link EventWatcher.barrier}: free when nothing was written since the last one); re-primes if that fails.
   * Changes made by others arrive with the next event batch; `othersToo` waits for those completed before the
   * call as well (one event.inject, shared with concurrent barriers).
   */
  async refresh(opts: { othersToo?: boolean } = {}): Promise<void> {
    if (this.closed) throw new Error("inventory is closed");
    const timeoutMs = this.opts.refreshTimeoutMs ?? 15_000;
    let why = "the event loop is not healthy";
    try {
      const poolRef = [...(this.cache.get("pool")?.keys() ?? [])][0];
      if (poolRef !== undefined && (await this.watcher.barrier(poolRef, timeoutMs, opts))) return;
      if (poolRef === undefined) why = "no pool object cached";
    } catch (e) {
      why = (e as Error).message;
    }
    if (this.closed) throw new Error("inventory is closed");
    this.opts.log?.(`[xenapi] inventory refresh by re-priming (${why})`);
    await this.watcher.reset();
  }

  /** Stops following events. The cache stays readable. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher.removeConsumer(this);
    this.opts.onClose?.();
  }

  /** Resolves when the event loop no longer polls for this inventory. */
  async stopped(): Promise<void> {
    await this.watcher.quiet();
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

  /** Called by the watcher's loop after it has a token: events after the token replay anything the reads raced. */
  async prime(signal: AbortSignal): Promise<void> {
    for (const cls of this.classes) await this.primeClass(cls, signal);
    this.primes++;
  }

  async apply(events: readonly EventRecord[], validRefCounts: unknown, signal: AbortSignal): Promise<void> {
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
    // valid_ref_counts reveals deletions we missed; re-read just those classes (Xen Orchestra does this for tasks).
    if (validRefCounts && typeof validRefCounts === "object") {
      for (const cls of this.classes) {
        const n = (validRefCounts as Record<string, unknown>)[cls.toLowerCase()];
        if (typeof n === "number" && n !== this.cache.get(cls)!.size) {
          this.opts.log?.(`[xenapi] inventory: ${cls} count ${this.cache.get(cls)!.size} != host's ${n}; re-reading`);
          await this.primeClass(cls, signal);
        }
      }
    }
  }
}

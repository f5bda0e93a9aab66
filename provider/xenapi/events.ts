/**
 * One `event.from` loop per client (the Xen Orchestra pattern): it feeds every inventory cache of the client and
 * reports every task the client waits for, so that waiting costs no long-poll per task and no read per object.
 *
 * Only the loop changes consumer state (primes included), so an old event batch can never overwrite a newer prime.
 * The loop polls only while someone listens: with no consumer and no waiting task it sends nothing.
 *
 * Read-your-writes: {@link EventWatcher.barrier} makes the consumers reflect every synchronous write this client
 * (or the clients sharing its write counter) completed before the call. It costs nothing when there was no such
 * write since the last barrier or prime; otherwise one `event.inject`, shared by every barrier asked for before it
 * is sent. Async operations need no barrier: the batch that reports a task's end holds the changes it made, and
 * every write completed before it was submitted.
 */
import { isTransportError, isXenApiError } from "./errors";
import { backoffDelay } from "./retry";
import { xapiFloat } from "./transport";
import { sleep } from "./waiter";
import type { XenClass } from "./records";

/** The client surface the watcher needs (keeps this file free of a cycle on the class). */
export interface WatcherClient {
  call<T = unknown>(
    method: string,
    params?: readonly unknown[],
    opts?: { signal?: AbortSignal; timeoutMs?: number; deadlineMs?: number },
  ): Promise<T>;
  readonly endpoint: string;
  /** How many synchronous calls that may change the pool have completed. */
  readonly writes: number;
}

/** Something the loop keeps up to date: primed from scratch after every new token, then fed the batches. */
export interface EventConsumer {
  readonly classes: readonly XenClass[];
  prime(signal: AbortSignal): Promise<void>;
  apply(events: readonly EventRecord[], validRefCounts: unknown, signal: AbortSignal): Promise<void>;
}

export interface EventRecord {
  class?: unknown;
  operation?: unknown;
  ref?: unknown;
  snapshot?: unknown;
}

/** What a task waiter learns: the task's snapshot, that it is gone, or that it must look for itself. */
export type TaskNews =
  | { kind: "snapshot"; snapshot: unknown }
  | { kind: "gone" }
  /** Events may have been missed (new token, reconnect): read the task once. */
  | { kind: "recheck" }
  /** event.from is not usable with this host or role: poll. */
  | { kind: "unavailable"; code: string }
  | { kind: "timeout" };

export interface WatcherOptions {
  /** Seconds each event.from may block; default 30 (Xen Orchestra uses 60.1). */
  eventWaitSeconds?: number;
  /** Least time between two event.from calls, so a burst of changes comes back as one batch; default 25 ms. */
  minIntervalMs?: number;
  /**
   * While batches settle nothing anyone waits for (task progress, other clients' changes), the interval doubles
   * up to this; the first batch that ends a waited-for task or passes a barrier brings it back. Default 250 ms.
   */
  maxIntervalMs?: number;
  /** How long an event.inject waits for other barriers to share it; default 5 ms. */
  injectGatherMs?: number;
  log?: (line: string) => void;
}

/** Codes after which waiting on event.from is pointless and polling is used instead. */
export const EVENTS_UNAVAILABLE: ReadonlySet<string> = new Set([
  "MESSAGE_METHOD_UNKNOWN",
  "RBAC_PERMISSION_DENIED",
  "EVENT_SUBSCRIPTION_PARSE_FAILURE",
  "MESSAGE_PARAMETER_COUNT_MISMATCH",
]);

/** Codes that mean our token is useless: a new one, and every consumer primed again. */
const RESET_CODES: ReadonlySet<string> = new Set([
  "EVENTS_LOST",
  "EVENT_FROM_TOKEN_PARSE_FAILURE",
  "SESSION_NOT_REGISTERED",
]);

const FINAL_STATUSES: ReadonlySet<unknown> = new Set(["success", "failure", "cancelled"]);
/** Ends of tasks nobody waits for yet (the Async answer may arrive after the event) are kept this long. */
const UNCLAIMED_TASK_MS = 120_000;

interface Barrier {
  target: string;
  resolve: () => void;
}

type TaskListener = (news: TaskNews) => void;

export class EventWatcher {
  private readonly client: WatcherClient;
  private readonly opts: WatcherOptions;
  private readonly consumers = new Set<EventConsumer>();
  /** Consumers to prime before the next poll, with the promises their start() waits on. */
  private readonly unprimed = new Map<EventConsumer, Array<{ resolve: () => void; reject: (e: unknown) => void }>>();
  private readonly primedOnce = new WeakSet<EventConsumer>();
  private readonly taskListeners = new Map<string, Set<TaskListener>>();
  /** Task ends seen before anyone asked for them (ref -> snapshot, time seen). */
  private readonly unclaimed = new Map<string, { snapshot: unknown; at: number }>();
  private token = "";
  private tokenEndpoint = "";
  private needReset = false;
  private unavailable: string | undefined;
  private barriers: Barrier[] = [];
  /** Writes known to be reflected by the consumers (as counted by the client when the inject or prime began). */
  private coveredWrites = 0;
  private nextInject: Promise<{ target: string; writes: number }> | undefined;
  private injectInFlight: Promise<unknown> = Promise.resolve();
  private pollAbort: AbortController | undefined;
  private wakeIdle: (() => void) | undefined;
  private idleWaiters: Array<() => void> = [];
  private loop: Promise<void> | undefined;
  private started: Promise<void> | undefined;
  private lastPollAt = 0;
  /** Task ends reported to waiters so far: tells whether a batch settled anything. */
  private settled = 0;
  /** Ends a nap early: a barrier should not wait out a long interval. */
  private wakeNap: (() => void) | undefined;
  private closed = false;
  /** Completed primes of all consumers (a reset primes each again). */
  primes = 0;
  /** The last error of the loop, cleared by the next successful batch. */
  lastError: unknown;

  constructor(client: WatcherClient, opts: WatcherOptions = {}) {
    this.client = client;
    this.opts = opts;
  }

  /** Gets the first token (before any Async call, so that no task end can fall before it). Idempotent. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the event watcher is closed"));
    this.started ??= this.fetchToken().catch((e: unknown) => {
      this.started = undefined;
      if (isXenApiError(e) && EVENTS_UNAVAILABLE.has(e.code)) {
        this.markUnavailable(e.code);
        return;
      }
      throw e;
    });
    return this.started;
  }

  /** Adds a consumer; resolves once the loop primed it. */
  async addConsumer(c: EventConsumer): Promise<void> {
    await this.start();
    if (this.unavailable) throw new Error(`event.from is not usable on ${this.client.endpoint} (${this.unavailable})`);
    const primed = new Promise<void>((resolve, reject) => {
      const list = this.unprimed.get(c) ?? [];
      list.push({ resolve, reject });
      this.unprimed.set(c, list);
    });
    this.consumers.add(c);
    this.interrupt();
    return primed;
  }

  removeConsumer(c: EventConsumer): void {
    this.consumers.delete(c);
    for (const w of this.unprimed.get(c) ?? []) w.resolve();
    this.unprimed.delete(c);
    if (!this.hasInterest()) this.pollAbort?.abort();
  }

  /** Primes every consumer again (after a failed barrier); resolves when done. */
  reset(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.needReset = true;
    const all = [...this.consumers].map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          const list = this.unprimed.get(c) ?? [];
          list.push({ resolve, reject });
          this.unprimed.set(c, list);
        }),
    );
    this.interrupt();
    return Promise.all(all).then(() => undefined);
  }

  /**
   * The next news of a task: its snapshot once it has ended (or now, if it already has), that it is gone, that the
   * caller must read it itself, or a timeout at `deadlineAt`. `writesBefore`: the client's write count when the
   * task was submitted, which its end then covers for barriers.
   */
  nextTaskNews(ref: string, deadlineAt: number, signal?: AbortSignal, writesBefore?: number): Promise<TaskNews> {
    if (this.unavailable) return Promise.resolve({ kind: "unavailable", code: this.unavailable });
    // The batch that reports the task's end was applied to every consumer, and holds every change made before
    // the task ended: so also the writes completed before it was submitted.
    const covers = (news: TaskNews) => {
      if (news.kind === "snapshot" && writesBefore !== undefined)
        this.coveredWrites = Math.max(this.coveredWrites, writesBefore);
      return news;
    };
    const seen = this.unclaimed.get(ref);
    if (seen) {
      this.unclaimed.delete(ref);
      return Promise.resolve(covers({ kind: "snapshot", snapshot: seen.snapshot }));
    }
    return new Promise<TaskNews>((resolve, reject) => {
      const listeners = this.taskListeners.get(ref) ?? new Set<TaskListener>();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        listeners.delete(listener);
        if (listeners.size === 0) this.taskListeners.delete(ref);
        if (!this.hasInterest()) this.pollAbort?.abort();
      };
      const listener: TaskListener = (news) => {
        done();
        resolve(covers(news));
      };
      const onAbort = () => {
        done();
        reject(signal?.reason ?? new Error("aborted"));
      };
      const timer = setTimeout(() => listener({ kind: "timeout" }), Math.max(0, deadlineAt - Date.now()));
      signal?.addEventListener("abort", onAbort, { once: true });
      listeners.add(listener);
      this.taskListeners.set(ref, listeners);
      this.ensureLoop();
      this.wakeIdle?.();
    });
  }

  /**
   * Resolves true once every consumer reflects the writes completed before this call; false when that could not be
   * shown within `timeoutMs` (the caller then asks for a {@link reset}). `poolRef` is the object event.inject touches.
   * `othersToo`: also every change others completed before the call (always one inject, shared).
   */
  async barrier(poolRef: string, timeoutMs: number, opts: { othersToo?: boolean } = {}): Promise<boolean> {
    if (this.closed) throw new Error("the event watcher is closed");
    if (this.needReset || this.lastError !== undefined || this.unavailable) return false;
    if (!opts.othersToo && this.client.writes <= this.coveredWrites) return true;
    const { target, writes } = await this.sharedInject(poolRef, timeoutMs);
    const reached =
      this.token >= target ||
      (await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        this.wakeNap?.();
        this.barriers.push({
          target,
          resolve: () => {
            clearTimeout(timer);
            resolve(true);
          },
        });
      }));
    if (reached) this.coveredWrites = Math.max(this.coveredWrites, writes);
    return reached;
  }

  /** Stops the loop. Consumers keep what they hold. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pollAbort?.abort();
    this.wakeIdle?.();
    for (const b of this.barriers) b.resolve();
    this.barriers = [];
    for (const list of this.unprimed.values()) for (const w of list) w.resolve();
    this.unprimed.clear();
    for (const listeners of [...this.taskListeners.values()])
      for (const l of [...listeners]) l({ kind: "unavailable", code: "CLOSED" });
  }

  /** Resolves when the loop is not polling: closed, or waiting for someone to listen. */
  async quiet(): Promise<void> {
    if (!this.loop) return;
    if (this.closed) return this.loop;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  // ---- the loop ----------------------------------------------------------------------------------------------

  private hasInterest(): boolean {
    return !this.closed && (this.consumers.size > 0 || this.taskListeners.size > 0);
  }

  /** Ends the current poll so that the loop looks at its work again (new consumer, reset). */
  private interrupt(): void {
    this.ensureLoop();
    this.pollAbort?.abort();
    this.wakeIdle?.();
  }

  private ensureLoop(): void {
    if (!this.loop && !this.closed) this.loop = this.run().finally(() => (this.loop = undefined));
  }

  private async fetchToken(signal?: AbortSignal): Promise<void> {
    const res = await this.client.call<{ token?: unknown }>(
      "event.from",
      [["pool"], "", xapiFloat(0)],
      signal ? { signal } : {},
    );
    if (typeof res?.token !== "string") throw new Error("event.from returned no token");
    this.token = res.token;
    this.tokenEndpoint = this.client.endpoint;
  }

  private subscriptions(): string[] {
    const classes = new Set<string>(["task"]);
    for (const c of this.consumers) for (const cls of c.classes) classes.add(cls.toLowerCase());
    return [...classes];
  }

  private markUnavailable(code: string): void {
    this.opts.log?.(`[xenapi] event.from unusable (${code}); tasks are polled`);
    this.unavailable = code;
    for (const listeners of [...this.taskListeners.values()])
      for (const l of [...listeners]) l({ kind: "unavailable", code });
  }

  private notifyAllTasks(news: TaskNews): void {
    for (const listeners of [...this.taskListeners.values()]) for (const l of [...listeners]) l(news);
  }

  private async waitForInterest(): Promise<void> {
    for (const w of this.idleWaiters.splice(0)) w();
    while (!this.closed && !this.hasInterest()) {
      await new Promise<void>((resolve) => (this.wakeIdle = resolve));
      this.wakeIdle = undefined;
    }
  }

  /** Brings the token and the consumers up to date before a poll. */
  private async catchUp(signal: AbortSignal): Promise<void> {
    if (this.needReset || this.client.endpoint !== this.tokenEndpoint || this.token === "") {
      const writes = this.client.writes;
      await this.fetchToken(signal);
      this.needReset = false;
      for (const c of this.consumers) if (!this.unprimed.has(c)) this.unprimed.set(c, []);
      this.coveredWrites = Math.max(this.coveredWrites, writes);
      // Task ends between the old token and the new one were never seen: let every waiter look once.
      this.notifyAllTasks({ kind: "recheck" });
    }
    for (const [c, waiters] of [...this.unprimed]) {
      try {
        await c.prime(signal);
      } catch (e) {
        if (signal.aborted) throw e;
        // Whoever waits for this prime hears of the failure; a consumer that was never primed is dropped, one
        // that was is primed again after the loop's back-off.
        for (const w of waiters.splice(0)) w.reject(e);
        if (!this.primedOnce.has(c)) {
          this.unprimed.delete(c);
          this.consumers.delete(c);
        }
        throw e;
      }
      this.unprimed.delete(c);
      this.primedOnce.add(c);
      this.primes++;
      for (const w of waiters) w.resolve();
    }
    this.resolveBarriers();
  }

  private async run(): Promise<void> {
    const waitSeconds = this.opts.eventWaitSeconds ?? 30;
    const minIntervalMs = this.opts.minIntervalMs ?? 25;
    const maxIntervalMs = Math.max(minIntervalMs, this.opts.maxIntervalMs ?? 250);
    let intervalMs = minIntervalMs;
    let failures = 0;
    while (!this.closed) {
      await this.waitForInterest();
      if (this.closed) break;
      this.pollAbort = new AbortController();
      const signal = this.pollAbort.signal;
      try {
        await this.catchUp(signal);
        const gap = this.lastPollAt + intervalMs - Date.now();
        if (gap > 0 && this.barriers.length === 0) await this.nap(gap, signal);
        if (!this.hasInterest()) continue;
        this.lastPollAt = Date.now();
        const batch = await this.client.call<Record<string, unknown>>(
          "event.from",
          [this.subscriptions(), this.token, xapiFloat(waitSeconds)],
          { signal },
        );
        const settled = this.settled;
        await this.dispatch(batch ?? {}, signal);
        const barriersBefore = this.barriers.length;
        this.resolveBarriers();
        const useful = this.settled > settled || this.barriers.length < barriersBefore;
        intervalMs = useful ? minIntervalMs : Math.min(maxIntervalMs, intervalMs * 2);
        this.lastError = undefined;
        failures = 0;
      } catch (e) {
        if (this.closed) break;
        if (signal.aborted && (isTransportError(e, "aborted") || !isXenApiError(e))) continue;
        if (isXenApiError(e) && RESET_CODES.has(e.code)) {
          this.opts.log?.(`[xenapi] events: ${e.code}; new token, consumers primed again`);
          this.needReset = true;
          continue;
        }
        if (isXenApiError(e) && EVENTS_UNAVAILABLE.has(e.code)) {
          this.markUnavailable(e.code);
          for (const list of this.unprimed.values()) for (const w of list) w.reject(e);
          this.unprimed.clear();
          this.consumers.clear();
          break;
        }
        this.lastError = e;
        failures++;
        const delay = backoffDelay(failures, { baseMs: 500, capMs: 30_000 });
        this.opts.log?.(`[xenapi] event watcher error (${(e as Error).message}); retrying in ${delay} ms`);
        try {
          await sleep(delay, signal);
        } catch {
          // woken for new work or close
        }
      }
    }
    this.pollAbort = undefined;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private async dispatch(batch: Record<string, unknown>, signal: AbortSignal): Promise<void> {
    const events = Array.isArray(batch.events) ? (batch.events as EventRecord[]) : [];
    // Consumers first: a waiter woken by its task's end then reads what the task changed.
    for (const c of this.consumers) await c.apply(events, batch.valid_ref_counts, signal);
    if (typeof batch.token === "string") this.token = batch.token;
    const now = Date.now();
    for (const [ref, seen] of this.unclaimed) if (now - seen.at > UNCLAIMED_TASK_MS) this.unclaimed.delete(ref);
    for (const ev of events) {
      if (ev.class !== "task" || typeof ev.ref !== "string") continue;
      const listeners = this.taskListeners.get(ev.ref);
      if (ev.operation === "del") {
        this.unclaimed.delete(ev.ref);
        for (const l of [...(listeners ?? [])]) l({ kind: "gone" });
        continue;
      }
      const snapshot = ev.snapshot as { status?: unknown } | undefined;
      if (!snapshot || !FINAL_STATUSES.has(snapshot.status)) continue;
      if (listeners && listeners.size > 0) {
        this.settled++;
        for (const l of [...listeners]) l({ kind: "snapshot", snapshot });
      } else this.unclaimed.set(ev.ref, { snapshot, at: now });
    }
  }

  /** Sleeps between polls; a new barrier ends the nap (a barrier should not wait out a long interval). */
  private async nap(ms: number, signal: AbortSignal): Promise<void> {
    const woken = new Promise<void>((resolve) => (this.wakeNap = resolve));
    try {
      await Promise.race([sleep(ms, signal), woken]);
    } finally {
      this.wakeNap = undefined;
    }
  }

  private resolveBarriers(): void {
    const ready = this.barriers.filter((b) => this.token >= b.target);
    this.barriers = this.barriers.filter((b) => this.token < b.target);
    for (const b of ready) b.resolve();
  }

  /** One event.inject for every barrier asked for before it is sent; the next one waits for it to answer. */
  private sharedInject(poolRef: string, timeoutMs: number): Promise<{ target: string; writes: number }> {
    if (!this.nextInject) {
      const gatherMs = this.opts.injectGatherMs ?? 5;
      const next = this.injectInFlight.then(async () => {
        if (gatherMs > 0) await sleep(gatherMs);
        this.nextInject = undefined;
        const writes = this.client.writes;
        const target = await this.client.call<unknown>("event.inject", ["pool", poolRef], { deadlineMs: timeoutMs });
        if (typeof target !== "string") throw new Error("event.inject returned no token");
        return { target, writes };
      });
      this.nextInject = next;
      this.injectInFlight = next.catch(() => undefined);
    }
    return this.nextInject;
  }
}

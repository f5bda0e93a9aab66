/**
 * XenApiClient: sessions, the retrying call loop, Async.* tasks and typed record reads over one {@link Transport}.
 */
import { importRawVdi } from "./http-handlers";
import { XenApiError, XenTransportError, isTransportError, isXenApiError } from "./errors";
import { xenFacade, type XenFacade } from "./facade";
import { EventWatcher } from "./events";
import { TaskWaiter, abortedError, type CallContext } from "./tasks";
export { TASK_VANISHED } from "./tasks";
import { Inventory, type InventoryOptions } from "./inventory";
import { describeIssues, parseRecord, type XenClass, type XenRecord } from "./records";
import { redact, redactParams } from "./redact";
import { isReadOnlyMethod, retryDecision } from "./retry";
import { createAgents, type Agents } from "./tls";
import { HttpTransport, masterEndpoint, normalizeEndpoint, type Transport, type TransportFactory } from "./transport";
import { sleep } from "./waiter";

export interface XenApiClientOptions {
  /** `https://host[:port]` of the pool coordinator (`/jsonrpc` is appended); `http://` for tests. */
  url: string;
  username: string;
  password: string;
  /** PEM bundle to verify the host; default: the system CAs. */
  caCert?: string;
  /** Pinned SHA-256 fingerprint of the host certificate (hex, colons optional; several separated by commas). */
  fingerprint?: string;
  /** Explicitly skip certificate verification. */
  insecure?: boolean;
  /** Per HTTP exchange, default 60 000 ms. `event.from` calls get their blocking time on top. */
  timeoutMs?: number;
  /** Default overall budget for one logical call including retries, default 120 000 ms. */
  deadlineMs?: number;
  /** Default 64 MiB. */
  maxResponseBytes?: number;
  /** Debug lines (one per call, with duration). Default: stderr when XEN_DEBUG=1. Secrets are redacted. */
  logger?: (line: string) => void;
  /** Sent as the session originator (xapi limits sessions per originator). */
  originator?: string;
  /** Replace the HTTP transport (tests, in-process hosts). Called once per endpoint (again after HOST_IS_SLAVE). */
  transportFactory?: TransportFactory;
  /** Jitter source for retry delays; default Math.random. */
  random?: () => number;
  /**
   * Counts completed synchronous writes; clients that share one see each other's writes in their inventories
   * (read-your-writes across the clients of one program). Default: the client's own.
   */
  writeCounter?: WriteCounter;
  /** Least time between two event.from calls of the client's event loop; default 25 ms. */
  eventMinIntervalMs?: number;
}

/** A count of completed writes, shared by the clients that must read each other's writes. */
export interface WriteCounter {
  count: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Per HTTP exchange. */
  timeoutMs?: number;
  /** Overall budget for this call including retries (and for callAsync, the task). */
  deadlineMs?: number;
}

/** Methods called without a session argument. */
const SESSIONLESS: ReadonlySet<string> = new Set([
  "session.login_with_password",
  "session.slave_local_login_with_password",
  "system.listMethods",
  "system.methodHelp",
]);

const MAX_MASTER_REDIRECTS = 3;
/** Budget for housekeeping calls (task.cancel, logout). */
const HOUSEKEEPING_MS = 5_000;

interface SessionState {
  promise: Promise<string>;
  ref?: string;
}

export class XenApiClient {
  /** The URL this client was configured with (normalised). See {@link endpoint} for the current coordinator. */
  readonly url: string;
  private currentEndpoint: string;
  private transport: Transport;
  private readonly agents: Agents | undefined;
  private readonly factory: TransportFactory;
  private readonly username: string;
  private readonly password: string;
  private readonly originator: string | undefined;
  private readonly timeoutMs: number;
  private readonly deadlineMs: number;
  private readonly logger: ((line: string) => void) | undefined;
  private readonly random: () => number;
  private session: SessionState | undefined;
  /** Every session ref this client obtained: redacted from all log lines. */
  private readonly sessionRefs = new Set<string>();
  private readonly inventories = new Set<Inventory>();
  private readonly writeCounter: WriteCounter;
  private readonly eventMinIntervalMs: number | undefined;
  private watcher: EventWatcher | undefined;
  private taskWaiter: TaskWaiter | undefined;
  private closed = false;
  private facade: XenFacade | undefined;

  constructor(opts: XenApiClientOptions) {
    this.url = normalizeEndpoint(opts.url);
    this.currentEndpoint = this.url;
    this.username = opts.username;
    this.password = opts.password;
    this.originator = opts.originator;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.deadlineMs = opts.deadlineMs ?? 120_000;
    this.random = opts.random ?? Math.random;
    this.writeCounter = opts.writeCounter ?? { count: 0 };
    this.eventMinIntervalMs = opts.eventMinIntervalMs;
    this.logger =
      opts.logger ?? (process.env.XEN_DEBUG === "1" ? (line) => process.stderr.write(`${line}\n`) : undefined);
    if (opts.transportFactory) {
      this.factory = opts.transportFactory;
    } else {
      const agents = createAgents(opts);
      this.agents = agents;
      const maxResponseBytes = opts.maxResponseBytes;
      this.factory = (endpoint) =>
        new HttpTransport(endpoint, maxResponseBytes === undefined ? {} : { maxResponseBytes }, agents);
    }
    this.transport = this.factory(this.currentEndpoint);
  }

  /** The endpoint calls currently go to: the configured URL, or the coordinator a HOST_IS_SLAVE named. */
  get endpoint(): string {
    return this.currentEndpoint;
  }

  /** `host[:port]` of the current endpoint. */
  get host(): string {
    return this.transport.host;
  }

  /** Completed synchronous calls that may have changed the pool (this client's and those sharing its counter). */
  get writes(): number {
    return this.writeCounter.count;
  }

  /** Waiting for tasks, over this client's calls and event loop. */
  private tasks(): TaskWaiter {
    this.taskWaiter ??= new TaskWaiter({
      call: (method, params, ctx) => this.callWith(method, params, ctx),
      host: () => this.transport.host,
      events: () => this.events(),
      housekeeping: () => this.housekeepingContext(),
      closed: () => this.closed,
      log: (line) => this.log(line),
    });
    return this.taskWaiter;
  }

  /** The client's one event loop, made on first use. */
  private events(): EventWatcher {
    this.watcher ??= new EventWatcher(this, {
      log: (l) => this.log(l),
      ...(this.eventMinIntervalMs !== undefined ? { minIntervalMs: this.eventMinIntervalMs } : {}),
    });
    return this.watcher;
  }

  // ---- logging -----------------------------------------------------------------------------------------------

  private log(line: string): void {
    if (!this.logger) return;
    const secrets = [...this.sessionRefs];
    if (this.password.length >= 3) secrets.push(this.password);
    try {
      this.logger(String(redact(line, { secrets })));
    } catch {
      // a broken logger must not break calls
    }
  }

  private logCall(method: string, params: readonly unknown[], outcome: string, ms: number, attempt: number): void {
    if (!this.logger) return;
    const shown = JSON.stringify(redactParams(method, params, { secrets: this.sessionRefs }));
    const shortParams = shown.length > 300 ? `${shown.slice(0, 300)}...` : shown;
    this.log(
      `[xenapi] ${this.transport.host} ${method}${shortParams} -> ${outcome} in ${ms} ms${attempt > 1 ? ` (attempt ${attempt})` : ""}`,
    );
  }

  // ---- sessions ----------------------------------------------------------------------------------------------

  private assertOpen(method: string): void {
    if (this.closed) {
      throw new XenTransportError({
        kind: "aborted",
        method,
        host: this.transport.host,
        message: `${method}: the XenApiClient for ${this.url} is closed`,
      });
    }
  }

  /**
   * Re-targets the client at the coordinator named by HOST_IS_SLAVE. `sentTo` is the endpoint that answered: if
   * another call already moved the client on, this one just retries.
   */
  private async switchToMaster(address: string, method: string, sentTo: string): Promise<void> {
    if (this.currentEndpoint !== sentTo) return;
    const next = masterEndpoint(sentTo, address);
    if (next === sentTo) {
      throw new XenTransportError({
        kind: "malformed",
        method,
        host: this.transport.host,
        message: `${method}: ${this.transport.host} says it is a supporter whose coordinator is itself (${address}); the pool may be mid-failover, retry later.`,
      });
    }
    this.log(`[xenapi] ${this.transport.host} is a pool supporter; reconnecting to the coordinator ${address}`);
    this.transport.close();
    this.currentEndpoint = next;
    this.transport = this.factory(next);
    this.session = undefined;
  }

  /**
   * Logs in once for all concurrent callers. The login runs on the client's own budget, not the first caller's
   * signal or deadline; each caller stops waiting at its own abort or deadline.
   */
  private ensureSession(ctx: CallContext): Promise<string> {
    if (!this.session) {
      const state: SessionState = { promise: Promise.resolve("") };
      const loginCtx: CallContext = {
        startedAt: Date.now(),
        deadlineAt: Date.now() + Math.min(this.deadlineMs, this.timeoutMs),
        timeoutMs: this.timeoutMs,
      };
      state.promise = this.login(loginCtx).then(
        (ref) => {
          state.ref = ref;
          return ref;
        },
        (e: unknown) => {
          if (this.session === state) this.session = undefined;
          throw e;
        },
      );
      state.promise.catch(() => undefined); // callers that gave up must not leave an unhandled rejection
      this.session = state;
    }
    return waitWithin(this.session.promise, ctx, "session.login_with_password", this.transport.host);
  }

  private async login(ctx: CallContext): Promise<string> {
    const method = "session.login_with_password";
    const params: unknown[] = [this.username, this.password];
    if (this.originator !== undefined) params.push("1.0", this.originator);
    // Login failures (other than redirects) are not retried here: the caller's loop applies the policy.
    for (let redirect = 0; ; redirect++) {
      const sentTo = this.currentEndpoint;
      try {
        const ref = await this.send(method, params, ctx, 1);
        if (typeof ref !== "string" || !ref.startsWith("OpaqueRef:")) {
          throw new XenTransportError({
            kind: "malformed",
            method,
            host: this.transport.host,
            message: `${method} on ${this.transport.host}: expected a session ref, got ${JSON.stringify(ref)?.slice(0, 80)}`,
          });
        }
        this.sessionRefs.add(ref);
        return ref;
      } catch (e) {
        if (isXenApiError(e, "HOST_IS_SLAVE") && redirect < MAX_MASTER_REDIRECTS && e.params[0]) {
          await this.switchToMaster(e.params[0], method, sentTo);
          continue;
        }
        throw e;
      }
    }
  }

  private dropSession(ref: string): void {
    if (this.session?.ref === ref) this.session = undefined;
  }

  // ---- calls -------------------------------------------------------------------------------------------------

  private context(opts: CallOptions | undefined): CallContext {
    const startedAt = Date.now();
    return {
      startedAt,
      deadlineAt: startedAt + (opts?.deadlineMs ?? this.deadlineMs),
      timeoutMs: opts?.timeoutMs ?? this.timeoutMs,
      ...(opts?.signal ? { signal: opts.signal } : {}),
    };
  }

  /** One HTTP exchange, logged. The timeout is capped by the call's deadline. */
  private async send(method: string, params: readonly unknown[], ctx: CallContext, attempt: number): Promise<unknown> {
    if (ctx.signal?.aborted) throw abortedError(method, this.transport.host, ctx.signal);
    const remaining = ctx.deadlineAt - Date.now();
    const extraTimeoutMs = eventWaitMs(method, params);
    const timeoutMs = Math.max(1, Math.min(ctx.timeoutMs + extraTimeoutMs, remaining));
    const t0 = Date.now();
    const shownParams = SESSIONLESS.has(method) ? params : params.slice(1);
    try {
      const result = await this.transport.send(
        { method, params },
        { timeoutMs, ...(ctx.signal ? { signal: ctx.signal } : {}) },
      );
      this.logCall(method, shownParams, "ok", Date.now() - t0, attempt);
      return result;
    } catch (e) {
      const what = isXenApiError(e)
        ? e.code
        : isTransportError(e)
          ? `${e.kind} error: ${e.message}`
          : `error: ${String(e)}`;
      this.logCall(method, shownParams, what, Date.now() - t0, attempt);
      throw e;
    }
  }

  /**
   * Calls `Class.method` with the session prepended (logs in lazily; one re-login on SESSION_INVALID; HOST_IS_SLAVE
   * reconnects to the named coordinator). Retries only per {@link retryDecision}: read-only methods and transient
   * transport failures; OTHER_OPERATION_IN_PROGRESS / TOO_MANY_PENDING_TASKS wait and retry within the deadline;
   * other mutations are never repeated blindly.
   */
  async call<T = unknown>(method: string, params: readonly unknown[] = [], opts?: CallOptions): Promise<T> {
    // A write's effects are visible to reads once it returns, whatever it returned: count it either way.
    const counts = !isReadOnlyMethod(method) && !method.startsWith("Async.") && method !== "event.inject";
    try {
      return (await this.callWith(method, params, this.context(opts))) as T;
    } finally {
      if (counts) this.writeCounter.count++;
    }
  }

  private async callWith(method: string, params: readonly unknown[], ctx: CallContext): Promise<unknown> {
    this.assertOpen(method);
    let relogins = 0;
    let redirects = 0;
    for (let attempt = 1; ; attempt++) {
      if (ctx.signal?.aborted) throw abortedError(method, this.transport.host, ctx.signal);
      let sessionRef: string | undefined;
      let sentTo = this.currentEndpoint;
      try {
        if (SESSIONLESS.has(method)) return await this.send(method, params, ctx, attempt);
        sessionRef = await this.ensureSession(ctx);
        sentTo = this.currentEndpoint;
        return await this.send(method, [sessionRef, ...params], ctx, attempt);
      } catch (e) {
        // The session check happens before anything runs (server_helpers.ml), so a retry after re-login is safe.
        if (isXenApiError(e, "SESSION_INVALID") && sessionRef !== undefined && relogins < 1) {
          relogins++;
          this.dropSession(sessionRef);
          continue;
        }
        if (isXenApiError(e, "HOST_IS_SLAVE") && redirects < MAX_MASTER_REDIRECTS && e.params[0]) {
          redirects++;
          await this.switchToMaster(e.params[0], method, sentTo);
          continue;
        }
        const failedMethod =
          sessionRef === undefined && !SESSIONLESS.has(method) ? "session.login_with_password" : method;
        const decision = retryDecision({
          method: failedMethod,
          error: e,
          attempt,
          elapsedMs: Date.now() - ctx.startedAt,
          deadlineMs: ctx.deadlineAt - ctx.startedAt,
          random: this.random,
        });
        if (!decision.retry) throw e;
        this.log(`[xenapi] ${method}: retrying in ${decision.delayMs} ms (${decision.reason})`);
        try {
          await sleep(decision.delayMs, ctx.signal);
        } catch {
          throw abortedError(method, this.transport.host, ctx.signal);
        }
      }
    }
  }

  /**
   * Runs `Async.<method>` and waits for its task through the client's one event loop (polling `task.get_record`
   * where events are unavailable), decodes the XML-RPC fragment in `task.result`, turns `error_info` into a
   * XenApiError, cancels the task when the deadline passes (then throws a timeout XenTransportError saying what it
   * waited for). Ended tasks are left to xapi's garbage collection. Busy errors (OTHER_OPERATION_IN_PROGRESS, ...)
   * from the task re-submit it within the deadline. Returns the decoded result: a ref, `""` for void.
   */
  async callAsync(method: string, params: readonly unknown[] = [], opts?: CallOptions): Promise<string> {
    const ctx = this.context(opts);
    const asyncMethod = `Async.${method}`;
    // The loop's token must predate the task, so that the task's end cannot fall before it.
    await waitWithin(this.events().start(), ctx, "event.from", this.transport.host);
    for (let attempt = 1; ; attempt++) {
      const writesBefore = this.writes;
      const taskRef = await this.callWith(asyncMethod, params, ctx);
      if (typeof taskRef !== "string" || !taskRef.startsWith("OpaqueRef:")) {
        throw new XenTransportError({
          kind: "malformed",
          method: asyncMethod,
          host: this.transport.host,
          message: `${asyncMethod} on ${this.transport.host}: expected a task ref, got ${JSON.stringify(taskRef)?.slice(0, 80)}`,
        });
      }
      try {
        return await this.tasks().wait(taskRef, asyncMethod, ctx, writesBefore);
      } catch (e) {
        if (!isXenApiError(e)) throw e;
        const decision = retryDecision({
          method: asyncMethod,
          error: e,
          attempt,
          elapsedMs: Date.now() - ctx.startedAt,
          deadlineMs: ctx.deadlineAt - ctx.startedAt,
          random: this.random,
        });
        if (!decision.retry) throw e;
        this.log(`[xenapi] ${asyncMethod}: task failed with ${e.code}; re-submitting in ${decision.delayMs} ms`);
        try {
          await sleep(decision.delayMs, ctx.signal);
        } catch {
          throw abortedError(asyncMethod, this.transport.host, ctx.signal);
        }
      }
    }
  }

  private housekeepingContext(): CallContext {
    const startedAt = Date.now();
    return { startedAt, deadlineAt: startedAt + HOUSEKEEPING_MS, timeoutMs: HOUSEKEEPING_MS };
  }

  // ---- records -----------------------------------------------------------------------------------------------

  private parseOrThrow<C extends XenClass>(cls: C, ref: string, raw: unknown, method: string): XenRecord<C> {
    const parsed = parseRecord(cls, raw);
    if (parsed.success) return parsed.data;
    throw new XenTransportError({
      kind: "malformed",
      method,
      host: this.transport.host,
      message: `${method} on ${this.transport.host}: the ${cls} record ${ref} does not have the expected shape (${describeIssues(parsed.error)}). The host's XenAPI version may differ from what this client supports.`,
    });
  }

  /** `<cls>.get_record`, parsed with the class schema. */
  async getRecord<C extends XenClass>(cls: C, ref: string, opts?: CallOptions): Promise<XenRecord<C>> {
    const method = `${cls}.get_record`;
    return this.parseOrThrow(cls, ref, await this.call(method, [ref], opts), method);
  }

  /** `<cls>.get_all_records` as a Map ref -> parsed record. */
  async getAllRecords<C extends XenClass>(cls: C, opts?: CallOptions): Promise<Map<string, XenRecord<C>>> {
    const method = `${cls}.get_all_records`;
    const raw = await this.call<unknown>(method, [], opts);
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new XenTransportError({
        kind: "malformed",
        method,
        host: this.transport.host,
        message: `${method} on ${this.transport.host}: expected a map of ref -> record`,
      });
    }
    const out = new Map<string, XenRecord<C>>();
    for (const [ref, rec] of Object.entries(raw as Record<string, unknown>)) {
      out.set(ref, this.parseOrThrow(cls, ref, rec, method));
    }
    return out;
  }

  /** `<cls>.get_by_uuid` -> ref. Unknown uuids raise XenApiError UUID_INVALID. */
  async getByUuid(cls: XenClass, uuid: string, opts?: CallOptions): Promise<string> {
    const ref = await this.call<unknown>(`${cls}.get_by_uuid`, [uuid], opts);
    if (typeof ref !== "string") {
      throw new XenTransportError({
        kind: "malformed",
        method: `${cls}.get_by_uuid`,
        host: this.transport.host,
        message: `${cls}.get_by_uuid on ${this.transport.host}: expected a ref, got ${typeof ref}`,
      });
    }
    return ref;
  }

  /**
   * Writes a disk image into a VDI through xapi's `/import_raw_vdi` handler, with this client's session and TLS
   * settings. xapi answers 200 before it writes and reports a failure (read-only VDI, image too large, disk in use)
   * in the task given as `task_id`, so the task is created first and read once the upload ends. Counted as a write.
   */
  async importRawVdi(vdiRef: string, bytes: Buffer, opts?: CallOptions): Promise<void> {
    this.assertOpen("import_raw_vdi");
    const ctx = this.context(opts);
    const method = "PUT /import_raw_vdi";
    const taskRef = await this.callWith("task.create", ["import_raw_vdi", `${bytes.length} bytes`], ctx);
    try {
      await importRawVdi({
        endpoint: this.currentEndpoint,
        host: this.transport.host,
        agents: this.agents,
        sessionRef: await this.ensureSession(ctx),
        vdiRef,
        taskRef: String(taskRef),
        bytes,
        timeoutMs: Math.max(1, ctx.deadlineAt - Date.now()),
      });
      for (let delay = 20; ; delay = Math.min(delay * 2, 1000)) {
        const task = (await this.callWith("task.get_record", [taskRef], ctx)) as {
          status?: string;
          error_info?: string[];
        };
        if (task.status === "success") return;
        if (task.status === "failure" || task.status === "cancelled") {
          const [code, ...params] = task.error_info ?? [];
          throw new XenApiError({ code: code || "TASK_CANCELLED", params, method, host: this.transport.host });
        }
        if (Date.now() + delay > ctx.deadlineAt)
          throw new XenTransportError({
            kind: "timeout",
            method,
            host: this.transport.host,
            message: `${method} on ${this.transport.host}: the upload ended but task ${String(taskRef)} did not finish before the deadline`,
          });
        await sleep(delay, ctx.signal);
      }
    } finally {
      this.writeCounter.count++;
    }
  }

  /** A typed facade over this client: `client.api.VM.start(vm, false, false)`. See {@link xenFacade}. */
  get api(): XenFacade {
    this.facade ??= xenFacade(this);
    return this.facade;
  }

  /** The facade with per-call options (signal, deadline) applied to every call made through it. */
  with(opts: CallOptions): XenFacade {
    return xenFacade(this, opts);
  }

  // ---- inventory ---------------------------------------------------------------------------------------------

  /**
   * An inventory cache of `classes` primed by get_all_records and kept fresh by an event.from watcher (token
   * handling, reconnects, EVENTS_LOST recovery by re-priming). Resolves once primed. Closed by {@link close}.
   */
  async inventory(classes?: readonly XenClass[], opts?: InventoryOptions): Promise<Inventory> {
    this.assertOpen("inventory");
    const inv = new Inventory(this, this.events(), classes, {
      ...opts,
      log: (l) => this.log(l),
      onClose: () => this.inventories.delete(inv),
    });
    this.inventories.add(inv);
    try {
      await inv.start();
    } catch (e) {
      inv.close();
      throw e;
    }
    return inv;
  }

  // ---- shutdown ----------------------------------------------------------------------------------------------

  /** Stops watchers, logs out (best effort) and destroys the keep-alive agents. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const inv of [...this.inventories]) inv.close();
    this.watcher?.close();
    const session = this.session;
    this.session = undefined;
    if (session) {
      try {
        const ref = await session.promise;
        await this.send("session.logout", [ref], this.housekeepingContext(), 1);
      } catch {
        // logging out is a courtesy; xapi expires idle sessions after 24 h
      }
    }
    this.closed = true;
    this.transport.close();
    this.agents?.destroy();
  }
}

/** Awaits a shared promise, but gives up at this caller's abort or deadline (the promise itself runs on). */
function waitWithin<T>(p: Promise<T>, ctx: CallContext, method: string, host: string): Promise<T> {
  if (ctx.signal?.aborted) return Promise.reject(abortedError(method, host, ctx.signal));
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      ctx.signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      done();
      reject(abortedError(method, host, ctx.signal));
    };
    const timer = setTimeout(
      () => {
        done();
        reject(
          new XenTransportError({
            kind: "timeout",
            method,
            host,
            message: `${method} on ${host}: no session within the call's deadline`,
          }),
        );
      },
      Math.max(0, ctx.deadlineAt - Date.now()),
    );
    ctx.signal?.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        done();
        resolve(v);
      },
      (e: unknown) => {
        done();
        reject(e);
      },
    );
  });
}

/** event.from blocks server-side for its `timeout` param (seconds): the HTTP timeout must cover that on top. */
function eventWaitMs(method: string, params: readonly unknown[]): number {
  if (method !== "event.from") return 0;
  const t = Number(params[params.length - 1]);
  return Number.isFinite(t) && t > 0 ? Math.ceil(t * 1000) : 0;
}

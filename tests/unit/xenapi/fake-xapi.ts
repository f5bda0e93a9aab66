/**
 * A small in-process XAPI for event/inventory tests: objects with generations, event.from with "%020d,%020d"
 * tokens that blocks until a change or its timeout, event.inject, get_all_records, and fault switches.
 */
import {
  XenApiError,
  XenTransportError,
  type RpcRequest,
  type SendOptions,
  type Transport,
} from "../../../provider/xenapi";

interface Obj {
  cls: string;
  record: Record<string, unknown>;
  created: number;
  gen: number;
}

const tok = (g: number) => `${String(g).padStart(20, "0")},${"0".repeat(20)}`;

export class FakeXapi {
  gen = 1;
  readonly objects = new Map<string, Obj>(); // by ref
  readonly deletions: Array<{ cls: string; ref: string; gen: number }> = [];
  readonly calls: string[] = [];
  /** Tokens older than this generation get EVENTS_LOST. */
  lostBefore = 0;
  /** Queue of errors to throw for the next calls of a method. */
  readonly faults = new Map<string, Error[]>();
  private wakers = new Set<() => void>();

  add(cls: string, ref: string, record: Record<string, unknown>): void {
    this.gen++;
    this.objects.set(ref, { cls, record, created: this.gen, gen: this.gen });
    this.wake();
  }

  mod(ref: string, patch: Record<string, unknown>): void {
    const o = this.objects.get(ref);
    if (!o) throw new Error(`no ${ref}`);
    this.gen++;
    o.record = { ...o.record, ...patch };
    o.gen = this.gen;
    this.wake();
  }

  del(ref: string, opts: { silently?: boolean } = {}): void {
    const o = this.objects.get(ref);
    if (!o) throw new Error(`no ${ref}`);
    this.objects.delete(ref);
    this.gen++;
    if (!opts.silently) this.deletions.push({ cls: o.cls, ref, gen: this.gen });
    this.wake();
  }

  /** Simulates the event queue overflowing: every token issued so far becomes invalid. */
  loseEvents(): void {
    this.lostBefore = this.gen + 1;
    this.gen++;
    this.wake();
  }

  private tasks = 0;

  /** Async.* calls create a pending task; {@link endTask} ends it. */
  private newTask(method: string): string {
    const ref = `OpaqueRef:task-${++this.tasks}`;
    this.add("task", ref, {
      uuid: `00000000-0000-0000-0000-${String(this.tasks).padStart(12, "0")}`,
      name_label: method,
      name_description: "",
      status: "pending",
      progress: 0,
      result: "",
      type: "",
      error_info: [],
      created: "20261201T00:00:00Z",
      finished: "19700101T00:00:00Z",
      resident_on: "OpaqueRef:h1",
      subtask_of: "OpaqueRef:NULL",
      other_config: {},
      allowed_operations: ["cancel"],
      current_operations: {},
      subtasks: [],
      backtrace: "()",
    });
    return ref;
  }

  endTask(ref: string, result = "<value></value>"): void {
    this.mod(ref, { status: "success", progress: 1, result, finished: "20261201T00:00:01Z" });
  }

  /** Refs of the tasks still pending. */
  pendingTasks(): string[] {
    return [...this.objects].filter(([, o]) => o.cls === "task" && o.record.status === "pending").map(([r]) => r);
  }

  /** What a (write) method does to the objects; it answers "". */
  readonly handlers = new Map<string, () => void>();

  onCall(method: string, effect: () => void): void {
    this.handlers.set(method, effect);
  }

  fail(method: string, ...errors: Error[]): void {
    this.faults.set(method, [...(this.faults.get(method) ?? []), ...errors]);
  }

  count(method: string): number {
    return this.calls.filter((m) => m === method).length;
  }

  private wake(): void {
    const ws = [...this.wakers];
    this.wakers.clear();
    for (const w of ws) w();
  }

  transport(): Transport {
    return {
      endpoint: "http://fake.xapi",
      host: "fake.xapi",
      send: (req, opts) => this.handle(req, opts),
      close: () => undefined,
    };
  }

  private api(code: string, params: string[], method: string): XenApiError {
    return new XenApiError({ code, params, method, host: "fake.xapi" });
  }

  private readonly inFlight = new Map<string, number>();
  private readonly peaks = new Map<string, number>();

  /** The most calls of `method` that were in flight at once. */
  maxConcurrent(method: string): number {
    return this.peaks.get(method) ?? 0;
  }

  private async handle(req: RpcRequest, opts: SendOptions): Promise<unknown> {
    const n = (this.inFlight.get(req.method) ?? 0) + 1;
    this.inFlight.set(req.method, n);
    this.peaks.set(req.method, Math.max(n, this.peaks.get(req.method) ?? 0));
    try {
      return await this.answer(req, opts);
    } finally {
      this.inFlight.set(req.method, (this.inFlight.get(req.method) ?? 1) - 1);
    }
  }

  private async answer(req: RpcRequest, opts: SendOptions): Promise<unknown> {
    const { method } = req;
    this.calls.push(method);
    const queued = this.faults.get(method);
    if (queued && queued.length > 0) throw queued.shift();
    const p = req.params;
    if (method === "session.login_with_password") return "OpaqueRef:session";
    if (method === "session.logout") return "";
    if (method.startsWith("Async.")) return this.newTask(method);
    const effect = this.handlers.get(method);
    if (effect) {
      effect();
      return "";
    }
    const [cls, msg] = method.split(".");
    if (msg === "get_all_records") {
      const out: Record<string, unknown> = {};
      for (const [ref, o] of this.objects) if (o.cls === cls) out[ref] = o.record;
      return out;
    }
    if (msg === "get_record") {
      const o = this.objects.get(p[1] as string);
      if (!o || o.cls !== cls) throw this.api("HANDLE_INVALID", [cls, p[1] as string], method);
      return o.record;
    }
    if (method === "event.inject") {
      const before = tok(this.gen);
      this.mod(p[2] as string, {});
      return before;
    }
    if (method === "event.from") return this.eventFrom(p[1] as string[], p[2] as string, p[3] as number, opts);
    throw this.api("MESSAGE_METHOD_UNKNOWN", [method], method);
  }

  private collect(subs: Set<string>, since: number) {
    const wanted = (cls: string) => subs.has("*") || subs.has(cls.toLowerCase());
    const events: unknown[] = [];
    for (const [ref, o] of this.objects) {
      if (o.gen > since && wanted(o.cls)) {
        events.push({
          id: String(o.gen),
          timestamp: "0.0",
          class: o.cls.toLowerCase(),
          operation: o.created > since ? "add" : "mod",
          ref,
          snapshot: o.record,
        });
      }
    }
    for (const d of this.deletions) {
      if (d.gen > since && wanted(d.cls)) {
        events.push({ id: String(d.gen), timestamp: "0.0", class: d.cls.toLowerCase(), operation: "del", ref: d.ref });
      }
    }
    return events;
  }

  private counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const o of this.objects.values()) out[o.cls.toLowerCase()] = (out[o.cls.toLowerCase()] ?? 0) + 1;
    return out;
  }

  private async eventFrom(classes: string[], token: string, timeout: number, opts: SendOptions): Promise<unknown> {
    const subs = new Set(classes.map((c) => c.toLowerCase()));
    if (token === "") return { events: this.collect(subs, 0), valid_ref_counts: this.counts(), token: tok(this.gen) };
    const m = /^(\d{20}),(\d{20})$/.exec(token);
    if (!m) throw this.api("EVENT_FROM_TOKEN_PARSE_FAILURE", [token], "event.from");
    const since = Number(m[1]);
    const deadline = Date.now() + timeout * 1000;
    while (true) {
      if (since < this.lostBefore) throw this.api("EVENTS_LOST", [], "event.from");
      const events = this.collect(subs, since);
      const left = deadline - Date.now();
      if (events.length > 0 || left <= 0) return { events, valid_ref_counts: this.counts(), token: tok(this.gen) };
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          clearTimeout(timer);
          this.wakers.delete(wake);
          reject(
            new XenTransportError({ kind: "aborted", method: "event.from", host: "fake.xapi", message: "aborted" }),
          );
        };
        const wake = () => {
          clearTimeout(timer);
          opts.signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.wakers.add(wake);
        if (opts.signal?.aborted) onAbort();
        else opts.signal?.addEventListener("abort", onAbort, { once: true });
      });
    }
  }
}

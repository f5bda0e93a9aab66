import { Ctx, Engine, Role } from "../engine";

/** Parameter type: string | int | float | bool | datetime | map | any | ref:<Class>[?] | set:<elem> | enum:<name> | record:<Class>. */
export interface ParamSpec {
  name: string;
  type: string;
  /** present for versioned optional trailing params */
  default?: unknown;
}

export interface MethodDef {
  /** wire name without the Async. prefix, e.g. "VM.start" */
  name: string;
  params: ParamSpec[];
  role: Role;
  /** false for session.login_with_password and system.* */
  session: boolean;
  /** an Async.<name> form exists */
  async: boolean;
  /** result type, for task.type and the XML value of task.result ("" = void) */
  result: string;
  /**
   * The handler. Synchronous handlers run inside one transaction opened by the dispatcher; handlers that
   * return a promise (lifecycle operations with simulated time) open their own transactions.
   */
  run(e: Engine, ctx: Ctx, args: unknown[]): unknown;
  /** a per-call permission when it depends on the arguments (map keys with their own roles) */
  permission?(args: unknown[]): { name: string; role: Role } | undefined;
  implicit?: boolean;
  /** the handler returns a promise and opens its own transactions (simulated time) */
  long?: boolean;
  /** known divergence from real XenAPI, listed in COVERAGE.md */
  note?: string;
}

export class Registry {
  readonly methods = new Map<string, MethodDef>();

  add(
    def: Omit<MethodDef, "session" | "async" | "result" | "role"> &
      Partial<Pick<MethodDef, "session" | "async" | "result" | "role">>,
  ): void {
    this.methods.set(def.name, {
      session: true,
      async: false,
      result: "",
      role: "read-only",
      long: def.run.constructor.name === "AsyncFunction",
      ...def,
    });
  }

  get(name: string): MethodDef | undefined {
    return this.methods.get(name);
  }

  /** Every wire name, Async forms included (system.listMethods). */
  names(): string[] {
    const out: string[] = [];
    for (const d of this.methods.values()) {
      out.push(d.name);
      if (d.async) out.push(`Async.${d.name}`);
    }
    return out.sort();
  }
}

/** Shorthand for parameter lists: p("vm:ref:VM", "start_paused:bool=false"). */
export function p(...specs: string[]): ParamSpec[] {
  return specs.map((s) => {
    const eq = s.indexOf("=");
    const head = eq >= 0 ? s.slice(0, eq) : s;
    const i = head.indexOf(":");
    const spec: ParamSpec = { name: head.slice(0, i), type: head.slice(i + 1) };
    if (eq >= 0) {
      const raw = s.slice(eq + 1);
      spec.default = raw === "NULL" ? "OpaqueRef:NULL" : raw === "{}" ? {} : raw === "[]" ? [] : JSON.parse(raw);
    }
    return spec;
  });
}

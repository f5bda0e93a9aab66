import {
  HIDDEN_MESSAGES,
  MESSAGES,
  OTHER_GETTERS,
  OTHER_MESSAGES,
  type MessageSpec,
} from "../../../xenapi-model/messages";
import { Ctx, Engine, Role } from "../engine";
import { simType } from "../schema";
import type { JsonText } from "../wire";

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
  /** for a datamodel message, the datamodel's list (names, count, versioned defaults) with the handler's types */
  params: ParamSpec[];
  /** for a datamodel message, the least powerful role the datamodel allows */
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
  /**
   * The same answer as `run`, already JSON, for a JSON-RPC reply: record getters answer from each record's
   * cached text instead of copying the records for the reply to serialize them again. Synchronous.
   */
  json?: (e: Engine, ctx: Ctx, args: unknown[]) => JsonText;
  /** a per-call permission when it depends on the arguments (map keys with their own roles) */
  permission?(args: unknown[]): { name: string; role: Role } | undefined;
  implicit?: boolean;
  /** the handler returns a promise and opens its own transactions (simulated time) */
  long?: boolean;
  /** known divergence from real XenAPI, listed in COVERAGE.md */
  note?: string;
}

/**
 * The datamodel's parameter list with the handler's own types by position: names, count and which trailing
 * parameters are optional (versioned, with their default) come from the datamodel, never from the handler.
 */
function conform(own: ParamSpec[], spec: MessageSpec): ParamSpec[] {
  return spec.params.map(([name, type, ...dflt], i) => {
    // A parameter the handler does not read is still type-checked; refs may be NULL (the handler decides).
    const p: ParamSpec = { name, type: own[i]?.type ?? paramType(type) };
    if (dflt.length) p.default = dflt[0];
    return p;
  });
}

function paramType(t: string): string {
  const s = simType(t);
  return s.startsWith("ref:") ? `${s}?` : s.startsWith("record:") || s.startsWith("enum:") ? "any" : s;
}

/**
 * xapi's arity rule (gen_server.ml): a message without versioned parameters takes exactly its parameters; one
 * with them takes at least the mandatory ones. Counts exclude the session. The error names the method without
 * an `Async.` prefix, the mandatory count and the count received, as decimal strings.
 */
export function arityMismatch(def: MethodDef, given: number): [string, string, string] | undefined {
  const required = def.params.filter((x) => !("default" in x)).length;
  const versioned = required < def.params.length;
  if (versioned ? given >= required : given === required) return undefined;
  return [def.name, String(required), String(given)];
}

export class Registry {
  readonly methods = new Map<string, MethodDef>();
  /** Handlers offered for messages the datamodel does not have: not served (MESSAGE_METHOD_UNKNOWN). */
  readonly dropped: string[] = [];

  /**
   * Registers a handler for a datamodel message; its parameter list and role are the datamodel's. `system.*`
   * is not in the datamodel and is taken as given; any other unknown name is dropped.
   */
  add(
    def: Omit<MethodDef, "session" | "async" | "result" | "role"> &
      Partial<Pick<MethodDef, "session" | "async" | "result" | "role">>,
  ): void {
    const spec = specOf(def.name);
    if (!spec && !def.name.startsWith("system.")) {
      this.dropped.push(def.name);
      return;
    }
    this.methods.set(def.name, {
      session: true,
      async: false,
      result: "",
      role: "read-only",
      long: def.run.constructor.name === "AsyncFunction",
      ...def,
      ...(spec ? { params: conform(def.params, spec), role: spec.role, session: spec.session } : {}),
    });
  }

  get(name: string): MethodDef | undefined {
    return this.methods.get(name);
  }

  /** Every wire name served, Async forms included. */
  names(): string[] {
    const out: string[] = [];
    for (const d of this.methods.values()) {
      out.push(d.name);
      if (d.async) out.push(`Async.${d.name}`);
    }
    return out.sort();
  }
}

/** The datamodel's spec of a message: published, hidden (get_all_where) or a getter of an unmodelled class. */
function specOf(name: string): MessageSpec | undefined {
  return MESSAGES[name] ?? HIDDEN_MESSAGES[name] ?? OTHER_GETTERS[name];
}

/**
 * What xapi's system.listMethods answers (gen_server.ml): the sync wire name of every message of every class,
 * served here or not (those answer MESSAGE_METHOD_UNKNOWN); no `Async.` forms and no `system.*`.
 */
export const LISTED_METHODS: readonly string[] = [
  ...new Set([...Object.keys(MESSAGES), ...Object.keys(HIDDEN_MESSAGES), ...OTHER_MESSAGES]),
].sort();

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

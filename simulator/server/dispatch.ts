import { XenApiError, fail, toXenApiError } from "../errors";
import { NULL_REF } from "../ids";
import { Ctx, Engine, ROLES, Role } from "../models/engine";
import { checkFieldValue } from "../models/methods/implicit";
import { MethodDef, ParamSpec, Registry, arityMismatch } from "../models/methods/registry";
import { authenticate, checkSession, openSession } from "../models/methods/session";

export type CallResult = { ok: true; value: unknown } | { ok: false; error: XenApiError };

/** Where a call came in: the host whose address answered. */
export interface Conn {
  host: string;
  /**
   * The answer goes into a JSON-RPC reply: a method with a JSON form (MethodDef.json) answers JsonText. Other
   * callers (XML-RPC, in-process) get plain values.
   */
  json?: boolean;
}

function rank(r: Role): number {
  return ROLES.indexOf(r);
}

export function permissionDenied(perm: string, role: Role): XenApiError {
  const roles = [...ROLES].reverse().filter((r) => rank(r) >= rank(role));
  return fail(
    "RBAC_PERMISSION_DENIED",
    perm,
    `No permission in user session. (Roles with this permission: ${roles.join(", ")})`,
  );
}

/**
 * XenAPI dispatch in xapi's check order: method known, parameter count, session, RBAC, argument types and
 * refs, then the model (whose gate and rules come next). Knows nothing of HTTP.
 */
export class Dispatcher {
  constructor(
    readonly e: Engine,
    readonly reg: Registry,
  ) {}

  async call(method: string, params: unknown[], conn: Conn): Promise<CallResult> {
    try {
      return { ok: true, value: await this.run(method, params, conn) };
    } catch (err) {
      return { ok: false, error: toXenApiError(err) };
    }
  }

  private async run(method: string, params: unknown[], conn: Conn): Promise<unknown> {
    const e = this.e;
    const isAsync = method.startsWith("Async.");
    const name = isAsync ? method.slice(6) : method;
    const def = this.reg.get(name);
    if (!def || (isAsync && !def.async)) throw fail("MESSAGE_METHOD_UNKNOWN", method);
    const offset = def.session ? 1 : 0;
    const given = Math.max(0, params.length - offset);
    const mismatch = arityMismatch(def, given);
    if (mismatch) throw fail("MESSAGE_PARAMETER_COUNT_MISMATCH", ...mismatch);
    // xapi ignores what a call with versioned parameters passes beyond the newest form.
    if (given > def.params.length) params = params.slice(0, offset + def.params.length);
    const pool = e.db.poolOf(conn.host);
    if (!pool) throw fail("INTERNAL_ERROR", "host is not part of any pool");
    if (name === "session.login_with_password") return this.login(params, pool, conn, false);
    if (name === "session.slave_local_login_with_password") return this.login(params, pool, conn, true);
    if (!def.session)
      return def.run(e, { session: NULL_REF, pool, host: conn.host, user: "", role: "read-only" }, params);
    const { role, user } = checkSession(e, params[0], pool);
    const ctx: Ctx = { session: params[0] as string, pool, host: conn.host, user, role };
    const rawArgs = params.slice(1);
    if (!isAsync) {
      this.authorize(def, ctx, rawArgs);
      const args = this.coerce(def, ctx, rawArgs);
      return this.exec(def, ctx, args, conn.json === true);
    }
    const task = e.tx(() => e.createTask(ctx, method));
    const tctx: Ctx = { ...ctx, task };
    setImmediate(() => {
      void (async () => {
        let result: { ok: true; value: unknown; type: string } | { ok: false; error: XenApiError };
        try {
          this.authorize(def, tctx, rawArgs);
          const args = this.coerce(def, tctx, rawArgs);
          if (e.innerFault) await e.innerFault(name);
          // A task's result is stored in the task record: a plain value.
          const value = await this.exec(def, tctx, args, false);
          result = { ok: true, value, type: def.result.split(" ")[0] ?? "" };
        } catch (err) {
          result = { ok: false, error: toXenApiError(err) };
        }
        try {
          e.tx(() => e.finishTask(task, result));
        } catch (err) {
          e.log({ level: "error", msg: "finishing task failed", task, error: String(err) });
        }
      })();
    });
    return task;
  }

  private async exec(def: MethodDef, ctx: Ctx, args: unknown[], json: boolean): Promise<unknown> {
    if (def.long) return await def.run(this.e, ctx, args);
    const asJson = json ? def.json : undefined;
    return this.e.tx(() => (asJson ? asJson(this.e, ctx, args) : def.run(this.e, ctx, args)));
  }

  private authorize(def: MethodDef, ctx: Ctx, args: unknown[]): void {
    const special = def.permission?.(args);
    const need = special?.role ?? def.role;
    if (rank(ctx.role) >= rank(need)) return;
    throw permissionDenied(special?.name ?? def.name.toLowerCase(), need);
  }

  private coerce(def: MethodDef, ctx: Ctx, raw: unknown[]): unknown[] {
    return def.params.map((spec, i) =>
      i < raw.length ? this.coerceArg(spec, ctx, raw[i]) : structuredClone(spec.default),
    );
  }

  private coerceArg(spec: ParamSpec, ctx: Ctx, v: unknown): unknown {
    const t = spec.type;
    if (t === "any") return v;
    if (t.startsWith("record:")) {
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw fail("FIELD_TYPE_ERROR", spec.name);
      return v;
    }
    if (t.startsWith("ref:")) {
      const nullable = t.endsWith("?");
      const cls = t.slice(4, nullable ? -1 : undefined);
      if (typeof v !== "string") throw fail("FIELD_TYPE_ERROR", spec.name);
      if (nullable && v === NULL_REF) return v;
      this.e.db.obj(cls, v, ctx.pool);
      return v;
    }
    if (t.startsWith("set:ref:")) {
      const cls = t.slice(8);
      if (!Array.isArray(v)) throw fail("FIELD_TYPE_ERROR", spec.name);
      for (const x of v) {
        if (typeof x !== "string") throw fail("FIELD_TYPE_ERROR", spec.name);
        this.e.db.obj(cls, x, ctx.pool);
      }
      return v;
    }
    return checkFieldValue("", spec.name, t, v);
  }

  /** `local`: slave_local_login (any host, local superuser only, no redirect). */
  private async login(params: unknown[], pool: string, conn: Conn, local: boolean): Promise<string> {
    const e = this.e;
    const [uname, pwd, , originator] = params;
    if (typeof uname !== "string") throw fail("FIELD_TYPE_ERROR", "uname");
    if (typeof pwd !== "string") throw fail("FIELD_TYPE_ERROR", "pwd");
    const master = e.masterOf(pool);
    if (master !== conn.host && !local) throw fail("HOST_IS_SLAVE", e.db.get("host", master).address);
    const found = authenticate(e, uname, pwd);
    const user = local && found && !found.superuser ? undefined : found;
    if (!user) {
      // xapi delays failed logins (5 s) to slow down guessing.
      if (e.failedLoginDelayMs > 0) await new Promise((r) => setTimeout(r, e.failedLoginDelayMs));
      throw fail("SESSION_AUTHENTICATION_FAILED", uname, "Authentication failure");
    }
    return e.tx(() => openSession(e, pool, conn.host, user, typeof originator === "string" ? originator : ""));
  }
}

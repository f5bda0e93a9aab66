import { fail } from "../../errors";
import { Ctx, Engine } from "../engine";
import { CLASSES, CLASS_BY_LOWER } from "../schema";
import { LISTED_METHODS, Registry, p } from "./registry";

export function formatToken(gen: number): string {
  const g = String(gen).padStart(20, "0");
  return `${g},${g}`;
}

/** "" = from the beginning; otherwise "%020d,%020d" (a bare integer is accepted too). */
export function parseToken(token: string): number | undefined {
  if (token === "") return -1;
  const m = /^(\d+)(?:,(\d+))?$/.exec(token);
  if (!m) return undefined;
  return Math.max(Number(m[1]), Number(m[2] ?? 0));
}

interface Sub {
  /** lower-case class name, or "*" */
  cls: string;
  ref?: string;
}

/**
 * xapi (xapi_event.ml parse_subscription) accepts `*`, `<class>` and `<class>/<ref>` for any class name, case
 * insensitive: a class it does not hold simply produces no events. Only a malformed entry is refused.
 */
function parseSubs(classes: string[]): Sub[] {
  return classes.map((c) => {
    if (c === "*") return { cls: "*" };
    const parts = c.split("/");
    if (parts.length > 2 || !parts[0] || parts[1] === "") throw fail("EVENT_SUBSCRIPTION_PARSE_FAILURE", c);
    const cls = parts[0].toLowerCase();
    return parts[1] !== undefined ? { cls, ref: parts[1] } : { cls };
  });
}

function matches(subs: Sub[], cls: string, ref: string): boolean {
  const lc = cls.toLowerCase();
  return subs.some((s) => (s.cls === "*" || s.cls === lc) && (!s.ref || s.ref === ref));
}

/** Collects events newer than `since` for the caller's pool (latest state only: one event per object). */
export function collectEvents(e: Engine, pool: string, subs: Sub[], since: number): Record<string, unknown>[] {
  const out: { gen: number; ev: Record<string, unknown> }[] = [];
  for (const o of e.db.objects.values()) {
    if (o.pool !== pool || !CLASSES[o.cls]!.events || !matches(subs, o.cls, o.ref)) continue;
    if (since >= 0 && o.gen <= since) continue;
    const op = since < 0 || o.created > since ? "add" : "mod";
    out.push({
      gen: o.gen,
      ev: {
        id: String(o.gen),
        timestamp: "0.0",
        class: o.cls.toLowerCase(),
        operation: op,
        ref: o.ref,
        snapshot: { ...o.rec },
      },
    });
  }
  if (since >= 0) {
    const seen = new Set<string>();
    for (let i = e.db.tombstones.length - 1; i >= 0; i--) {
      const t = e.db.tombstones[i]!;
      if (t.gen <= since) break;
      if (t.pool !== pool || seen.has(t.ref) || !CLASSES[t.cls]?.events || !matches(subs, t.cls, t.ref)) continue;
      seen.add(t.ref);
      if (t.created > since) continue;
      out.push({
        gen: t.gen,
        ev: { id: String(t.gen), timestamp: "0.0", class: t.cls.toLowerCase(), operation: "del", ref: t.ref },
      });
    }
  }
  return out.sort((a, b) => a.gen - b.gen).map((x) => x.ev);
}

export function registerTaskEvent(reg: Registry): void {
  // ---- task ----------------------------------------------------------------------------------------------
  reg.add({
    name: "task.create",
    params: p("label:string", "description:string"),
    result: "task",
    run: (e, ctx, [label, desc]) => e.createTask(ctx, label as string, desc as string),
  });
  const ownTask = (e: Engine, ctx: Ctx, task: string, role: string) => {
    const owner = e.hidden(task).owner;
    if (owner !== ctx.session && role !== "pool-admin" && role !== "pool-operator")
      throw fail(
        "RBAC_PERMISSION_DENIED",
        "task.destroy/any",
        "No permission in user session. (Roles with this permission: pool-admin, pool-operator)",
      );
  };
  reg.add({
    name: "task.cancel",
    params: p("task:ref:task"),
    async: true,
    run: (e, ctx, [task]) => {
      ownTask(e, ctx, task as string, ctx.role);
      const t = e.db.get("task", task as string);
      if (!(t.allowed_operations as string[]).includes("cancel"))
        throw fail("OPERATION_NOT_ALLOWED", "task is not cancellable");
      e.db.update(task as string, { status: "cancelling", allowed_operations: [] });
      return "";
    },
  });
  reg.add({
    name: "task.destroy",
    params: p("self:ref:task"),
    run: (e, ctx, [task]) => {
      ownTask(e, ctx, task as string, ctx.role);
      e.db.destroy(task as string);
      return "";
    },
  });
  reg.add({
    name: "task.set_status",
    params: p("self:ref:task", "value:enum:task_status_type"),
    run: (e, _ctx, [task, v]) => (e.db.set(task as string, "status", v), ""),
  });
  reg.add({
    name: "task.set_progress",
    params: p("self:ref:task", "value:float"),
    run: (e, _ctx, [task, v]) => (e.db.set(task as string, "progress", v), ""),
  });

  // ---- event ---------------------------------------------------------------------------------------------
  reg.add({
    name: "event.from",
    params: p("classes:set:string", "token:string", "timeout:float"),
    run: async (e, ctx, [classes, token, timeout]) => {
      const subs = parseSubs(classes as string[]);
      const since = parseToken(token as string);
      if (since === undefined) throw fail("EVENT_FROM_TOKEN_PARSE_FAILURE", token);
      const deadline = Date.now() + Math.max(0, Number(timeout)) * 1000;
      for (;;) {
        const gen = e.db.gen;
        const events = collectEvents(e, ctx.pool, subs, since);
        if (events.length > 0 || since < 0 || Date.now() >= deadline || e.closed) {
          const counts: Record<string, number> = {};
          for (const [c, def] of Object.entries(CLASSES))
            if (def.events) counts[c.toLowerCase()] = e.db.refs(c, ctx.pool).length;
          return { events, valid_ref_counts: counts, token: formatToken(gen) };
        }
        const w = e.db.waitForCommit();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          w.promise,
          new Promise<void>((r) => (timer = setTimeout(r, deadline - Date.now()).unref())),
        ]);
        clearTimeout(timer);
        w.cancel();
      }
    },
  });
  reg.add({
    name: "event.inject",
    params: p("class:string", "ref:string"),
    run: (e, ctx, [cls, ref]) => {
      const c = CLASS_BY_LOWER.get(String(cls).toLowerCase()) ?? String(cls);
      e.db.obj(c, ref as string, ctx.pool);
      const token = formatToken(e.db.gen);
      e.db.bump(ref as string);
      return token;
    },
  });
  // Legacy (deprecated) event API: a per-session registration and a blocking next().
  reg.add({
    name: "event.register",
    params: p("classes:set:string"),
    run: (e, ctx, [classes]) => {
      parseSubs(classes as string[]);
      const h = e.hidden(ctx.session);
      const cur = (h.evClasses as string[] | undefined) ?? [];
      e.db.setHidden(ctx.session, "evClasses", [...new Set([...cur, ...(classes as string[])])]);
      if (h.evToken === undefined) e.db.setHidden(ctx.session, "evToken", e.db.gen);
      return "";
    },
  });
  reg.add({
    name: "event.unregister",
    params: p("classes:set:string"),
    run: (e, ctx, [classes]) => {
      const cur = (e.hidden(ctx.session).evClasses as string[] | undefined) ?? [];
      e.db.setHidden(
        ctx.session,
        "evClasses",
        cur.filter((c) => !(classes as string[]).includes(c)),
      );
      return "";
    },
  });
  reg.add({
    name: "event.next",
    params: [],
    note: "blocks for at most 60 s, then returns []",
    run: async (e, ctx) => {
      const deadline = Date.now() + 60000;
      for (;;) {
        const h = e.hidden(ctx.session);
        const classes = h.evClasses as string[] | undefined;
        if (!classes || classes.length === 0) throw fail("SESSION_NOT_REGISTERED", ctx.session);
        const gen = e.db.gen;
        const events = collectEvents(e, ctx.pool, parseSubs(classes), h.evToken as number);
        if (events.length > 0 || Date.now() >= deadline || e.closed) {
          e.tx(() => e.db.setHidden(ctx.session, "evToken", gen));
          return events.map((ev) => ({ ...ev, obj_uuid: (ev.snapshot as { uuid?: string } | undefined)?.uuid ?? "" }));
        }
        const w = e.db.waitForCommit();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          w.promise,
          new Promise<void>((r) => (timer = setTimeout(r, deadline - Date.now()).unref())),
        ]);
        clearTimeout(timer);
        w.cancel();
      }
    },
  });
  reg.add({
    name: "event.get_current_id",
    params: [],
    result: "int",
    run: (e) => e.db.gen,
  });

  // ---- message -------------------------------------------------------------------------------------------
  reg.add({
    name: "message.create",
    params: p("name:string", "priority:int", "cls:enum:cls", "obj_uuid:string", "body:string"),
    role: "pool-operator",
    result: "message",
    run: (e, ctx, [name, prio, cls, uuid, body]) =>
      e.message(ctx.pool, name as string, prio as number, cls as string, uuid as string, body as string),
  });
  reg.add({
    name: "message.destroy",
    params: p("self:ref:message"),
    role: "pool-operator",
    run: (e, _ctx, [m]) => (e.db.destroy(m as string), ""),
  });
  reg.add({
    name: "message.get_since",
    params: p("since:datetime"),
    run: (e, ctx, [since]) =>
      Object.fromEntries(
        e.db
          .all("message", ctx.pool)
          .filter(([, m]) => String(m.timestamp) > String(since))
          .map(([r, m]) => [r, { ...m }]),
      ),
  });

  // ---- system --------------------------------------------------------------------------------------------
  reg.add({
    name: "system.listMethods",
    params: [],
    session: false,
    run: () => [...LISTED_METHODS],
  });
}

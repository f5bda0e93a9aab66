import { timingSafeEqual } from "node:crypto";
import { fail } from "../../errors";
import { NULL_REF } from "../../ids";
import { Ctx, Engine, ROLES, Role } from "../engine";
import { Registry, p } from "./registry";

export interface User {
  name: string;
  password: string;
  role: Role;
  superuser: boolean;
}

export function users(e: Engine): User[] {
  const out: User[] = [{ name: "root", password: e.rootPassword, role: "pool-admin", superuser: true }];
  for (const u of e.inventory.users ?? []) {
    if (u.name === "root") continue;
    const role = (ROLES as readonly string[]).includes(u.role) ? (u.role as Role) : "read-only";
    out.push({ name: u.name, password: u.password, role, superuser: false });
  }
  return out;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Sessions per user are capped at 500; the oldest is evicted (xapi_session.ml). */
const MAX_SESSIONS_PER_USER = 500;

/**
 * Checks credentials. Returns the user, or undefined for a bad login (the dispatcher applies the delay and
 * raises SESSION_AUTHENTICATION_FAILED so that the delay happens outside any transaction).
 */
export function authenticate(e: Engine, uname: string, pwd: string): User | undefined {
  return users(e).find((u) => u.name === uname && same(u.password, pwd));
}

export function openSession(e: Engine, pool: string, host: string, user: User, originator: string): string {
  const mine = e.db
    .all("session", pool)
    .filter(([, s]) => s.auth_user_name === user.name && s.originator === originator)
    .sort((a, b) => (e.hidden(a[0]).lastActive as number) - (e.hidden(b[0]).lastActive as number));
  while (mine.length >= MAX_SESSIONS_PER_USER) e.db.destroy(mine.shift()![0]);
  const now = e.now();
  const ref = e.create(
    "session",
    pool,
    {
      this_host: host,
      this_user: NULL_REF,
      last_active: now,
      pool: false,
      is_local_superuser: user.superuser,
      subject: NULL_REF,
      validation_time: now,
      auth_user_sid: user.superuser ? "" : `S-1-5-21-sim-${user.name}`,
      auth_user_name: user.name,
      rbac_permissions: [],
      originator,
    },
    { role: user.role, lastActive: e.clock.now() },
  );
  return ref;
}

/** SESSION_INVALID for unknown, foreign-pool or idle-expired sessions. Touches last_active in memory only. */
export function checkSession(e: Engine, ref: unknown, pool: string): { role: Role; user: string } {
  if (typeof ref !== "string") throw fail("SESSION_INVALID", String(ref));
  const o = e.db.objects.get(ref);
  if (!o || o.cls !== "session" || o.pool !== pool) throw fail("SESSION_INVALID", ref);
  const now = e.clock.now();
  if (now - ((o.hidden.lastActive as number) ?? now) > e.sessionIdleMs) {
    e.tx(() => e.db.destroy(ref));
    throw fail("SESSION_INVALID", ref);
  }
  // Not journalled: a read must not cost a durable write.
  o.hidden.lastActive = now;
  e.db.setVolatile(ref, "last_active", e.now());
  return { role: (o.hidden.role as Role) ?? "read-only", user: o.rec.auth_user_name as string };
}

/**
 * xapi's session class has no get_all, get_all_records or get_all_records_where: a session ref is a bearer
 * credential, so listing them would let any user act as root. Removed from the implicit set (registered first).
 */
export const UNEXPOSED_SESSION_METHODS = [
  "session.get_all",
  "session.get_all_records",
  "session.get_all_records_where",
] as const;

export function registerSession(reg: Registry): void {
  for (const name of UNEXPOSED_SESSION_METHODS) reg.methods.delete(name);
  reg.add({
    name: "session.login_with_password",
    params: p("uname:string", "pwd:string", 'version:string="1.1"', 'originator:string=""'),
    session: false,
    result: "session",
    run: () => {
      throw new Error("handled by the dispatcher");
    },
  });
  reg.add({
    name: "session.slave_local_login_with_password",
    params: p("uname:string", "pwd:string"),
    session: false,
    role: "pool-admin",
    result: "session",
    run: () => {
      throw new Error("handled by the dispatcher");
    },
  });
  reg.add({
    name: "session.logout",
    params: [],
    run: (e: Engine, ctx: Ctx) => {
      e.db.destroy(ctx.session);
      return "";
    },
  });
  reg.add({
    name: "session.local_logout",
    params: [],
    run: (e: Engine, ctx: Ctx) => {
      e.db.destroy(ctx.session);
      return "";
    },
  });
  reg.add({
    name: "session.get_all_subject_identifiers",
    params: [],
    // xapi_session.ml: the distinct auth_user_sid of the live sessions, the local superuser's "" left out.
    run: (e: Engine, ctx: Ctx) => [
      ...new Set(
        e.db
          .all("session", ctx.pool)
          .map(([, s]) => s.auth_user_sid as string)
          .filter((sid) => sid !== ""),
      ),
    ],
  });
  reg.add({
    name: "session.change_password",
    params: p("old_pwd:string", "new_pwd:string"),
    note: "always refused: passwords come from the inventory",
    run: () => {
      throw fail("CHANGE_PASSWORD_REJECTED", "passwords are managed by the simulator inventory");
    },
  });
}

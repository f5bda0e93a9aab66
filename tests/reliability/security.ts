/**
 * Security: RBAC under the real engine (read-only user, vm-operator joining a host), TLS verification (default on,
 * wrong CA), the control plane's token, slowed failed logins, and no password in state, logs or errors.
 */
import * as fs from "node:fs";

import { startSimulator, type RunningSimulator } from "../../simulator";
import { XenApiClient, isTransportError, isXenApiError } from "../../provider/xenapi";
import { createE2eEnv, type E2eEnv } from "../e2e/harness";
import {
  caseSeed,
  check,
  checksum,
  errorSummary,
  FIXTURE_VMS,
  oneLine,
  runCase,
  stateVms,
  userVms,
  xenClient,
  type CaseResult,
  type RunContext,
} from "./lib";

const GROUP = "5 security";
const ROOT_PASSWORD = "rel-sec-Root-pw-c0ffee-91";
const USER_PASSWORDS = ["readonly-pw", "operator-pw"];

interface Shared {
  sim: RunningSimulator;
  envs: E2eEnv[];
  /** Error texts seen (engine and client), searched for passwords. */
  errors: string[];
}

async function engineEnv(s: Shared, name: string, vars: Record<string, string>): Promise<E2eEnv> {
  // XEN_DEBUG makes the client log every call (redacted) into the engine output, so the secret check covers it.
  const env = await createE2eEnv({ name, envVars: { XEN_URL: s.sim.url, XEN_DEBUG: "1", ...vars } });
  s.envs.push(env);
  return env;
}

async function readOnlyUser(ctx: RunContext, s: Shared): Promise<CaseResult | undefined> {
  const name = "read-only user: preview works, up fails with a clear RBAC message, nothing created";
  if (!ctx.selected(GROUP, name)) return undefined;
  return runCase(ctx, GROUP, name, undefined, async () => {
    const env = await engineEnv(s, "rel-readonly", { XEN_USERNAME: "readonly", XEN_PASSWORD: "readonly-pw" });
    const stack = await env.openStack(FIXTURE_VMS, { stackName: `rel-readonly-${process.pid}` });
    const xen = xenClient(s.sim.url, "root", ROOT_PASSWORD);
    try {
      const before = new Set([...(await userVms(xen)).values()].map((v) => v.uuid));
      const pre = await env.preview(stack);
      // The stack itself and the VM.
      check((pre.changeSummary.create ?? 0) >= 1, `preview plans no create: ${JSON.stringify(pre.changeSummary)}`);
      let err = "";
      try {
        await env.up(stack);
      } catch (e) {
        err = e instanceof Error ? e.message : String(e);
        s.errors.push(err);
      }
      check(err !== "", "up as a read-only user succeeded");
      check(/RBAC_PERMISSION_DENIED/.test(err), `up failed without RBAC_PERMISSION_DENIED: ${errorSummary(err)}`);
      const explained = /lacks permission '([^']+)'.*Roles with this permission: ([^.]+)\./.exec(err);
      check(explained, `the RBAC failure does not say which permission and roles: ${errorSummary(err)}`);
      const after = [...(await userVms(xen)).values()].filter((v) => !before.has(v.uuid));
      check(after.length === 0, `${after.length} VM created by a read-only user`);
      check((await stateVms(env, stack)).length === 0, "a VM entered the state");
      return {
        detail: oneLine(
          `preview: ${JSON.stringify(pre.changeSummary)}; up: RBAC_PERMISSION_DENIED, lacks '${explained[1]}', roles: ${explained[2]}`,
        ),
        leftovers: "none",
      };
    } finally {
      await xen.close().catch(() => undefined);
    }
  });
}

async function operatorJoin(ctx: RunContext, s: Shared): Promise<CaseResult | undefined> {
  const name = "vm-operator cannot join a host (RBAC_PERMISSION_DENIED), pool unchanged";
  if (!ctx.selected(GROUP, name)) return undefined;
  return runCase(ctx, GROUP, name, undefined, async () => {
    const env = await engineEnv(s, "rel-operator", { XEN_USERNAME: "operator", XEN_PASSWORD: "operator-pw" });
    const stack = await env.openStack(FIXTURE_VMS, {
      stackName: `rel-operator-${process.pid}`,
      config: { "rel:count": { value: "0" }, "rel:join": { value: "127.42.0.2" } },
    });
    const xen = xenClient(s.sim.url, "root", ROOT_PASSWORD);
    try {
      const hostsBefore = (await xen.getAllRecords("host")).size;
      let err = "";
      try {
        await env.up(stack);
      } catch (e) {
        err = e instanceof Error ? e.message : String(e);
        s.errors.push(err);
      }
      check(err !== "", "a vm-operator joined a host");
      check(/RBAC_PERMISSION_DENIED/.test(err), `failed without RBAC_PERMISSION_DENIED: ${errorSummary(err)}`);
      check(/pool\.join/i.test(err), `the denial does not name pool.join: ${errorSummary(err)}`);
      const hostsAfter = (await xen.getAllRecords("host")).size;
      check(hostsAfter === hostsBefore, `pool went from ${hostsBefore} to ${hostsAfter} hosts`);
      const line =
        /error:[^\n]*RBAC_PERMISSION_DENIED[^\n]*/.exec(err)?.[0] ??
        /[^\n]*RBAC_PERMISSION_DENIED[^\n]*/.exec(err)?.[0] ??
        "";
      return { detail: oneLine(`up failed: ${line}`, 260), leftovers: "none (pool still has 1 host)" };
    } finally {
      await xen.close().catch(() => undefined);
    }
  });
}

async function tlsCases(ctx: RunContext, s: Shared): Promise<CaseResult | undefined> {
  const name = "TLS: verification on by default, the right CA works, a wrong CA fails clearly (client and engine)";
  if (!ctx.selected(GROUP, name)) return undefined;
  return runCase(ctx, GROUP, name, undefined, async () => {
    const a = await startSimulator({ port: 0, timeScale: 0, failedLoginDelayMs: 0, rootPassword: ROOT_PASSWORD });
    const b = await startSimulator({ port: 0, timeScale: 0, failedLoginDelayMs: 0, rootPassword: ROOT_PASSWORD });
    const clients: XenApiClient[] = [];
    const attempt = async (opts: { caCert?: string }) => {
      const c = new XenApiClient({ url: a.url, username: "root", password: ROOT_PASSWORD, ...opts });
      clients.push(c);
      try {
        await c.call("pool.get_all", []);
        return undefined;
      } catch (e) {
        s.errors.push(String(e instanceof Error ? e.message : e));
        return e;
      }
    };
    try {
      check(a.url.startsWith("https://") && a.caCert && b.caCert, "simulator not in TLS mode");
      const noCa = await attempt({});
      check(noCa !== undefined, "connected to a self-signed host without any CA: verification is off by default");
      check(isTransportError(noCa, "tls"), `default: not a TLS error: ${errorSummary(noCa)}`);
      const right = await attempt({ caCert: a.caCert! });
      check(right === undefined, `the right CA was refused: ${errorSummary(right)}`);
      const wrong = await attempt({ caCert: b.caCert! });
      check(isTransportError(wrong, "tls"), `wrong CA: not a TLS error: ${errorSummary(wrong)}`);
      const wmsg = (wrong as Error).message;
      check(/TLS|certificate/i.test(wmsg), `wrong CA message unclear: ${oneLine(wmsg)}`);
      // Under the engine: XEN_CA_CERT naming the other simulator's CA file.
      const env = await createE2eEnv({
        name: "rel-tls",
        envVars: { XEN_URL: a.url, XEN_USERNAME: "root", XEN_PASSWORD: ROOT_PASSWORD, XEN_CA_CERT: b.caCertPath! },
      });
      s.envs.push(env);
      const stack = await env.openStack(FIXTURE_VMS, { stackName: `rel-tls-${process.pid}` });
      let err = "";
      try {
        await env.up(stack);
      } catch (e) {
        err = e instanceof Error ? e.message : String(e);
        s.errors.push(err);
      }
      check(err !== "", "up succeeded against a host whose certificate the given CA did not sign");
      check(/TLS|certificate/i.test(err), `engine: unclear failure: ${errorSummary(err)}`);
      const xen = new XenApiClient({ url: a.url, username: "root", password: ROOT_PASSWORD, caCert: a.caCert! });
      clients.push(xen);
      check((await userVms(xen)).size === 0, "a VM was created through an unverified connection");
      return {
        detail: oneLine(
          `default: ${oneLine(String((noCa as Error).message), 110)}; wrong CA (engine): ${errorSummary(err)}`,
          320,
        ),
        leftovers: "none",
      };
    } finally {
      for (const c of clients) await c.close().catch(() => undefined);
      await a.close();
      await b.close();
    }
  });
}

async function controlPlane(ctx: RunContext, s: Shared): Promise<CaseResult | undefined> {
  const name = "control plane refuses requests without its token";
  if (!ctx.selected(GROUP, name)) return undefined;
  return runCase(ctx, GROUP, name, undefined, async () => {
    const before = await checksum(s.sim);
    const attempts: Array<[string, string, Record<string, string>]> = [];
    const routes: Array<[string, string]> = [
      ["GET", "metrics"],
      ["GET", "checksum"],
      ["GET", "recorder"],
      ["POST", "reset"],
      ["POST", "faults"],
      ["DELETE", "faults"],
      ["POST", "time-scale"],
    ];
    const headers: Array<Record<string, string>> = [
      {},
      { authorization: "Bearer" },
      { authorization: "Bearer " },
      { authorization: `Bearer ${s.sim.controlToken.slice(0, -1)}` },
      { authorization: `bearer ${s.sim.controlToken}` },
      { authorization: s.sim.controlToken },
      { authorization: `Basic ${Buffer.from(`root:${ROOT_PASSWORD}`).toString("base64")}` },
    ];
    for (const [m, p] of routes) for (const h of headers) attempts.push([m, p, h]);
    const accepted: string[] = [];
    for (const [m, p, h] of attempts) {
      const res = await fetch(`${s.sim.controlUrl}/${p}`, {
        method: m,
        headers: { "content-type": "application/json", ...h },
        ...(m === "POST" ? { body: JSON.stringify(p === "faults" ? { method: "*", drop: true } : { scale: 5 }) } : {}),
      });
      await res.text();
      if (res.status !== 401) accepted.push(`${m} ${p} with ${JSON.stringify(h).slice(0, 40)} -> ${res.status}`);
    }
    check(
      accepted.length === 0,
      `${accepted.length} requests not refused with 401: ${accepted.slice(0, 3).join("; ")}`,
    );
    check((await checksum(s.sim)) === before, "the state changed");
    // The pool still answers normally (no fault was installed, no reset happened).
    const xen = xenClient(s.sim.url, "root", ROOT_PASSWORD);
    try {
      await xen.call("pool.get_all", []);
    } finally {
      await xen.close().catch(() => undefined);
    }
    return {
      detail: `${attempts.length} requests (7 routes x 7 header variants) all HTTP 401; state unchanged`,
      leftovers: "none",
    };
  });
}

async function slowLogins(ctx: RunContext, s: Shared): Promise<CaseResult | undefined> {
  const name = "failed logins are slowed (failedLoginDelayMs 1000)";
  if (!ctx.selected(GROUP, name)) return undefined;
  return runCase(ctx, GROUP, name, undefined, async () => {
    const sim = await startSimulator({
      port: 0,
      http: true,
      timeScale: 0,
      failedLoginDelayMs: 1000,
      rootPassword: ROOT_PASSWORD,
    });
    try {
      const time = async (password: string) => {
        const c = new XenApiClient({ url: sim.url, username: "root", password });
        const t0 = Date.now();
        let err: unknown;
        try {
          await c.call("pool.get_all", []);
        } catch (e) {
          err = e;
          s.errors.push(String(e instanceof Error ? e.message : e));
        }
        await c.close().catch(() => undefined);
        return { ms: Date.now() - t0, err };
      };
      const ok = await time(ROOT_PASSWORD);
      const bad = [await time("wrong-password-1"), await time("wrong-password-2"), await time("")];
      check(ok.err === undefined, `the right password was refused: ${errorSummary(ok.err)}`);
      for (const b of bad) {
        check(isXenApiError(b.err, "SESSION_AUTHENTICATION_FAILED"), `wrong password: ${errorSummary(b.err)}`);
        check(b.ms >= 950, `a failed login answered in ${b.ms} ms (< 1000 ms delay)`);
      }
      // The client does not retry a failed login (it would multiply the delay and lock accounts faster).
      check(
        bad.every((b) => b.ms < 2900),
        `a failed login took ${Math.max(...bad.map((b) => b.ms))} ms: retried?`,
      );
      check(ok.ms < 900, `a good login took ${ok.ms} ms`);
      return {
        detail: `good login ${ok.ms} ms; failed logins ${bad.map((b) => `${b.ms} ms`).join(", ")} (SESSION_AUTHENTICATION_FAILED)`,
        leftovers: "none",
      };
    } finally {
      await sim.close();
    }
  });
}

async function noPasswords(ctx: RunContext, s: Shared): Promise<CaseResult | undefined> {
  const name = "passwords never in state, backend files, engine/provider logs, errors or the simulator recorder";
  if (!ctx.selected(GROUP, name)) return undefined;
  return runCase(ctx, GROUP, name, undefined, async () => {
    // A root stack whose password is a secret in the stack config (no XEN_PASSWORD): create, then change, one VM.
    const env = await engineEnv(s, "rel-secret", { XEN_USERNAME: "root" });
    const stack = await env.openStack(FIXTURE_VMS, {
      stackName: `rel-secret-${process.pid}`,
      config: { "xen:password": { value: ROOT_PASSWORD, secret: true } },
    });
    const up = await env.up(stack);
    check(up.summary.result === "succeeded", `up as root failed: ${up.summary.message ?? ""}`);
    await stack.setConfig("rel:memory", { value: "1536MiB" });
    await env.up(stack);
    const secrets = [ROOT_PASSWORD, ...USER_PASSWORDS];
    const places: Array<[string, string]> = [];
    for (const e of s.envs) {
      places.push([`engine log (${e.dir.split("/").pop()})`, e.log.text()]);
      places.push([`backend files (${e.dir.split("/").pop()})`, await e.backendText()]);
      for (const f of fs.readdirSync(e.dir, { recursive: true, withFileTypes: true }))
        if (f.isFile() && /\.log$|\.txt$/.test(f.name))
          places.push([f.name, fs.readFileSync(`${f.parentPath}/${f.name}`, "utf8")]);
    }
    places.push(["exported state", await env.exportState(stack)]);
    places.push(["errors", s.errors.join("\n")]);
    const recorder = await fetch(`${s.sim.controlUrl}/recorder`, {
      headers: { authorization: `Bearer ${s.sim.controlToken}` },
    }).then((r) => r.text());
    places.push(["simulator recorder", recorder]);
    const leaks: string[] = [];
    for (const [where, text] of places)
      for (const p of secrets) if (text.includes(p)) leaks.push(`'${p.slice(0, 4)}…' in ${where}`);
    const logBytes = s.envs.reduce((n, e) => n + e.log.text().length, 0);
    check(logBytes > 10_000, `only ${logBytes} bytes of engine output collected: the check would prove little`);
    check(
      /session\.login_with_password/.test(s.envs.map((e) => e.log.text()).join("")),
      "the debug log of calls is missing",
    );
    check(leaks.length === 0, `password found: ${leaks.slice(0, 4).join("; ")}`);
    return {
      detail: `${secrets.length} passwords searched in ${places.length} places (${(logBytes / 1024).toFixed(0)} KiB of engine output with XEN_DEBUG=1 call logs): none found`,
      leftovers: "none",
    };
  });
}

export async function runSecurity(ctx: RunContext): Promise<CaseResult[]> {
  const seed = caseSeed(ctx.runSeed, "security");
  const sim = await startSimulator({
    port: 0,
    http: true,
    timeScale: 0,
    failedLoginDelayMs: 0,
    rootPassword: ROOT_PASSWORD,
    seed,
  });
  const s: Shared = { sim, envs: [], errors: [] };
  try {
    const [ro, op, tls] = await Promise.all([readOnlyUser(ctx, s), operatorJoin(ctx, s), tlsCases(ctx, s)]);
    const cp = await controlPlane(ctx, s);
    const slow = await slowLogins(ctx, s);
    const secrets = await noPasswords(ctx, s);
    return [ro, op, tls, cp, slow, secrets].filter((r): r is CaseResult => r !== undefined);
  } finally {
    for (const e of s.envs) await e.cleanup().catch(() => undefined);
    await sim.close();
  }
}

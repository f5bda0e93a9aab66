/**
 * Where the provider connects and with which credentials. Read when the provider runs, never captured in the
 * serialized provider nor stored in state: environment variables override the stack config given to configure().
 */
import * as fs from "fs";
import { parseDuration } from "./units";
import { XenApiClient } from "./xenapi";

export interface ConnectionSettings {
  url: string;
  username: string;
  password: string;
  caCert?: string;
  /** Pinned SHA-256 fingerprint(s) of the host certificate: XAPI hosts ship self-signed certificates. */
  fingerprint?: string;
  insecure?: boolean;
  /** Per-call HTTP timeout in ms (xen:timeout / XEN_TIMEOUT, e.g. "30s"); long operations run as tasks. */
  timeoutMs?: number;
}

/** What `configure()` receives: the whole stack config, namespaced keys (`xen:url`). */
export interface ConfigSource {
  get(key: string): string | undefined;
}

let stackConfig: Partial<ConnectionSettings> = {};

export function configureFrom(config: ConfigSource): void {
  const get = (k: string) => {
    const v = config.get(`xen:${k}`);
    return v === undefined || v === "" ? undefined : v;
  };
  stackConfig = {
    url: get("url"),
    username: get("username"),
    password: get("password"),
    caCert: get("caCert"),
    fingerprint: get("fingerprint"),
    timeoutMs: parseTimeout(get("timeout"), "xen:timeout"),
    insecure: get("insecure") === "true",
  };
}

function parseTimeout(value: string | undefined, name: string): number | undefined {
  if (!value) return undefined;
  try {
    return parseDuration(/^\d+(\.\d+)?$/.test(value) ? Number(value) : value);
  } catch (e) {
    throw new Error(`${name}: ${(e as Error).message}`);
  }
}

/** A PEM given inline or as a path to a file. */
function readPem(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (value.includes("-----BEGIN")) return value;
  try {
    return fs.readFileSync(value, "utf8");
  } catch (e) {
    throw new Error(`xen:caCert / XEN_CA_CERT: cannot read CA file ${value}: ${(e as Error).message}`);
  }
}

export function resolveConnection(urlOverride?: string, env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  const url = env.XEN_URL || urlOverride || stackConfig.url;
  const username = env.XEN_USERNAME || stackConfig.username || "root";
  const password = env.XEN_PASSWORD ?? stackConfig.password;
  if (!url) {
    throw new Error(
      "no Xen pool to talk to: set the stack config xen:url (pulumi config set xen:url https://<pool master>) or XEN_URL",
    );
  }
  if (password === undefined) {
    throw new Error(
      "no Xen password: set it with `pulumi config set --secret xen:password <password>` or the XEN_PASSWORD environment variable",
    );
  }
  const insecureEnv = env.XEN_INSECURE;
  return {
    url: urlOverride && !env.XEN_URL ? urlOverride : url,
    username,
    password,
    caCert: readPem(env.XEN_CA_CERT || stackConfig.caCert),
    fingerprint: env.XEN_FINGERPRINT || stackConfig.fingerprint,
    timeoutMs: parseTimeout(env.XEN_TIMEOUT, "XEN_TIMEOUT") ?? stackConfig.timeoutMs,
    insecure: insecureEnv !== undefined ? insecureEnv === "true" || insecureEnv === "1" : stackConfig.insecure,
  };
}

const clients = new Map<string, XenApiClient>();

/** One client (one session) per pool URL and user in this provider process. */
export function clientFor(urlOverride?: string): XenApiClient {
  const c = resolveConnection(urlOverride);
  const key = `${c.url}\u0000${c.username}`;
  let client = clients.get(key);
  if (!client) {
    client = new XenApiClient({
      url: c.url,
      username: c.username,
      password: c.password,
      ...(c.caCert ? { caCert: c.caCert } : {}),
      ...(c.fingerprint ? { fingerprint: c.fingerprint } : {}),
      ...(c.timeoutMs ? { timeoutMs: c.timeoutMs } : {}),
      ...(c.insecure ? { insecure: true } : {}),
    });
    clients.set(key, client);
  }
  return client;
}

/** Closes every client of this process (sessions logged out, event watchers stopped). For tests and scripts. */
export async function closeClients(): Promise<void> {
  const all = [...clients.values()];
  clients.clear();
  closeHooks.forEach((hook) => hook());
  await Promise.all(all.map((c) => c.close().catch(() => undefined)));
}

const closeHooks: Array<() => void> = [];
/** Lets caches keyed by client forget them when the clients are closed. */
export function onClientsClosed(hook: () => void): void {
  closeHooks.push(hook);
}

/** A client for one specific host (pool.join must be called on the joining host). Not cached. */
export function clientForHost(address: string, poolUrl?: string): XenApiClient {
  const c = resolveConnection(poolUrl);
  const base = new URL(c.url);
  const url = `${base.protocol}//${address.includes(":") && !address.startsWith("[") ? `[${address}]` : address}${base.port ? `:${base.port}` : ""}`;
  return new XenApiClient({
    url,
    username: c.username,
    password: c.password,
    ...(c.caCert ? { caCert: c.caCert } : {}),
    ...(c.fingerprint ? { fingerprint: c.fingerprint } : {}),
    ...(c.timeoutMs ? { timeoutMs: c.timeoutMs } : {}),
    ...(c.insecure ? { insecure: true } : {}),
  });
}

export function poolUrl(urlOverride?: string): string {
  return resolveConnection(urlOverride).url;
}

/**
 * Where the provider connects and with which credentials. Read when the provider runs, never captured in the
 * serialized provider nor stored in state: environment variables override the stack config given to configure().
 */
import * as fs from "fs";
import { parseDuration } from "./units";
import { XenApiClient, type Inventory, type WriteCounter, type XenClass } from "./xenapi";

/**
 * What the resource providers read through the inventory: one get_all_records each per process. Anything else
 * they read (PBDs, PIFs) is read directly when it is needed, which is rarely.
 */
const PROVIDER_INVENTORY_CLASSES: readonly XenClass[] = [
  "pool",
  "host",
  "host_metrics",
  "VM",
  "VM_metrics",
  "VM_guest_metrics",
  "VBD",
  "VDI",
  "SR",
  "VIF",
  "network",
  "VM_group",
];

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

/** The connection settings, as stack config keys `xen:<key>` and as a native provider's inputs `<key>`. */
export const CONFIG_KEYS = ["url", "username", "password", "caCert", "fingerprint", "insecure", "timeout"] as const;

/** The connection settings the stack config gives (pure: reads nothing else). */
export function settingsFrom(config: ConfigSource): Partial<ConnectionSettings> {
  const get = (k: string) => {
    const v = config.get(`xen:${k}`);
    return v === undefined || v === "" ? undefined : v;
  };
  return {
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

export function resolveConnection(
  urlOverride?: string,
  env: NodeJS.ProcessEnv = process.env,
  stackConfig: Partial<ConnectionSettings> = {},
): ConnectionSettings {
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

function newClient(c: ConnectionSettings, writeCounter: WriteCounter, url = c.url): XenApiClient {
  return new XenApiClient({
    url,
    writeCounter,
    username: c.username,
    password: c.password,
    ...(c.caCert ? { caCert: c.caCert } : {}),
    ...(c.fingerprint ? { fingerprint: c.fingerprint } : {}),
    ...(c.timeoutMs ? { timeoutMs: c.timeoutMs } : {}),
    ...(c.insecure ? { insecure: true } : {}),
  });
}

/**
 * The pools one provider process talks to, for one stack config: one client (one session) per pool URL and
 * user, and one inventory cache per client, brought up to date before each use with what this process wrote (the
 * clients share one write counter, so a host joined through its own client shows in the pool's inventory), so
 * that a refresh of hundreds of VMs costs a few calls per class instead of a dozen per VM.
 */
export class Connections {
  private readonly clients = new Map<string, XenApiClient>();
  private readonly writes: WriteCounter = { count: 0 };
  private readonly inventories = new Map<XenApiClient, Promise<Inventory>>();

  constructor(
    readonly stackConfig: Partial<ConnectionSettings> = {},
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  resolve(urlOverride?: string): ConnectionSettings {
    return resolveConnection(urlOverride, this.env, this.stackConfig);
  }

  clientFor(urlOverride?: string): XenApiClient {
    const c = this.resolve(urlOverride);
    const key = `${c.url}\u0000${c.username}`;
    let client = this.clients.get(key);
    if (!client) {
      client = newClient(c, this.writes);
      this.clients.set(key, client);
    }
    return client;
  }

  /** A client for one specific host (pool.join must be called on the joining host). Not cached. */
  clientForHost(address: string, poolUrl?: string): XenApiClient {
    const c = this.resolve(poolUrl);
    const base = new URL(c.url);
    const host = address.includes(":") && !address.startsWith("[") ? `[${address}]` : address;
    return newClient(c, this.writes, `${base.protocol}//${host}${base.port ? `:${base.port}` : ""}`);
  }

  /**
   * The pool's inventory, reflecting what this process wrote (and, read when the process began, what earlier
   * ones did); `refresh: false`: as it stands (for facts a previous look already covered).
   */
  async inventoryFor(url?: string, opts: { refresh?: boolean } = {}): Promise<Inventory> {
    const client = this.clientFor(url);
    let inventory = this.inventories.get(client);
    if (!inventory) {
      inventory = client.inventory(PROVIDER_INVENTORY_CLASSES);
      this.inventories.set(client, inventory);
      inventory.catch(() => this.inventories.delete(client));
      return inventory;
    }
    const inv = await inventory;
    if (opts.refresh !== false) await inv.refresh();
    return inv;
  }

  /** Closes every client (sessions logged out, event watchers stopped). */
  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    this.inventories.clear();
    await Promise.all(all.map((c) => c.close().catch(() => undefined)));
  }
}

/**
 * What the providers of one process share: the connections that the latest configure() built from the stack
 * config. A configure() with the same settings keeps the open sessions.
 */
export class ProviderContext {
  private current = new Connections();
  /**
   * The affinity hosts the program's VMs ask for, per group, as check() sees them in this run: two members of one
   * group pinned to one host are said before anything exists to diff against.
   */
  readonly pinnedMembers = new Map<string, Map<string, string>>();

  configure(config: ConfigSource): void {
    const next = settingsFrom(config);
    if (JSON.stringify(next) === JSON.stringify(this.current.stackConfig)) return;
    const previous = this.current;
    this.current = new Connections(next);
    void previous.close();
  }

  get connections(): Connections {
    return this.current;
  }

  async close(): Promise<void> {
    await this.current.close();
  }
}

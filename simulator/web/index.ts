/**
 * The web view of the simulated datacenter, served at `GET /` of every host address. One self-contained page
 * (static/: its script and style inline, nothing loaded from elsewhere) that signs in with
 * session.login_with_password and follows event.from on the address it came from, like any XenAPI client: what it
 * shows is what the API answers that user, and this module hands out the page and nothing else.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import type * as http from "node:http";
import * as path from "node:path";

/**
 * The page's files. Beside this module in the source tree; the compiled module (dist/simulator/web/) finds them in
 * the source tree, which ships with the package.
 */
export function staticDir(): string {
  const candidates = [path.join(__dirname, "static"), path.resolve(__dirname, "../../../simulator/web/static")];
  const found = candidates.find((d) => fs.existsSync(path.join(d, "index.html")));
  if (!found) throw new Error(`the web view's files are not in ${candidates.join(" or ")}`);
  return found;
}

/** The page as sent: the body and its headers. */
export interface ViewPage {
  body: Buffer;
  headers: Record<string, string | number>;
}

let cached: ViewPage | undefined;

/**
 * index.html with each `<!-- inline: FILE -->` replaced by that file in a `<style>` or `<script>` element. The
 * Content-Security-Policy allows exactly those elements (by hash), XenAPI calls to the same origin and nothing
 * else: the page holds a session ref, so no other script may run in it.
 */
export function viewPage(): ViewPage {
  if (cached) return cached;
  const dir = staticDir();
  const read = (name: string) => fs.readFileSync(path.join(dir, name), "utf8");
  const scripts: string[] = [];
  const styles: string[] = [];
  const html = read("index.html").replace(/<!-- inline: ([\w.-]+) -->/g, (_m, name: string) => {
    const text = read(name);
    const css = name.endsWith(".css");
    if (text.toLowerCase().includes(css ? "</style" : "</script"))
      throw new Error(`${name} cannot be inlined: it contains its own closing tag`);
    const hash = `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
    (css ? styles : scripts).push(hash);
    return css ? `<style>${text}</style>` : `<script>${text}</script>`;
  });
  const csp = [
    "default-src 'none'",
    `script-src ${scripts.join(" ")}`,
    `style-src ${styles.join(" ")}`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  const body = Buffer.from(html, "utf8");
  cached = {
    body,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Length": body.length,
      "Content-Security-Policy": csp,
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
      "Cache-Control": "no-store",
    },
  };
  return cached;
}

/** Answers `GET /` with the page. */
export function serveView(res: http.ServerResponse): void {
  const page = viewPage();
  res.writeHead(200, page.headers);
  res.end(page.body);
}

/** A log line of the view (static/feed.js `LogLine`). */
export interface FeedLogLine {
  time: number;
  level: "info" | "warn" | "error";
  text: string;
}

/** The records the view follows (static/feed.js `Store`). */
export interface FeedStore {
  token: string;
  log: FeedLogLine[];
  stats: { calls: number; events: number };
  of(cls: string): Map<string, Record<string, unknown>>;
  apply(batch: { events: unknown[]; token: string }, now?: number): FeedLogLine[];
}

/** A guest as the view lists it (static/feed.js `VmRow`). */
export interface FeedVm {
  ref: string;
  uuid: string;
  name: string;
  power: string;
  memory: number;
  vcpus: number;
  domainType: string;
  ip: string;
  moving: boolean;
}

/** A host as the view draws it (static/feed.js `HostView`). */
export interface FeedHost {
  ref: string;
  uuid: string;
  name: string;
  address: string;
  master: boolean;
  state: "enabled" | "disabled" | "evacuating" | "maintenance" | "crashed";
  hvm: boolean;
  cpus: number;
  vcpus: number;
  memoryTotal: number;
  memoryUsed: number;
  vms: FeedVm[];
}

/** The datacenter as the view draws it (static/feed.js `Datacenter`). */
export interface FeedDatacenter {
  pool: { name: string; ha: boolean; haTolerates: number; master: string } | undefined;
  hosts: FeedHost[];
  notRunning: FeedVm[];
  srs: { uuid: string; name: string; type: string; shared: boolean; hosts: string[]; size: number; used: number }[];
  tasks: { uuid: string; name: string; progress: number }[];
  totals: { vms: number; running: number; memoryTotal: number; memoryUsed: number };
}

/** The part of static/feed.js that Node callers use. */
export interface Feed {
  /** the classes the view passes to event.from */
  CLASSES: readonly string[];
  /** least time between two event.from calls */
  MIN_INTERVAL_MS: number;
  /** at most this many bytes of event.from answers a second (a larger answer makes a longer pause) */
  BYTES_PER_SECOND: number;
  login(base: string, username: string, password: string): Promise<string>;
  logout(base: string, session: string): Promise<void>;
  Store: new () => FeedStore;
  /** when the next event.from may start (the pacing rule of `follow`) */
  nextCallAt(o: { startedAt: number; chars: number; whole: boolean; minIntervalMs?: number }): number;
  follow(o: {
    base: string;
    session: string;
    store: FeedStore;
    signal?: AbortSignal;
    minIntervalMs?: number;
    onBatch?: (lines: FeedLogLine[]) => void;
    onStatus?: (status: "live" | "retrying", error?: unknown) => void;
  }): Promise<void>;
  datacenter(store: FeedStore): FeedDatacenter;
  bytes(n: number): string;
}

/** The page's data side in Node, the same file the page runs: for the benchmark's view and for tests. */
export function loadFeed(): Feed {
  return require(path.join(staticDir(), "feed.js")) as Feed;
}

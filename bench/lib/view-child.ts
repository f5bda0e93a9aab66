/**
 * The simulator's web view in its own process, in place of a browser tab: the page's own data side
 * (simulator/web/static/feed.js, the file the page runs) signs in and follows event.from exactly as the page does,
 * and builds the datacenter the page would draw after each answer (the drawing itself is left out). Argument: JSON
 * `{ url, username, password }`. Its first message comes once the first answer (the whole pool) is in:
 * `{ ms, vms, hosts }`.
 *
 * Messages: `{type:"pause"}` stops following (a view that is not connected), `{type:"resume"}` follows again from
 * where it stopped, `{type:"stats"}` answers `{ calls, events, cpuMs }` so far (cpuMs: this process's CPU time).
 */
import * as path from "node:path";
import type { Feed, FeedStore } from "../../simulator/web";

const ROOT = process.env.BENCH_REPO_ROOT!;
const feed = require(path.join(ROOT, "simulator", "web", "static", "feed.js")) as Feed;

interface Config {
  url: string;
  username: string;
  password: string;
}
const cfg = JSON.parse(process.argv[2] ?? "{}") as Config;

let store: FeedStore;
let session: string;
let running: { abort: AbortController; done: Promise<void> } | undefined;

function start(onFirst?: () => void): void {
  const abort = new AbortController();
  const done = feed.follow({
    base: cfg.url,
    session,
    store,
    signal: abort.signal,
    onBatch: () => {
      feed.datacenter(store);
      onFirst?.();
      onFirst = undefined;
    },
  });
  done.catch((err: unknown) => process.send!({ error: `the view stopped following: ${String(err)}` }));
  running = { abort, done };
}

async function stop(): Promise<void> {
  const r = running;
  running = undefined;
  if (!r) return;
  r.abort.abort();
  await r.done.catch(() => undefined);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  session = await feed.login(cfg.url, cfg.username, cfg.password);
  store = new feed.Store();
  await new Promise<void>((resolve) => start(resolve));
  process.send!({ ms: performance.now() - t0, vms: store.of("vm").size, hosts: store.of("host").size });

  process.on("message", (m: { type: string }) => {
    void (async () => {
      if (m.type === "pause") {
        await stop();
        process.send!({ ok: true });
      } else if (m.type === "resume") {
        if (!running) start();
        process.send!({ ok: true });
      } else if (m.type === "stats") {
        const cpu = process.cpuUsage();
        process.send!({ ...store.stats, cpuMs: (cpu.user + cpu.system) / 1000 });
      } else process.send!({ error: `unknown message ${m.type}` });
    })();
  });
  process.on("SIGTERM", () => {
    void stop()
      .then(() => feed.logout(cfg.url, session).catch(() => undefined))
      .then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.send!({ error: String(err instanceof Error ? err.stack : err) });
  process.exit(1);
});

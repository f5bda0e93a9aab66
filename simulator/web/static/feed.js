// @ts-check
/**
 * The web view's data side, with no DOM: XenAPI over JSON-RPC, the login, the `event.from` loop, the records it
 * keeps (only the fields the view shows) and the datacenter the view draws from them. The API is the only source:
 * nothing here reads the simulator's state any other way. Loaded by the page (as the global `XenFeed`) and by
 * Node (`require`: the benchmark's view, the tests).
 */
"use strict";

/**
 * @typedef {Record<string, any>} Rec
 * @typedef {{ time: number, level: "info" | "warn" | "error", text: string }} LogLine
 * @typedef {{ class: string, operation: string, ref: string, snapshot?: Rec }} XenEvent
 */

/**
 * @typedef {{
 *   ref: string, uuid: string, name: string, power: string, memory: number, vcpus: number,
 *   domainType: string, ip: string, moving: boolean,
 * }} VmRow
 * @typedef {"enabled" | "disabled" | "evacuating" | "maintenance" | "crashed"} HostState
 * @typedef {{
 *   ref: string, uuid: string, name: string, address: string, master: boolean, state: HostState,
 *   hvm: boolean, cpus: number, vcpus: number, memoryTotal: number, memoryUsed: number, vms: VmRow[],
 * }} HostView
 * @typedef {{ uuid: string, name: string, type: string, shared: boolean, hosts: string[], size: number, used: number }} SrView
 * @typedef {{ uuid: string, name: string, progress: number }} TaskView
 * @typedef {{
 *   pool: { name: string, ha: boolean, haTolerates: number, master: string } | undefined,
 *   hosts: HostView[], notRunning: VmRow[], srs: SrView[], tasks: TaskView[],
 *   totals: { vms: number, running: number, memoryTotal: number, memoryUsed: number },
 * }} Datacenter
 */

(() => {
  /** Classes the view follows, as event.from names them. */
  const CLASSES = ["pool", "host", "host_metrics", "vm", "vm_guest_metrics", "sr", "pbd", "task"];

  /**
   * Least time between the starts of two event.from calls. It bounds the view's load on the pool whatever the
   * churn (at most 4 calls a second, each carrying every change since the last), and keeps a change on screen
   * well within a second.
   */
  const MIN_INTERVAL_MS = 250;
  /**
   * At most this many bytes of answers a second: under a storm of changes (thousands of VMs changing every second)
   * the pause after an answer grows with its size, so that the pool spends little on telling the view and the view
   * falls a few seconds behind instead. Below it (about 1,500 changed VMs a second) the pace is MIN_INTERVAL_MS.
   */
  const BYTES_PER_SECOND = 4 * 1024 * 1024;
  /** The longest pause that pacing makes. */
  const MAX_PACE_MS = 4000;
  /** How long (seconds) one event.from blocks when nothing changes. */
  const POLL_TIMEOUT_S = 30;
  /** Longest wait between two attempts while the host does not answer. */
  const MAX_RETRY_MS = 8000;
  /** Lines kept in the event log. */
  const LOG_SIZE = 60;
  /** Sent as the session's originator (xapi counts sessions per originator). */
  const ORIGINATOR = "xen-web-view";
  const NULL_REF = "OpaqueRef:NULL";

  /**
   * The fields kept per class: at 10,000 VMs a whole VM record is about 2.7 KiB, the part the view shows a tenth
   * of that.
   * @type {Record<string, readonly string[]>}
   */
  const FIELDS = {
    pool: ["uuid", "name_label", "master", "default_SR", "ha_enabled", "ha_host_failures_to_tolerate"],
    host: ["uuid", "name_label", "address", "enabled", "capabilities", "cpu_info", "metrics", "current_operations"],
    host_metrics: ["memory_total", "memory_free", "live"],
    vm: [
      "uuid",
      "name_label",
      "power_state",
      "resident_on",
      "memory_static_max",
      "memory_dynamic_max",
      "memory_target",
      "VCPUs_at_startup",
      "domain_type",
      "guest_metrics",
      "current_operations",
    ],
    vm_guest_metrics: ["networks"],
    sr: ["uuid", "name_label", "type", "shared", "physical_size", "physical_utilisation", "content_type"],
    pbd: ["host", "SR"],
    task: ["uuid", "name_label", "status", "progress", "created", "error_info"],
  };

  /** A XenAPI error answer: `[code, ...params]` as xapi sends it. */
  class XenApiFailure extends Error {
    /**
     * @param {string} method
     * @param {string} code
     * @param {string[]} params
     */
    constructor(method, code, params) {
      super(`${method}: ${code}${params.length ? ` [${params.join(", ")}]` : ""}`);
      this.name = "XenApiFailure";
      this.method = method;
      this.code = code;
      this.params = params;
    }
  }

  /** No XenAPI answer at all: the network, an HTTP status, a body that is not JSON-RPC. */
  class TransportFailure extends Error {
    /**
     * @param {string} method
     * @param {string} message
     */
    constructor(method, message) {
      super(`${method}: ${message}`);
      this.name = "TransportFailure";
      this.method = method;
    }
  }

  /**
   * @param {unknown} e
   * @returns {e is XenApiFailure}
   */
  function isXenApiFailure(e) {
    return e instanceof XenApiFailure || (e instanceof Error && e.name === "XenApiFailure");
  }

  let nextId = 1;

  /**
   * One JSON-RPC call to `<base>/jsonrpc` (base "" on the page: its own origin).
   * @param {string} base
   * @param {string} method
   * @param {unknown[]} params
   * @param {{ signal?: AbortSignal, size?: (chars: number) => void }} [opts] `size` hears the answer's length
   * @returns {Promise<any>}
   */
  async function call(base, method, params, opts = {}) {
    /** @type {Response} */
    let res;
    try {
      res = await fetch(`${base}/jsonrpc`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", method, params, id: nextId++ }),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw new TransportFailure(method, e instanceof Error ? e.message : String(e));
    }
    if (!res.ok) throw new TransportFailure(method, `HTTP ${res.status}`);
    /** @type {any} */
    let body;
    try {
      const text = await res.text();
      opts.size?.(text.length);
      body = JSON.parse(text);
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw new TransportFailure(method, "the answer is not JSON");
    }
    if (body && body.error) {
      const data = Array.isArray(body.error.data) ? body.error.data.map(String) : [];
      throw new XenApiFailure(method, String(body.error.message), data);
    }
    if (!body || !("result" in body)) throw new TransportFailure(method, "the answer is not JSON-RPC");
    return body.result;
  }

  /**
   * A XenAPI session for this user: the same login as any client, so the user's role applies to every call.
   * @param {string} base
   * @param {string} username
   * @param {string} password
   * @returns {Promise<string>}
   */
  async function login(base, username, password) {
    return String(await call(base, "session.login_with_password", [username, password, "1.0", ORIGINATOR]));
  }

  /**
   * @param {string} base
   * @param {string} session
   */
  async function logout(base, session) {
    await call(base, "session.logout", [session]);
  }

  /**
   * What a failed login or a lost session means to the person at the page.
   * @param {unknown} e
   * @returns {{ text: string, master?: string }}
   */
  function explain(e) {
    if (isXenApiFailure(e)) {
      switch (e.code) {
        case "SESSION_AUTHENTICATION_FAILED":
          return { text: "Wrong user name or password (SESSION_AUTHENTICATION_FAILED)." };
        case "HOST_IS_SLAVE":
          return {
            text: `This host is a pool member, not its master: sign in on the master at ${e.params[0] ?? "?"}.`,
            ...(e.params[0] ? { master: e.params[0] } : {}),
          };
        case "SESSION_INVALID":
          return { text: "The session has ended (SESSION_INVALID): sign in again." };
        case "RBAC_PERMISSION_DENIED":
          return { text: `Your role may not do this (${e.params[0] ?? ""}).` };
        default:
          return { text: `${e.code}${e.params.length ? ` [${e.params.join(", ")}]` : ""}` };
      }
    }
    return { text: `The host did not answer (${e instanceof Error ? e.message : String(e)}).` };
  }

  /**
   * @param {string} cls
   * @param {Rec} snapshot
   * @returns {Rec}
   */
  function keep(cls, snapshot) {
    /** @type {Rec} */
    const out = {};
    for (const f of FIELDS[cls] ?? []) out[f] = snapshot[f];
    return out;
  }

  /** The records the view follows, as the last event.from left them, and the event log derived from them. */
  class Store {
    constructor() {
      /** @type {Map<string, Map<string, Rec>>} */
      this.records = new Map(CLASSES.map((c) => [c, new Map()]));
      /** event.from token; "" until the first answer */
      this.token = "";
      /** @type {LogLine[]} newest last */
      this.log = [];
      /** counts of what the loop did (tests, benchmark) */
      this.stats = { calls: 0, events: 0 };
    }

    /**
     * @param {string} cls
     * @returns {Map<string, Rec>}
     */
    of(cls) {
      return /** @type {Map<string, Rec>} */ (this.records.get(cls));
    }

    /**
     * @param {string} ref
     * @returns {string}
     */
    hostName(ref) {
      return this.of("host").get(ref)?.name_label ?? "no host";
    }

    /** Forgets everything (a new sync from an empty token follows). */
    clear() {
      for (const m of this.records.values()) m.clear();
      this.token = "";
    }

    /**
     * Applies one event.from answer. The first one (empty token) is the whole state and logs one line; later ones
     * log what changed that a person watching the pool cares about.
     * @param {{ events: XenEvent[], token: string }} batch
     * @param {number} [now]
     * @returns {LogLine[]} the lines added
     */
    apply(batch, now = Date.now()) {
      const initial = this.token === "";
      /** @type {LogLine[]} */
      const lines = [];
      for (const ev of batch.events) {
        const cls = String(ev.class).toLowerCase();
        const table = this.records.get(cls);
        if (!table) continue;
        const before = table.get(ev.ref);
        let after = ev.operation === "del" || !ev.snapshot ? undefined : keep(cls, ev.snapshot);
        // Templates, snapshots and control domains are not the guests the view shows.
        if (
          cls === "vm" &&
          ev.snapshot &&
          (ev.snapshot.is_a_template || ev.snapshot.is_a_snapshot || ev.snapshot.is_control_domain)
        )
          after = undefined;
        if (!initial) for (const text of describe(this, cls, ev.ref, before, after)) lines.push({ time: now, ...text });
        if (after) table.set(ev.ref, after);
        else table.delete(ev.ref);
      }
      this.token = batch.token;
      this.stats.events += batch.events.length;
      if (initial) {
        const vms = this.of("vm").size;
        lines.push({ time: now, level: "info", text: `following the pool: ${this.of("host").size} hosts, ${vms} VMs` });
      }
      this.log.push(...lines);
      if (this.log.length > LOG_SIZE) this.log.splice(0, this.log.length - LOG_SIZE);
      return lines;
    }
  }

  /**
   * @param {Rec | undefined} vm
   * @returns {boolean}
   */
  function onHost(vm) {
    return !!vm && vm.power_state !== "Halted" && vm.resident_on !== NULL_REF;
  }

  /**
   * The log lines for one object's change (`before`/`after` undefined: created/destroyed).
   * @param {Store} s
   * @param {string} cls
   * @param {string} ref
   * @param {Rec | undefined} before
   * @param {Rec | undefined} after
   * @returns {{ level: "info" | "warn" | "error", text: string }[]}
   */
  function describe(s, cls, ref, before, after) {
    /** @type {{ level: "info" | "warn" | "error", text: string }[]} */
    const out = [];
    const info = (/** @type {string} */ text) => out.push({ level: "info", text });
    if (cls === "vm") {
      const name = (after ?? before)?.name_label ?? "?";
      if (!before && after) info(`VM ${name} created`);
      else if (before && !after) info(`VM ${name} destroyed`);
      else if (before && after) {
        if (before.power_state !== after.power_state)
          info(
            `VM ${name}: ${before.power_state} → ${after.power_state}${onHost(after) ? ` on ${s.hostName(after.resident_on)}` : ""}`,
          );
        else if (onHost(before) && onHost(after) && before.resident_on !== after.resident_on)
          info(`VM ${name} moved ${s.hostName(before.resident_on)} → ${s.hostName(after.resident_on)}`);
      }
    } else if (cls === "host") {
      const name = (after ?? before)?.name_label ?? "?";
      if (!before && after) info(`host ${name} joined the pool`);
      else if (before && !after) info(`host ${name} left the pool`);
      else if (before && after) {
        if (before.enabled !== after.enabled)
          out.push({
            level: after.enabled ? "info" : "warn",
            text: `host ${name} ${after.enabled ? "enabled" : "disabled"}`,
          });
        const evacuating = (/** @type {Rec} */ h) => Object.values(h.current_operations ?? {}).includes("evacuate");
        if (!evacuating(before) && evacuating(after)) out.push({ level: "warn", text: `host ${name} evacuating` });
        if (evacuating(before) && !evacuating(after)) info(`host ${name} evacuated`);
      }
    } else if (cls === "host_metrics" && before && after && before.live !== after.live) {
      const host = [...s.of("host").values()].find((h) => h.metrics === ref);
      const name = host?.name_label ?? "a host";
      out.push(
        after.live
          ? { level: "info", text: `host ${name} is live again` }
          : { level: "error", text: `host ${name} stopped answering (not live)` },
      );
    } else if (cls === "task") {
      const t = after ?? before;
      const name = t?.name_label ?? "task";
      // A running task is in the tasks panel; the log has how it ended.
      if (after && after.status !== "pending" && after.status !== "cancelling" && before?.status !== after.status) {
        if (after.status === "success") info(`${name} succeeded`);
        else
          out.push({
            level: "error",
            text: `${name} ${after.status}${after.error_info?.length ? `: ${after.error_info.join(" ")}` : ""}`,
          });
      }
    } else if (cls === "pool" && before && after && before.ha_enabled !== after.ha_enabled) {
      info(`HA ${after.ha_enabled ? "enabled" : "disabled"} on pool ${after.name_label || "(unnamed)"}`);
    }
    return out;
  }

  /**
   * When the next event.from may start, after one that started at `startedAt` and answered `chars` characters:
   * MIN_INTERVAL_MS later, or later still for a large answer (BYTES_PER_SECOND, at most MAX_PACE_MS). The first
   * answer (`whole`: the whole pool) is a one-off and holds nothing back.
   * @param {{ startedAt: number, chars: number, whole: boolean, minIntervalMs?: number }} o
   * @returns {number}
   */
  function nextCallAt(o) {
    const paced = o.whole ? 0 : Math.min(MAX_PACE_MS, (o.chars / BYTES_PER_SECOND) * 1000);
    return o.startedAt + Math.max(o.minIntervalMs ?? MIN_INTERVAL_MS, paced);
  }

  /**
   * Follows event.from until `signal` aborts (resolves) or the pool refuses the session (rejects with the
   * XenApiFailure, e.g. SESSION_INVALID). While the host does not answer it retries, with a growing pause.
   * @param {{
   *   base: string,
   *   session: string,
   *   store: Store,
   *   signal?: AbortSignal,
   *   minIntervalMs?: number,
   *   onBatch?: (lines: LogLine[]) => void,
   *   onStatus?: (status: "live" | "retrying", error?: unknown) => void,
   * }} o
   * @returns {Promise<void>}
   */
  async function follow(o) {
    let failures = 0;
    let live = false;
    while (!o.signal?.aborted) {
      const startedAt = Date.now();
      const whole = o.store.token === "";
      let chars = 0;
      try {
        o.store.stats.calls++;
        const answer = await call(
          o.base,
          "event.from",
          [o.session, CLASSES, o.store.token, whole ? 0 : POLL_TIMEOUT_S],
          { ...(o.signal ? { signal: o.signal } : {}), size: (n) => (chars = n) },
        );
        if (failures > 0 || !live) o.onStatus?.("live");
        live = true;
        failures = 0;
        const lines = o.store.apply(answer);
        o.onBatch?.(lines);
      } catch (e) {
        if (o.signal?.aborted) return;
        if (isXenApiFailure(e)) {
          // xapi's answers to a token it can no longer serve: start again from the whole state.
          if (e.code === "EVENTS_LOST" || e.code === "EVENT_FROM_TOKEN_PARSE_FAILURE") {
            o.store.clear();
            continue;
          }
          throw e;
        }
        failures++;
        o.onStatus?.("retrying", e);
        await pause(Math.min(MAX_RETRY_MS, 500 * 2 ** (failures - 1)), o.signal);
        continue;
      }
      const at = nextCallAt({
        startedAt,
        chars,
        whole,
        ...(o.minIntervalMs !== undefined ? { minIntervalMs: o.minIntervalMs } : {}),
      });
      await pause(at - Date.now(), o.signal);
    }
  }

  /**
   * @param {number} ms
   * @param {AbortSignal} [signal]
   * @returns {Promise<void>}
   */
  function pause(ms, signal) {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done);
    });
  }

  const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });
  const byName = (/** @type {{ name: string }} */ a, /** @type {{ name: string }} */ b) =>
    collator.compare(a.name, b.name);

  /**
   * The datacenter as the view draws it: each guest under the host it is resident on, each host with its state
   * and use. Whole-state computation, linear in the number of records.
   * @param {Store} s
   * @returns {Datacenter}
   */
  function datacenter(s) {
    const [poolRec] = s.of("pool").values();
    const guestMetrics = s.of("vm_guest_metrics");
    /** @type {Map<string, VmRow[]>} */
    const byHost = new Map();
    /** @type {VmRow[]} */
    const notRunning = [];
    let running = 0;
    for (const [ref, vm] of s.of("vm")) {
      const power = String(vm.power_state);
      const gm = guestMetrics.get(vm.guest_metrics);
      const resident = power !== "Halted" && vm.resident_on !== NULL_REF && s.of("host").has(vm.resident_on);
      /** @type {VmRow} */
      const row = {
        ref,
        uuid: String(vm.uuid),
        name: String(vm.name_label),
        power,
        memory: Number(
          power === "Running" || power === "Paused" ? vm.memory_target || vm.memory_dynamic_max : vm.memory_static_max,
        ),
        vcpus: Number(vm.VCPUs_at_startup),
        domainType: String(vm.domain_type ?? ""),
        ip: power === "Running" && gm ? String(gm.networks?.["0/ip"] ?? "") : "",
        moving: Object.values(vm.current_operations ?? {}).some((op) => op === "pool_migrate" || op === "migrate_send"),
      };
      if (power === "Running") running++;
      if (resident) {
        let list = byHost.get(vm.resident_on);
        if (!list) byHost.set(vm.resident_on, (list = []));
        list.push(row);
      } else notRunning.push(row);
    }
    const metrics = s.of("host_metrics");
    /** @type {HostView[]} */
    const hosts = [];
    let memoryTotal = 0;
    let memoryUsed = 0;
    for (const [ref, h] of s.of("host")) {
      const m = metrics.get(h.metrics);
      const vms = (byHost.get(ref) ?? []).sort(byName);
      const total = Number(m?.memory_total ?? 0);
      const used = Math.max(0, total - Number(m?.memory_free ?? total));
      memoryTotal += total;
      memoryUsed += used;
      const ops = Object.values(h.current_operations ?? {});
      /** @type {HostState} */
      const state =
        m && m.live === false
          ? "crashed"
          : ops.includes("evacuate")
            ? "evacuating"
            : h.enabled
              ? "enabled"
              : vms.length === 0
                ? "maintenance"
                : "disabled";
      hosts.push({
        ref,
        uuid: String(h.uuid),
        name: String(h.name_label),
        address: String(h.address),
        master: poolRec?.master === ref,
        state,
        hvm: (h.capabilities ?? []).some((/** @type {string} */ c) => c.startsWith("hvm")),
        cpus: Number(h.cpu_info?.cpu_count ?? 0) || 0,
        vcpus: vms.reduce((n, v) => n + (v.power === "Running" || v.power === "Paused" ? v.vcpus : 0), 0),
        memoryTotal: total,
        memoryUsed: used,
        vms,
      });
    }
    hosts.sort(byName);
    /** @type {Map<string, string[]>} */
    const srHosts = new Map();
    for (const pbd of s.of("pbd").values()) {
      const list = srHosts.get(pbd.SR) ?? [];
      list.push(s.hostName(pbd.host));
      srHosts.set(pbd.SR, list);
    }
    const srs = [...s.of("sr")]
      .map(([ref, sr]) => ({
        uuid: String(sr.uuid),
        name: String(sr.name_label),
        type: String(sr.type),
        shared: sr.shared === true,
        hosts: (srHosts.get(ref) ?? []).sort(collator.compare),
        size: Number(sr.physical_size),
        used: Number(sr.physical_utilisation),
      }))
      .sort(
        (a, b) =>
          Number(b.shared) - Number(a.shared) || byName(a, b) || collator.compare(a.hosts.join(), b.hosts.join()),
      );
    const tasks = [...s.of("task").values()]
      .filter((t) => t.status === "pending" || t.status === "cancelling")
      .sort((a, b) => String(a.created).localeCompare(String(b.created)))
      .map((t) => ({ uuid: String(t.uuid), name: String(t.name_label), progress: Number(t.progress) }));
    return {
      pool: poolRec
        ? {
            name: String(poolRec.name_label),
            ha: poolRec.ha_enabled === true,
            haTolerates: Number(poolRec.ha_host_failures_to_tolerate ?? 0),
            master: s.hostName(poolRec.master),
          }
        : undefined,
      hosts,
      notRunning: notRunning.sort(byName),
      srs,
      tasks,
      totals: { vms: s.of("vm").size, running, memoryTotal, memoryUsed },
    };
  }

  /**
   * Bytes as people read memory and disk sizes: "512 MiB", "2 GiB", "1.5 TiB".
   * @param {number} n
   * @returns {string}
   */
  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    const digits = v >= 100 || Number.isInteger(v) ? 0 : 1;
    return `${v.toFixed(digits)} ${units[i]}`;
  }

  const api = {
    CLASSES,
    MIN_INTERVAL_MS,
    BYTES_PER_SECOND,
    ORIGINATOR,
    XenApiFailure,
    TransportFailure,
    nextCallAt,
    isXenApiFailure,
    call,
    login,
    logout,
    explain,
    Store,
    follow,
    datacenter,
    bytes,
  };
  if (typeof module === "object" && module.exports) module.exports = api;
  else /** @type {any} */ (globalThis).XenFeed = api;
})();

// @ts-check
/**
 * The web view's page: the sign-in form, then the datacenter drawn from XenFeed's store after each event.from
 * answer. It only reads the pool: besides the login and event.from, its one call is session.logout. Every text
 * from the pool goes into the page as text (a VM may be named `<b>`).
 */
"use strict";

(() => {
  /** @type {typeof import("./feed.js")} */
  const Feed = /** @type {any} */ (globalThis).XenFeed;

  /** Guests listed per host before "show all": fewer when there are many hosts, so that the page stays a summary. */
  const HOST_ROWS = 12;
  const MANY_HOSTS = 16;
  const HOST_ROWS_MANY = 4;
  /** Local SRs listed one by one up to this many; beyond, one summary line. */
  const LOCAL_SRS = 8;
  /** Guests listed under "Not running" (the filter narrows them). */
  const IDLE_ROWS = 40;
  /** Where the session survives a reload of the tab (not other tabs, not a restart of the browser). */
  const SESSION_KEY = "xen-web-view";

  /**
   * @typedef {import("./feed.js").Store} Store
   * @typedef {{ session: string, user: string }} Signed
   * @typedef {Record<string, string | boolean | number | undefined>} Props
   * @typedef {Node | string | null | undefined | false} Child
   */

  /**
   * @param {string} tag
   * @param {Props} [props] `class`, `text`, `data-*`, `aria-*` and other attributes; `false`/`undefined` are left out
   * @param {...(Child | Child[])} children
   * @returns {HTMLElement}
   */
  function h(tag, props = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === false) continue;
      if (k === "class") el.className = String(v);
      else if (k === "text") el.textContent = String(v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) if (c) el.append(c);
    return el;
  }

  /**
   * @param {string} id
   * @returns {HTMLElement}
   */
  function byId(id) {
    const el = document.getElementById(id);
    if (!el) throw new Error(`the page has no #${id}`);
    return el;
  }

  /**
   * A bar of `used` over `total`, with the figures beside it.
   * @param {number} used
   * @param {number} total
   * @param {string} label
   * @returns {HTMLElement}
   */
  function bar(used, total, label) {
    const share = total > 0 ? Math.min(1, used / total) : 0;
    const fill = h("span", { class: `fill${share > 0.9 ? " high" : share > 0.75 ? " warm" : ""}` });
    // CSSOM, not a style attribute: the page's CSP allows no inline style attributes.
    fill.style.width = `${(share * 100).toFixed(1)}%`;
    return h(
      "div",
      { class: "meter", title: `${label}: ${Feed.bytes(used)} of ${Feed.bytes(total)}` },
      h("span", { class: "meter-label", text: label }),
      h("span", { class: "track" }, fill),
      h("span", { class: "meter-figures", text: `${Feed.bytes(used)} / ${Feed.bytes(total)}` }),
    );
  }

  const STATE_TEXT = {
    enabled: "enabled",
    disabled: "disabled",
    evacuating: "evacuating",
    maintenance: "maintenance",
    crashed: "crashed",
  };

  /**
   * @param {import("./feed.js").Datacenter["hosts"][number]["vms"][number]} vm
   * @returns {HTMLElement}
   */
  function vmRow(vm) {
    return h(
      "li",
      { class: `vm power-${vm.power.toLowerCase()}`, "data-vm": vm.uuid, "data-power": vm.power },
      h("span", { class: "dot", title: vm.power, "aria-hidden": "true" }),
      h("span", { class: "vm-name", text: vm.name, title: vm.name }),
      vm.moving && h("span", { class: "tag moving", text: "migrating" }),
      h("span", { class: "vm-power", text: vm.power }),
      h("span", { class: "vm-mem", "data-field": "memory", text: Feed.bytes(vm.memory) }),
      h("span", { class: "vm-vcpus", text: `${vm.vcpus} vCPU` }),
      h("span", { class: "vm-type", "data-field": "domain-type", text: vm.domainType || "-" }),
      h("span", { class: "vm-ip", "data-field": "ip", text: vm.ip || "-" }),
    );
  }

  /**
   * @param {string} filter
   * @returns {((vm: { name: string }) => boolean) | undefined} undefined for an empty filter
   */
  function matcher(filter) {
    const f = filter.trim().toLowerCase();
    return f ? (vm) => vm.name.toLowerCase().includes(f) : undefined;
  }

  /**
   * Everything a host card shows, so that a card is rebuilt only when this changes.
   * @param {import("./feed.js").HostView} host
   * @param {((vm: { name: string }) => boolean) | undefined} match undefined: no filter
   * @param {boolean} expanded
   * @param {number} rows guests listed when not expanded
   */
  function cardData(host, match, expanded, rows) {
    const shown = match ? host.vms.filter(match) : host.vms;
    const limit = expanded ? shown.length : rows;
    const { vms: _all, ...rest } = host;
    return {
      host: { ...rest, guests: host.vms.length },
      rows: shown.slice(0, limit),
      matched: shown.length,
      filtered: !!match,
      expanded,
      limit: rows,
    };
  }

  /**
   * @param {ReturnType<typeof cardData>} d
   * @returns {HTMLElement}
   */
  function hostCard(d) {
    const host = d.host;
    const list = h("ul", { class: "vms", "aria-label": `VMs on ${host.name}` }, d.rows.map(vmRow));
    return h(
      "article",
      {
        class: `host state-${host.state}${d.filtered && d.matched === 0 ? " no-match" : ""}`,
        "data-host": host.uuid,
        "data-state": host.state,
      },
      h(
        "header",
        { class: "host-head" },
        h("h3", { class: "host-name", text: host.name }),
        host.master && h("span", { class: "tag master", text: "master" }),
        h("span", { class: `tag state ${host.state}`, "data-field": "state", text: STATE_TEXT[host.state] }),
        h("span", {
          class: `tag ${host.hvm ? "hvm" : "pv-only"}`,
          "data-field": "hvm",
          text: host.hvm ? "HVM" : "no HVM (PV only)",
        }),
      ),
      h("p", { class: "host-address", text: host.address }),
      bar(host.memoryUsed, host.memoryTotal, "memory"),
      h(
        "p",
        { class: "host-figures" },
        h("span", {
          "data-field": "vcpus",
          text: `${host.vcpus} vCPU${host.vcpus === 1 ? "" : "s"} on ${host.cpus} CPUs`,
        }),
        h("span", {
          text: `${d.filtered ? `${d.matched} of ${host.guests}` : host.guests} VM${host.guests === 1 ? "" : "s"}`,
        }),
      ),
      list,
      d.matched > d.limit &&
        h("button", {
          type: "button",
          class: "more",
          "data-control": "view",
          "data-toggle": host.ref,
          text: d.expanded ? "show fewer" : `show all ${d.matched}`,
        }),
    );
  }

  /**
   * The page. One instance per load; sign-out and sign-in reuse it.
   */
  class Page {
    constructor() {
      this.loginView = byId("login");
      this.form = /** @type {HTMLFormElement} */ (byId("login-form"));
      this.loginError = byId("login-error");
      this.view = byId("view");
      this.status = byId("status");
      this.who = byId("who");
      this.logoutButton = /** @type {HTMLButtonElement} */ (byId("logout"));
      this.filter = /** @type {HTMLInputElement} */ (byId("filter"));
      /** @type {Signed | undefined} */
      this.signed = undefined;
      /** @type {Store | undefined} */
      this.store = undefined;
      /** @type {AbortController | undefined} */
      this.abort = undefined;
      /** @type {Map<string, { sig: string, el: HTMLElement }>} */
      this.cards = new Map();
      /** host refs whose whole VM list is open */
      this.expanded = new Set();
      this.scheduled = false;

      this.form.addEventListener("submit", (e) => {
        e.preventDefault();
        void this.signIn();
      });
      this.logoutButton.addEventListener("click", () => void this.signOut());
      this.filter.addEventListener("input", () => this.schedule());
      document.addEventListener("visibilitychange", () => this.visibility());
      byId("hosts").addEventListener("click", (e) => {
        const t = /** @type {HTMLElement} */ (e.target).closest("[data-toggle]");
        if (!t) return;
        const ref = String(t.getAttribute("data-toggle"));
        if (this.expanded.has(ref)) this.expanded.delete(ref);
        else this.expanded.add(ref);
        this.schedule();
      });
    }

    start() {
      const saved = sessionStorage.getItem(SESSION_KEY);
      if (saved) {
        try {
          const signed = /** @type {Signed} */ (JSON.parse(saved));
          if (typeof signed.session === "string" && typeof signed.user === "string") return this.enter(signed);
        } catch {
          sessionStorage.removeItem(SESSION_KEY);
        }
      }
      this.showLogin();
    }

    /**
     * @param {string | HTMLElement} [message]
     */
    showLogin(message) {
      this.view.hidden = true;
      this.logoutButton.hidden = true;
      this.who.textContent = "";
      this.status.textContent = "";
      this.status.className = "status";
      this.loginView.hidden = false;
      this.loginError.replaceChildren(message ?? "");
      this.loginError.hidden = !message;
      const user = /** @type {HTMLInputElement} */ (this.form.elements.namedItem("username"));
      user.focus();
    }

    async signIn() {
      const data = new FormData(this.form);
      const user = String(data.get("username") ?? "");
      const password = String(data.get("password") ?? "");
      const button = /** @type {HTMLButtonElement} */ (this.form.querySelector("button[type=submit]"));
      button.disabled = true;
      this.loginError.hidden = true;
      try {
        const session = await Feed.login("", user, password);
        const signed = { session, user };
        sessionStorage.setItem(SESSION_KEY, JSON.stringify(signed));
        this.form.reset();
        this.enter(signed);
      } catch (e) {
        const why = Feed.explain(e);
        const message = h("span", { text: why.text });
        if (why.master) {
          const href = `${location.protocol}//${why.master}${location.port ? `:${location.port}` : ""}/`;
          message.append(" ", h("a", { href, text: href }));
        }
        this.showLogin(message);
      } finally {
        button.disabled = false;
      }
    }

    /**
     * @param {Signed} signed
     */
    enter(signed) {
      this.signed = signed;
      this.store = new Feed.Store();
      this.loginView.hidden = true;
      this.view.hidden = false;
      this.logoutButton.hidden = false;
      this.who.textContent = `signed in as ${signed.user}`;
      if (document.hidden) this.setStatus("paused");
      else this.follow();
    }

    /** Follows the pool from where the store left off (the whole pool first). */
    follow() {
      const signed = this.signed;
      const store = this.store;
      if (!signed || !store || this.abort) return;
      const abort = (this.abort = new AbortController());
      this.setStatus("connecting");
      Feed.follow({
        base: "",
        session: signed.session,
        store,
        signal: abort.signal,
        onBatch: () => this.schedule(),
        onStatus: (status, error) => this.setStatus(status, error),
      }).then(
        () => undefined,
        (e) => {
          if (this.abort !== abort) return;
          this.leave();
          this.showLogin(Feed.explain(e).text);
        },
      );
    }

    /** A hidden tab costs the pool nothing: it stops following, and catches up in one answer when shown again. */
    visibility() {
      if (!this.signed) return;
      if (document.hidden) {
        this.abort?.abort();
        this.abort = undefined;
        this.setStatus("paused");
      } else this.follow();
    }

    /**
     * @param {"connecting" | "live" | "retrying" | "paused"} status
     * @param {unknown} [error]
     */
    setStatus(status, error) {
      this.status.className = `status ${status}`;
      this.status.setAttribute("data-status", status);
      this.status.textContent =
        status === "live"
          ? "live"
          : status === "connecting"
            ? "connecting…"
            : status === "paused"
              ? "paused while the tab is hidden"
              : `no answer, retrying (${error instanceof Error ? error.message : String(error)})`;
    }

    /** Stops following and forgets the pool (the session is left to the caller). */
    leave() {
      this.abort?.abort();
      this.abort = undefined;
      this.store = undefined;
      this.signed = undefined;
      sessionStorage.removeItem(SESSION_KEY);
      for (const c of this.cards.values()) c.el.remove();
      this.cards.clear();
      this.expanded.clear();
      for (const id of ["summary", "idle", "tasks", "srs", "log"]) byId(id).replaceChildren();
    }

    async signOut() {
      const signed = this.signed;
      this.leave();
      this.showLogin();
      if (signed) await Feed.logout("", signed.session).catch(() => undefined);
    }

    schedule() {
      if (this.scheduled) return;
      this.scheduled = true;
      requestAnimationFrame(() => {
        this.scheduled = false;
        if (this.store) this.render(this.store);
      });
    }

    /**
     * @param {Store} store
     */
    render(store) {
      const dc = Feed.datacenter(store);
      const match = matcher(this.filter.value);
      this.renderSummary(dc);
      this.renderHosts(dc, match);
      this.renderIdle(dc, match);
      this.renderTasks(dc);
      this.renderSrs(dc);
      this.renderLog(store);
      document.body.setAttribute("data-synced", String(store.stats.calls));
    }

    /**
     * @param {import("./feed.js").Datacenter} dc
     */
    renderSummary(dc) {
      /** @type {Record<string, number>} */
      const states = {};
      for (const host of dc.hosts) states[host.state] = (states[host.state] ?? 0) + 1;
      const stateText = Object.entries(states)
        .map(([s, n]) => `${n} ${s}`)
        .join(", ");
      const pool = dc.pool;
      byId("summary").replaceChildren(
        h(
          "div",
          { class: "figure" },
          h("span", { class: "figure-label", text: "pool" }),
          h("strong", { "data-field": "pool", text: pool ? pool.name || "(unnamed)" : "-" }),
          pool && h("span", { text: `master ${pool.master}` }),
          pool && h("span", { text: pool.ha ? `HA on, tolerates ${pool.haTolerates}` : "HA off" }),
        ),
        h(
          "div",
          { class: "figure" },
          h("span", { class: "figure-label", text: "hosts" }),
          h("strong", { text: String(dc.hosts.length) }),
          h("span", { text: stateText }),
        ),
        h(
          "div",
          { class: "figure" },
          h("span", { class: "figure-label", text: "VMs" }),
          h("strong", { "data-field": "vm-count", text: String(dc.totals.vms) }),
          h("span", { text: `${dc.totals.running} running` }),
        ),
        h("div", { class: "figure wide" }, bar(dc.totals.memoryUsed, dc.totals.memoryTotal, "pool memory")),
        h(
          "div",
          { class: "figure" },
          h("span", { class: "figure-label", text: "tasks" }),
          h("strong", { text: String(dc.tasks.length) }),
          h("span", { text: "running" }),
        ),
      );
    }

    /**
     * Host cards, keyed by host: a card is rebuilt only when what it shows changed, and kept in name order.
     * @param {import("./feed.js").Datacenter} dc
     * @param {((vm: { name: string }) => boolean) | undefined} match
     */
    renderHosts(dc, match) {
      const container = byId("hosts");
      /** @type {ChildNode | null} */
      let next = container.firstChild;
      const seen = new Set();
      for (const host of dc.hosts) {
        const rows = dc.hosts.length > MANY_HOSTS ? HOST_ROWS_MANY : HOST_ROWS;
        const data = cardData(host, match, this.expanded.has(host.ref), rows);
        const sig = JSON.stringify(data);
        let card = this.cards.get(host.ref);
        if (!card || card.sig !== sig) {
          const el = hostCard(data);
          if (card) card.el.replaceWith(el);
          if (next === card?.el) next = el;
          card = { sig, el };
          this.cards.set(host.ref, card);
        }
        if (card.el !== next) container.insertBefore(card.el, next);
        next = card.el.nextSibling;
        seen.add(host.ref);
      }
      for (const [ref, card] of this.cards)
        if (!seen.has(ref)) {
          card.el.remove();
          this.cards.delete(ref);
        }
      byId("hosts-title").textContent = `Hosts (${dc.hosts.length})`;
    }

    /**
     * @param {import("./feed.js").Datacenter} dc
     * @param {((vm: { name: string }) => boolean) | undefined} match
     */
    renderIdle(dc, match) {
      const shown = match ? dc.notRunning.filter(match) : dc.notRunning;
      const rows = shown.slice(0, IDLE_ROWS);
      byId("idle").replaceChildren(
        h("h2", { text: `Not running (${dc.notRunning.length})` }),
        rows.length
          ? h("ul", { class: "vms idle", "aria-label": "VMs not running" }, rows.map(vmRow))
          : h("p", { class: "quiet", text: dc.notRunning.length ? "none matches the filter" : "none" }),
        shown.length > rows.length
          ? h("p", { class: "quiet", text: `and ${shown.length - rows.length} more: narrow the filter to see them` })
          : "",
      );
    }

    /**
     * @param {import("./feed.js").Datacenter} dc
     */
    renderTasks(dc) {
      byId("tasks").replaceChildren(
        h("h2", { text: "Running tasks" }),
        dc.tasks.length
          ? h(
              "ul",
              { class: "tasks" },
              dc.tasks.map((t) => {
                const fill = h("span", { class: "fill" });
                fill.style.width = `${Math.round(Math.max(0, Math.min(1, t.progress)) * 100)}%`;
                return h(
                  "li",
                  { class: "task", "data-task": t.uuid },
                  h("span", { class: "task-name", text: t.name }),
                  h("span", { class: "track" }, fill),
                  h("span", { class: "task-progress", text: `${Math.round(t.progress * 100)}%` }),
                );
              }),
            )
          : h("p", { class: "quiet", text: "none" }),
      );
    }

    /**
     * @param {import("./feed.js").Datacenter} dc
     */
    renderSrs(dc) {
      const local = dc.srs.filter((sr) => !sr.shared);
      const listed = local.length > LOCAL_SRS ? dc.srs.filter((sr) => sr.shared) : dc.srs;
      const fullest = local.reduce(
        (a, b) => (a === undefined || b.used / (b.size || 1) > a.used / (a.size || 1) ? b : a),
        /** @type {(typeof local)[number] | undefined} */ (undefined),
      );
      byId("srs").replaceChildren(
        h("h2", { text: "Storage" }),
        h(
          "ul",
          { class: "srs" },
          listed.map((sr) =>
            h(
              "li",
              { class: "sr", "data-sr": sr.uuid },
              h(
                "div",
                { class: "sr-head" },
                h("span", { class: "sr-name", text: sr.name }),
                h("span", {
                  class: "quiet",
                  text: `${sr.type}, ${sr.shared ? "shared" : sr.hosts.join(", ") || "not attached"}`,
                }),
              ),
              bar(sr.used, sr.size, "used"),
            ),
          ),
          listed.length < dc.srs.length &&
            h(
              "li",
              { class: "sr", "data-sr": "local" },
              h(
                "div",
                { class: "sr-head" },
                h("span", { class: "sr-name", text: `${local.length} local SRs` }),
                fullest &&
                  h("span", {
                    class: "quiet",
                    text: `fullest: ${fullest.hosts.join(", ") || fullest.name}, ${Feed.bytes(fullest.used)}`,
                  }),
              ),
              bar(
                local.reduce((n, sr) => n + sr.used, 0),
                local.reduce((n, sr) => n + sr.size, 0),
                "used",
              ),
            ),
        ),
      );
    }

    /**
     * @param {Store} store
     */
    renderLog(store) {
      const time = new Intl.DateTimeFormat(undefined, {
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
        hour12: false,
      });
      byId("log").replaceChildren(
        h("h2", { text: "Events" }),
        h(
          "ol",
          { class: "log", "aria-live": "polite" },
          [...store.log]
            .reverse()
            .map((l) =>
              h(
                "li",
                { class: `log-${l.level}` },
                h("time", { text: time.format(l.time) }),
                h("span", { text: l.text }),
              ),
            ),
        ),
      );
    }
  }

  const page = new Page();
  page.start();
})();

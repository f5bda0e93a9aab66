/**
 * The simulator's web view in Debian's chromium: sign-in through XenAPI, the datacenter as the API reports it,
 * a live migration seen on screen, a failed sign-in, and a read-only user who sees everything and can change
 * nothing.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { call, control, failure } from "../integration/simulator/helpers";
import { Datacenter, ROOT_PW, datacenter, launch, pageSession, placement, recordCalls, signIn, until } from "./helpers";

jest.setTimeout(60_000);

let dc: Datacenter;
let browser: Browser;
let context: BrowserContext;
let page: Page;

/** Methods a page that only reads the pool may call. */
const READS = new Set(["session.login_with_password", "event.from", "session.logout"]);

beforeAll(async () => {
  dc = await datacenter();
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
  await dc?.sim.close();
});
beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
});
afterEach(async () => {
  await context.close();
});

const row = (hostUuid: string, vmUuid: string) => `[data-host="${hostUuid}"] [data-vm="${vmUuid}"]`;

/** Every guest the API lists is on screen exactly once, under the host the API says it runs on. */
async function expectDatacenterAsApi(p: Page): Promise<void> {
  const guests = await placement(dc.url, dc.session);
  expect(guests.size).toBe(7);
  for (const [uuid, g] of guests) {
    const where = g.host ? row(g.host, uuid) : `#idle [data-vm="${uuid}"]`;
    await p.waitForSelector(where, { timeout: 5000 });
    expect(await p.locator(`[data-vm="${uuid}"]`).count()).toBe(1);
    expect(await p.getAttribute(where, "data-power")).toBe(g.power);
    expect(await p.textContent(`${where} .vm-name`)).toBe(g.name);
  }
}

describe("the web view", () => {
  test("signs in with XenAPI and shows every VM on the host the API reports, with its state", async () => {
    const calls = recordCalls(page);
    await signIn(page, dc.url, "root", ROOT_PW);
    await expectDatacenterAsApi(page);

    // Hosts: one card each, with its HVM capability; xen-04 has no hardware-assisted virtualisation.
    const hostRecs = await call<Record<string, Record<string, unknown>>>(dc.url, "host.get_all_records", dc.session);
    expect(await page.locator("[data-host]").count()).toBe(4);
    for (const [ref, h] of Object.entries(hostRecs)) {
      const card = `[data-host="${String(h.uuid)}"]`;
      expect(await page.getAttribute(card, "data-state")).toBe("enabled");
      expect(await page.textContent(`${card} [data-field=hvm]`)).toBe(
        ref === dc.hosts["xen-04"] ? "no HVM (PV only)" : "HVM",
      );
    }
    expect(await page.textContent("[data-field=pool]")).toBe("datacenter");

    // A row's figures are the API's: memory, domain type, the guest agent's IP.
    const db = await call<Record<string, unknown>>(dc.url, "VM.get_record", dc.session, dc.vms.db);
    const gm = await call<{ networks: Record<string, string> }>(
      dc.url,
      "VM_guest_metrics.get_record",
      dc.session,
      db.guest_metrics,
    );
    const dbRow = `[data-vm="${String(db.uuid)}"]`;
    expect(await page.textContent(`${dbRow} [data-field=memory]`)).toBe("2 GiB");
    expect(await page.textContent(`${dbRow} [data-field=domain-type]`)).toBe(String(db.domain_type));
    expect(await page.textContent(`${dbRow} [data-field=ip]`)).toBe(gm.networks["0/ip"]);

    // Names from the pool are text, never markup.
    expect(await page.locator("b", { hasText: "not bold" }).count()).toBe(0);

    // Storage: every SR with its size.
    const srs = await call<Record<string, { uuid: string }>>(dc.url, "SR.get_all_records", dc.session);
    for (const sr of Object.values(srs)) expect(await page.locator(`[data-sr="${sr.uuid}"]`).count()).toBe(1);

    expect(calls.every((m) => READS.has(m))).toBe(true);
  });

  test("a live migration started through the API moves the VM on screen within a second", async () => {
    await signIn(page, dc.url, "root", ROOT_PW);
    const vm = await call<Record<string, unknown>>(dc.url, "VM.get_record", dc.session, dc.vms["web-1"]);
    const uuid = String(vm.uuid);
    const from = String(
      (await call<Record<string, unknown>>(dc.url, "host.get_record", dc.session, dc.hosts["xen-01"])).uuid,
    );
    const to = String(
      (await call<Record<string, unknown>>(dc.url, "host.get_record", dc.session, dc.hosts["xen-02"])).uuid,
    );
    await page.waitForSelector(row(from, uuid), { timeout: 5000 });

    // Realistic timing for this one migration, so that its task is seen running.
    await control(dc.sim, "POST", "/durations", { "VM.pool_migrate": 2000 });
    await control(dc.sim, "POST", "/time-scale", { scale: 1 });
    try {
      const task = await call<string>(
        dc.url,
        "Async.VM.pool_migrate",
        dc.session,
        dc.vms["web-1"],
        dc.hosts["xen-02"],
        {
          live: "true",
        },
      );
      const taskUuid = await call<string>(dc.url, "task.get_uuid", dc.session, task);
      await page.waitForSelector(`[data-task="${taskUuid}"]`, { timeout: 2000 });
      await page.waitForSelector(`${row(from, uuid)} .moving`, { timeout: 2000 });
      // The move commits just before the task ends; from then on the view has a second.
      let status = "pending";
      while (status === "pending") {
        status = await call<string>(dc.url, "task.get_status", dc.session, task);
        if (status === "pending") await new Promise((r) => setTimeout(r, 10));
      }
      expect(status).toBe("success");
      const moved = Date.now();
      await page.waitForSelector(row(to, uuid), { timeout: 1000 });
      expect(Date.now() - moved).toBeLessThan(1000);
    } finally {
      await control(dc.sim, "POST", "/time-scale", { scale: 0 });
    }
    expect(await page.locator(row(from, uuid)).count()).toBe(0);
    await page.waitForSelector(`[data-task]`, { state: "detached", timeout: 2000 });
    await page.waitForSelector(`#log li:has-text("VM web-1 moved xen-01 → xen-02")`, { timeout: 1000 });
    await expectDatacenterAsApi(page);
  });

  test("a host in maintenance, then crashed, shows as such, with its guests where the API puts them", async () => {
    await signIn(page, dc.url, "root", ROOT_PW);
    const uuidOf = async (name: string) =>
      String((await call<Record<string, unknown>>(dc.url, "host.get_record", dc.session, dc.hosts[name])).uuid);
    const card = `[data-host="${await uuidOf("xen-02")}"]`;
    await page.waitForSelector(`${card}[data-state=enabled] [data-vm]`, { timeout: 5000 });

    await call(dc.url, "host.disable", dc.session, dc.hosts["xen-02"]);
    await page.waitForSelector(`${card}[data-state=disabled]`, { timeout: 2000 });
    await call(dc.url, "host.evacuate", dc.session, dc.hosts["xen-02"]);
    await page.waitForSelector(`${card}[data-state=maintenance]`, { timeout: 2000 });
    expect(await page.locator(`${card} [data-vm]`).count()).toBe(0);
    await expectDatacenterAsApi(page);
    await call(dc.url, "host.enable", dc.session, dc.hosts["xen-02"]);
    await page.waitForSelector(`${card}[data-state=enabled]`, { timeout: 2000 });

    const xen03 = await uuidOf("xen-03");
    await control(dc.sim, "POST", `/hosts/${xen03}/crash`);
    await page.waitForSelector(`[data-host="${xen03}"][data-state=crashed]`, { timeout: 2000 });
    await page.waitForSelector(`#log li:has-text("host xen-03 stopped answering")`, { timeout: 1000 });
    await control(dc.sim, "POST", `/hosts/${xen03}/recover`);
    await page.waitForSelector(`[data-host="${xen03}"][data-state=enabled]`, { timeout: 2000 });
  });

  test("a hidden tab stops following and catches up when shown again", async () => {
    const calls = recordCalls(page);
    await signIn(page, dc.url, "root", ROOT_PW);
    const spare = String((await call<Record<string, unknown>>(dc.url, "VM.get_record", dc.session, dc.vms.spare)).uuid);
    await page.waitForSelector(`[data-vm="${spare}"]`, { timeout: 5000 });
    const setHidden = (hidden: boolean) =>
      page.evaluate((h) => {
        const g = globalThis as unknown as {
          document: { dispatchEvent(e: unknown): void };
          Event: new (type: string) => unknown;
        };
        Object.defineProperty(g.document, "hidden", { configurable: true, get: () => h });
        g.document.dispatchEvent(new g.Event("visibilitychange"));
      }, hidden);

    await setHidden(true);
    await page.waitForSelector("#status[data-status=paused]", { timeout: 1000 });
    const before = calls.length;
    await call(dc.url, "VM.set_name_label", dc.session, dc.vms.spare, "spare-renamed");
    await new Promise((r) => setTimeout(r, 600));
    expect(calls.length).toBe(before);
    expect(await page.textContent(`[data-vm="${spare}"] .vm-name`)).toBe("spare");

    await setHidden(false);
    await page.waitForSelector(`[data-vm="${spare}"] .vm-name:text-is("spare-renamed")`, { timeout: 1000 });
    await call(dc.url, "VM.set_name_label", dc.session, dc.vms.spare, "spare");
  });

  test("a failed sign-in shows XenAPI's error and no datacenter", async () => {
    const calls = recordCalls(page);
    await signIn(page, dc.url, "root", "not-the-password");
    await page.waitForSelector("#login-error:not([hidden])", { timeout: 5000 });
    expect(await page.textContent("#login-error")).toBe("Wrong user name or password (SESSION_AUTHENTICATION_FAILED).");
    expect(await page.isVisible("#view")).toBe(false);
    expect(await page.locator("[data-host]").count()).toBe(0);
    expect(calls).toEqual(["session.login_with_password"]);

    // The form stays usable: the right password signs in.
    await page.fill("input[name=password]", ROOT_PW);
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-host]", { timeout: 5000 });
    expect(await page.isVisible("#login-error")).toBe(false);
  });

  test("on a pool member the sign-in says where the master is", async () => {
    await signIn(page, dc.sim.hostUrls["xen-02"]!, "root", ROOT_PW);
    await page.waitForSelector("#login-error:not([hidden])", { timeout: 5000 });
    expect(await page.textContent("#login-error")).toContain("pool member");
    const master = new URL(dc.url);
    expect(await page.getAttribute("#login-error a", "href")).toBe(`http://127.42.0.1:${master.port}/`);
  });

  test("a read-only user sees the whole datacenter and no control that could change it", async () => {
    const calls = recordCalls(page);
    await control(dc.sim, "DELETE", "/recorder");
    await signIn(page, dc.url, "readonly", "readonly-pw");
    await expectDatacenterAsApi(page);
    expect(await page.textContent("#who")).toBe("signed in as readonly");

    // The only things to operate: the filter and signing out. No host or VM has an action.
    const controls: string[] = [];
    for (const el of await page
      .locator("button, input, select, textarea, a[href], [contenteditable], [role=button]")
      .all())
      if (await el.isVisible())
        controls.push(
          `${await el.evaluate((e: { tagName: string }) => e.tagName.toLowerCase())}#${await el.getAttribute("id")}`,
        );
    expect(controls.sort()).toEqual(["button#logout", "input#filter"]);
    await page.fill("#filter", "web");
    await until(async () => (await page.locator("[data-vm]").count()) === 2);
    await page.fill("#filter", "");

    // The page's session is the user's own, read-only, and it only ever read with it.
    const session = await pageSession(page);
    expect(await failure(call(dc.url, "VM.clean_shutdown", session, dc.vms.db))).toEqual([
      "RBAC_PERMISSION_DENIED",
      "vm.clean_shutdown",
      "No permission in user session. (Roles with this permission: pool-admin, pool-operator, vm-power-admin, vm-admin, vm-operator)",
    ]);
    const recorded = (await control<{ requests: { method: string; params: unknown[] }[] }>(dc.sim, "GET", "/recorder"))
      .requests;
    const bySession = recorded.filter((r) => r.params[0] === session).map((r) => r.method);
    expect(bySession.length).toBeGreaterThan(0);
    expect(bySession.filter((m) => m !== "VM.clean_shutdown").every((m) => READS.has(m))).toBe(true);
    expect(calls.every((m) => READS.has(m))).toBe(true);

    // Signing out ends the XenAPI session.
    const loggedOut = page.waitForResponse(
      (r) => r.url().endsWith("/jsonrpc") && (r.request().postData() ?? "").includes('"session.logout"'),
    );
    await page.click("#logout");
    await page.waitForSelector("#login-form", { state: "visible" });
    await loggedOut;
    expect(await pageSession(page)).toBeUndefined();
    expect(await failure(call(dc.url, "event.from", session, ["vm"], "", 0))).toEqual(["SESSION_INVALID", session]);
  });
});

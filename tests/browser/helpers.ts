import * as fs from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { RunningSimulator } from "../../simulator";
import { call, login, newVm, sim, waitTask } from "../integration/simulator/helpers";

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it when missing). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export async function launch(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium)`);
  return chromium.launch({ executablePath: CHROMIUM });
}

export const ROOT_PW = "xen-root-pw";

/** Where each guest of the datacenter below starts: VM name -> [host name or "" for halted, template]. */
export const GUESTS: [string, string, string][] = [
  ["web-1", "xen-01", "Debian Bookworm 12"],
  ["web-2", "xen-02", "Debian Bookworm 12"],
  ["db", "xen-02", "Debian Bookworm 12"],
  ["win-app", "xen-03", "Windows Server 2022 (64-bit)"],
  ["legacy-pv", "xen-04", "CentOS 6 (PV)"],
  ["<b>not bold</b>", "xen-03", "Debian Bookworm 12"],
  ["spare", "", "Debian Bookworm 12"],
];

export interface Datacenter {
  sim: RunningSimulator;
  /** the master's URL (xen-01) */
  url: string;
  /** root's session on the master */
  session: string;
  /** host name -> ref */
  hosts: Record<string, string>;
  /** VM name -> ref */
  vms: Record<string, string>;
}

/**
 * The default inventory's four hosts joined into xen-01's pool "datacenter", with the guests of GUESTS started on
 * their hosts through the API (instant operations).
 */
export async function datacenter(): Promise<Datacenter> {
  const s = await sim();
  const url = s.hostUrls["xen-01"]!;
  const session = await login(url);
  for (const name of ["xen-02", "xen-03", "xen-04"]) {
    const u = s.hostUrls[name]!;
    const x = await login(u);
    const task = await call<string>(u, "Async.pool.join", x, "127.42.0.1", "root", ROOT_PW);
    const done = await waitTask(u, x, task);
    if (done.status !== "success") throw new Error(`${name} did not join: ${JSON.stringify(done.error_info)}`);
  }
  const [pool] = await call<string[]>(url, "pool.get_all", session);
  await call(url, "pool.set_name_label", session, pool, "datacenter");
  const hosts: Record<string, string> = {};
  for (const name of ["xen-01", "xen-02", "xen-03", "xen-04"])
    hosts[name] = (await call<string[]>(url, "host.get_by_name_label", session, name))[0]!;
  const vms: Record<string, string> = {};
  for (const [name, host, template] of GUESTS) {
    const vm = await newVm(url, session, template, name);
    if (host) await call(url, "VM.start_on", session, vm, hosts[host], false, false);
    vms[name] = vm;
  }
  return { sim: s, url, session, hosts, vms };
}

/** Opens the view and signs in with the form, as a person would. */
export async function signIn(page: Page, url: string, user: string, password: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
}

/** Every XenAPI method the page calls, in order (read from the requests it sends). */
export function recordCalls(page: Page): string[] {
  const methods: string[] = [];
  page.on("request", (req) => {
    if (!req.url().endsWith("/jsonrpc")) return;
    const body = JSON.parse(req.postData() ?? "{}") as { method?: string };
    methods.push(String(body.method));
  });
  return methods;
}

/** What page functions below use of the browser's globals (this project's types have no DOM). */
interface BrowserGlobals {
  sessionStorage: { getItem(key: string): string | null };
}

/** Resolves once `check` holds, polling; fails after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`still not so after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The page's session ref, as it keeps it for a reload. */
export async function pageSession(page: Page): Promise<string> {
  const saved = await page.evaluate(() =>
    (globalThis as unknown as BrowserGlobals).sessionStorage.getItem("xen-web-view"),
  );
  return (JSON.parse(saved ?? "{}") as { session: string }).session;
}

/** The guests as the API reports them: VM uuid -> name, power state and the uuid of its host (null: none). */
export async function placement(
  url: string,
  session: string,
): Promise<Map<string, { name: string; power: string; host: string | null; record: Record<string, unknown> }>> {
  const hosts = await call<Record<string, { uuid: string }>>(url, "host.get_all_records", session);
  const vms = await call<Record<string, Record<string, unknown>>>(url, "VM.get_all_records", session);
  const out = new Map<string, { name: string; power: string; host: string | null; record: Record<string, unknown> }>();
  for (const vm of Object.values(vms)) {
    if (vm.is_a_template || vm.is_control_domain || vm.is_a_snapshot) continue;
    const power = String(vm.power_state);
    const host = power === "Halted" ? null : (hosts[String(vm.resident_on)]?.uuid ?? null);
    out.set(String(vm.uuid), { name: String(vm.name_label), power, host, record: vm });
  }
  return out;
}

/**
 * The XenAPI client against the simulator over HTTPS with the simulator's CA: records of every class parse,
 * Async tasks, errors with their exact codes and params, retries on injected faults, re-login, coordinator
 * redirect, certificate pinning and the inventory cache.
 */
import * as https from "node:https";
import * as tls from "node:tls";
import { startSimulator, type RunningSimulator } from "../../../simulator";
import {
  DEFAULT_INVENTORY_CLASSES,
  XenApiClient,
  isTransportError,
  isXenApiError,
  type XenApiClientOptions,
} from "../../../provider/xenapi";

jest.setTimeout(30_000);

const ROOT_PW = "xen-root-pw";
let sim: RunningSimulator;
const clients: XenApiClient[] = [];

beforeAll(async () => {
  sim = await startSimulator({ port: 0, timeScale: 0, failedLoginDelayMs: 0, seed: 7 });
});
afterAll(async () => {
  await sim?.close();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await control("DELETE", "/faults");
});

function client(opts: Partial<XenApiClientOptions> = {}, url = sim.url): XenApiClient {
  const c = new XenApiClient({
    url,
    username: "root",
    password: ROOT_PW,
    caCert: sim.caCert,
    deadlineMs: 20_000,
    ...opts,
  });
  clients.push(c);
  return c;
}

/** Calls the simulator's control plane (loopback, bearer token, same CA). */
function control(method: string, path: string, body?: unknown): Promise<unknown> {
  const url = new URL(`${sim.controlUrl}${path}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        ca: sim.caCert,
        headers: {
          Authorization: `Bearer ${sim.controlToken}`,
          "Content-Type": "application/json",
          ...(payload ? { "Content-Length": Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          if ((res.statusCode ?? 500) >= 300) reject(new Error(`control ${method} ${path}: ${res.statusCode} ${text}`));
          else resolve(text ? JSON.parse(text) : undefined);
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function peerFingerprint(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.end();
    });
    s.on("error", reject);
  });
}

async function templateRef(c: XenApiClient, name: string): Promise<string> {
  const refs = await c.call<string[]>("VM.get_by_name_label", [name]);
  expect(refs).toHaveLength(1);
  return refs[0];
}

async function installVm(c: XenApiClient, template: string, name: string): Promise<string> {
  const vm = await c.callAsync("VM.clone", [await templateRef(c, template), name]);
  await c.callAsync("VM.provision", [vm]);
  return vm;
}

test("records of every class parse with the client's schemas", async () => {
  const c = client();
  for (const cls of [...DEFAULT_INVENTORY_CLASSES, "task", "message"] as const) {
    const all = await c.getAllRecords(cls);
    if (cls === "pool" || cls === "host" || cls === "VM" || cls === "SR" || cls === "network") {
      expect(all.size).toBeGreaterThan(0);
    }
  }
  const [poolRef] = await c.call<string[]>("pool.get_all");
  const pool = await c.getRecord("pool", poolRef);
  expect(pool.master).toMatch(/^OpaqueRef:/);
  const host = await c.getRecord("host", pool.master!);
  expect(await c.getByUuid("host", host.uuid)).toBe(pool.master);
  const metrics = await c.getRecord("host_metrics", host.metrics!);
  expect(metrics.memory_total).toBeGreaterThan(0);
});

test("Async lifecycle: clone -> provision -> start; results decoded, ended tasks left to xapi's garbage collection", async () => {
  const c = client();
  const vm = await installVm(c, "Debian Bookworm 12", "it-start");
  expect(vm).toMatch(/^OpaqueRef:/);
  expect(await c.callAsync("VM.start", [vm, false, false])).toBe("");
  const rec = await c.getRecord("VM", vm);
  expect(rec.power_state).toBe("Running");
  expect(rec.resident_on).toMatch(/^OpaqueRef:/);
  expect(rec.is_a_template).toBe(false);

  // the same start again fails inside the task: error_info becomes a XenApiError with exact params
  const err = await c.callAsync("VM.start", [vm, false, false]).catch((e: unknown) => e);
  expect(isXenApiError(err, "VM_BAD_POWER_STATE")).toBe(true);
  expect(err).toMatchObject({ params: [vm, "halted", "running"], method: "Async.VM.start" });
  expect((err as Error).message).toContain("must be halted for this operation but is running");

  // no task.destroy round trip per operation: the ended tasks are there, none of them still pending
  const tasks = [...(await c.getAllRecords("task")).values()];
  expect(tasks.filter((t) => t.name_label === "Async.VM.start").map((t) => t.status)).toEqual(
    expect.arrayContaining(["success", "failure"]),
  );
  expect(tasks.filter((t) => t.status === "pending")).toEqual([]);
  await c.callAsync("VM.hard_shutdown", [vm]);
  expect((await c.getRecord("VM", vm)).power_state).toBe("Halted");
});

test("a guest without PV drivers: VM_LACKS_FEATURE names the fix", async () => {
  const c = client();
  const vm = await installVm(c, "Windows Server 2022 (64-bit)", "it-win");
  await c.callAsync("VM.start", [vm, false, false]);
  const err = await c.callAsync("VM.clean_shutdown", [vm]).catch((e: unknown) => e);
  expect(err).toMatchObject({ name: "XenApiError", code: "VM_LACKS_FEATURE", params: [vm] });
  expect((err as Error).message).toContain("hard_shutdown");
  await c.callAsync("VM.hard_shutdown", [vm]);
});

test("bad credentials: SESSION_AUTHENTICATION_FAILED with what to check", async () => {
  const c = client({ password: "wrong" });
  const err = await c.call("VM.get_all").catch((e: unknown) => e);
  expect(isXenApiError(err, "SESSION_AUTHENTICATION_FAILED")).toBe(true);
  expect((err as Error).message).toContain("XEN_USERNAME / XEN_PASSWORD");
});

test("RBAC: a read-only user is denied with the permission and the roles that have it", async () => {
  const c = client({ username: "readonly", password: "readonly-pw" });
  const [vm] = await c.call<string[]>("VM.get_by_name_label", ["Debian Bookworm 12"]);
  const err = await c.call("VM.clone", [vm, "nope"]).catch((e: unknown) => e);
  expect(isXenApiError(err, "RBAC_PERMISSION_DENIED")).toBe(true);
  expect((err as { params: string[] }).params[0]).toBe("vm.clone");
  expect((err as Error).message).toMatch(/Roles with this permission: .*vm-admin/);
});

test("SESSION_INVALID: one re-login and the call succeeds", async () => {
  const lines: string[] = [];
  const c = client({ logger: (l) => lines.push(l) });
  await c.call("VM.get_all");
  await c.call("session.logout"); // the server forgets our session; the client does not know
  expect(Array.isArray(await c.call("VM.get_all"))).toBe(true);
  const log = lines.join("\n");
  expect(log).toContain("SESSION_INVALID");
  expect(log.match(/session\.login_with_password/g)).toHaveLength(2);
  expect(log).not.toContain(ROOT_PW);
});

test("HTTPS: pinned fingerprint works without the CA; a wrong pin or no trust anchor is refused", async () => {
  const fp = await peerFingerprint(sim.url);
  await expect(client({ caCert: undefined, fingerprint: fp }).call("VM.get_all")).resolves.toBeDefined();
  const wrong = await client({ caCert: undefined, fingerprint: "00".repeat(32) })
    .call("VM.get_all")
    .catch((e: unknown) => e);
  expect(isTransportError(wrong, "tls")).toBe(true);
  expect((wrong as Error).message).toContain(fp);
  const untrusted = await client({ caCert: undefined })
    .call("VM.get_all")
    .catch((e: unknown) => e);
  expect(isTransportError(untrusted, "tls")).toBe(true);
  await expect(client({ caCert: undefined, insecure: true }).call("VM.get_all")).resolves.toBeDefined();
});

test("injected OTHER_OPERATION_IN_PROGRESS on a mutation is waited out and retried", async () => {
  const c = client({ random: () => 0 });
  const vm = await installVm(c, "Debian Bookworm 12", "it-busy");
  await control("POST", "/faults", {
    method: "VM.set_name_label",
    error: ["OTHER_OPERATION_IN_PROGRESS", "VM", vm, "clean_shutdown", "OpaqueRef:other-task"],
    count: 2,
  });
  await c.call("VM.set_name_label", [vm, "it-busy-renamed"]);
  expect((await c.getRecord("VM", vm)).name_label).toBe("it-busy-renamed");
});

test("injected HTTP 500 and dropped connections become typed transport errors", async () => {
  const c = client({ random: () => 0 });
  const [vm] = await c.call<string[]>("VM.get_by_name_label", ["Debian Bookworm 12"]);
  await control("POST", "/faults", { method: "VM.set_name_description", httpStatus: 500, count: 1 });
  const e500 = await c.call("VM.set_name_description", [vm, "x"]).catch((e: unknown) => e);
  expect(e500).toMatchObject({ name: "XenTransportError", kind: "http-status", status: 500 });

  await control("POST", "/faults", { method: "VM.set_name_description", drop: true, count: 1 });
  const dropped = await c.call("VM.set_name_description", [vm, "x"]).catch((e: unknown) => e);
  expect(dropped).toMatchObject({ name: "XenTransportError", kind: "network" }); // a mutation: not repeated

  await control("POST", "/faults", { method: "VM.get_record", drop: true, count: 1 });
  expect((await c.getRecord("VM", vm)).uuid).toBeDefined(); // a read: repeated
});

test("a slow host: the per-call timeout fires and a read is retried within the deadline", async () => {
  const c = client({ timeoutMs: 300, random: () => 0 });
  await control("POST", "/faults", { method: "pool.get_all", latencyMs: 1_000, count: 1 });
  const t0 = Date.now();
  expect(await c.call<string[]>("pool.get_all")).toHaveLength(1);
  expect(Date.now() - t0).toBeLessThan(1_000);
});

test("a task that outlives the deadline is cancelled and reported", async () => {
  const c = client();
  const vm = await installVm(c, "Debian Bookworm 12", "it-slow");
  await control("POST", "/time-scale", { scale: 1 });
  await control("POST", "/durations", { "VM.start": 60_000 });
  try {
    const t0 = Date.now();
    const err = await c.callAsync("VM.start", [vm, false, false], { deadlineMs: 1_000 }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(isTransportError(err, "timeout")).toBe(true);
    const taskRef = (err as { taskRef?: string }).taskRef;
    expect(taskRef).toMatch(/^OpaqueRef:/);
    expect((err as Error).message).toContain(`waiting for task ${taskRef}`);
    const tasks = await c.call<Record<string, { status: string }>>("task.get_all_records");
    expect(tasks[taskRef!]?.status ?? "gone").not.toBe("pending");
  } finally {
    await control("POST", "/time-scale", { scale: 0 });
  }
});

test("HOST_IS_SLAVE: a client pointed at a pool member reconnects to the coordinator", async () => {
  const joiner = client({}, sim.hostUrls["xen-02"]);
  const masterAddress = new URL(sim.url).hostname;
  await joiner.callAsync("pool.join", [masterAddress, "root", ROOT_PW]);
  const c = client({}, sim.hostUrls["xen-02"]);
  const hosts = await c.call<string[]>("host.get_all");
  expect(hosts.length).toBeGreaterThanOrEqual(2);
  expect(c.endpoint).toBe(sim.url);
  expect(c.url).toBe(sim.hostUrls["xen-02"]);
});

test("inventory: primed once, kept fresh by events, refresh() is a barrier", async () => {
  const c = client();
  const inv = await c.inventory(["VM", "host"]);
  const before = inv.all("VM").size;
  const vm = await installVm(c, "Debian Bookworm 12", "it-inv");
  await c.call("VM.set_name_label", [vm, "it-inv-renamed"]);
  await inv.refresh();
  expect(inv.all("VM").size).toBe(before + 1);
  expect(inv.get("VM", vm)?.name_label).toBe("it-inv-renamed");
  const uuid = inv.get("VM", vm)!.uuid;
  expect(inv.byUuid("VM", uuid)?.ref).toBe(vm);
  await c.call("VM.destroy", [vm]);
  await inv.refresh();
  expect(inv.get("VM", vm)).toBeUndefined();
  expect(inv.lastError).toBeUndefined();
});

test("typed facade: the same lifecycle through client.api", async () => {
  const { api } = client();
  const [template] = await api.VM.get_by_name_label("CentOS 6 (PV)");
  const vm = await api.VM.clone(template, "it-facade");
  await api.VM.provision(vm);
  await api.VM.set_name_description(vm, "made through the facade");
  await api.VM.start(vm, false, false);
  const rec = await api.VM.get_record(vm);
  expect(rec).toMatchObject({ power_state: "Running", name_description: "made through the facade" });
  expect(rec.domain_type).toBe("pv");
  await api.VM.hard_shutdown(vm);
  await api.VM.destroy(vm);
  await expect(api.VM.get_record(vm)).rejects.toMatchObject({ code: "HANDLE_INVALID", params: ["VM", vm] });
});

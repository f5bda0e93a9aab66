import { RunningSimulator, SimulatorOptions, startSimulator } from "../../../simulator";

/** A XenAPI failure as seen by a client: `[code, ...params]`. */
export class ApiFailure extends Error {
  constructor(
    readonly code: string,
    readonly params: string[],
  ) {
    super(`${code} ${JSON.stringify(params)}`);
  }
}

let nextId = 1;

/** Raw JSON-RPC 2.0 POST; returns HTTP status and parsed body (or text). */
export async function post(
  url: string,
  body: unknown,
): Promise<{ status: number; json?: Record<string, unknown>; text: string }> {
  const r = await fetch(`${url}/jsonrpc`, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: r.status, text, ...(json ? { json } : {}) };
}

export async function call<T = unknown>(url: string, method: string, ...params: unknown[]): Promise<T> {
  const { status, json, text } = await post(url, { jsonrpc: "2.0", method, params, id: nextId++ });
  if (status !== 200 || !json) throw new Error(`HTTP ${status}: ${text}`);
  const err = json.error as { message: string; data: string[] } | undefined;
  if (err) throw new ApiFailure(err.message, err.data);
  return json.result as T;
}

/** The error a call fails with, as [code, ...params]; fails the test if the call succeeds. */
export async function failure(p: Promise<unknown>): Promise<string[]> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiFailure) return [e.code, ...e.params];
    throw e;
  }
  throw new Error("expected the call to fail");
}

export async function control<T = Record<string, unknown>>(
  sim: RunningSimulator,
  method: string,
  route: string,
  body?: unknown,
): Promise<T> {
  const r = await fetch(`${sim.controlUrl}${route}`, {
    method,
    headers: { Authorization: `Bearer ${sim.controlToken}`, "Content-Type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (r.status !== 200) throw new Error(`control ${route}: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

export async function sim(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  return startSimulator({ port: 0, http: true, failedLoginDelayMs: 0, seed: 42, ...opts });
}

export async function login(url: string, user = "root", pwd = "xen-root-pw"): Promise<string> {
  return call<string>(url, "session.login_with_password", user, pwd);
}

/** Waits for an Async task to finish and returns its record. */
export async function waitTask(
  url: string,
  s: string,
  task: string,
  timeoutMs = 10000,
): Promise<Record<string, unknown>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const t = await call<Record<string, unknown>>(url, "task.get_record", s, task);
    if (t.status !== "pending" && t.status !== "cancelling") return t;
    if (Date.now() > end) throw new Error(`task ${task} still ${String(t.status)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** clone + provision + a VIF on "VM Network": a ready-to-start VM from a template. */
export async function newVm(url: string, s: string, template: string, name: string): Promise<string> {
  const [tpl] = await call<string[]>(url, "VM.get_by_name_label", s, template);
  const vm = await call<string>(url, "VM.clone", s, tpl, name);
  await call(url, "VM.provision", s, vm);
  const [net] = await call<string[]>(url, "network.get_by_name_label", s, "VM Network");
  await call(url, "VIF.create", s, {
    VM: vm,
    network: net,
    device: "0",
    MAC: "",
    MTU: 1500,
    other_config: {},
    qos_algorithm_type: "",
    qos_algorithm_params: {},
  });
  return vm;
}

/** The real engine (bin/pulumi through the Automation API, tests/e2e/harness) against a simulator child. */
import * as path from "node:path";
import type { Stack } from "@pulumi/pulumi/automation";
import { E2eEnv, createE2eEnv } from "../../tests/e2e/harness";
import type { Inventory } from "../../simulator/inventory/types";
import { benchInventory } from "./inventory";
import { BENCH_DIR, Child } from "./util";

export const SIM_PASSWORD = "bench-root-pw";

export function fixture(name: string): string {
  return path.join(BENCH_DIR, "fixtures", name);
}

/** One big host (every benchmark VM fits running), in a child process at time scale 0. */
export function engineInventory(): Inventory {
  const inv = benchInventory(1);
  inv.hosts[0]!.memoryGiB = 4096;
  inv.hosts[0]!.cpus = 256;
  return inv;
}

export interface SimHandle {
  child: Child;
  url: string;
  controlUrl: string;
  controlToken: string;
  control(method: "GET" | "POST", route: string, body?: unknown): Promise<unknown>;
  /** calls per method since the last reset */
  metrics(): Promise<{ calls: Record<string, { count: number; errors: number }>; total: number }>;
}

export async function startSimChild(inventory: Inventory = engineInventory()): Promise<SimHandle> {
  const { child, ready } = await Child.start("sim-child.ts", [
    JSON.stringify({ inventory, rootPassword: SIM_PASSWORD }),
  ]);
  const controlUrl = String(ready.controlUrl);
  const controlToken = String(ready.controlToken);
  const control = async (method: "GET" | "POST", route: string, body?: unknown) => {
    const res = await fetch(`${controlUrl}${route}`, {
      method,
      headers: { Authorization: `Bearer ${controlToken}`, "Content-Type": "application/json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : method === "POST" ? { body: "{}" } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${route}: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as unknown;
  };
  return {
    child,
    url: String(ready.url),
    controlUrl,
    controlToken,
    control,
    metrics: async () =>
      (await control("GET", "/metrics")) as {
        calls: Record<string, { count: number; errors: number }>;
        total: number;
      },
  };
}

export async function engineEnv(sim: Pick<SimHandle, "url">): Promise<E2eEnv> {
  return createE2eEnv({
    name: "bench",
    envVars: { XEN_URL: sim.url, XEN_USERNAME: "root", XEN_PASSWORD: SIM_PASSWORD },
  });
}

export async function timed<T>(op: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const t0 = performance.now();
  const result = await op();
  return { ms: performance.now() - t0, result };
}

export type { Stack, E2eEnv };

/**
 * Placement intent is not observation: a VM that HA restarted on another host after a host failure is not
 * drift. Only a changed affinityHost migrates it.
 */
import type { Stack } from "@pulumi/pulumi/automation";
import { XenApiClient } from "../../provider/xenapi";
import { startSimulator, type RunningSimulator } from "../../simulator";
import { createE2eEnv, E2E_TIMEOUT_MS, fixtureDir, type E2eEnv } from "./harness";

jest.setTimeout(E2E_TIMEOUT_MS);

const PASSWORD = "e2e-ha-password-19c2";
let sim: RunningSimulator;
let env: E2eEnv;
let xen: XenApiClient;
let stack: Stack;

async function control(path: string) {
  const res = await fetch(`${sim.controlUrl}/${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${sim.controlToken}` },
  });
  expect(res.status).toBeLessThan(300);
}

async function hostUuid(name: string): Promise<string> {
  for (const h of (await xen.getAllRecords("host")).values()) if (h.name_label === name) return h.uuid;
  throw new Error(`no host ${name}`);
}

beforeAll(async () => {
  sim = await startSimulator({ port: 0, http: true, timeScale: 0, failedLoginDelayMs: 0, rootPassword: PASSWORD });
  xen = new XenApiClient({ url: sim.url, username: "root", password: PASSWORD });
  env = await createE2eEnv({ name: "ha", envVars: { XEN_URL: sim.url, XEN_USERNAME: "root", XEN_PASSWORD: PASSWORD } });
  stack = await env.openStack(fixtureDir("ha"));
});

afterAll(async () => {
  await env?.cleanup();
  await xen?.close().catch(() => undefined);
  await sim?.close();
});

test("a VM restarted elsewhere by HA shows no diff after refresh", async () => {
  const up = await env.up(stack);
  const uuid = up.outputs.uuid!.value as string;
  const xen02 = await hostUuid("xen-02");
  expect(up.outputs.residentOn!.value).toBe(xen02);
  const pools = await xen.call<string[]>("pool.get_all", []);
  expect((await xen.getRecord("pool", pools[0]!)).ha_enabled).toBe(true);

  await control(`hosts/${xen02}/crash`);
  const vm = await xen.getRecord("VM", await xen.getByUuid("VM", uuid));
  expect(vm.power_state).toBe("Running");
  const movedTo = (await xen.getRecord("host", vm.resident_on as string)).uuid;
  expect(movedTo).not.toBe(xen02);
  await control(`hosts/${xen02}/recover`);

  const refresh = await env.refresh(stack);
  expect(refresh.summary.result).toBe("succeeded");
  // Refresh updates the resource's state (stack outputs only change on `up`).
  const state = JSON.parse(await env.exportState(stack)) as {
    deployment: { resources: Array<{ type: string; outputs?: Record<string, unknown> }> };
  };
  const recorded = state.deployment.resources.find((r) => r.type === "pulumi-nodejs:dynamic/xen:Vm");
  expect(recorded?.outputs?.residentOn).toBe(movedTo);
  await env.preview(stack, { expectNoChanges: true });
  // Still where HA put it: nothing migrated it back.
  expect((await xen.getRecord("VM", await xen.getByUuid("VM", uuid))).resident_on).toBe(vm.resident_on);
  await env.destroy(stack);
});

/**
 * The native provider plugin (pulumi-resource-xen) under the real engine: the Pulumi YAML example's whole life
 * (up, no-change preview, live update, refresh of drift, destroy) with the connection in the stack config, the
 * password a secret that never reaches the state in clear; and `pulumi import` of a VM made out of band, whose
 * generated program then previews with no changes.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { XenApiClient } from "../../provider/xenapi";
import { startSimulator, type RunningSimulator } from "../../simulator";
import { createE2eEnv, E2E_TIMEOUT_MS, REPO_ROOT, type E2eEnv } from "./harness";

jest.setTimeout(E2E_TIMEOUT_MS);

const PASSWORD = "e2e-native-root-pw-7d21";
const GiB = 1024 ** 3;
const run = promisify(execFile);

let sim: RunningSimulator;
let xen: XenApiClient;
let env: E2eEnv;

beforeAll(async () => {
  sim = await startSimulator({ port: 0, http: true, timeScale: 0, failedLoginDelayMs: 0, rootPassword: PASSWORD });
  xen = new XenApiClient({ url: sim.url, username: "root", password: PASSWORD });
  // No XEN_* variables: the plugin gets its connection from the stack config, as a user's would.
  env = await createE2eEnv({ name: "native" });
});

afterAll(async () => {
  await env?.cleanup();
  await xen?.close().catch(() => undefined);
  await sim?.close();
});

const connection = () => ({
  "xen:url": { value: sim.url },
  "xen:password": { value: PASSWORD, secret: true },
});

async function vm(uuid: string): Promise<Record<string, unknown>> {
  return (await xen.getRecord("VM", await xen.getByUuid("VM", uuid))) as unknown as Record<string, unknown>;
}

test("a Pulumi YAML program: up, no-change preview, live update, refresh of drift, destroy", async () => {
  const stack = await env.openStack(path.join(REPO_ROOT, "examples", "yaml"), { config: connection() });
  const up = await env.up(stack);
  expect(up.summary.resourceChanges).toEqual({ create: 5 });
  const web = String(up.outputs["webUuid"]!.value);
  expect(await vm(web)).toMatchObject({ name_label: "yaml-web", power_state: "Running", memory_dynamic_max: GiB });
  expect((up.outputs["hosts"]!.value as string[]).length).toBe(2);
  // The template was found by the provider's getTemplate function (Invoke).
  const [tpl] = await xen.call<string[]>("VM.get_by_name_label", ["Debian Bookworm 12"]);
  expect(up.outputs["templateUuid"]!.value).toBe((await xen.getRecord("VM", tpl!)).uuid);

  // The password is a secret in the state (encrypted), never in clear.
  const state = await env.exportState(stack);
  expect(state).toContain('"xen:index:Vm"'.slice(1, -1));
  expect(state).not.toContain(PASSWORD);

  await env.preview(stack, { expectNoChanges: true });

  // A live change: same VM, still running, more memory.
  const domid = (await vm(web)).domid;
  await stack.setConfig("memory", { value: "2GiB" });
  const changed = await env.up(stack);
  expect(changed.summary.resourceChanges).toEqual({ update: 1, same: 4 });
  expect(await vm(web)).toMatchObject({ uuid: web, power_state: "Running", domid, memory_dynamic_max: 2 * GiB });

  // Drift made by hand is found by refresh.
  await xen.call("VM.set_name_label", [await xen.getByUuid("VM", web), "renamed-by-hand"]);
  const refreshed = await env.refresh(stack);
  expect(refreshed.summary.resourceChanges).toMatchObject({ update: 1 });
  const drifted = await env.preview(stack);
  expect(drifted.changeSummary).toMatchObject({ update: 1 });
  await env.up(stack);
  expect((await vm(web)).name_label).toBe("yaml-web");

  const destroyed = await env.destroy(stack);
  expect(destroyed.summary.resourceChanges).toMatchObject({ delete: 5 });
  await expect(xen.getByUuid("VM", web)).rejects.toMatchObject({ code: "UUID_INVALID" });
});

test("pulumi import of a VM made by hand, then a preview of the generated program has no changes", async () => {
  const [tpl] = await xen.call<string[]>("VM.get_by_name_label", ["Debian Bookworm 12"]);
  const ref = await xen.call<string>("VM.clone", [tpl, "hand-made"]);
  await xen.call("VM.provision", [ref]);
  const uuid = (await xen.getRecord("VM", ref)).uuid;

  const dir = await fs.promises.mkdtemp(path.join(env.dir, "import-"));
  const project = "name: pulumi-xen-import\nruntime: yaml\n";
  await fs.promises.writeFile(path.join(dir, "Pulumi.yaml"), project);
  const stack = await env.openStack(dir, { config: connection() });
  const cli = (args: string[]) =>
    run(env.pulumiCommand.command, [...args, "--stack", stack.name, "--non-interactive"], {
      cwd: dir,
      env: { ...process.env, ...env.envVars },
    });
  const generated = path.join(dir, "generated.yaml");
  await cli(["import", "xen:index:Vm", "handmade", uuid, "--yes", "--protect=false", "--out", generated]);
  const code = await fs.promises.readFile(generated, "utf8");
  expect(code).toMatch(/type: xen:(index:)?Vm/);
  expect(code).toContain("nameLabel: hand-made");
  // VM.clone of a template records it in other_config.base_template_name, which import reads.
  expect(code).toContain("template: Debian Bookworm 12");

  // The generated program is the project's program now: nothing to change, nothing to replace.
  await fs.promises.writeFile(path.join(dir, "Pulumi.yaml"), `${project}${code}`);
  await env.preview(stack, { expectNoChanges: true });
  const state = JSON.parse(await env.exportState(stack)) as {
    deployment: { resources: Array<{ type: string; id?: string; outputs?: Record<string, unknown> }> };
  };
  const imported = state.deployment.resources.find((r) => r.type === "xen:index:Vm")!;
  expect(imported).toMatchObject({ id: uuid, outputs: { imported: true } });

  // A template given later is recorded, never a reason to replace the imported VM.
  await fs.promises.writeFile(
    path.join(dir, "Pulumi.yaml"),
    `${project}${code.replace(/template: .*/, "template: Debian Bookworm 12")}`,
  );
  const preview = await env.preview(stack);
  expect(preview.changeSummary).not.toHaveProperty("replace");
  await env.up(stack);
  expect((await vm(uuid)).uuid).toBe(uuid);
  await env.destroy(stack);
});

test("a TypeScript stack moves a VM from the dynamic xen.Vm to the native xen:index:Vm; the VM is never recreated", async () => {
  const migrate = await createE2eEnv({
    name: "migrate",
    envVars: { XEN_URL: sim.url, XEN_USERNAME: "root", XEN_PASSWORD: PASSWORD },
  });
  try {
    const stack = await migrate.openStack(path.join(REPO_ROOT, "tests", "e2e", "fixtures", "migrate"), {
      config: { "migrate:step": { value: "dynamic" } },
    });
    const first = await migrate.up(stack);
    const uuid = String(first.outputs["uuid"]!.value);
    const domid = (await vm(uuid)).domid;

    await stack.setConfig("migrate:step", { value: "retain" });
    await migrate.up(stack);

    await stack.setAllConfig({ "migrate:step": { value: "native" }, "migrate:uuid": { value: uuid } });
    const moved = await migrate.up(stack);
    // The dynamic resource leaves the state (retained), the native one takes the VM over by import.
    expect(moved.summary.resourceChanges).toMatchObject({ import: 1, delete: 1 });
    expect(moved.outputs["uuid"]!.value).toBe(uuid);
    expect(await vm(uuid)).toMatchObject({ uuid, power_state: "Running", domid });
    const state = await migrate.exportState(stack);
    expect(state).toContain('"type": "xen:index:Vm"');
    expect(state).not.toContain("pulumi-nodejs:dynamic/xen:Vm");

    await migrate.preview(stack, { expectNoChanges: true });
    await migrate.destroy(stack);
    await expect(xen.getByUuid("VM", uuid)).rejects.toMatchObject({ code: "UUID_INVALID" });
  } finally {
    await migrate.cleanup();
  }
});

test("two pools in one YAML program: the default provider and an explicit pulumi:providers:xen instance", async () => {
  const other = sim.url.replace("127.42.0.1", "127.42.0.4"); // a standalone host: a pool of its own
  const dir = await fs.promises.mkdtemp(path.join(env.dir, "two-pools-"));
  await fs.promises.writeFile(
    path.join(dir, "Pulumi.yaml"),
    [
      "name: pulumi-xen-two-pools",
      "runtime: yaml",
      "config:",
      "  otherPassword:",
      "    type: string",
      "    secret: true",
      "resources:",
      "  edge:",
      "    type: pulumi:providers:xen",
      "    properties:",
      `      url: ${other}`,
      "      password: ${otherPassword}",
      "  here:",
      "    type: xen:index:Vm",
      "    properties: { template: Debian Bookworm 12, nameLabel: in-pool-1, vcpus: 1, memory: 1GiB, powerState: Halted }",
      "  there:",
      "    type: xen:index:Vm",
      "    properties: { template: Debian Bookworm 12, nameLabel: in-pool-4, vcpus: 1, memory: 1GiB, powerState: Halted }",
      "    options:",
      "      provider: ${edge}",
      "outputs:",
      "  here: ${here.uuid}",
      "  there: ${there.uuid}",
      "",
    ].join("\n"),
  );
  const stack = await env.openStack(dir, {
    config: { ...connection(), otherPassword: { value: PASSWORD, secret: true } },
  });
  const up = await env.up(stack);
  const edge = new XenApiClient({ url: other, username: "root", password: PASSWORD });
  try {
    const there = String(up.outputs["there"]!.value);
    const here = String(up.outputs["here"]!.value);
    expect((await edge.getRecord("VM", await edge.getByUuid("VM", there))).name_label).toBe("in-pool-4");
    await expect(edge.getByUuid("VM", here)).rejects.toMatchObject({ code: "UUID_INVALID" });
    expect((await vm(here)).name_label).toBe("in-pool-1");
    expect(await env.exportState(stack)).not.toContain(PASSWORD);
    await env.preview(stack, { expectNoChanges: true });
    await env.destroy(stack);
    await expect(edge.getByUuid("VM", there)).rejects.toMatchObject({ code: "UUID_INVALID" });
  } finally {
    await edge.close();
  }
});

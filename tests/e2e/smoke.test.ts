/**
 * The toolchain end to end: the self-built CLI, our Node.js language host and the dynamic-provider
 * plugin shim drive the smoke fixture's dynamic resource on a local backend.
 */
import { createE2eEnv, E2eEnv, E2E_TIMEOUT_MS, fixtureDir } from "./harness";

jest.setTimeout(E2E_TIMEOUT_MS);

const SECRET = "smoke-secret-d41c8f";

describe("smoke: dynamic provider through the real engine", () => {
  let env: E2eEnv;

  beforeAll(async () => {
    env = await createE2eEnv({ name: "smoke" });
  });

  afterAll(async () => {
    await env?.cleanup();
  });

  it("creates, previews no changes, updates, refreshes and destroys", async () => {
    const stack = await env.openStack(fixtureDir("smoke"), {
      config: { who: { value: "e2e" }, token: { value: SECRET, secret: true } },
    });

    const up = await env.up(stack);
    expect(up.summary.result).toBe("succeeded");
    expect(up.summary.resourceChanges).toEqual({ create: 2 });
    expect(up.outputs["message"].value).toBe("hello e2e");
    const id = up.outputs["resourceId"].value as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const state = JSON.parse(await env.exportState(stack)) as {
      deployment: { resources: { type: string; id?: string; outputs?: Record<string, unknown> }[] };
    };
    const greeting = state.deployment.resources.find((r) => r.type === "pulumi-nodejs:dynamic/smoke:Greeting");
    expect(greeting?.id).toBe(id);
    expect(greeting?.outputs?.["greeting"]).toBe("hello e2e");
    expect(typeof greeting?.outputs?.["__provider"]).toBe("string");

    // A second run of the same program must be a no-op (the CLI exits non-zero otherwise).
    const preview = await env.preview(stack, { expectNoChanges: true });
    expect(preview.changeSummary).toEqual({ same: 2 });

    await stack.setConfig("who", { value: "again" });
    const update = await env.up(stack);
    expect(update.summary.resourceChanges).toEqual({ update: 1, same: 1 });
    expect(update.outputs["message"].value).toBe("hello again");
    expect(update.outputs["resourceId"].value).toBe(id);

    const refresh = await env.refresh(stack);
    expect(refresh.summary.result).toBe("succeeded");
    expect(refresh.summary.resourceChanges).toEqual({ same: 2 });

    const destroy = await env.destroy(stack);
    expect(destroy.summary.resourceChanges).toEqual({ delete: 2 });
    const after = JSON.parse(await env.exportState(stack)) as { deployment: { resources?: unknown[] } };
    expect(after.deployment.resources ?? []).toHaveLength(0);

    // Output was collected, and the secret config value never appeared in it or in the state.
    expect(env.log.contains("pulumi-nodejs:dynamic/smoke:Greeting")).toBe(true);
    expect(env.log.contains(SECRET)).toBe(false);
    expect(await env.backendText()).not.toContain(SECRET);
    // ...while the program really did receive it (the secret output is its length).
    expect(update.outputs["tokenLength"]).toEqual({ value: SECRET.length, secret: true });
  });

  it("reports a failing program as a failed operation", async () => {
    const stack = await env.openStack(fixtureDir("smoke"), { config: { fail: { value: "true" } } });
    await expect(env.up(stack)).rejects.toThrow(/smoke fixture asked to fail/);
    expect(env.log.contains("smoke fixture asked to fail")).toBe(true);
    const state = JSON.parse(await env.exportState(stack)) as {
      deployment: { resources?: { type: string }[] };
    };
    expect((state.deployment.resources ?? []).some((r) => r.type.startsWith("pulumi-nodejs:"))).toBe(false);
  });

  it("reports a program that exits without a message as an exit-code error", async () => {
    const stack = await env.openStack(fixtureDir("smoke"), { config: { exitCode: { value: "3" } } });
    await expect(env.preview(stack)).rejects.toThrow(/Program exited with non-zero exit code: 3/);
  });
});

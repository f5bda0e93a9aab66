/**
 * Shutdowns against the simulator: a VM that is already halted (a failed update left it so, or a shutdown still
 * running finished meanwhile) is not an error, so delete works from any state.
 */
import { PhaseDeadline } from "../../../provider/resources/deadline";
import { powerOp, runFor } from "../../../provider/resources/vm/execute";
import type { VmInputs } from "../../../provider/schema";
import { XenApiClient } from "../../../provider/xenapi";
import { startSimulator, type RunningSimulator } from "../../../simulator";

const PASSWORD = "power-pw";
let sim: RunningSimulator;
let xen: XenApiClient;

beforeAll(async () => {
  sim = await startSimulator({ port: 0, http: true, timeScale: 0, failedLoginDelayMs: 0, rootPassword: PASSWORD });
  xen = new XenApiClient({ url: sim.url, username: "root", password: PASSWORD });
});

afterAll(async () => {
  await xen.close().catch(() => undefined);
  await sim.close();
});

async function haltedVm(): Promise<string> {
  const [template] = await xen.call<string[]>("VM.get_by_name_label", ["Debian Bookworm 12"]);
  const ref = await xen.callAsync("VM.clone", [template!, "power-test"]);
  await xen.callAsync("VM.provision", [ref]);
  return ref;
}

test.each(["hard_shutdown", "clean_shutdown"] as const)(
  "%s of a halted VM is done, not VM_BAD_POWER_STATE",
  async (op) => {
    const ref = await haltedVm();
    await expect(xen.callAsync(`VM.${op}`, [ref])).rejects.toMatchObject({ code: "VM_BAD_POWER_STATE" });
    const run = runFor({
      client: xen,
      deadline: new PhaseDeadline(30_000, "timeouts.delete"),
      ref,
      news: {} as VmInputs,
    });
    await expect(powerOp(run, op === "hard_shutdown" ? { op } : { op, hardAfterMs: 10_000 })).resolves.toBeUndefined();
    expect((await xen.getRecord("VM", ref)).power_state).toBe("Halted");
  },
);

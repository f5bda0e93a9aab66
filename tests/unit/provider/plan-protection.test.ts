import { EXAMPLE_INPUTS, EXAMPLE_STATE } from "../../../provider/plan/change-table";
import { blockedKeys, planProtection, protectOf } from "../../../provider/plan/protection";
import { planVm } from "../../../provider/plan/vm";

const GiB = 1024 ** 3;

describe("planProtection", () => {
  test("protect maps to blocked_operations and back", () => {
    const keys = blockedKeys({ destroy: true, migrate: true });
    expect(keys).toEqual(["destroy", "migrate_send", "pool_migrate"]);
    expect(protectOf(new Set(keys))).toEqual({ destroy: true, shutdown: false, migrate: true });
  });

  test("only the difference is set; an absent protect is not managed", () => {
    const plan = planProtection({ protect: { destroy: true } }, { protect: { destroy: true, shutdown: true } });
    expect(plan.steps).toEqual([
      {
        kind: "setBlockedOps",
        add: ["clean_reboot", "clean_shutdown", "hard_reboot", "hard_shutdown", "shutdown", "suspend"],
        remove: [],
      },
    ]);
    expect(planProtection({ protect: { destroy: true } }, {}).steps).toEqual([]);
  });

  test("a new revertTo is a revert, done first; the same one is history", () => {
    expect(planProtection({}, { revertTo: "s1" }).first).toEqual([{ kind: "revert", snapshot: "s1" }]);
    expect(planProtection({ revertTo: "s1" }, { revertTo: "s1" }).first).toEqual([]);
  });

  test("joining and leaving a group", () => {
    expect(planProtection({}, { group: "g" }).steps).toEqual([{ kind: "setGroup", group: "g" }]);
    expect(planProtection({ group: "g" }, {}).steps).toEqual([{ kind: "setGroup", group: undefined }]);
  });
});

describe("protection in the VM plan", () => {
  const restart = { maxMemory: 8 * GiB, memory: 6 * GiB, allowRestart: true };

  test("a restart under protect.shutdown is refused and names the guard", () => {
    const plan = planVm(EXAMPLE_STATE, { ...EXAMPLE_INPUTS, ...restart, protect: { shutdown: true } });
    expect(plan.blocked).toMatch(/protect\.shutdown is set/);
  });

  test("lifting the guard in the same update lets the restart run", () => {
    const old = { ...EXAMPLE_STATE, protect: { destroy: false, shutdown: true, migrate: false } };
    const plan = planVm(old, { ...EXAMPLE_INPUTS, ...restart, protect: { shutdown: false } });
    expect(plan.blocked).toBeUndefined();
    const kinds = plan.steps.map((s) => s.kind);
    expect(kinds.indexOf("setBlockedOps")).toBeLessThan(kinds.indexOf("restart"));
  });

  test("a revert of a running VM under protect.shutdown is refused (VM.revert shuts it down first)", () => {
    const plan = planVm(EXAMPLE_STATE, { ...EXAMPLE_INPUTS, revertTo: "s1", protect: { shutdown: true } });
    expect(plan.blocked).toMatch(/protect\.shutdown is set/);
    const halted = planVm(
      { ...EXAMPLE_STATE, powerState: "Halted" },
      {
        ...EXAMPLE_INPUTS,
        powerState: "Halted",
        revertTo: "s1",
        protect: { shutdown: true },
      },
    );
    expect(halted.blocked).toBeUndefined();
    expect(halted.steps[0]).toEqual({ kind: "revert", snapshot: "s1" });
  });

  test("a guard lifted with a revert is lifted before it", () => {
    const old = { ...EXAMPLE_STATE, protect: { destroy: true, shutdown: true, migrate: false } };
    const plan = planVm(old, { ...EXAMPLE_INPUTS, revertTo: "s1", protect: { destroy: true, shutdown: false } });
    expect(plan.blocked).toBeUndefined();
    expect(plan.steps[0]).toMatchObject({
      kind: "setBlockedOps",
      add: [],
      remove: expect.arrayContaining(["hard_shutdown"]),
    });
    expect(plan.steps[1]).toEqual({ kind: "revert", snapshot: "s1" });
  });

  test("a live migration under protect.migrate is refused", () => {
    const plan = planVm(EXAMPLE_STATE, { ...EXAMPLE_INPUTS, affinityHost: "xen-02", protect: { migrate: true } });
    expect(plan.blocked).toMatch(/protect\.migrate is set/);
  });

  test("snapshotBeforeChange puts a snapshot right before the restart", () => {
    const plan = planVm(EXAMPLE_STATE, { ...EXAMPLE_INPUTS, ...restart, snapshotBeforeChange: true, snapshotsKept: 2 });
    const kinds = plan.steps.map((s) => s.kind);
    expect(kinds.slice(-2)).toEqual(["snapshot", "restart"]);
    expect(plan.steps.at(-2)).toMatchObject({ keep: 2, reason: expect.stringContaining("maxMemory") });
  });

  test("no snapshot without a restart", () => {
    const plan = planVm(EXAMPLE_STATE, { ...EXAMPLE_INPUTS, memory: 3 * GiB, snapshotBeforeChange: true });
    expect(plan.steps.map((s) => s.kind)).not.toContain("snapshot");
  });

  test("a member of an appliance keeps the power state its appliance gave it", () => {
    const plan = planVm({ ...EXAMPLE_STATE, powerState: "Halted", inAppliance: true }, EXAMPLE_INPUTS);
    expect(plan.steps.map((s) => s.kind)).not.toContain("power");
    expect(plan.reasons.join("\n")).toMatch(/member of an appliance/);
  });
});

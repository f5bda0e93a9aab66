/** The planner's device, power and storage decisions, down to the step payloads the executor carries out. */
import { EXAMPLE_INPUTS as inputs, EXAMPLE_STATE as state } from "../../../provider/plan/change-table";
import { diskKey, matchByKey, nicKeys } from "../../../provider/plan/devices";
import { powerPath } from "../../../provider/plan/power";
import { planVm, type VmState } from "../../../provider/plan/vm";
import type { VmInputs } from "../../../provider/schema";

const GiB = 1024 ** 3;
const plan = (old: Partial<VmState>, news: Partial<VmInputs>) => planVm({ ...state, ...old }, { ...inputs, ...news });

const threeDisks: Partial<VmState> = {
  disks: [
    { name: "boot", size: 20 * GiB },
    { name: "logs", size: 5 * GiB },
    { name: "data", size: 3 * GiB },
  ],
  diskUuids: ["vdi-boot", "vdi-logs", "vdi-data"],
  onlineResizable: ["boot", "logs", "data"],
};
const threeInputs = [{ size: 20 * GiB }, { name: "logs", size: 5 * GiB }, { name: "data", size: 3 * GiB }];

describe("device keys", () => {
  test("disks: the name, boot for disks[0], the position for an unnamed data disk", () => {
    expect([{ name: "x" }, {}, {}].map((d, i) => diskKey(d, i))).toEqual(["x", "#1", "#2"]);
    expect(diskKey({}, 0)).toBe("boot");
  });
  test("NICs: the name, else the network, numbered from the second on one network", () => {
    expect(nicKeys([{ network: "A" }, { network: "A" }, { name: "n", network: "A" }, { network: "B" }])).toEqual([
      "net:A",
      "net:A#2",
      "n",
      "net:B",
    ]);
  });
  test("matchByKey pairs by key, whatever the order", () => {
    const m = matchByKey(["a", "b", "c"], [1, 2, 3], ["c", "a"], [30, 10]);
    expect(m.kept.map((k) => [k.key, k.was, k.want])).toEqual([
      ["c", 3, 30],
      ["a", 1, 10],
    ]);
    expect(m.removed.map((r) => r.key)).toEqual(["b"]);
    expect(m.added).toEqual([]);
  });
});

describe("disks", () => {
  test("removing the middle disk removes that disk, names its VDI and size, touches no other", () => {
    const p = plan(threeDisks, { disks: [threeInputs[0]!, threeInputs[2]!] });
    expect(p.steps).toEqual([
      { kind: "removeDisk", key: "logs", vdiUuid: "vdi-logs", size: 5 * GiB, keep: false, needsDomain: true },
    ]);
    expect(p.reasons).toContain(
      'disk "logs" (VDI vdi-logs, 5 GiB) detached and its VDI destroyed (a VDI this stack did not create is kept)',
    );
  });
  test("reordering the data disks is no change", () => {
    const p = plan(threeDisks, { disks: [threeInputs[0]!, threeInputs[2]!, threeInputs[1]!] });
    expect(p.changed).toEqual([]);
    expect(p.steps).toEqual([]);
  });
  test("keepOnRemove: the VDI is detached and kept", () => {
    const old = {
      ...threeDisks,
      disks: threeDisks.disks!.map((d) => (d.name === "logs" ? { ...d, keepOnRemove: true } : d)),
    };
    const p = plan(old, { disks: [threeInputs[0]!, threeInputs[2]!] });
    expect(p.steps[0]).toMatchObject({ kind: "removeDisk", key: "logs", keep: true });
    expect(p.reasons.join("\n")).toMatch(/the VDI is kept \(keepOnRemove\)/);
  });
  test("removing an unnamed data disk is refused: its position cannot say which one", () => {
    const old = {
      ...threeDisks,
      disks: [
        { name: "boot", size: 20 * GiB },
        { name: "#1", size: 5 * GiB },
        { name: "#2", size: 6 * GiB },
      ],
    };
    const p = plan(old, { disks: [{ size: 20 * GiB }, { size: 6 * GiB }] });
    expect(p.blocked).toMatch(/disks\[2\] \(VDI vdi-data, 6 GiB\) would be removed.*known only by its position/);
    expect(p.steps).toEqual([]);
  });
  test("naming unnamed disks without changing the list re-tags them", () => {
    const old = {
      ...threeDisks,
      disks: [
        { name: "boot", size: 20 * GiB },
        { name: "#1", size: 5 * GiB },
        { name: "#2", size: 3 * GiB },
      ],
    };
    const p = plan(old, { disks: threeInputs });
    expect(p.steps).toEqual([
      { kind: "retagDisk", from: "#1", to: "logs", needsDomain: false },
      { kind: "retagDisk", from: "#2", to: "data", needsDomain: false },
    ]);
    expect(p.disruption).toBe("none");
  });
  test("growing: online where the SR can, unplug-resize-replug where it cannot, restart for the boot disk", () => {
    const grown = [threeInputs[0]!, { ...threeInputs[1]!, size: 8 * GiB }, threeInputs[2]!];
    expect(plan(threeDisks, { disks: grown }).steps).toEqual([
      { kind: "resizeDisk", key: "logs", size: 8 * GiB, method: "online", needsDomain: true },
    ]);
    expect(plan({ ...threeDisks, onlineResizable: [] }, { disks: grown }).steps).toEqual([
      { kind: "resizeDisk", key: "logs", size: 8 * GiB, method: "replug", needsDomain: true },
    ]);
    const boot = plan(
      { ...threeDisks, onlineResizable: [] },
      { disks: [{ size: 30 * GiB }, ...threeInputs.slice(1)], allowRestart: true },
    );
    expect(boot.steps).toEqual([
      expect.objectContaining({
        kind: "restart",
        whileHalted: [{ kind: "resizeDisk", key: "boot", size: 30 * GiB, method: "offline", needsDomain: false }],
      }),
    ]);
  });
  test("moving: live on a running VM, copy and swap on a halted one", () => {
    const moved = [threeInputs[0]!, { ...threeInputs[1]!, sr: "local" }, threeInputs[2]!];
    const withSr = {
      ...threeDisks,
      disks: threeDisks.disks!.map((d) => (d.name === "logs" ? { ...d, sr: "nfs" } : d)),
    };
    expect(plan(withSr, { disks: moved }).steps).toEqual([
      { kind: "moveDisk", key: "logs", sr: "local", method: "live", needsDomain: true },
    ]);
    expect(plan({ ...withSr, powerState: "Halted" }, { disks: moved, powerState: "Halted" }).steps).toEqual([
      { kind: "moveDisk", key: "logs", sr: "local", method: "copy", needsDomain: false },
    ]);
  });
  test("a disk added to a guest without PV drivers waits for a restart, unplugged", () => {
    const p = plan({ pvDrivers: false }, { disks: [...inputs.disks, { name: "new", size: GiB }], allowRestart: true });
    expect(p.steps[0]).toMatchObject({
      kind: "restart",
      whileHalted: [{ kind: "addDisk", key: "new", plug: false }],
    });
  });
});

describe("NICs", () => {
  const two: Partial<VmState> = {
    networks: [
      { name: "net:Management", network: "Management" },
      { name: "net:VM Network", network: "VM Network" },
    ],
  };
  test("removing the first NIC unplugs that one only", () => {
    const p = plan(two, { networks: [{ network: "VM Network" }] });
    expect(p.steps).toEqual([{ kind: "removeVif", key: "net:Management", unplug: true, needsDomain: true }]);
  });
  test("a named NIC on another network is moved: same VIF", () => {
    const p = plan({}, { networks: [{ name: "lan", network: "Management" }] });
    expect(p.steps).toEqual([{ kind: "moveVif", key: "lan", network: "Management", needsDomain: false }]);
  });
});

describe("power states", () => {
  test("a memory change on a Suspended VM: resume, set live, suspend again", () => {
    const p = plan({ powerState: "Suspended" }, { memory: 3 * GiB, powerState: "Suspended" });
    expect(p.steps).toEqual([
      { kind: "power", from: "Suspended", to: "Running", ops: [{ op: "resume", paused: false }] },
      { kind: "setMemoryLive", memory: 3 * GiB },
      { kind: "power", from: "Running", to: "Suspended", ops: [{ op: "suspend" }] },
    ]);
  });
  test("a restart of a Paused VM returns it to Paused", () => {
    const p = plan({ powerState: "Paused" }, { maxMemory: 8 * GiB, powerState: "Paused", allowRestart: true });
    expect(p.steps.map((s) => s.kind)).toEqual(["power", "restart", "power"]);
    expect(p.steps[0]).toMatchObject({ from: "Paused", to: "Running", ops: [{ op: "unpause" }] });
    expect(p.steps[2]).toMatchObject({ from: "Running", to: "Paused", ops: [{ op: "pause" }] });
  });
  test("a restart shuts down cleanly with the shutdownTimeout, or hard for a guest that cannot", () => {
    const clean = plan({}, { maxMemory: 8 * GiB, allowRestart: true, shutdownTimeout: 30_000 });
    expect(clean.steps[0]).toMatchObject({
      kind: "restart",
      shutdown: [{ op: "clean_shutdown", hardAfterMs: 30_000 }],
    });
    const hard = plan({ pvDrivers: false }, { maxMemory: 8 * GiB, allowRestart: true });
    expect(hard.steps[0]).toMatchObject({ kind: "restart", shutdown: [{ op: "hard_shutdown" }] });
  });
  test("setLimits carries static_min and only the vCPU setters whose value differs, in a safe order", () => {
    const p = plan(
      { powerState: "Halted" },
      { maxVcpus: 1, vcpus: 1, memory: 512 * 1024 ** 2, maxMemory: GiB, powerState: "Halted" },
    );
    expect(p.steps).toEqual([
      {
        kind: "setLimits",
        vcpus: 1,
        maxVcpus: 1,
        memory: 512 * 1024 ** 2,
        maxMemory: GiB,
        staticMin: 512 * 1024 ** 2,
        setMemory: true,
        vcpuCalls: ["startup", "max"], // from the example's 2 vCPUs down to 1: the start-up count goes first
      },
    ]);
    const up = plan({ powerState: "Halted", vcpus: 1, maxVcpus: 1 }, { maxVcpus: 4, vcpus: 2, powerState: "Halted" });
    expect(up.steps[0]).toMatchObject({ kind: "setLimits", vcpuCalls: ["max", "startup"], setMemory: false });
    const down = plan({ powerState: "Halted", vcpus: 4, maxVcpus: 4 }, { maxVcpus: 2, vcpus: 2, powerState: "Halted" });
    expect(down.steps[0]).toMatchObject({ kind: "setLimits", vcpuCalls: ["startup", "max"] });
    const startupOnly = plan(
      { powerState: "Halted", vcpus: 1, maxVcpus: 4 },
      { maxVcpus: 4, vcpus: 3, powerState: "Halted" },
    );
    expect(startupOnly.steps[0]).toMatchObject({ kind: "setLimits", vcpuCalls: ["startup"] });
  });
  test.each([
    ["Halted", "Running", ["start"]],
    ["Halted", "Suspended", ["start", "suspend"]],
    ["Running", "Halted", ["clean_shutdown"]],
    ["Paused", "Halted", ["hard_shutdown"]],
    ["Suspended", "Halted", ["hard_shutdown"]],
    ["Paused", "Suspended", ["unpause", "suspend"]],
    ["Suspended", "Paused", ["resume"]],
  ] as const)("power path %s -> %s", (from, to, ops) => {
    expect(powerPath(from, to, { clean: true, hardAfterMs: 1000 }).map((o) => o.op)).toEqual(ops);
  });
});

import { EXAMPLE_INPUTS, EXAMPLE_STATE } from "../../../provider/plan/change-table";
import { describePlan, planVm, type VmState, type VmPlan } from "../../../provider/plan/vm";
import { UNKNOWN, type VmInputs } from "../../../provider/schema";

const GiB = 1024 ** 3;

const inputs: VmInputs = EXAMPLE_INPUTS;
const state: VmState = EXAMPLE_STATE;

type Case = {
  name: string;
  old?: Partial<VmState>;
  news: Partial<VmInputs>;
  expect: Partial<Pick<VmPlan, "disruption" | "replaces" | "changed">> & { kinds?: string[]; blocked?: RegExp };
};

const cases: Case[] = [
  { name: "no change", news: {}, expect: { disruption: "none", changed: [], kinds: [] } },
  {
    name: "name, tags and HA priority are setters",
    news: { nameLabel: "web-01", tags: ["prod"], haRestartPriority: "restart" },
    expect: { disruption: "none", kinds: ["set", "set", "setTags"] },
  },
  {
    name: "vcpus within maxVcpus on a running VM is live",
    news: { vcpus: 4 },
    expect: { disruption: "live", kinds: ["setVcpusLive"] },
  },
  {
    name: "memory within maxMemory on a running VM is live",
    news: { memory: 3 * GiB },
    expect: { disruption: "live", kinds: ["setMemoryLive"] },
  },
  {
    name: "maxMemory change on a running VM without allowRestart is blocked and names the rule",
    news: { maxMemory: 8 * GiB },
    expect: { disruption: "restart", kinds: [], blocked: /maxMemory 4 GiB -> 8 GiB.*allowRestart: true/ },
  },
  {
    name: "maxVcpus change with allowRestart is one restart",
    news: { maxVcpus: 8, vcpus: 6, allowRestart: true },
    expect: { disruption: "restart", kinds: ["restart"] },
  },
  {
    name: "maxMemory change on a halted VM needs no restart",
    old: { powerState: "Halted" },
    news: { maxMemory: 8 * GiB, powerState: "Halted" },
    expect: { disruption: "none", kinds: ["setLimits"] },
  },
  {
    name: "halting and resizing at once: halt first, then set limits",
    news: { maxMemory: 8 * GiB, powerState: "Halted" },
    expect: { disruption: "power", kinds: ["power", "setLimits"] },
  },
  {
    name: "affinity change on a running VM migrates live",
    news: { affinityHost: "xen-02" },
    expect: { disruption: "live", kinds: ["setAffinity", "migrate"] },
  },
  {
    name: "affinity change on a halted VM only sets the hint",
    old: { powerState: "Halted" },
    news: { affinityHost: "xen-02", powerState: "Halted" },
    expect: { disruption: "none", kinds: ["setAffinity"] },
  },
  {
    name: "vcpus on a running guest without PV drivers needs a restart",
    old: { pvDrivers: false },
    news: { vcpus: 3 },
    expect: { disruption: "restart", blocked: /vCPU hot-plug needs PV drivers.*allowRestart: true/ },
  },
  {
    name: "affinity change of a guest without PV drivers restarts it on the new host",
    old: { pvDrivers: false },
    news: { affinityHost: "xen-02", allowRestart: true },
    expect: { disruption: "restart", kinds: ["setAffinity", "restart"] },
  },
  {
    name: "a source change replaces",
    news: { source: "CentOS 6 (PV)" },
    expect: { disruption: "replace", replaces: ["source"], kinds: [] },
  },
  {
    name: "the same source named by template instead is recorded only",
    news: { template: "Debian Bookworm 12" },
    expect: { disruption: "none", kinds: [] },
  },
  {
    name: "a data disk added is live",
    news: { disks: [...inputs.disks, { size: 5 * GiB }] },
    expect: { disruption: "live", kinds: ["addDisk"] },
  },
  {
    name: "a data disk removed is live",
    news: { disks: [inputs.disks[0]!] },
    expect: { disruption: "live", kinds: ["removeDisk"] },
  },
  {
    name: "a data disk grown is an online resize",
    news: { disks: [inputs.disks[0]!, { name: "data", size: 20 * GiB, sr: "shared-nfs" }] },
    expect: { disruption: "live", kinds: ["resizeDisk"] },
  },
  {
    name: "the boot disk on an SR without online resize needs a restart",
    old: { onlineResizable: [] },
    news: { disks: [{ size: 40 * GiB }, inputs.disks[1]!], allowRestart: true },
    expect: { disruption: "restart", kinds: ["restart"] },
  },
  {
    name: "a disk never shrinks",
    news: { disks: [inputs.disks[0]!, { name: "data", size: 1 * GiB, sr: "shared-nfs" }] },
    expect: { blocked: /cannot shrink/ },
  },
  {
    name: "a disk moved to another SR is a live storage migration",
    news: { disks: [inputs.disks[0]!, { name: "data", size: 10 * GiB, sr: "local-xen-01" }] },
    expect: { disruption: "live", kinds: ["moveDisk"] },
  },
  {
    name: "power Running -> Suspended is a named transition",
    news: { powerState: "Suspended" },
    expect: { disruption: "power", kinds: ["power"] },
  },
  {
    name: "allowRestart alone changes state, not the VM",
    news: { allowRestart: true },
    expect: { disruption: "none", changed: ["allowRestart"], kinds: [] },
  },
  {
    name: "a network added is attached live",
    news: { networks: [...inputs.networks, { network: "Management" }] },
    expect: { disruption: "live", kinds: ["addVif"] },
  },
];

describe("planVm", () => {
  test.each(cases)("$name", ({ old, news, expect: want }) => {
    const plan = planVm({ ...state, ...old }, { ...inputs, ...news });
    if (want.disruption) expect(plan.disruption).toBe(want.disruption);
    if (want.replaces) expect(plan.replaces).toEqual(want.replaces);
    if (want.changed) expect(plan.changed).toEqual(want.changed);
    if (want.kinds) expect(plan.steps.map((s) => s.kind)).toEqual(want.kinds);
    if (want.blocked) expect(plan.blocked).toMatch(want.blocked);
    else expect(plan.blocked).toBeUndefined();
  });

  test("the preview text names the disruption, the properties and each decision", () => {
    const plan = planVm(state, { ...inputs, memory: 3 * GiB, tags: ["prod"] });
    expect(describePlan("web-1", plan)).toEqual([
      "xen:Vm web-1: update (live) (tags, memory)",
      "  - memory 2 GiB -> 3 GiB live (within maxMemory 4 GiB)",
    ]);
    expect(describePlan("web-1", planVm(state, inputs))).toEqual([]);
  });

  test("values unknown during preview are pending, never blocking", () => {
    const plan = planVm(state, { ...inputs, maxMemory: UNKNOWN as unknown as number, affinityHost: UNKNOWN });
    expect(plan.blocked).toBeUndefined();
    expect(plan.changed).toEqual(expect.arrayContaining(["maxMemory", "affinityHost"]));
    expect(plan.steps).toEqual([]);
    expect(plan.reasons.at(-1)).toBe("maxMemory, affinityHost: known at apply time; planned then");
  });

  test("an unknown source is a replacement", () => {
    expect(planVm(state, { ...inputs, source: UNKNOWN }).replaces).toEqual(["source"]);
  });

  test("the restart of a guest without PV drivers starts it on its new affinity host", () => {
    const plan = planVm({ ...state, pvDrivers: false }, { ...inputs, affinityHost: "xen-02", allowRestart: true });
    expect(plan.steps.at(-1)).toMatchObject({ kind: "restart", startOn: "xen-02", whileHalted: [] });
  });

  test("a restart carries the halted-only steps inside it", () => {
    const plan = planVm(state, { ...inputs, maxMemory: 8 * GiB, memory: 6 * GiB, allowRestart: true });
    const restart = plan.steps.find((s) => s.kind === "restart");
    expect(restart).toMatchObject({
      kind: "restart",
      whileHalted: [{ kind: "setLimits", memory: 6 * GiB, maxMemory: 8 * GiB, vcpus: 2, maxVcpus: 4 }],
    });
    expect(plan.reasons[0]).toMatch(/^restart required: maxMemory 4 GiB -> 8 GiB/);
  });
});

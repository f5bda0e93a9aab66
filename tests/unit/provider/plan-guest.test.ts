import { cloudInitDigest, planGuest, type ObservedGuest } from "../../../provider/plan/guest";
import { planVm } from "../../../provider/plan/vm";
import { EXAMPLE_INPUTS, EXAMPLE_STATE } from "../../../provider/plan/change-table";
import type { VmInputs } from "../../../provider/schema";

const config = { userData: "#cloud-config\nhostname: a\n" };
const changed = { userData: "#cloud-config\nhostname: b\n" };
const running: ObservedGuest = {
  firmware: "uefi",
  secureBoot: false,
  vtpm: false,
  bootOrder: "cd",
  hasCdDrive: true,
  cdrom: { iso: "", ejectAfterInstall: false },
  cloudInit: config,
  cloudInitDigest: cloudInitDigest(config),
};
const base = { cloudInitChangePolicy: "restart" as const, firmware: "uefi" as const, cloudInit: config };

describe("planGuest", () => {
  const table: Array<{
    name: string;
    old?: Partial<ObservedGuest>;
    news: Partial<VmInputs>;
    live?: boolean;
    creating?: boolean;
    expect: { kinds?: string[]; whileHalted?: string[]; replaces?: string[]; changed?: string[]; reason?: RegExp };
  }> = [
    { name: "nothing declared differs", news: {}, expect: { kinds: [], whileHalted: [], changed: [] } },
    {
      name: "another firmware replaces the VM",
      news: { firmware: "bios" },
      expect: { replaces: ["firmware"], kinds: [], reason: /boot loader/ },
    },
    {
      name: "a firmware the template lacks is set on a new VM",
      old: { firmware: "bios" },
      news: { firmware: "uefi" },
      live: false,
      creating: true,
      expect: { kinds: ["setBootParams"], replaces: [], changed: ["firmware"] },
    },
    {
      name: "secure boot on a running VM is a restart",
      news: { secureBoot: true },
      expect: { kinds: [], whileHalted: ["setSecureBoot"], changed: ["secureBoot"] },
    },
    {
      name: "secure boot on a halted VM is set in place",
      news: { secureBoot: true },
      live: false,
      expect: { kinds: ["setSecureBoot"], whileHalted: [] },
    },
    { name: "a vTPM is added while halted", news: { vtpm: true }, expect: { whileHalted: ["addVtpm"] } },
    {
      name: "removing the vTPM says what is lost",
      old: { vtpm: true },
      news: { vtpm: false },
      expect: { whileHalted: ["removeVtpm"] },
    },
    {
      name: "the boot order is set in place",
      news: { bootOrder: "dc" },
      expect: { kinds: ["setBootParams"], changed: ["bootOrder"], reason: /next boot/ },
    },
    {
      name: "an ISO goes in live when there is a drive",
      news: { cdrom: { iso: "debian.iso", ejectAfterInstall: false } },
      expect: { kinds: ["setCdrom"], whileHalted: [] },
    },
    {
      name: "an ISO for a VM without a drive waits for a restart",
      old: { hasCdDrive: false },
      news: { cdrom: { iso: "debian.iso", ejectAfterInstall: false } },
      expect: { kinds: [], whileHalted: ["setCdrom"] },
    },
    {
      name: "an ejected installer ISO is what ejectAfterInstall asked for",
      old: { cdrom: { iso: "", ejectAfterInstall: true } },
      news: { cdrom: { iso: "debian.iso", ejectAfterInstall: true } },
      expect: { kinds: [], whileHalted: [], changed: [] },
    },
    {
      name: "a new VM to install gets its installer ISO",
      old: { cdrom: { iso: "", ejectAfterInstall: true }, hasCdDrive: false },
      news: { cdrom: { iso: "debian.iso", ejectAfterInstall: true } },
      live: false,
      creating: true,
      expect: { kinds: ["setCdrom"], changed: ["cdrom"] },
    },
    {
      name: "a first config drive on a fresh halted VM is written",
      old: { cloudInitDigest: "", cloudInit: undefined },
      news: {},
      live: false,
      expect: { kinds: ["writeConfigDrive"], changed: ["cloudInit"] },
    },
    {
      name: "a cloud-init change restarts by default",
      news: { cloudInit: changed },
      expect: { whileHalted: ["writeConfigDrive"], reason: undefined, changed: ["cloudInit"] },
    },
    {
      name: "a cloud-init change under replace replaces",
      news: { cloudInit: changed, cloudInitChangePolicy: "replace" },
      expect: { replaces: ["cloudInit"], kinds: [], whileHalted: [] },
    },
    {
      name: "a cloud-init change under ignore is said, not applied",
      news: { cloudInit: changed, cloudInitChangePolicy: "ignore" },
      expect: { kinds: [], whileHalted: [], changed: ["cloudInit"], reason: /not applied/ },
    },
    {
      name: "an ignored change already recorded is not said again",
      old: { cloudInit: changed },
      news: { cloudInit: changed, cloudInitChangePolicy: "ignore" },
      expect: { kinds: [], whileHalted: [], changed: [] },
    },
    {
      name: "cloud-init removed takes the drive away",
      news: { cloudInit: undefined },
      expect: { kinds: ["writeConfigDrive"], changed: ["cloudInit"] },
    },
  ];
  test.each(table)("$name", ({ old, news, live, creating, expect: want }) => {
    const plan = planGuest({ ...running, ...old }, { ...base, ...news }, live ?? true, creating);
    if (want.kinds) expect(plan.steps.map((s) => s.kind)).toEqual(want.kinds);
    if (want.whileHalted) expect(plan.whileHalted.map((s) => s.kind)).toEqual(want.whileHalted);
    if (want.replaces) expect(plan.replaces).toEqual(want.replaces);
    if (want.changed) expect(plan.changed).toEqual(want.changed);
    if (want.reason) expect(plan.reasons.join("\n")).toMatch(want.reason);
  });

  test("the VM's name is not part of the config's digest (a rename restarts nothing)", () => {
    const plan = planVm(EXAMPLE_STATE, { ...EXAMPLE_INPUTS, nameLabel: "web-renamed" });
    expect(plan.disruption).toBe("none");
  });

  test("a cloud-init change without allowRestart is refused with the three ways out", () => {
    const plan = planVm(EXAMPLE_STATE, { ...EXAMPLE_INPUTS, cloudInit: changed });
    expect(plan.blocked).toMatch(/cloudInitChangePolicy: restart/);
    expect(plan.blocked).toMatch(/allowRestart/);
  });

  test("a firmware change is a replacement of the whole VM", () => {
    const plan = planVm(EXAMPLE_STATE, { ...EXAMPLE_INPUTS, firmware: "uefi" });
    expect(plan).toMatchObject({ disruption: "replace", replaces: ["firmware"], steps: [] });
  });
});

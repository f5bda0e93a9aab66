/**
 * What each change does, per input: the planner's decisions as a table, each row with an example the planner is
 * run on (tests/unit/provider/change-table.test.ts checks that it plans exactly the disruption the row states), and
 * from which the README section "What each change does" is generated (scripts/gen-change-table.ts), so the
 * documentation cannot drift from the planner.
 */
import { cloudInitDigest } from "./guest";
import type { VmInputs } from "../schema";
import type { Disruption, VmState } from "./vm";

const GiB = 1024 ** 3;

export interface ChangeRule {
  input: string;
  /** The situation, in words. */
  when: string;
  /** What is called. */
  how: string;
  disruption: Exclude<Disruption, "none"> | "in place";
  example: { old?: Partial<VmState>; news: Partial<VmInputs> };
}

/** The VM the examples start from: running, with PV drivers, a boot disk and a named data disk on an online-resize SR. */
export const EXAMPLE_INPUTS: VmInputs = {
  source: "Debian Bookworm 12",
  cloneMode: "fast",
  cloudInitChangePolicy: "restart",
  snapshotBeforeChange: false,
  snapshotsKept: 3,
  nameLabel: "web-1",
  description: "",
  vcpus: 2,
  maxVcpus: 4,
  memory: 2 * GiB,
  maxMemory: 4 * GiB,
  disks: [{ size: 20 * GiB }, { name: "data", size: 10 * GiB, sr: "shared-nfs" }],
  networks: [{ name: "lan", network: "VM Network" }],
  powerState: "Running",
  haRestartPriority: "",
  tags: [],
  otherConfig: {},
  allowRestart: false,
  waitForIp: false,
  cloudInit: { userData: "#cloud-config\nhostname: web-1\n" },
};

export const EXAMPLE_STATE: VmState = {
  ...EXAMPLE_INPUTS,
  disks: [
    { name: "boot", size: 20 * GiB },
    { name: "data", size: 10 * GiB, sr: "shared-nfs" },
  ],
  networks: [{ name: "lan", network: "VM Network" }],
  uuid: "6f1c2a4e-0000-4000-8000-000000000001",
  residentOn: "host-1",
  domainType: "hvm",
  ipAddresses: [],
  actualMemory: 2 * GiB,
  actualVcpus: 2,
  diskUuids: ["vdi-boot", "vdi-data"],
  onlineResizable: ["boot", "data"],
  memoryStaticMin: 1 * GiB,
  pvDrivers: true,
  firmware: "bios",
  secureBoot: false,
  vtpm: false,
  bootOrder: "cd",
  hasCdDrive: true,
  cdrom: { iso: "", ejectAfterInstall: false },
  cloudInitDigest: cloudInitDigest(EXAMPLE_INPUTS.cloudInit!),
};
const UEFI = { firmware: "uefi" as const };
const CHANGED_CLOUD_INIT = { userData: "#cloud-config\nhostname: web-01\n" };

const withData = (data: Partial<VmInputs["disks"][number]>) => [
  EXAMPLE_INPUTS.disks[0]!,
  { ...EXAMPLE_INPUTS.disks[1]!, ...data },
];
const halted = { old: { powerState: "Halted" as const } };

export const CHANGE_TABLE: ChangeRule[] = [
  {
    input: "nameLabel, description, tags, otherConfig, haRestartPriority",
    when: "any",
    how: "setters",
    disruption: "in place",
    example: { news: { nameLabel: "web-01", tags: ["prod"] } },
  },
  {
    input: "vcpus",
    when: "running, within maxVcpus, PV drivers",
    how: "VM.set_VCPUs_number_live",
    disruption: "live",
    example: { news: { vcpus: 3 } },
  },
  {
    input: "vcpus",
    when: "running guest without PV drivers",
    how: "restart: set while halted",
    disruption: "restart",
    example: { old: { pvDrivers: false }, news: { vcpus: 3, allowRestart: true } },
  },
  {
    input: "memory",
    when: "running, within maxMemory",
    how: "VM.set_memory_dynamic_range",
    disruption: "live",
    example: { news: { memory: 3 * GiB } },
  },
  {
    input: "memory, vcpus",
    when: "Suspended or Paused",
    how: "resume/unpause, set live, suspend/pause again",
    disruption: "power",
    example: { old: { powerState: "Suspended" }, news: { memory: 3 * GiB, powerState: "Suspended" } },
  },
  {
    input: "maxVcpus, maxMemory",
    when: "running",
    how: "restart: clean shutdown (hard after shutdownTimeout), VM.set_memory_limits / set_VCPUs_max, start on the same host, back to the previous power state",
    disruption: "restart",
    example: { news: { maxMemory: 8 * GiB, allowRestart: true } },
  },
  {
    input: "vcpus, maxVcpus, memory, maxMemory",
    when: "halted",
    how: "VM.set_memory_limits, VM.set_VCPUs_max / set_VCPUs_at_startup",
    disruption: "in place",
    example: { ...halted, news: { maxMemory: 8 * GiB, powerState: "Halted" } },
  },
  {
    input: "affinityHost",
    when: "running, PV drivers",
    how: "VM.set_affinity, VM.pool_migrate (live)",
    disruption: "live",
    example: { news: { affinityHost: "xen-02" } },
  },
  {
    input: "affinityHost",
    when: "halted",
    how: "VM.set_affinity",
    disruption: "in place",
    example: { ...halted, news: { affinityHost: "xen-02", powerState: "Halted" } },
  },
  {
    input: "powerState",
    when: "any pair of Running, Halted, Suspended, Paused",
    how: "start, clean_shutdown (hard after shutdownTimeout), hard_shutdown, suspend, resume, pause, unpause",
    disruption: "power",
    example: { news: { powerState: "Suspended" } },
  },
  {
    input: "disks (entry added)",
    when: "running, PV drivers",
    how: "VDI.create, VBD.create, VBD.plug",
    disruption: "live",
    example: { news: { disks: [...EXAMPLE_INPUTS.disks, { name: "logs", size: 5 * GiB }] } },
  },
  {
    input: "disks (entry removed)",
    when: "running, PV drivers",
    how: "VBD.unplug, VBD.destroy, VDI.destroy (only a VDI this stack created; keepOnRemove keeps it); the preview names the VDI and its size",
    disruption: "live",
    example: { news: { disks: [EXAMPLE_INPUTS.disks[0]!] } },
  },
  {
    input: "disks[].size (grown)",
    when: "running, the SR declares VDI_RESIZE_ONLINE",
    how: "VDI.resize_online",
    disruption: "live",
    example: { news: { disks: withData({ size: 20 * GiB }) } },
  },
  {
    input: "disks[].size (grown)",
    when: "running data disk, SR without online resize, PV drivers",
    how: "VBD.unplug, VDI.resize, VBD.plug (the guest keeps running)",
    disruption: "live",
    example: { old: { onlineResizable: [] }, news: { disks: withData({ size: 20 * GiB }) } },
  },
  {
    input: "disks[].size (grown)",
    when: "running boot disk, SR without online resize",
    how: "restart: VDI.resize while halted",
    disruption: "restart",
    example: {
      old: { onlineResizable: [] },
      news: { disks: [{ size: 40 * GiB }, EXAMPLE_INPUTS.disks[1]!], allowRestart: true },
    },
  },
  {
    input: "disks[].size (grown)",
    when: "halted",
    how: "VDI.resize",
    disruption: "in place",
    example: { ...halted, news: { disks: withData({ size: 20 * GiB }), powerState: "Halted" } },
  },
  {
    input: "disks[].sr",
    when: "running",
    how: "VDI.pool_migrate (live storage migration, same VDI uuid)",
    disruption: "live",
    example: { news: { disks: withData({ sr: "local-xen-01" }) } },
  },
  {
    input: "disks[].sr",
    when: "halted",
    how: "VDI.copy to the SR, attach the copy, detach and destroy the original (data kept)",
    disruption: "in place",
    example: { ...halted, news: { disks: withData({ sr: "local-xen-01" }), powerState: "Halted" } },
  },
  {
    input: "disks[].keepOnRemove, disks[].nameLabel",
    when: "any",
    how: "VDI other_config / VDI.set_name_label",
    disruption: "in place",
    example: { news: { disks: withData({ keepOnRemove: true }) } },
  },
  {
    input: "networks (entry added or removed)",
    when: "running, PV drivers",
    how: "VIF.create + VIF.plug / VIF.unplug + VIF.destroy; the other NICs keep their VIF and MAC",
    disruption: "live",
    example: { news: { networks: [...EXAMPLE_INPUTS.networks, { name: "mgmt", network: "Management" }] } },
  },
  {
    input: "networks (entry added or removed)",
    when: "running guest without PV drivers",
    how: "restart: VIF.create / VIF.destroy while halted",
    disruption: "restart",
    example: {
      old: { pvDrivers: false },
      news: { networks: [...EXAMPLE_INPUTS.networks, { name: "mgmt", network: "Management" }], allowRestart: true },
    },
  },
  {
    input: "networks[].network",
    when: "a named NIC",
    how: "VIF.move (same VIF, same MAC)",
    disruption: "live",
    example: { news: { networks: [{ name: "lan", network: "Management" }] } },
  },
  {
    input: "networks[].mac",
    when: "any",
    how: "the VIF is recreated with the MAC (a VIF's MAC is fixed)",
    disruption: "live",
    example: { news: { networks: [{ name: "lan", network: "VM Network", mac: "02:00:00:aa:bb:cc" }] } },
  },
  {
    input: "disks[].vdi (an existing VDI)",
    when: "running, PV drivers",
    how: "VBD.create + VBD.plug of that VDI; when its entry is removed it is detached, never destroyed",
    disruption: "live",
    example: {
      news: { disks: [...EXAMPLE_INPUTS.disks, { name: "shared", vdi: "0b7c9f1e-0000-4000-8000-00000000beef" }] },
    },
  },
  {
    input: "firmware",
    when: "any",
    how: "replace: the guest's boot loader is installed for its firmware",
    disruption: "replace",
    example: { news: UEFI },
  },
  {
    input: "secureBoot",
    when: "running",
    how: "restart: platform:secureboot, read by UEFI at boot",
    disruption: "restart",
    example: { old: UEFI, news: { ...UEFI, secureBoot: true, allowRestart: true } },
  },
  {
    input: "vtpm",
    when: "running",
    how: "restart: VTPM.create / VTPM.destroy need a halted VM",
    disruption: "restart",
    example: { old: UEFI, news: { ...UEFI, vtpm: true, allowRestart: true } },
  },
  {
    input: "bootOrder",
    when: "any",
    how: "VM.set_HVM_boot_params (order), read at the next boot",
    disruption: "in place",
    example: { news: { bootOrder: "dc" } },
  },
  {
    input: "cdrom.iso",
    when: "running, the VM has a CD drive",
    how: "VBD.eject / VBD.insert",
    disruption: "live",
    example: { news: { cdrom: { iso: "debian-12.7.0-amd64-netinst.iso", ejectAfterInstall: false } } },
  },
  {
    input: "cdrom.iso",
    when: "running, no CD drive",
    how: "restart: the drive is added while halted (HVM guests cannot hot-plug one)",
    disruption: "restart",
    example: {
      old: { hasCdDrive: false },
      news: { cdrom: { iso: "debian-12.7.0-amd64-netinst.iso", ejectAfterInstall: false }, allowRestart: true },
    },
  },
  {
    input: "cloudInit (cloudInitChangePolicy restart, the default)",
    when: "running",
    how: "restart with a new config drive (the guest reads it at boot)",
    disruption: "restart",
    example: { news: { cloudInit: CHANGED_CLOUD_INIT, allowRestart: true } },
  },
  {
    input: "cloudInit (cloudInitChangePolicy replace)",
    when: "any",
    how: "replace: a new VM from the source with the new config",
    disruption: "replace",
    example: { news: { cloudInit: CHANGED_CLOUD_INIT, cloudInitChangePolicy: "replace" } },
  },
  {
    input: "cloudInit (cloudInitChangePolicy ignore)",
    when: "any",
    how: "recorded in the state and said in preview; the VM keeps its drive",
    disruption: "in place",
    example: { news: { cloudInit: CHANGED_CLOUD_INIT, cloudInitChangePolicy: "ignore" } },
  },
  {
    input: "group",
    when: "any",
    how: "VM.set_groups; the pool applies the group's placement at the next start, migration, evacuation or HA restart",
    disruption: "in place",
    example: { news: { group: "web-spread" } },
  },
  {
    input: "protect",
    when: "any",
    how: "VM.add_to_blocked_operations / remove_from_blocked_operations (guards against anyone, not only Pulumi)",
    disruption: "in place",
    example: { news: { protect: { destroy: true, shutdown: true } } },
  },
  {
    input: "revertTo",
    when: "any",
    how: "VM.revert to the snapshot first (same VM uuid, the snapshot's disks), then the other changes",
    disruption: "power",
    example: { news: { revertTo: "3f2a1c4e-0000-4000-8000-00000000cafe" } },
  },
  {
    input: "snapshotBeforeChange",
    when: "a restart-level change",
    how: "VM.snapshot before the restart; the oldest automatic snapshots beyond snapshotsKept are destroyed",
    disruption: "restart",
    example: { news: { maxMemory: 8 * GiB, memory: 6 * GiB, snapshotBeforeChange: true, allowRestart: true } },
  },
  {
    input: "source (or template), url, adopt",
    when: "any",
    how: "replace: a new VM is created, then the old one deleted (adopt: the old one is released first)",
    disruption: "replace",
    example: { news: { source: "CentOS 6 (PV)" } },
  },
  {
    input:
      "allowRestart, waitForIp, timeouts, shutdownTimeout, cloneMode, cloudInitChangePolicy, snapshotBeforeChange, snapshotsKept",
    when: "any",
    how: "recorded in the state only",
    disruption: "in place",
    example: { news: { allowRestart: true } },
  },
];

/** The README section body: one row per rule. */
export function changeTableMarkdown(): string {
  const rows = CHANGE_TABLE.map((r) => `| ${r.input} | ${r.when} | ${r.how} | ${r.disruption} |`);
  return ["| input | when | how | disruption |", "|---|---|---|---|", ...rows].join("\n");
}

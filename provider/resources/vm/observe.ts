/**
 * Observation: the VM as it is, as a {@link VmState} in the terms of the program (names where the program used
 * names, devices under their keys, in the program's order). Reads only; decides nothing.
 */
import { CONFIG_DRIVE_KEY, DISK_KEY, KEEP_KEY, NIC_KEY, diskKey, nicKeys } from "../../plan/devices";
import { protectOf } from "../../plan/protection";
import type { ObservedDisk, ObservedNic, VmState } from "../../plan/vm";
import type { PowerState, VmInputs } from "../../schema";
import { OWNER_KEY, isGone, isNullRef, map, num, refs, sameForm, str, type Reader, type Rec } from "../common";
import { CREATING_KEY } from "./identity";

/** What the observation is compared with: the program's inputs, or the last state (refresh). */
export type Desired = Omit<VmInputs, "disks" | "networks"> & {
  disks: Array<VmInputs["disks"][number] | ObservedDisk>;
  networks: Array<VmInputs["networks"][number] | ObservedNic>;
};

/** SR types whose storage manager declares a feature, e.g. VDI_RESIZE_ONLINE. */
export type SrFeatures = (srType: string) => Promise<ReadonlySet<string>>;

/** The VM's disks (not CDs, not empty drives) in userdevice order; the first is the boot disk. */
export async function diskVbds(reader: Reader, vm: Rec): Promise<Array<{ ref: string; vbd: Rec }>> {
  const disks: Array<{ ref: string; vbd: Rec }> = [];
  for (const ref of refs(vm, "VBDs")) {
    const vbd = await reader("VBD", ref);
    if (str(vbd, "type") === "Disk" && !isNullRef(vbd.VDI)) disks.push({ ref, vbd });
  }
  return disks.sort((a, b) => Number(str(a.vbd, "userdevice")) - Number(str(b.vbd, "userdevice")));
}

/**
 * The key of a disk VBD of the VM: the boot disk (position 0) is whatever `disks[0]` is called; a data disk is
 * known by its VDI's tag, else by its position.
 */
function observedDiskKey(vdi: Rec, position: number, desired: Desired): string {
  if (position === 0) return diskKey(desired.disks[0] ?? {}, 0);
  // An existing disk the program attached is not tagged (it is not ours): it is known by its uuid.
  const attachedAt = desired.disks.findIndex((d) => d.vdi === vdi.uuid);
  if (attachedAt >= 0) return diskKey(desired.disks[attachedAt]!, attachedAt);
  return map(vdi, "other_config")[DISK_KEY] || diskKey({}, position);
}

/** The VM's CD drives: the cloud-init config drive (by its tag) and the first other one (the `cdrom`). */
export async function cdVbds(reader: Reader, vm: Rec) {
  let configDrive: { ref: string; vbd: Rec; vdiRef: string; vdi: Rec } | undefined;
  let cdrom: { ref: string; vbd: Rec; vdi: Rec | undefined } | undefined;
  const cds: Array<{ ref: string; vbd: Rec }> = [];
  for (const ref of refs(vm, "VBDs")) {
    const vbd = await reader("VBD", ref);
    if (str(vbd, "type") === "CD") cds.push({ ref, vbd });
  }
  cds.sort((a, b) => Number(str(a.vbd, "userdevice")) - Number(str(b.vbd, "userdevice")));
  for (const { ref, vbd } of cds) {
    const vdi = isNullRef(vbd.VDI) || vbd.empty === true ? undefined : await reader("VDI", vbd.VDI as string);
    if (vdi && CONFIG_DRIVE_KEY in map(vdi, "other_config"))
      configDrive ??= { ref, vbd, vdiRef: vbd.VDI as string, vdi };
    else cdrom ??= { ref, vbd, vdi };
  }
  return { configDrive, cdrom };
}

/** Firmware, Secure Boot, vTPM, boot order, CD and config drive, as plan/guest.ts compares them. */
async function observeGuest(reader: Reader, vm: Rec, desired: Desired) {
  const boot = map(vm, "HVM_boot_params");
  const { configDrive, cdrom } = await cdVbds(reader, vm);
  const iso = cdrom?.vdi ? sameForm(desired.cdrom?.iso || undefined, cdrom.vdi) : "";
  return {
    firmware: (boot.firmware || "bios") as "bios" | "uefi",
    secureBoot: map(vm, "platform").secureboot === "true",
    vtpm: refs(vm, "VTPMs").length > 0,
    bootOrder: boot.order ?? "",
    hasCdDrive: cdrom !== undefined,
    ...(desired.cdrom !== undefined ? { cdrom: { iso, ejectAfterInstall: desired.cdrom.ejectAfterInstall } } : {}),
    cloudInitDigest: configDrive ? (map(configDrive.vdi, "other_config")[CONFIG_DRIVE_KEY] ?? "") : "",
  };
}

function inDesiredOrder<T extends { name: string }>(items: T[], desiredKeys: string[]): T[] {
  const rank = (k: string) => {
    const i = desiredKeys.indexOf(k);
    return i < 0 ? desiredKeys.length : i;
  };
  return [...items].sort((a, b) => rank(a.name) - rank(b.name));
}

export async function observe(reader: Reader, ref: string, desired: Desired, srFeatures: SrFeatures): Promise<VmState> {
  const vm = await reader("VM", ref);
  const otherConfig = { ...map(vm, "other_config") };
  delete otherConfig[OWNER_KEY];
  delete otherConfig[CREATING_KEY];
  // Keys the program does not manage are not drift.
  for (const k of Object.keys(otherConfig)) if (!(k in desired.otherConfig)) delete otherConfig[k];

  const { disks, diskUuids, onlineResizable } = await observeDisks(reader, vm, desired, srFeatures);
  const networks = await observeNics(reader, vm, desired);
  const guest = await observeGuest(reader, vm, desired);
  const blocked = new Set(Object.keys(map(vm, "blocked_operations")));

  let affinityHost: string | undefined;
  if (!isNullRef(vm.affinity))
    affinityHost = sameForm(desired.affinityHost, await reader("host", vm.affinity as string));
  const residentOn = isNullRef(vm.resident_on) ? "" : (await reader("host", vm.resident_on as string)).uuid;
  const powerState = str(vm, "power_state") as PowerState;

  let actualMemory = num(vm, "memory_dynamic_max");
  let actualVcpus = num(vm, "VCPUs_at_startup");
  let domainType = str(vm, "domain_type");
  if (!isNullRef(vm.metrics) && powerState !== "Halted") {
    const metrics = await readOrGone(reader, "VM_metrics", vm.metrics as string);
    if (metrics) {
      actualMemory = num(metrics, "memory_actual") || actualMemory;
      actualVcpus = num(metrics, "VCPUs_number") || actualVcpus;
      domainType = str(metrics, "current_domain_type") || domainType;
    }
  }
  const ipAddresses: string[] = [];
  // The XenAPI gate treats a non-PV guest without guest metrics as lacking PV drivers. The drivers are in the
  // guest: what it reported while running still holds while it is suspended or paused.
  let pvDrivers = domainType === "pv";
  if (!isNullRef(vm.guest_metrics) && powerState !== "Halted") {
    const gm = await readOrGone(reader, "VM_guest_metrics", vm.guest_metrics as string);
    if (gm) {
      pvDrivers ||= gm.PV_drivers_detected === true;
      if (powerState === "Running")
        for (const [k, v] of Object.entries(map(gm, "networks")))
          if (/\/ip(v6\/\d+)?$/.test(k) && v) ipAddresses.push(v);
    }
  }

  return {
    ...(desired as unknown as VmState),
    nameLabel: vm.name_label ?? "",
    description: str(vm, "name_description"),
    vcpus: num(vm, "VCPUs_at_startup"),
    maxVcpus: num(vm, "VCPUs_max"),
    memory: num(vm, "memory_dynamic_max"),
    maxMemory: num(vm, "memory_static_max"),
    memoryStaticMin: num(vm, "memory_static_min"),
    disks,
    networks,
    powerState,
    ...(affinityHost !== undefined ? { affinityHost } : { affinityHost: undefined }),
    haRestartPriority: str(vm, "ha_restart_priority") as VmInputs["haRestartPriority"],
    tags: [...refs(vm, "tags")].sort(),
    otherConfig,
    uuid: vm.uuid,
    residentOn,
    domainType,
    ipAddresses: ipAddresses.sort(),
    actualMemory,
    actualVcpus,
    diskUuids,
    onlineResizable,
    pvDrivers,
    ...guest,
    ...(desired.protect !== undefined || blocked.size > 0 ? { protect: protectOf(blocked) } : {}),
    inAppliance: !isNullRef(vm.appliance),
    ...(await observeGroup(reader, vm, desired)),
  };
}

/** The VM's group, in the form the program names it (xapi allows one group per VM). */
async function observeGroup(reader: Reader, vm: Rec, desired: Desired): Promise<{ group?: string }> {
  const [ref] = refs(vm, "groups");
  if (ref === undefined || isNullRef(ref)) return { group: undefined };
  const group = await readOrGone(reader, "VM_group", ref);
  return group ? { group: sameForm(desired.group, group) } : { group: undefined };
}

async function readOrGone(
  reader: Reader,
  cls: "VM_metrics" | "VM_guest_metrics" | "VM_group",
  ref: string,
): Promise<Rec | undefined> {
  try {
    return await reader(cls, ref);
  } catch (e) {
    if (isGone(e)) return undefined;
    throw e;
  }
}

async function observeDisks(reader: Reader, vm: Rec, desired: Desired, srFeatures: SrFeatures) {
  // With no `disks` the VM's disks are not managed, and not reported.
  if (desired.disks.length === 0) return { disks: [], diskUuids: [], onlineResizable: [] };
  const desiredKeys = desired.disks.map((d, i) => diskKey(d, i));
  const found: Array<ObservedDisk & { uuid: string }> = [];
  const onlineResizable: string[] = [];
  for (const { key, vdi } of await keyedDisks(reader, vm, desired)) {
    const sr = await reader("SR", vdi.SR as string);
    const want = desired.disks[desiredKeys.indexOf(key)];
    found.push({
      name: key,
      size: num(vdi, "virtual_size"),
      ...(want?.sr !== undefined ? { sr: sameForm(want.sr, sr) } : {}),
      ...(want?.nameLabel !== undefined ? { nameLabel: vdi.name_label ?? "" } : {}),
      ...keepOnRemove(vdi, want),
      ...(want?.vdi !== undefined ? { vdi: vdi.uuid } : {}),
      uuid: vdi.uuid,
    });
    if ((await srFeatures(str(sr, "type"))).has("VDI_RESIZE_ONLINE")) onlineResizable.push(key);
  }
  const [boot, ...data] = found;
  const ordered = boot ? [boot, ...inDesiredOrder(data, desiredKeys)] : [];
  return {
    disks: ordered.map(({ uuid: _uuid, ...d }) => d),
    diskUuids: ordered.map((d) => d.uuid),
    onlineResizable,
  };
}

/** The disk VBDs of the VM with their keys, in userdevice order. */
async function keyedDisks(reader: Reader, vm: Rec, desired: Desired) {
  const out: Array<{ key: string; vbdRef: string; vbd: Rec; vdiRef: string; vdi: Rec; position: number }> = [];
  for (const [position, { ref, vbd }] of (await diskVbds(reader, vm)).entries()) {
    const vdi = await reader("VDI", vbd.VDI as string);
    out.push({
      key: observedDiskKey(vdi, position, desired),
      vbdRef: ref,
      vbd,
      vdiRef: vbd.VDI as string,
      vdi,
      position,
    });
  }
  return out;
}

/** The disk VBDs of the VM under their keys (what the executor acts on). */
export async function disksByKey(reader: Reader, vm: Rec, desired: Desired) {
  return new Map((await keyedDisks(reader, vm, desired)).map((d) => [d.key, d]));
}

/** The VIFs of the VM under their keys. */
export async function nicsByKey(
  reader: Reader,
  vm: Rec,
  desired: Desired,
): Promise<Map<string, { ref: string; vif: Rec }>> {
  const { vifs, keys } = await keyedVifs(reader, vm, desired);
  return new Map(vifs.map((v, i) => [keys[i]!, v]));
}

async function keyedVifs(reader: Reader, vm: Rec, desired: Desired) {
  const vifs: Array<{ ref: string; vif: Rec }> = [];
  for (const ref of refs(vm, "VIFs")) vifs.push({ ref, vif: await reader("VIF", ref) });
  vifs.sort((a, b) => Number(str(a.vif, "device")) - Number(str(b.vif, "device")));
  const nets: Rec[] = [];
  for (const { vif } of vifs) nets.push(await reader("network", vif.network as string));
  // An untagged VIF (adopted VM, older state) is known by its network, in the form the program names it.
  const formOf = (net: Rec) => {
    const named = desired.networks.find((n) => n.network === net.uuid || n.network === net.name_label);
    return sameForm(named?.network, net);
  };
  const derived = nicKeys(nets.map((net) => ({ network: formOf(net) })));
  const keys = vifs.map(({ vif }, i) => map(vif, "other_config")[NIC_KEY] || derived[i]!);
  return { vifs, nets, keys, formOf };
}

/** keepOnRemove as the VDI says it, shown where the program sets it or the VDI has it on. */
function keepOnRemove(vdi: Rec, want: { keepOnRemove?: boolean | undefined } | undefined) {
  const kept = map(vdi, "other_config")[KEEP_KEY] === "true";
  return want?.keepOnRemove !== undefined || kept ? { keepOnRemove: kept } : {};
}

async function observeNics(reader: Reader, vm: Rec, desired: Desired): Promise<ObservedNic[]> {
  const desiredKeys = nicKeys(desired.networks);
  const { vifs: keyed, nets, keys, formOf } = await keyedVifs(reader, vm, desired);
  const vifs = keyed.map((v) => v.vif);
  const nics: ObservedNic[] = vifs.map((vif, i) => {
    const key = keys[i]!;
    const want = desired.networks[desiredKeys.indexOf(key)];
    return {
      name: key,
      network: sameForm(want?.network ?? formOf(nets[i]!), nets[i]!),
      ...(want?.mac !== undefined ? { mac: str(vif, "MAC").toLowerCase() } : {}),
    };
  });
  return inDesiredOrder(nics, desiredKeys);
}

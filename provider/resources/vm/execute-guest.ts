/**
 * The executor's guest provisioning steps (plan/guest.ts): boot parameters, Secure Boot, the vTPM, the CD drive
 * and the cloud-init config drive. Like the rest of the executor it decides nothing: it finds the objects the
 * step names and makes the calls, replacing a config drive only once its successor is attached.
 */
import type { GuestStep } from "../../plan/guest";
import { cloudInitDigest } from "../../plan/guest";
import { CONFIG_DRIVE_KEY } from "../../plan/devices";
import { configDriveImage, hostnameOf } from "../../media/config-drive";
import { OWNER_KEY, map, refs, resolveRef, say, type Rec } from "../common";
import { ProviderError } from "../errors";
import { defaultSr, freeDevice, type Run } from "./execute";
import { cdVbds } from "./observe";

/** XenServer puts the CD drive at userdevice 3 (after the first three disks) when it is free. */
const CD_USERDEVICE = "3";
const MiB = 1024 * 1024;

export async function executeGuestStep(r: Run, step: GuestStep): Promise<void> {
  const { xen, ref } = r;
  switch (step.kind) {
    case "setBootParams": {
      const vm = await r.read("VM", ref);
      const params = { ...map(vm, "HVM_boot_params") };
      if (step.order !== undefined) params.order = step.order;
      if (step.firmware !== undefined) params.firmware = step.firmware;
      return xen.VM.set_HVM_boot_params(ref, params);
    }
    case "setSecureBoot":
      await xen.VM.remove_from_platform(ref, "secureboot");
      return xen.VM.add_to_platform(ref, "secureboot", step.value ? "true" : "false");
    case "addVtpm":
      if (refs(await r.read("VM", ref), "VTPMs").length === 0) await xen.VTPM.create(ref, false);
      return;
    case "removeVtpm":
      for (const vtpm of refs(await r.read("VM", ref), "VTPMs")) await xen.VTPM.destroy(vtpm);
      return;
    case "setCdrom":
      return setCdrom(r, step.iso);
    case "writeConfigDrive":
      return step.remove ? removeConfigDrive(r) : writeConfigDrive(r);
  }
}

/** An ISO named by the program: a VDI of an ISO library SR, by name_label or UUID. */
async function resolveIso(r: Run, iso: string): Promise<string> {
  const matches: string[] = [];
  const isoSrs = new Set<string>();
  const inv = r.inventory;
  if (inv) {
    for (const [srRef, sr] of inv.all("SR")) if ((sr as unknown as Rec).content_type === "iso") isoSrs.add(srRef);
    for (const [vdiRef, v] of inv.all("VDI")) {
      const vdi = v as unknown as Rec;
      if ((vdi.uuid === iso || vdi.name_label === iso) && isoSrs.has(vdi.SR as string)) matches.push(vdiRef);
    }
  } else {
    for (const vdiRef of await r.xen.VDI.get_by_name_label(iso)) {
      const sr = await r.read("SR", (await r.read("VDI", vdiRef)).SR as string);
      if (sr.content_type === "iso") matches.push(vdiRef);
    }
  }
  if (matches.length === 1) return matches[0]!;
  throw new ProviderError(
    matches.length === 0
      ? `no ISO named "${iso}" in an ISO library SR (content_type iso); list them with xe cd-list`
      : `${matches.length} ISOs are named "${iso}"; name it by UUID instead`,
    { path: "cdrom.iso", code: matches.length === 0 ? "NOT_FOUND" : "AMBIGUOUS" },
  );
}

async function setCdrom(r: Run, iso: string): Promise<void> {
  const { xen, ref } = r;
  const vm = await r.read("VM", ref);
  const { cdrom } = await cdVbds(r.read, vm);
  const vdi = iso === "" ? undefined : await resolveIso(r, iso);
  if (!cdrom) {
    if (vdi === undefined) return; // no drive, nothing to eject
    await xen.VBD.create({
      VM: ref,
      VDI: vdi,
      userdevice: await freeDevice(r, vm, "VBD", CD_USERDEVICE),
      bootable: true,
      mode: "RO",
      type: "CD",
      unpluggable: true,
      empty: false,
      other_config: {},
      qos_algorithm_type: "",
      qos_algorithm_params: {},
    });
    return;
  }
  if (cdrom.vdi && cdrom.vbd.VDI === vdi) return;
  if (cdrom.vdi) await xen.VBD.eject(cdrom.ref);
  if (vdi !== undefined) await xen.VBD.insert(cdrom.ref, vdi);
}

/**
 * A new drive is written and attached before the old one goes, so an interruption leaves the VM with a drive.
 * Only called while the VM is halted (a running guest has read its drive; changes wait for a restart).
 */
async function writeConfigDrive(r: Run): Promise<void> {
  const { xen, ref, news } = r;
  const config = news.cloudInit!;
  const vm = await r.read("VM", ref);
  const image = configDriveImage(config, hostnameOf(news.nameLabel));
  const sr =
    config.sr !== undefined
      ? await resolveRef(r.client, "SR", config.sr, "cloudInit.sr", undefined, r.inventory)
      : await defaultSr(r, "cloudInit.sr");
  const vdi = await xen.VDI.create({
    name_label: `${news.nameLabel} cloud-init`,
    name_description: "cloud-init NoCloud config drive (cidata)",
    SR: sr,
    virtual_size: Math.ceil(image.length / MiB) * MiB,
    type: "user",
    sharable: false,
    read_only: false,
    other_config: { [OWNER_KEY]: r.owner, [CONFIG_DRIVE_KEY]: cloudInitDigest(config) },
    xenstore_data: {},
    sm_config: {},
    tags: [],
  });
  try {
    await r.client.importRawVdi(vdi, image, { deadlineMs: r.deadline.remainingMs() });
  } catch (e) {
    await xen.VDI.destroy(vdi).catch(() => undefined);
    throw e;
  }
  const { configDrive: old } = await cdVbds(r.read, vm);
  await xen.VBD.create({
    VM: ref,
    VDI: vdi,
    userdevice: await freeDevice(r, vm, "VBD"),
    bootable: false,
    mode: "RO",
    type: "CD",
    unpluggable: true,
    empty: false,
    other_config: {},
    qos_algorithm_type: "",
    qos_algorithm_params: {},
  });
  if (old) await dropConfigDrive(r, old);
  say(`  cloud-init: config drive ${image.length} bytes (cidata) attached to ${news.nameLabel}`);
}

async function removeConfigDrive(r: Run): Promise<void> {
  const { configDrive } = await cdVbds(r.read, await r.read("VM", r.ref));
  if (configDrive) await dropConfigDrive(r, configDrive);
}

async function dropConfigDrive(r: Run, drive: { ref: string; vbd: Rec; vdiRef: string; vdi: Rec }): Promise<void> {
  const { xen } = r;
  if (drive.vbd.currently_attached === true) await xen.VBD.eject(drive.ref);
  else await xen.VBD.destroy(drive.ref);
  // Only a drive this stack wrote is destroyed.
  if (map(drive.vdi, "other_config")[OWNER_KEY] === r.owner && r.owner !== "") await xen.VDI.destroy(drive.vdiRef);
}

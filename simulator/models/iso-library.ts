/**
 * The ISO library every seeded pool has: a shared SR of type `iso` (SM's ISOSR over an NFS export) holding a
 * few install images and the guest tools. Each image is a read-only VDI named after its file, sized like the
 * real image, as ISOSR's scan reports them (ISOVDI: label and location = file name, read_only, size =
 * utilisation = file size).
 */
import { Inventory, InventoryIso } from "../inventory/types";
import { NULL_REF } from "../ids";
import { MiB } from "../rules/placement";
import type { Engine } from "./engine";
import { setIsoMedia } from "./vdi-data";

const GiB = 1024 * MiB;

export const ISO_LIBRARY_NAME = "ISO library";
export const ISO_SR_TYPE = "iso";

const LINUX_FEATURES = [
  "feature-shutdown",
  "feature-poweroff",
  "feature-reboot",
  "feature-suspend",
  "feature-vcpu-hotplug",
];

/** The images of a library the inventory does not list (`isos`). */
export const DEFAULT_ISOS: InventoryIso[] = [
  {
    name: "debian-12.7.0-amd64-netinst.iso",
    sizeBytes: 661_651_456,
    installs: {
      os: {
        name: "Debian GNU/Linux 12 (bookworm)",
        distro: "debian",
        major: "12",
        minor: "7",
        uname: "6.1.0-25-amd64",
      },
      pvDrivers: true,
      agent: true,
      features: LINUX_FEATURES,
      minDiskGiB: 2,
    },
  },
  {
    name: "ubuntu-24.04.1-live-server-amd64.iso",
    sizeBytes: 2_773_874_688,
    installs: {
      os: {
        name: "Ubuntu 24.04.1 LTS",
        distro: "ubuntu",
        major: "24",
        minor: "04",
        uname: "6.8.0-41-generic",
      },
      pvDrivers: true,
      agent: true,
      features: LINUX_FEATURES,
      minDiskGiB: 5,
    },
  },
  {
    name: "win11-24h2-x64.iso",
    sizeBytes: 5_819_484_160,
    // Windows installs without PV drivers or agent: the guest tools come later (install-tools on the control plane).
    installs: {
      os: { name: "Microsoft Windows 11 Pro", distro: "windows", major: "10", minor: "0" },
      pvDrivers: false,
      agent: false,
      minDiskGiB: 64,
    },
  },
  { name: "guest-tools.iso", sizeBytes: 62_914_560 },
];

/** The library's images: the inventory's list, else the default one. */
export function libraryIsos(inv: Inventory): InventoryIso[] {
  return inv.isos ?? DEFAULT_ISOS;
}

/** SM's ISOSR driver record (CAPABILITIES of drivers/ISOSR.py, each at version 1). */
function ensureIsoDriver(e: Engine, pool: string): void {
  if (e.db.all("SM", pool).some(([, r]) => r.type === ISO_SR_TYPE)) return;
  const capabilities = ["VDI_CREATE", "VDI_DELETE", "VDI_ATTACH", "VDI_DETACH", "SR_SCAN", "SR_ATTACH", "SR_DETACH"];
  e.create("SM", pool, {
    name_label: "ISO",
    name_description: "Handles CD images stored as files in iso format",
    type: ISO_SR_TYPE,
    vendor: "Citrix Systems Inc",
    copyright: "(C) 2008 Citrix Systems Inc",
    version: "1.0",
    required_api_version: "1.0",
    configuration: {
      location: "path to mount (required) (e.g. server:/path)",
      options: "extra options to pass to mount (e.g. '-o ro')",
      type: "cifs (SMB) or nfs_iso",
    },
    capabilities,
    features: Object.fromEntries(capabilities.map((c) => [c, 1])),
    other_config: {},
    driver_filename: "/opt/xensource/sm/ISOSR",
    required_cluster_stack: [],
  });
}

/** Creates the pool's ISO library, attached on `host`, with its images. Call inside a transaction. */
export function seedIsoLibrary(e: Engine, pool: string, host: string, inv: Inventory): string {
  const isos = libraryIsos(inv);
  const used = isos.reduce((s, i) => s + i.sizeBytes, 0);
  const size = 2048 * GiB;
  const sr = e.create(
    "SR",
    pool,
    {
      name_label: ISO_LIBRARY_NAME,
      name_description: "NFS ISO Library [10.0.0.250:/export/iso]",
      type: ISO_SR_TYPE,
      content_type: "iso",
      shared: true,
      physical_size: size,
      physical_utilisation: used,
      // ISOSR reports the whole filesystem as allocated.
      virtual_allocation: size,
      other_config: { "auto-scan": "true" },
      sm_config: {},
      allowed_operations: ["forget", "vdi_introduce", "vdi_create", "vdi_destroy", "scan", "plug", "unplug", "update"],
    },
    { isoLibrary: true },
  );
  e.create("PBD", pool, {
    host,
    SR: sr,
    device_config: { location: "10.0.0.250:/export/iso", type: "nfs_iso" },
    currently_attached: true,
  });
  for (const iso of isos) {
    const vdi = e.create("VDI", pool, {
      name_label: iso.name,
      name_description: "",
      SR: sr,
      type: "user",
      virtual_size: iso.sizeBytes,
      physical_utilisation: iso.sizeBytes,
      sharable: false,
      read_only: true,
      managed: true,
      location: iso.name,
      on_boot: "persist",
      allowed_operations: ["copy", "destroy", "forget", "update"],
    });
    const i = iso.installs;
    setIsoMedia(
      e,
      vdi,
      i
        ? {
            bootable: true,
            installs: {
              os: { ...i.os },
              pvDrivers: i.pvDrivers,
              agent: i.agent ?? i.pvDrivers,
              features: [...(i.features ?? [])],
              minDiskBytes: (i.minDiskGiB ?? 1) * GiB,
            },
          }
        : { bootable: false },
    );
  }
  ensureIsoDriver(e, pool);
  return sr;
}

/** The ISO library the simulator seeded (not one a client made). */
export function isSeededIsoLibrary(e: Engine, sr: string): boolean {
  return e.hidden(sr).isoLibrary === true;
}

/**
 * A joining host's own ISO library goes, as its Tools SR would (the master's library gets a PBD for it instead):
 * xapi refuses a joiner with any other shared SR.
 */
export function dropJoinerIsoLibrary(e: Engine, pool: string): void {
  for (const [sr, s] of e.db.all("SR", pool)) {
    if (!isSeededIsoLibrary(e, sr)) continue;
    for (const vdi of [...(s.VDIs as string[])]) {
      for (const vbd of [...(e.db.get("VDI", vdi).VBDs as string[])]) e.db.update(vbd, { VDI: NULL_REF, empty: true });
      e.db.destroy(vdi);
    }
    for (const pbd of [...(s.PBDs as string[])]) e.db.destroy(pbd);
    e.db.destroy(sr);
  }
}

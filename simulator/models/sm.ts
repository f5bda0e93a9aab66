import { fail } from "../errors";
import { Inventory } from "../inventory/types";
import { Engine } from "./engine";

/** SR type of the local SR every host gets at install time (EXT3 VHD, as an XCP-ng install with thin local storage). */
export const LOCAL_SR_TYPE = "ext";

/**
 * SM feature names as xapi's `Smint` spells them in `SM.features` (name -> capability version). Only the ones the
 * simulator's drivers declare or its methods check are listed.
 */
export const SM_FEATURE = {
  SR_PROBE: "SR_PROBE",
  SR_SCAN: "SR_SCAN",
  SR_UPDATE: "SR_UPDATE",
  SR_SUPPORTS_LOCAL_CACHING: "SR_SUPPORTS_LOCAL_CACHING",
  VDI_CREATE: "VDI_CREATE",
  VDI_DELETE: "VDI_DELETE",
  VDI_ATTACH: "VDI_ATTACH",
  VDI_DETACH: "VDI_DETACH",
  VDI_ACTIVATE: "VDI_ACTIVATE",
  VDI_DEACTIVATE: "VDI_DEACTIVATE",
  VDI_UPDATE: "VDI_UPDATE",
  VDI_CLONE: "VDI_CLONE",
  VDI_SNAPSHOT: "VDI_SNAPSHOT",
  VDI_RESIZE: "VDI_RESIZE",
  VDI_RESIZE_ONLINE: "VDI_RESIZE_ONLINE",
  VDI_MIRROR: "VDI_MIRROR",
  VDI_GENERATE_CONFIG: "VDI_GENERATE_CONFIG",
  VDI_RESET_ON_BOOT: "VDI_RESET_ON_BOOT",
  VDI_CONFIG_CBT: "VDI_CONFIG_CBT",
  ATOMIC_PAUSE: "ATOMIC_PAUSE",
  THIN_PROVISIONING: "THIN_PROVISIONING",
} as const;
export type SmFeature = (typeof SM_FEATURE)[keyof typeof SM_FEATURE];

/** What a file-based VHD driver (EXTSR, NFSSR) declares; VDI_RESET_ON_BOOT is at version 2 in current SM. */
const VHD_FILE_FEATURES: Record<string, number> = {
  SR_PROBE: 1,
  SR_SCAN: 1,
  SR_UPDATE: 1,
  SR_SUPPORTS_LOCAL_CACHING: 1,
  VDI_CREATE: 1,
  VDI_DELETE: 1,
  VDI_ATTACH: 1,
  VDI_DETACH: 1,
  VDI_ACTIVATE: 1,
  VDI_DEACTIVATE: 1,
  VDI_UPDATE: 1,
  VDI_CLONE: 1,
  VDI_SNAPSHOT: 1,
  VDI_RESIZE: 1,
  VDI_MIRROR: 1,
  VDI_GENERATE_CONFIG: 1,
  VDI_RESET_ON_BOOT: 2,
  VDI_CONFIG_CBT: 1,
  ATOMIC_PAUSE: 1,
  THIN_PROVISIONING: 1,
};

interface SmDriver {
  name_label: string;
  name_description: string;
  configuration: Record<string, string>;
  driver_filename: string;
  features: Record<string, number>;
}

/**
 * The storage drivers the simulated hosts have installed, by SR type. The shared "nfs" driver can grow a disk
 * under a running guest (VDI_RESIZE_ONLINE); the local "ext" driver cannot, so online resize of a local disk is
 * refused as on a real pool whose driver lacks the feature.
 */
const DRIVERS: Record<string, SmDriver> = {
  ext: {
    name_label: "Local EXT3 VHD",
    name_description:
      "SR plugin which represents disks as VHD files stored on a local EXT3 filesystem, created inside an LVM volume",
    configuration: { device: "local device path (required) (e.g. /dev/sda3)" },
    driver_filename: "/opt/xensource/sm/EXTSR",
    features: { ...VHD_FILE_FEATURES },
  },
  nfs: {
    name_label: "NFS VHD",
    name_description: "SR plugin which stores disks as VHD files on a remote NFS filesystem",
    configuration: {
      server: "hostname or IP address of NFS server (required)",
      serverpath: "path on remote server (required)",
      nfsversion: "NFS protocol version (optional)",
    },
    driver_filename: "/opt/xensource/sm/NFSSR",
    features: { ...VHD_FILE_FEATURES, VDI_RESIZE_ONLINE: 1 },
  },
};

/** A driver for an SR type the catalogue does not know (custom inventories): the VHD file feature set. */
function genericDriver(type: string): SmDriver {
  return {
    name_label: type,
    name_description: `SR plugin for SRs of type ${type}`,
    configuration: {},
    driver_filename: `/opt/xensource/sm/${type.toUpperCase()}SR`,
    features: { ...VHD_FILE_FEATURES },
  };
}

/** Every SR type the inventory uses: the local SR's type, then the listed SRs' types, each once. */
export function inventorySrTypes(inv: Inventory): string[] {
  return [...new Set([LOCAL_SR_TYPE, ...(inv.srs ?? []).map((s) => s.type)])];
}

/** The features a driver declares: the inventory's override for its SR type, else the catalogue's. */
export function driverFeatures(inv: Inventory, type: string): Record<string, number> {
  const override = inv.smFeatures?.[type];
  if (override) return { ...override };
  return { ...(DRIVERS[type] ?? genericDriver(type)).features };
}

/**
 * Creates the SM record of each SR type the inventory or the pool's SRs use that the pool lacks (xapi registers
 * one per installed driver at start-up, Storage_access.on_xapi_start). Idempotent, so state stored before SM
 * records existed gets them on load.
 */
export function ensureSmRecords(e: Engine, pool: string, inv: Inventory): void {
  const have = new Set(e.db.all("SM", pool).map(([, r]) => r.type as string));
  const types = new Set([...inventorySrTypes(inv), ...e.db.all("SR", pool).map(([, r]) => r.type as string)]);
  for (const type of types) {
    if (have.has(type)) continue;
    const d = DRIVERS[type] ?? genericDriver(type);
    const features = driverFeatures(inv, type);
    e.create("SM", pool, {
      name_label: d.name_label,
      name_description: d.name_description,
      type,
      vendor: "Citrix Systems Inc",
      copyright: "(C) 2008 Citrix Systems Inc",
      version: "1.0",
      required_api_version: "1.0",
      configuration: { ...d.configuration },
      // The deprecated list carries the feature names without versions (Xapi_sm).
      capabilities: Object.keys(features),
      features,
      other_config: {},
      driver_filename: d.driver_filename,
      required_cluster_stack: [],
    });
    have.add(type);
  }
}

/** The features of the driver behind an SR (none when its pool has no SM record of the SR's type). */
export function srFeatures(e: Engine, sr: string): Record<string, number> {
  const type = e.db.get("SR", sr).type;
  const pool = e.db.poolOf(sr);
  const sm = e.db.all("SM", pool).find(([, r]) => r.type === type)?.[1];
  return (sm?.features as Record<string, number> | undefined) ?? {};
}

/** xapi's check_sm_feature_error (xapi_vdi.ml): an operation whose feature the SR's driver lacks. */
export function assertSrFeature(e: Engine, sr: string, feature: SmFeature): void {
  if (!((srFeatures(e, sr)[feature] ?? 0) > 0)) throw fail("SR_OPERATION_NOT_SUPPORTED", sr);
}

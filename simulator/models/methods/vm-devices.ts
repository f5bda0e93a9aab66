/**
 * `VM.get_allowed_VBD_devices` and `VM.get_allowed_VIF_devices`: the device numbers a new VBD or VIF of the VM
 * may take, as xapi computes them (ocaml/xapi/xapi_vm_helpers.ml `allowed_VBD_devices`, `allowed_VIF_devices`,
 * with the device numbers of ocaml/xapi-idl/xen/device_number.ml); and the same rules where VBD.create picks
 * and checks a userdevice (xapi_vbd.ml `create`).
 */
import { fail } from "../../errors";
import { Rec } from "../db";
import { Engine } from "../engine";
import { Registry, p } from "./registry";

/** A block device as xapi names it: bus, disk and partition (device_number.ml `t`). */
export interface DeviceNumber {
  bus: "xen" | "scsi" | "floppy" | "ide";
  disk: number;
  partition: number;
}
type Bus = DeviceNumber["bus"];

/** Highest disk and partition per bus; IDE with the deprecated Linux encoding of disks above 3, as xapi uses. */
const MAX: Record<Bus, [number, number]> = {
  xen: [(1 << 20) - 1, 15],
  scsi: [15, 15],
  floppy: [2, 0],
  ide: [19, 63],
};

function make(bus: Bus, disk: number, partition: number): DeviceNumber | undefined {
  const [dmax, pmax] = MAX[bus];
  return disk >= 0 && disk <= dmax && partition >= 0 && partition <= pmax ? { bus, disk, partition } : undefined;
}

/** `of_disk_number`: for an HVM guest disks 0-3 are IDE, everything else is a Xen disk. */
export function ofDiskNumber(hvm: boolean, n: number): DeviceNumber | undefined {
  return make(hvm && n < 4 ? "ide" : "xen", n, 0);
}

/** Base 26 counted from 1 (a = 0, z = 25, aa = 26), as Linux names disks; "" reads as -1, as xapi reads it. */
function base26(letters: string): number {
  let v = 0;
  for (const c of letters) v = v * 26 + (c.charCodeAt(0) - 96);
  return v - 1;
}

const LINUX_PREFIXES: [string, Bus][] = [
  ["xvd", "xen"],
  ["sd", "scsi"],
  ["fd", "floppy"],
  ["hd", "ide"],
];

/** `of_linux_device`: xvda, sdb2, fd0 style names and d<disk>p<partition>; no range check, as in xapi. */
export function ofLinuxDevice(name: string): DeviceNumber | undefined {
  for (const [prefix, bus] of LINUX_PREFIXES) {
    if (!name.startsWith(prefix)) continue;
    const m = /^([a-z]*)(\d*)$/.exec(name.slice(prefix.length));
    if (!m) return undefined;
    return { bus, disk: base26(m[1]!), partition: m[2] ? Number(m[2]) : 0 };
  }
  if (name.startsWith("d")) {
    const m = /^(\d+)(?:p(\d+))?$/.exec(name.slice(1));
    return m ? { bus: "xen", disk: Number(m[1]), partition: m[2] ? Number(m[2]) : 0 } : undefined;
  }
  return undefined;
}

/** `of_string ~hvm`: a disk number, else a Linux device name. OCaml's other integer spellings (0x1f, 1_000, +3) are not read. */
export function parseDevice(hvm: boolean, name: string): DeviceNumber | undefined {
  const asNumber = /^-?\d+$/.test(name) ? ofDiskNumber(hvm, Number(name)) : undefined;
  return asNumber ?? ofLinuxDevice(name);
}

const same = (a: DeviceNumber, b: DeviceNumber) => a.bus === b.bus && a.disk === b.disk && a.partition === b.partition;

/** Every device the names can mean: each read as an HVM and as a PV name (possible_VBD_devices_of_string). */
function devicesOf(names: string[]): DeviceNumber[] {
  return names.flatMap((u) => [parseDevice(true, u), parseDevice(false, u)]).filter((d) => d !== undefined);
}

/**
 * The disk numbers free for a new VBD, ascending, as strings. `hvm`: the VM will run with qemu; `used`: the
 * `device` and `userdevice` of each of its VBDs. xapi reads every used name both as an HVM and as a PV name
 * and compares whole device numbers, so "xvda" does not take IDE disk 0 but "0" does.
 */
export function allowedVbdDevices(hvm: boolean, controlDomain: boolean, used: string[]): string[] {
  const taken = devicesOf(used);
  const last = !hvm && controlDomain ? 255 : 254;
  const out: string[] = [];
  for (let n = 0; n <= last; n++) {
    const d = ofDiskNumber(hvm, n)!;
    if (!taken.some((t) => same(t, d))) out.push(String(d.disk));
  }
  return out;
}

/** `to_linux_device`: xvda, xvdaa, sdb2, fda (IDE disks get the xvd prefix, as xapi names them). */
export function linuxDevice(d: DeviceNumber): string {
  const prefix = d.bus === "scsi" ? "sd" : d.bus === "floppy" ? "fd" : "xvd";
  let letters = "";
  for (let x = d.disk; x >= 0; x = Math.floor(x / 26) - 1) letters = String.fromCharCode(97 + (x % 26)) + letters;
  return `${prefix}${letters}${d.partition === 0 ? "" : d.partition}`;
}

/** xapi_vbd_helpers.ml `valid_device`: "autodetect", a device name, or (not for a floppy) any integer. */
export function validVbdDevice(name: string, type: string): boolean {
  return name === "autodetect" || parseDevice(false, name) !== undefined || (type !== "Floppy" && /^-?\d+$/.test(name));
}

/** Whether `name` is one of the devices in use, read both as an HVM and as a PV name (VBD.create's clash check). */
export function vbdDeviceTaken(name: string, used: string[]): boolean {
  const taken = devicesOf(used);
  return devicesOf([name]).some((d) => taken.some((t) => same(t, d)));
}

/** The VIF device numbers 0-15 not used by one of the VM's VIFs, as strings (HVM and PV alike). */
export function allowedVifDevices(used: string[]): string[] {
  return Array.from({ length: 16 }, (_, i) => String(i)).filter((d) => !used.includes(d));
}

/**
 * xapi's will_have_qemu reads domain_type; xapi's VM.create derives an unspecified domain type from
 * HVM_boot_policy, which the simulator does when it reads the record.
 */
function willHaveQemu(e: Engine, vm: Rec): boolean {
  return e.effectiveDomainType(vm) === "hvm";
}

/** The `device` and `userdevice` of each of the VM's VBDs: what xapi counts as used (all_used_VBD_devices). */
function usedVbdNames(e: Engine, vm: Rec): string[] {
  return (vm.VBDs as string[]).flatMap((b) => {
    const vbd = e.db.maybe("VBD", b);
    return vbd ? [vbd.device as string, vbd.userdevice as string] : [];
  });
}

/**
 * The userdevice a new VBD of `type` gets, as xapi's VBD.create decides it (xapi_vbd.ml `create`): floppies only
 * for HVM guests, the name must be valid, "autodetect" takes the first free device, and a name that is already
 * in use under any spelling ("1", "xvdb", "hdb") is refused.
 */
export function chooseVbdUserdevice(e: Engine, vm: Rec, requested: string, type: string): string {
  const hvm = willHaveQemu(e, vm);
  const used = usedVbdNames(e, vm);
  if (type === "Floppy" && !hvm) throw fail("NOT_IMPLEMENTED", "VBD of type 'floppy' is not supported on PV domain");
  if (!validVbdDevice(requested, type)) throw fail("INVALID_DEVICE", requested);
  let dev = requested;
  if (dev === "autodetect") {
    if (type === "Floppy") {
      const free = [0, 1]
        .map((n) => ({ bus: "floppy", disk: n, partition: 0 }) as const)
        .find((d) => !vbdDeviceTaken(linuxDevice(d), used));
      if (!free) throw fail("INVALID_DEVICE", requested);
      dev = linuxDevice(free);
    } else {
      const [first] = allowedVbdDevices(hvm, vm.is_control_domain === true, used);
      if (first === undefined) throw fail("INVALID_DEVICE", requested);
      dev = first;
    }
  }
  if (vbdDeviceTaken(dev, used)) throw fail("DEVICE_ALREADY_EXISTS", dev);
  return dev;
}

/** The simulator's stand-in for the device name xenopsd reports once the disk is attached (xvdb for "1"). */
export function vbdDeviceName(userdevice: string): string {
  const d = parseDevice(false, userdevice);
  return d ? linuxDevice(d) : "";
}

export function registerVmDevices(reg: Registry): void {
  reg.add({
    name: "VM.get_allowed_VBD_devices",
    params: p("vm:ref:VM"),
    result: "string set",
    run: (e, ctx, [vm]) => {
      const r = e.db.get("VM", vm as string, ctx.pool);
      return allowedVbdDevices(willHaveQemu(e, r), r.is_control_domain === true, usedVbdNames(e, r));
    },
  });
  reg.add({
    name: "VM.get_allowed_VIF_devices",
    params: p("vm:ref:VM"),
    result: "string set",
    run: (e, ctx, [vm]) => {
      const r = e.db.get("VM", vm as string, ctx.pool);
      const used = (r.VIFs as string[]).flatMap((v) => {
        const vif = e.db.maybe("VIF", v);
        return vif ? [vif.device as string] : [];
      });
      return allowedVifDevices(used);
    },
  });
}

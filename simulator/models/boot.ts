/**
 * What happens inside a domain once it is built: the firmware picks a boot device, an installer may run, and a
 * guest OS comes up and reads its cloud-init drive. The guest agent (Engine.reportGuest) then reports what came up.
 *
 * A VM with no media in a CD drive and nothing installed on its disk keeps the guest it was made with (its
 * template's image: hidden `os`, `pvDrivers`, `agent`), as before these rules existed. Otherwise:
 * - HVM: the firmware walks `HVM_boot_params["order"]` (default "cd", as xenopsd's): `c` the first disk, `d` the CD
 *   drives, `n` the network (no PXE server answers). An installer image boots when the first disk holds no
 *   system; with one installed the installer hands over to the disk ("boot from first hard disk"). A data disc
 *   (guest tools, a cloud-init drive) does not boot.
 * - PV: the boot loader reads the first disk.
 * An installer writes its system onto the first disk after the `install` duration, then powers the VM off as an
 * unattended install does (`actions_after_shutdown`: destroy = Halted, restart = boots again).
 */
import { NULL_REF } from "../ids";
import { type NoCloudSeed, type StaticInterface, interfaceDevice, readNoCloud } from "./cloud-init";
import type { Rec } from "./db";
import type { Engine } from "./engine";
import { vbdDeviceName } from "./methods/vm-devices";
import { type GuestOs, type IsoMedia, installedOs, isoMedia, rawText, setInstalledOs, vdiBytes } from "./vdi-data";

/** xenopsd's boot order for an HVM guest whose HVM_boot_params has none. */
const DEFAULT_ORDER = "cd";

/** A drive with a disk in it. */
interface Drive {
  vbd: string;
  vdi: string;
  /** Linux device name (xvda, xvdd) */
  device: string;
  label: string;
  userdevice: number;
}

type Installer = IsoMedia & { installs: NonNullable<IsoMedia["installs"]> };

export type BootOutcome =
  /** the VM's own guest, as the VM was made (template image) */
  | { kind: "own" }
  /** a system an installer put on the first disk */
  | { kind: "installed"; disk: Drive; os: GuestOs }
  | { kind: "installer"; cd: Drive; media: Installer }
  /** no device booted: the firmware waits, no guest runs */
  | { kind: "nothing" };

/** The drives of a VM that hold a VDI, by type, in userdevice order. */
function drives(e: Engine, vm: Rec): { disks: Drive[]; cds: Drive[] } {
  const disks: Drive[] = [];
  const cds: Drive[] = [];
  for (const ref of vm.VBDs as string[]) {
    const b = e.db.maybe("VBD", ref);
    if (!b || b.empty === true || b.VDI === NULL_REF || !e.db.has(b.VDI, "VDI")) continue;
    const d: Drive = {
      vbd: ref,
      vdi: b.VDI as string,
      // xenopsd names the device once it is attached; VBDs made by provision or a clone have none yet.
      device: (b.device as string) || vbdDeviceName(String(b.userdevice)) || `userdevice ${String(b.userdevice)}`,
      label: e.db.get("VDI", b.VDI as string).name_label as string,
      userdevice: Number(b.userdevice),
    };
    if (b.type === "CD") cds.push(d);
    else if (b.type === "Disk") disks.push(d);
  }
  const byDevice = (a: Drive, b: Drive) => a.userdevice - b.userdevice;
  return { disks: disks.sort(byDevice), cds: cds.sort(byDevice) };
}

/** The template image a VM was made with (named OS in its hidden state), if it has a disk to hold it. */
function ownOsName(e: Engine, vmRef: string): string | undefined {
  const os = e.hidden(vmRef).os as Record<string, string> | undefined;
  return os?.name;
}

function installer(media: IsoMedia | undefined): Installer | undefined {
  return media?.bootable && media.installs ? (media as Installer) : undefined;
}

/** Which device boots and what it runs, with the console lines the firmware prints on the way. */
export function resolveBoot(e: Engine, vmRef: string): { outcome: BootOutcome; lines: string[] } {
  const vm = e.db.get("VM", vmRef);
  const { disks, cds } = drives(e, vm);
  const first = disks[0];
  const installed = first ? installedOs(e, first.vdi) : undefined;
  const own = ownOsName(e, vmRef);
  const diskLine = (d: Drive, what: string | undefined) => `boot: disk ${d.device}${what ? ` (${what})` : ""}`;
  if (installed && first) {
    if (e.effectiveDomainType(vm) !== "hvm" || cds.length === 0)
      return {
        outcome: { kind: "installed", disk: first, os: installed },
        lines: [diskLine(first, installed.os.name)],
      };
  } else if (cds.length === 0 || e.effectiveDomainType(vm) !== "hvm") {
    const line = first ? diskLine(first, own) : "boot: no disk";
    return { outcome: { kind: "own" }, lines: [line] };
  }
  const order = ((vm.HVM_boot_params as Record<string, string>).order || DEFAULT_ORDER).toLowerCase();
  const lines: string[] = [];
  const onDisk = installed?.os.name ?? (first ? own : undefined);
  for (const device of order) {
    if (device === "d") {
      for (const cd of cds) {
        const media = installer(isoMedia(e, cd.vdi));
        if (!media) {
          lines.push(`boot: CD ${cd.device} (${cd.label}): not bootable`);
          continue;
        }
        if (onDisk && first) {
          lines.push(`boot: CD (${cd.label}): ${first.device} holds ${onDisk}, booting from disk`);
          continue;
        }
        lines.push(`boot: CD (${cd.label})`);
        return { outcome: { kind: "installer", cd, media }, lines };
      }
    } else if (device === "c") {
      if (!first) continue;
      if (installed) {
        lines.push(diskLine(first, installed.os.name));
        return { outcome: { kind: "installed", disk: first, os: installed }, lines };
      }
      if (own) {
        lines.push(diskLine(first, own));
        return { outcome: { kind: "own" }, lines };
      }
      lines.push(`boot: disk ${first.device}: no operating system`);
    } else if (device === "n") {
      lines.push("boot: network: no PXE offer");
    }
  }
  lines.push("boot: no bootable device");
  return { outcome: { kind: "nothing" }, lines };
}

// ---- the guest -------------------------------------------------------------------------------------------------

/** Sets a hidden key only when its value changes (a boot of a VM that stays as it was writes nothing). */
function setHidden(e: Engine, ref: string, key: string, value: unknown): void {
  const cur = e.hidden(ref)[key];
  if (cur === value || (cur === undefined && (value === false || value === null))) return;
  if (JSON.stringify(cur) === JSON.stringify(value)) return;
  e.db.setHidden(ref, key, value);
}

/**
 * Runs what the domain boots. Call inside the transaction that boots the VM (Engine.bootVm), before the guest
 * agent is scheduled. `resumed`: the domain comes back from a suspend image, so nothing boots again; an install
 * that was under way goes on.
 */
export function startGuest(e: Engine, vmRef: string, domid: number, resumed: boolean): void {
  if (resumed) {
    e.console.write(vmRef, "resume: the domain continues from its suspend image");
    if (e.hidden(vmRef).installing) scheduleInstall(e, vmRef, domid);
    return;
  }
  // The firmware stopped at Secure Boot (methods/firmware.ts): nothing boots.
  if (e.hidden(vmRef).secureBootFailed === true) {
    e.console.write(vmRef, "firmware: Secure Boot verification failed");
    setHidden(e, vmRef, "installing", null);
    return;
  }
  const { outcome, lines } = resolveBoot(e, vmRef);
  for (const l of lines) e.console.write(vmRef, l);
  setHidden(e, vmRef, "noGuest", outcome.kind === "installer" || outcome.kind === "nothing");
  setHidden(e, vmRef, "installing", outcome.kind === "installer" ? { iso: outcome.cd.vdi } : null);
  if (outcome.kind === "installer") {
    e.console.write(vmRef, `installer: installing ${outcome.media.installs.os.name ?? "the system"}`);
    scheduleInstall(e, vmRef, domid);
    return;
  }
  if (outcome.kind === "nothing") return;
  if (outcome.kind === "installed") runInstalled(e, vmRef, outcome.os);
  readCloudInit(e, vmRef);
}

/** The installed system becomes the VM's guest; tools installed into it since (install-tools) stay. */
function runInstalled(e: Engine, vmRef: string, g: GuestOs): void {
  const h = e.hidden(vmRef);
  setHidden(e, vmRef, "os", g.os);
  setHidden(e, vmRef, "pvDrivers", g.pvDrivers || h.pvDrivers === true);
  setHidden(e, vmRef, "agent", g.agent || h.agent === true);
  const features = [...new Set([...((h.features as string[] | undefined) ?? []), ...g.features])];
  setHidden(e, vmRef, "features", features);
}

/** Runs `fn` in its own transaction after `ms` (scaled already); with no delay, right after the current one. */
function defer(e: Engine, ms: number, fn: () => void): void {
  const run = () => {
    if (e.closed) return;
    try {
      e.tx(fn);
    } catch (err) {
      e.log({ level: "error", msg: "guest step failed", error: String(err) });
    }
  };
  if (ms > 0) e.later(ms, run);
  else setImmediate(run);
}

function scheduleInstall(e: Engine, vmRef: string, domid: number): void {
  defer(e, e.duration("install"), () => finishInstall(e, vmRef, domid));
}

function finishInstall(e: Engine, vmRef: string, domid: number): void {
  const vm = e.db.maybe("VM", vmRef);
  if (!vm || vm.domid !== domid || (vm.power_state !== "Running" && vm.power_state !== "Paused")) return;
  // A paused domain makes no progress.
  if (vm.power_state === "Paused") return scheduleInstall(e, vmRef, domid);
  const iso = (e.hidden(vmRef).installing as { iso?: string } | null | undefined)?.iso;
  const media = installer(iso ? isoMedia(e, iso) : undefined);
  if (!media) {
    e.console.write(vmRef, "installer: the installation medium is gone");
    return;
  }
  const target = drives(e, vm).disks[0];
  if (!target) {
    e.console.write(vmRef, "installer: no disk to install to");
    return;
  }
  const disk = e.db.get("VDI", target.vdi);
  if (disk.read_only === true || e.db.get("VBD", target.vbd).mode !== "RW") {
    e.console.write(vmRef, `installer: ${target.device} is read-only`);
    return;
  }
  if ((disk.virtual_size as number) < media.installs.minDiskBytes) {
    e.console.write(
      vmRef,
      `installer: ${target.device} is too small (${disk.virtual_size as number} bytes, ${media.installs.minDiskBytes} needed)`,
    );
    return;
  }
  const { minDiskBytes: _min, ...os } = media.installs;
  setInstalledOs(e, target.vdi, os);
  e.console.write(vmRef, `installer: wrote ${os.os.name ?? "the system"} to ${target.device}`);
  e.console.write(vmRef, "installer: power off");
  e.db.setHidden(vmRef, "installing", null);
  guestShutdown(e, vmRef);
}

/** The guest powers itself off: xapi applies actions_after_shutdown (destroy: Halted; restart: boots again). */
function guestShutdown(e: Engine, vmRef: string): void {
  const vm = e.db.get("VM", vmRef);
  const pool = e.db.poolOf(vmRef)!;
  if (vm.actions_after_shutdown === "restart") {
    e.bootVm(vmRef, vm.resident_on as string, false);
    e.message(pool, "VM_REBOOTED", 5, "VM", vm.uuid as string, `VM '${vm.name_label as string}' rebooted`);
    return;
  }
  e.haltVm(vmRef, true);
  e.message(pool, "VM_SHUTDOWN", 5, "VM", vm.uuid as string, `VM '${vm.name_label as string}' shutdown`);
}

// ---- cloud-init --------------------------------------------------------------------------------------------------

/** What cloud-init left in the guest: the hostname it set and the network config it applied, per instance-id. */
export interface CloudInitState {
  instanceId: string;
  hostname?: string;
  domain?: string;
  interfaces?: StaticInterface[];
}

/** The NoCloud seed on a VDI: only imported bytes can hold one (ISO library images are simulated, not bytes). */
function seedOf(e: Engine, vdi: string): NoCloudSeed | undefined {
  return rawText(e, vdi) ? readNoCloud(vdiBytes(e, vdi)) : undefined;
}

/**
 * cloud-init at boot: the first CD drive holding a NoCloud drive is read again. The hostname follows the drive
 * at every boot (cc_update_hostname runs per boot); network config is applied for a new instance-id only, as
 * cloud-init's default update policy has it. Without a drive the guest keeps what an earlier boot set.
 */
function readCloudInit(e: Engine, vmRef: string): void {
  const vm = e.db.get("VM", vmRef);
  const found = drives(e, vm)
    .cds.map((d) => ({ d, seed: seedOf(e, d.vdi) }))
    .find((x) => x.seed !== undefined);
  if (!found) return;
  const { d, seed } = found as { d: Drive; seed: NoCloudSeed };
  const prev = e.hidden(vmRef).cloudInit as CloudInitState | null | undefined;
  const newInstance = !prev || prev.instanceId !== seed.instanceId;
  const next: CloudInitState = { instanceId: seed.instanceId };
  const hostname = seed.hostname ?? prev?.hostname;
  const domain = seed.hostname ? seed.domain : prev?.domain;
  if (hostname) next.hostname = hostname;
  if (hostname && domain) next.domain = domain;
  const interfaces = newInstance ? seed.interfaces : prev?.interfaces;
  if (interfaces) next.interfaces = interfaces;
  setHidden(e, vmRef, "cloudInit", next);
  e.console.write(vmRef, `cloud-init: NoCloud drive on ${d.device} (instance-id ${seed.instanceId})`);
  if (hostname) e.console.write(vmRef, `cloud-init: hostname ${domain ? `${hostname}.${domain}` : hostname}`);
  if (!newInstance && seed.interfaces)
    e.console.write(vmRef, "cloud-init: same instance-id, network config left as first applied");
  for (const i of interfaces ?? [])
    if (i.ipv4.length || i.ipv6.length)
      e.console.write(vmRef, `cloud-init: ${i.name ?? i.mac ?? "?"} static ${[...i.ipv4, ...i.ipv6].join(", ")}`);
}

/**
 * The addresses the guest agent reports for a VIF when cloud-init configured the network: its static addresses
 * (and a DHCP address if the config also asks for one: `dhcp`); none for a NIC the config does not list.
 * undefined: no network config, the VIF gets its DHCP address as without cloud-init.
 */
export function configuredAddresses(
  e: Engine,
  vmRef: string,
  vif: Rec,
): { ipv4: string[]; ipv6: string[]; dhcp: boolean } | undefined {
  const state = e.hidden(vmRef).cloudInit as CloudInitState | null | undefined;
  if (!state?.interfaces) return undefined;
  const mac = String(vif.MAC).toLowerCase();
  const match =
    state.interfaces.find((i) => i.mac !== undefined && i.mac === mac) ??
    state.interfaces.find((i) => i.mac === undefined && interfaceDevice(i.name) === vif.device);
  if (!match) return { ipv4: [], ipv6: [], dhcp: false };
  return { ipv4: match.ipv4, ipv6: match.ipv6, dhcp: match.dhcp4 };
}

/**
 * VM_guest_metrics.netbios_name as xapi fills it (xapi_guest_agent.ml): `host_name` from the agent's
 * data/host_name_dns, with data/domain appended after a dot when the guest has a DNS domain.
 */
export function netbiosName(e: Engine, vmRef: string): Record<string, string> {
  const state = e.hidden(vmRef).cloudInit as CloudInitState | null | undefined;
  if (!state?.hostname) return {};
  return { host_name: state.domain ? `${state.hostname}.${state.domain}` : state.hostname };
}

/**
 * Inside the guest: the ISO library and the empty HVM template, the firmware's boot order, the simulated
 * installer (boot from CD, write the system to disk, power off), the installed system booting from disk, CD drive
 * rules, and cloud-init reading a NoCloud drive at every boot.
 */
import { RunningSimulator } from "../../../simulator";
import { call, control, failure, login, newVm, sim } from "./helpers";
import { noCloudDrive } from "./iso-image";

type Rec = Record<string, unknown>;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const DEBIAN = "debian-12.7.0-amd64-netinst.iso";
const DEBIAN_OS = "Debian GNU/Linux 12 (bookworm)";
const INSTALL_MS = 300;

let s: RunningSimulator;
let url: string;
let session: string;
let sr: string;

beforeAll(async () => {
  s = await sim({ timeScale: 1 });
  url = s.url;
  // Real time for the installer only: everything else instant.
  const { durations } = await control<{ durations: Record<string, number> }>(s, "GET", "/durations");
  const zero = Object.fromEntries(Object.keys(durations).map((k) => [k, 0]));
  await control(s, "POST", "/durations", { ...zero, install: INSTALL_MS });
  session = await login(url);
  const [pool] = await call<string[]>(url, "pool.get_all", session);
  sr = await call<string>(url, "pool.get_default_SR", session, pool);
});
afterAll(() => s.close());

const vmRec = (vm: string) => call<Rec>(url, "VM.get_record", session, vm);
const uuidOf = (vm: string) => call<string>(url, "VM.get_uuid", session, vm);
const consoleOf = async (vm: string) =>
  (await control<{ lines: string[] }>(s, "GET", `/vms/${await uuidOf(vm)}/console`)).lines;
const isoRef = async (name: string) => (await call<string[]>(url, "VDI.get_by_name_label", session, name))[0]!;

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const guestMetrics = (vm: string) =>
  until("guest metrics", async () => {
    const gm = (await vmRec(vm)).guest_metrics as string;
    return gm === "OpaqueRef:NULL" ? undefined : call<Rec>(url, "VM_guest_metrics.get_record", session, gm);
  });

function vbd(vm: string, fields: Rec): Promise<string> {
  return call<string>(url, "VBD.create", session, {
    VM: vm,
    VDI: "OpaqueRef:NULL",
    bootable: false,
    unpluggable: true,
    empty: false,
    other_config: {},
    qos_algorithm_type: "",
    qos_algorithm_params: {},
    ...fields,
  });
}

async function vdi(size: number, name = "disk"): Promise<string> {
  return call<string>(url, "VDI.create", session, {
    SR: sr,
    virtual_size: size,
    type: "user",
    name_label: name,
    sharable: false,
    read_only: false,
    other_config: {},
  });
}

/** A VM from "Other install media" with a blank 10 GiB disk, a VIF, and (optionally) a CD. */
async function blankVm(name: string, iso?: string): Promise<{ vm: string; disk: string; cd: string }> {
  const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "Other install media");
  const vm = await call<string>(url, "VM.clone", session, tpl, name);
  await call(url, "VM.provision", session, vm);
  const disk = await vdi(10 * GiB);
  await vbd(vm, { VDI: disk, userdevice: "0", bootable: true, mode: "RW", type: "Disk" });
  const cd = await vbd(vm, { userdevice: "3", mode: "RO", type: "CD", empty: true });
  if (iso) await call(url, "VBD.insert", session, cd, await isoRef(iso));
  const [net] = await call<string[]>(url, "network.get_by_name_label", session, "VM Network");
  await call(url, "VIF.create", session, {
    VM: vm,
    network: net,
    device: "0",
    MAC: "",
    MTU: 1500,
    other_config: {},
    qos_algorithm_type: "",
    qos_algorithm_params: {},
  });
  return { vm, disk, cd };
}

describe("the ISO library and the empty HVM template", () => {
  test("a shared iso SR named 'ISO library' with read-only images named after their files", async () => {
    const [lib] = await call<string[]>(url, "SR.get_by_name_label", session, "ISO library");
    const r = await call<Rec>(url, "SR.get_record", session, lib);
    expect(r).toMatchObject({ type: "iso", content_type: "iso", shared: true });
    const names: string[] = [];
    for (const v of r.VDIs as string[]) {
      const d = await call<Rec>(url, "VDI.get_record", session, v);
      expect(d).toMatchObject({ read_only: true, type: "user", location: d.name_label, SR: lib });
      expect(d.physical_utilisation).toBe(d.virtual_size);
      names.push(d.name_label as string);
    }
    expect(names.sort()).toEqual(
      [DEBIAN, "ubuntu-24.04.1-live-server-amd64.iso", "win11-24h2-x64.iso", "guest-tools.iso"].sort(),
    );
    const sms = Object.values(await call<Record<string, Rec>>(url, "SM.get_all_records", session));
    expect(sms.find((m) => m.type === "iso")).toMatchObject({
      name_label: "ISO",
      driver_filename: "/opt/xensource/sm/ISOSR",
    });
  });

  test("'Other install media': HVM, boot order dc, no disks provisioned", async () => {
    const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "Other install media");
    const t = await vmRec(tpl);
    expect(t).toMatchObject({ is_a_template: true, is_default_template: true, HVM_boot_policy: "BIOS order" });
    expect(t.HVM_boot_params).toMatchObject({ order: "dc" });
    const vm = await call<string>(url, "VM.clone", session, tpl, "empty");
    await call(url, "VM.provision", session, vm);
    expect((await vmRec(vm)).VBDs).toEqual([]);
  });
});

describe("installer from CD, then the installed system from disk", () => {
  let vm: string;
  let disk: string;

  test("the installer boots from CD, writes its system to the first disk and powers the VM off", async () => {
    ({ vm, disk } = await blankVm("installed", DEBIAN));
    const token = await call<{ token: string }>(url, "event.from", session, ["vm"], "", 0);
    await call(url, "VM.start", session, vm, false, false);
    // Installing: running, no guest OS and so no guest agent yet.
    const during = await vmRec(vm);
    expect(during.power_state).toBe("Running");
    expect(during.guest_metrics).toBe("OpaqueRef:NULL");
    expect(await consoleOf(vm)).toEqual([`boot: CD (${DEBIAN})`, `installer: installing ${DEBIAN_OS}`]);
    // The power-off arrives as an event.
    let from = token.token;
    await until("the Halted event", async () => {
      const ev = await call<{ events: { ref: string; snapshot?: Rec }[]; token: string }>(
        url,
        "event.from",
        session,
        ["vm"],
        from,
        2,
      );
      from = ev.token;
      return ev.events.some((x) => x.ref === vm && x.snapshot?.power_state === "Halted") ? true : undefined;
    });
    const after = await vmRec(vm);
    expect(after).toMatchObject({ power_state: "Halted", domid: -1, resident_on: "OpaqueRef:NULL" });
    expect((await consoleOf(vm)).slice(2)).toEqual([`installer: wrote ${DEBIAN_OS} to xvda`, "installer: power off"]);
    const uuid = await uuidOf(vm);
    const messages = Object.values(await call<Record<string, Rec>>(url, "message.get_all_records", session));
    expect(messages.some((m) => m.name === "VM_SHUTDOWN" && m.obj_uuid === uuid)).toBe(true);
  });

  test("the next start boots the installed system from disk, whose agent reports it", async () => {
    await call(url, "VM.start", session, vm, false, false);
    const gm = await guestMetrics(vm);
    expect((gm.os_version as Rec).name).toBe(DEBIAN_OS);
    expect(gm.PV_drivers_detected).toBe(true);
    expect((gm.networks as Record<string, string>)["0/ip"]).toMatch(/^10\.20\.0\.\d+$/);
    expect((await consoleOf(vm)).slice(4)).toEqual([
      `boot: CD (${DEBIAN}): xvda holds ${DEBIAN_OS}, booting from disk`,
      `boot: disk xvda (${DEBIAN_OS})`,
    ]);
    // Well past the install time the VM is still running: the installer did not run again.
    await new Promise((r) => setTimeout(r, INSTALL_MS + 100));
    expect((await vmRec(vm)).power_state).toBe("Running");
    await call(url, "VM.hard_shutdown", session, vm);
  });

  test("the installed system travels with copies of the disk", async () => {
    const copy = await call<string>(url, "VM.copy", session, vm, "installed-copy", "OpaqueRef:NULL");
    const cd = (await vmRec(copy)).VBDs as string[];
    for (const b of cd)
      if ((await call(url, "VBD.get_type", session, b)) === "CD") await call(url, "VBD.eject", session, b);
    await call(url, "VM.start", session, copy, false, false);
    expect(((await guestMetrics(copy)).os_version as Rec).name).toBe(DEBIAN_OS);
    expect(await consoleOf(copy)).toEqual([`boot: disk xvda (${DEBIAN_OS})`]);
    await call(url, "VM.hard_shutdown", session, copy);
    expect(await call(url, "VDI.get_virtual_size", session, disk)).toBe(10 * GiB);
  });

  test("actions_after_shutdown restart: the installed system boots right after the install", async () => {
    const { vm: again } = await blankVm("restarting", DEBIAN);
    await call(url, "VM.set_actions_after_shutdown", session, again, "restart");
    await call(url, "VM.start", session, again, false, false);
    const gm = await until("the installed system", async () => {
      const r = await vmRec(again);
      return r.guest_metrics === "OpaqueRef:NULL" ? undefined : r;
    });
    expect(gm.power_state).toBe("Running");
    expect((await consoleOf(again)).at(-1)).toBe(`boot: disk xvda (${DEBIAN_OS})`);
    await call(url, "VM.hard_shutdown", session, again);
  });
});

describe("what the firmware does not boot", () => {
  test("a data disc and a blank disk: nothing boots, no guest agent", async () => {
    const { vm } = await blankVm("tools-only", "guest-tools.iso");
    await call(url, "VM.start", session, vm, false, false);
    expect(await consoleOf(vm)).toEqual([
      "boot: CD xvdd (guest-tools.iso): not bootable",
      "boot: disk xvda: no operating system",
      "boot: no bootable device",
    ]);
    await new Promise((r) => setTimeout(r, INSTALL_MS + 100));
    expect(await vmRec(vm)).toMatchObject({ power_state: "Running", guest_metrics: "OpaqueRef:NULL" });
    await call(url, "VM.hard_shutdown", session, vm);
  });

  test("an installer without a disk to install to waits; one with too small a disk too", async () => {
    const [tpl] = await call<string[]>(url, "VM.get_by_name_label", session, "Other install media");
    const vm = await call<string>(url, "VM.clone", session, tpl, "diskless");
    await call(url, "VM.provision", session, vm);
    await vbd(vm, { VDI: await isoRef(DEBIAN), userdevice: "3", mode: "RO", type: "CD" });
    await call(url, "VM.start", session, vm, false, false);
    await until("the installer's complaint", async () =>
      (await consoleOf(vm)).includes("installer: no disk to install to") ? true : undefined,
    );
    expect((await vmRec(vm)).power_state).toBe("Running");
    await call(url, "VM.hard_shutdown", session, vm);
    const small = await vdi(GiB);
    await vbd(vm, { VDI: small, userdevice: "0", mode: "RW", type: "Disk" });
    await call(url, "VM.start", session, vm, false, false);
    await until("the installer's complaint", async () =>
      (await consoleOf(vm)).some((l) => l.startsWith("installer: xvda is too small")) ? true : undefined,
    );
    await call(url, "VM.hard_shutdown", session, vm);
  });

  test("a template clone without CD media boots as before (its template's system)", async () => {
    const vm = await newVm(url, session, "Debian Bookworm 12", "plain");
    await call(url, "VM.start", session, vm, false, false);
    expect(((await guestMetrics(vm)).os_version as Rec).name).toBe("Debian GNU/Linux 12 (bookworm)");
    expect((await guestMetrics(vm)).netbios_name).toEqual({});
    expect(await consoleOf(vm)).toEqual(["boot: disk xvda (Debian GNU/Linux 12 (bookworm))"]);
    await call(url, "VM.hard_shutdown", session, vm);
  });
});

describe("CD drives as xapi rules them", () => {
  test("create, insert and eject refusals", async () => {
    const { vm, disk, cd } = await blankVm("drives");
    const iso = await isoRef(DEBIAN);
    expect(await failure(vbd(vm, { VDI: iso, userdevice: "4", mode: "RW", type: "CD" }))).toEqual([
      "VBD_CDS_MUST_BE_READONLY",
    ]);
    expect(await failure(vbd(vm, { VDI: iso, userdevice: "4", mode: "RW", type: "Disk" }))).toEqual([
      "VDI_READONLY",
      iso,
    ]);
    expect(await failure(vbd(vm, { userdevice: "4", mode: "RO", type: "Disk", empty: true }))).toEqual([
      "VBD_NOT_REMOVABLE_MEDIA",
      "in constructor",
    ]);
    const [diskVbd] = await call<string[]>(url, "VDI.get_VBDs", session, disk);
    expect(await failure(call(url, "VBD.insert", session, diskVbd, iso))).toEqual(["VBD_NOT_REMOVABLE_MEDIA", diskVbd]);
    expect(await failure(call(url, "VBD.eject", session, cd))).toEqual(["VBD_IS_EMPTY", cd]);
    await call(url, "VBD.insert", session, cd, iso);
    expect(await call(url, "VBD.get_empty", session, cd)).toBe(false);
    expect(await failure(call(url, "VBD.insert", session, cd, iso))).toEqual(["VBD_NOT_EMPTY", cd]);
    await call(url, "VBD.eject", session, cd);
    expect(await call(url, "VBD.get_VDI", session, cd)).toBe("OpaqueRef:NULL");
  });

  test("no media change while the VM is suspended", async () => {
    const vm = await newVm(url, session, "Debian Bookworm 12", "suspended");
    const cd = await vbd(vm, { userdevice: "3", mode: "RO", type: "CD", empty: true });
    await call(url, "VM.start", session, vm, false, false);
    await call(url, "VM.suspend", session, vm);
    expect(await failure(call(url, "VBD.insert", session, cd, await isoRef(DEBIAN)))).toEqual([
      "VM_BAD_POWER_STATE",
      vm,
      "halted, running",
      "suspended",
    ]);
    await call(url, "VM.hard_shutdown", session, vm);
  });
});

describe("cloud-init NoCloud drive", () => {
  let vm: string;
  let drive: string;

  async function writeDrive(image: Buffer): Promise<void> {
    const r = await fetch(`${url}/import_raw_vdi?session_id=${session}&vdi=${drive}&format=raw`, {
      method: "PUT",
      body: image,
    });
    expect(r.status).toBe(200);
  }

  const networkConfig = (address: string) =>
    `version: 2\nethernets:\n  enX0:\n    dhcp4: false\n    addresses: [${address}/24, "fd00::5/64"]\n    gateway4: 10.20.0.1\n`;

  test("the guest reads the drive at boot: hostname in netbios_name, static addresses in networks", async () => {
    vm = await newVm(url, session, "Debian Bookworm 12", "cloudy");
    drive = await vdi(MiB, "cloudy cidata");
    await writeDrive(
      noCloudDrive({
        metaData: "instance-id: iid-cloudy-1\nlocal-hostname: cloudy\n",
        userData: "#cloud-config\nhostname: web-1\nfqdn: web-1.example.com\n",
        networkConfig: networkConfig("10.20.0.50"),
      }),
    );
    await vbd(vm, { VDI: drive, userdevice: "3", mode: "RO", type: "CD" });
    await call(url, "VM.start", session, vm, false, false);
    const gm = await guestMetrics(vm);
    expect(gm.netbios_name).toEqual({ host_name: "web-1.example.com" });
    expect(gm.networks).toEqual({ "0/ip": "10.20.0.50", "0/ipv4/0": "10.20.0.50", "0/ipv6/0": "fd00::5" });
    expect(await call(url, "VM_guest_metrics.get_netbios_name", session, (await vmRec(vm)).guest_metrics)).toEqual({
      host_name: "web-1.example.com",
    });
    expect(await consoleOf(vm)).toEqual([
      "boot: disk xvda (Debian GNU/Linux 12 (bookworm))",
      "cloud-init: NoCloud drive on xvdd (instance-id iid-cloudy-1)",
      "cloud-init: hostname web-1.example.com",
      "cloud-init: enX0 static 10.20.0.50, fd00::5",
    ]);
  });

  test("a changed drive and a restart: the new hostname; network config again only for a new instance-id", async () => {
    await call(url, "VM.hard_shutdown", session, vm);
    await writeDrive(
      noCloudDrive({
        metaData: "instance-id: iid-cloudy-1\n",
        userData: "#cloud-config\nhostname: web-2\n",
        networkConfig: networkConfig("10.20.0.51"),
      }),
    );
    await call(url, "VM.start", session, vm, false, false);
    let gm = await guestMetrics(vm);
    expect(gm.netbios_name).toEqual({ host_name: "web-2" });
    expect((gm.networks as Record<string, string>)["0/ip"]).toBe("10.20.0.50");
    await call(url, "VM.hard_shutdown", session, vm);
    await writeDrive(
      noCloudDrive(
        {
          metaData: "instance-id: iid-cloudy-2\n",
          userData: "#cloud-config\nfqdn: db-1.lab.example\n",
          networkConfig: networkConfig("10.20.0.51"),
        },
        { names: "joliet", label: "CIDATA" },
      ),
    );
    await call(url, "VM.start", session, vm, false, false);
    gm = await guestMetrics(vm);
    expect(gm.netbios_name).toEqual({ host_name: "db-1.lab.example" });
    expect((gm.networks as Record<string, string>)["0/ip"]).toBe("10.20.0.51");
  });

  test("a reboot re-reads it too; a running guest does not see a drive change until then", async () => {
    await writeDrive(
      noCloudDrive({ metaData: "instance-id: iid-cloudy-2\n", userData: "#cloud-config\nhostname: after-reboot\n" }),
    );
    expect((await guestMetrics(vm)).netbios_name).toEqual({ host_name: "db-1.lab.example" });
    await call(url, "VM.clean_reboot", session, vm);
    expect((await guestMetrics(vm)).netbios_name).toEqual({ host_name: "after-reboot" });
    await call(url, "VM.hard_shutdown", session, vm);
  });

  test("a drive with another label is not a NoCloud drive", async () => {
    const other = await newVm(url, session, "Debian Bookworm 12", "not-cloudy");
    const d = await vdi(MiB, "other");
    const r = await fetch(`${url}/import_raw_vdi?session_id=${session}&vdi=${d}`, {
      method: "PUT",
      body: noCloudDrive(
        { metaData: "instance-id: x\n", userData: "#cloud-config\nhostname: nope\n" },
        { label: "DATA" },
      ),
    });
    expect(r.status).toBe(200);
    await vbd(other, { VDI: d, userdevice: "3", mode: "RO", type: "CD" });
    await call(url, "VM.start", session, other, false, false);
    const gm = await guestMetrics(other);
    expect(gm.netbios_name).toEqual({});
    expect((gm.networks as Record<string, string>)["0/ip"]).toMatch(/^10\.20\.0\.\d+$/);
    await call(url, "VM.hard_shutdown", session, other);
  });
});

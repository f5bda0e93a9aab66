import { RunningSimulator } from "../../../simulator";
import { call, failure, login, newVm, sim } from "./helpers";

/**
 * What the official XenServer Terraform provider reads besides the common calls: the free device numbers of a
 * VM (`VM.get_allowed_VBD_devices`, its `hard_drive`), `Bond.get_all_records` with no bonds, and
 * `platform["secureboot"]` / `HVM_boot_params["firmware"]` on every HVM VM it reads (it fails on a VM without
 * them). The answers are xapi's: xapi_vm_helpers.ml and XenServer's guest-templates-json.
 */
let s: RunningSimulator;
let url: string;
let session: string;
let readonly: string;
type Rec = Record<string, unknown>;

beforeAll(async () => {
  s = await sim();
  url = s.url;
  session = await login(url);
  readonly = await login(url, "readonly", "readonly-pw");
});
afterAll(() => s.close());

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => String(a + i));

async function template(name: string): Promise<string> {
  const [t] = await call<string[]>(url, "VM.get_by_name_label", session, name);
  return t!;
}

async function vdi(name: string): Promise<string> {
  const sr = await call<string>(
    url,
    "pool.get_default_SR",
    session,
    (await call<string[]>(url, "pool.get_all", session))[0],
  );
  return call<string>(url, "VDI.create", session, { SR: sr, virtual_size: 1024 ** 3, type: "user", name_label: name });
}

const vbd = (vm: string, vdiRef: string, userdevice: string) =>
  call<string>(url, "VBD.create", session, {
    VM: vm,
    VDI: vdiRef,
    userdevice,
    bootable: false,
    mode: "RW",
    type: "Disk",
    empty: false,
    other_config: {},
    qos_algorithm_type: "",
    qos_algorithm_params: {},
  });

describe("VM.get_allowed_VBD_devices", () => {
  test("a VM with its boot disk on 0: 1-254 (HVM, read-only role)", async () => {
    const vm = await newVm(url, session, "Debian Bookworm 12", "devices-hvm");
    expect(await call(url, "VM.get_allowed_VBD_devices", readonly, vm)).toEqual(range(1, 254));
  });
  test("each VBD takes its number; the first free one is what the provider attaches next", async () => {
    const vm = await newVm(url, session, "Debian Bookworm 12", "devices-more");
    await vbd(vm, await vdi("data-3"), "3");
    const [first, ...rest] = await call<string[]>(url, "VM.get_allowed_VBD_devices", session, vm);
    expect([first, ...rest]).toEqual(["1", "2", ...range(4, 254)]);
    await vbd(vm, await vdi("data-next"), first!);
    expect(await call(url, "VM.get_allowed_VBD_devices", session, vm)).toEqual(["2", ...range(4, 254)]);
  });
  test("a PV VM and a template: the PV range less their disks", async () => {
    const pv = await newVm(url, session, "CentOS 6 (PV)", "devices-pv");
    expect(await call(url, "VM.get_allowed_VBD_devices", session, pv)).toEqual(range(1, 254));
    // a template has no VBDs before provision: every number
    expect(await call(url, "VM.get_allowed_VBD_devices", session, await template("CentOS 6 (PV)"))).toEqual(
      range(0, 254),
    );
  });
  test("the control domain may use 255 too", async () => {
    const vms = await call<Record<string, Rec>>(url, "VM.get_all_records", session);
    const [dom0, rec] = Object.entries(vms).find(([, r]) => r.is_control_domain === true)!;
    const used = (rec.VBDs as string[]).length;
    const allowed = await call<string[]>(url, "VM.get_allowed_VBD_devices", session, dom0);
    expect(allowed).toHaveLength(256 - used);
    expect(allowed).toContain("255");
  });
  test("no Async form, xapi's errors for a bad ref and a wrong arity", async () => {
    expect(await failure(call(url, "VM.get_allowed_VBD_devices", session, "OpaqueRef:nope"))).toEqual([
      "HANDLE_INVALID",
      "VM",
      "OpaqueRef:nope",
    ]);
    expect(await failure(call(url, "VM.get_allowed_VBD_devices", session))).toEqual([
      "MESSAGE_PARAMETER_COUNT_MISMATCH",
      "VM.get_allowed_VBD_devices",
      "1",
      "0",
    ]);
    const vm = await template("Debian Bookworm 12");
    expect(await failure(call(url, "Async.VM.get_allowed_VBD_devices", session, vm))).toEqual([
      "MESSAGE_METHOD_UNKNOWN",
      "Async.VM.get_allowed_VBD_devices",
    ]);
  });
});

describe("VBD.create checks the device and the mode as xapi does (xapi_vbd.ml create)", () => {
  test("a name already in use under another spelling, an invalid name, and an empty one are refused", async () => {
    const vm = await newVm(url, session, "Debian Bookworm 12", "vbd-rules");
    await vbd(vm, await vdi("rules-1"), "1");
    expect(await failure(vbd(vm, await vdi("rules-xvdb"), "xvdb"))).toEqual(["DEVICE_ALREADY_EXISTS", "xvdb"]);
    expect(await failure(vbd(vm, await vdi("rules-hdb"), "hdb"))).toEqual(["DEVICE_ALREADY_EXISTS", "hdb"]);
    expect(await failure(vbd(vm, await vdi("rules-bad"), "disk1"))).toEqual(["INVALID_DEVICE", "disk1"]);
    expect(await failure(vbd(vm, await vdi("rules-empty"), ""))).toEqual(["INVALID_DEVICE", ""]);
  });
  test("a CD is read-only, only a CD may be empty, a read-write disk needs a writable VDI", async () => {
    const vm = await newVm(url, session, "Debian Bookworm 12", "vbd-modes");
    const base = { VM: vm, bootable: false, other_config: {}, qos_algorithm_type: "", qos_algorithm_params: {} };
    const create = (extra: Rec) => call<string>(url, "VBD.create", session, { ...base, ...extra });
    const ro = await vdi("modes-ro");
    await call(url, "VDI.set_read_only", session, ro, true);
    const cd = { VDI: "OpaqueRef:NULL", userdevice: "3", type: "CD", empty: true };
    expect(await failure(create({ ...cd, mode: "RW" }))).toEqual(["VBD_CDS_MUST_BE_READONLY"]);
    const disk = { VDI: "OpaqueRef:NULL", userdevice: "4", type: "Disk", mode: "RW", empty: true };
    expect(await failure(create(disk))).toEqual(["VBD_NOT_REMOVABLE_MEDIA", "in constructor"]);
    const rw = { VDI: ro, userdevice: "5", type: "Disk", mode: "RW", empty: false };
    expect(await failure(create(rw))).toEqual(["VDI_READONLY", ro]);
    await create({ ...cd, mode: "RO" });
    await create({ ...rw, mode: "RO" });
    expect(await call(url, "VM.get_allowed_VBD_devices", session, vm)).toEqual(["1", "2", "4", ...range(6, 254)]);
  });
  test("autodetect takes the first free number; the device name follows the number past xvdz", async () => {
    const vm = await newVm(url, session, "Debian Bookworm 12", "vbd-autodetect");
    await vbd(vm, await vdi("auto-26"), "26");
    const auto = await vbd(vm, await vdi("auto-next"), "autodetect");
    expect(await call(url, "VBD.get_userdevice", session, auto)).toBe("1");
    const vbds = await call<string[]>(url, "VM.get_VBDs", session, vm);
    const names = await Promise.all(vbds.map((b) => call<Rec>(url, "VBD.get_record", session, b)));
    expect(names.map((r) => [r.userdevice, r.device]).filter(([u]) => u !== "0")).toEqual(
      expect.arrayContaining([
        ["26", "xvdaa"],
        ["1", "xvdb"],
      ]),
    );
  });
});

test("VM.get_allowed_VIF_devices: 0-15 less the VM's VIFs", async () => {
  const vm = await newVm(url, session, "Debian Bookworm 12", "vif-devices");
  expect(await call(url, "VM.get_allowed_VIF_devices", readonly, vm)).toEqual(range(1, 15));
});

test("Bond.get_all_records with no bonds answers {}, as xapi does", async () => {
  expect(await call(url, "Bond.get_all_records", readonly)).toEqual({});
  expect(await call(url, "Bond.get_all", readonly)).toEqual([]);
});

describe("templates carry secureboot and firmware as XenServer's do", () => {
  test("Debian Bookworm 12 derives from base-linux-uefi: secureboot auto, UEFI; its clones keep both", async () => {
    const tpl = await call<Rec>(url, "VM.get_record", session, await template("Debian Bookworm 12"));
    expect(tpl.platform).toMatchObject({ secureboot: "auto" });
    expect(tpl.HVM_boot_params).toEqual({ order: "cdn", firmware: "uefi" });
    const vm = await newVm(url, session, "Debian Bookworm 12", "firmware-clone");
    expect(await call(url, "VM.get_platform", session, vm)).toMatchObject({ secureboot: "auto" });
    expect(await call(url, "VM.get_HVM_boot_params", session, vm)).toMatchObject({ firmware: "uefi" });
  });
  test("every HVM template has both keys; a PV template has neither", async () => {
    const vms = await call<Record<string, Rec>>(url, "VM.get_all_records", session);
    const templates = Object.values(vms).filter((r) => r.is_a_template === true);
    for (const t of templates) {
      const platform = t.platform as Record<string, string>;
      const boot = t.HVM_boot_params as Record<string, string>;
      if (t.domain_type === "pv") {
        expect([t.name_label, platform.secureboot, boot.firmware]).toEqual([t.name_label, undefined, undefined]);
      } else {
        expect([t.name_label, platform.secureboot, boot.firmware]).toEqual([
          t.name_label,
          boot.firmware === "uefi" ? "auto" : "false",
          expect.stringMatching(/^(bios|uefi)$/),
        ]);
      }
    }
    expect(templates.map((t) => t.name_label)).toEqual(
      expect.arrayContaining(["Debian Bookworm 12", "CentOS 6 (PV)", "Windows Server 2022 (64-bit)"]),
    );
  });
});

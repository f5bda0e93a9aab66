/**
 * VM firmware, UEFI Secure Boot and vTPMs over the wire, as xapi behaves (xapi_vtpm.ml, xapi_vm.ml start,
 * xapi_xenops.ml, xapi_vm_clone.ml), and new VMs made from existing ones (VM.clone / VM.copy of a VM or a snapshot).
 * xen-01's pool has UEFI certificates (the default); xen-02's has none (inventory `uefiCertificates: false`).
 */
import { RunningSimulator } from "../../../simulator";
import { defaultInventory } from "../../../simulator/sim";
import { call, control, failure, login, newVm, sim } from "./helpers";

type Rec = Record<string, unknown>;
const NULL = "OpaqueRef:NULL";

let s: RunningSimulator;
/** xen-01 (with UEFI certificates) and xen-02 (without): URL and session of each pool's master. */
const withCerts = { url: "", session: "" };
const noCerts = { url: "", session: "" };

beforeAll(async () => {
  const inventory = defaultInventory();
  inventory.hosts.find((h) => h.name === "xen-02")!.uefiCertificates = false;
  s = await sim({ inventory });
  withCerts.url = s.hostUrls["xen-01"]!;
  noCerts.url = s.hostUrls["xen-02"]!;
  withCerts.session = await login(withCerts.url);
  noCerts.session = await login(noCerts.url);
});
afterAll(() => s.close());

const url = () => withCerts.url;
const session = () => withCerts.session;
const vmRec = (ref: string, p = withCerts) => call<Rec>(p.url, "VM.get_record", p.session, ref);
/** A halted VM from the Debian template: HVM, UEFI firmware, platform secureboot "auto". */
const uefiVm = (name: string, p = withCerts) => newVm(p.url, p.session, "Debian Bookworm 12", name);
const start = (vm: string, p = withCerts) => call(p.url, "VM.start", p.session, vm, false, false);

/** The VDI records behind a VM's disks. */
async function disks(vm: string): Promise<(Rec & { ref: string })[]> {
  const out: (Rec & { ref: string })[] = [];
  for (const vbd of (await vmRec(vm)).VBDs as string[]) {
    const vdi = await call<string>(url(), "VBD.get_VDI", session(), vbd);
    out.push({ ref: vdi, ...(await call<Rec>(url(), "VDI.get_record", session(), vdi)) });
  }
  return out;
}

async function messagesFor(p: typeof withCerts, vm: string, name: string): Promise<Rec[]> {
  const uuid = await call<string>(p.url, "VM.get_uuid", p.session, vm);
  const all = await call<Record<string, Rec>>(p.url, "message.get_all_records", p.session);
  return Object.values(all).filter((m) => m.obj_uuid === uuid && m.name === name);
}

describe("vTPM (VTPM.create / VTPM.destroy)", () => {
  let vm: string;
  let vtpm: string;

  test("VTPM.create on a halted UEFI VM: the record, VM.VTPMs and allowed operations", async () => {
    vm = await uefiVm("tpm-1");
    expect((await vmRec(vm)).allowed_operations).toContain("create_vtpm");
    vtpm = await call<string>(url(), "VTPM.create", session(), vm, true);
    const r = await call<Rec>(url(), "VTPM.get_record", session(), vtpm);
    expect(r).toMatchObject({
      VM: vm,
      backend: NULL,
      persistence_backend: "xapi",
      is_unique: true,
      is_protected: false,
      allowed_operations: ["destroy"],
      current_operations: {},
    });
    expect(await call(url(), "VTPM.get_by_uuid", session(), r.uuid)).toBe(vtpm);
    expect(await call(url(), "VTPM.get_all", session())).toContain(vtpm);
    expect(Object.keys(await call<Rec>(url(), "VTPM.get_all_records", session()))).toContain(vtpm);
    const v = await vmRec(vm);
    expect(v.VTPMs).toEqual([vtpm]);
    expect(v.allowed_operations).not.toContain("create_vtpm");
  });

  test("a second vTPM is refused: VTPM_MAX_AMOUNT_REACHED [amount]", async () => {
    expect(await failure(call(url(), "VTPM.create", session(), vm, false))).toEqual(["VTPM_MAX_AMOUNT_REACHED", "1"]);
  });

  test("the UEFI VM with its vTPM starts; then neither create nor destroy is allowed", async () => {
    await start(vm);
    expect((await vmRec(vm)).power_state).toBe("Running");
    expect(await call(url(), "VTPM.get_allowed_operations", session(), vtpm)).toEqual([]);
    expect(await failure(call(url(), "VTPM.destroy", session(), vtpm))).toEqual([
      "VM_BAD_POWER_STATE",
      vm,
      "halted;suspended",
      "running",
    ]);
  });

  test("VTPM.create on a running VM: VM_BAD_POWER_STATE [vm, halted, running]", async () => {
    const other = await uefiVm("tpm-running");
    await start(other);
    expect(await failure(call(url(), "VTPM.create", session(), other, false))).toEqual([
      "VM_BAD_POWER_STATE",
      other,
      "halted",
      "running",
    ]);
  });

  test("VTPM.destroy once halted; VTPM.create on a template is refused", async () => {
    await call(url(), "VM.hard_shutdown", session(), vm);
    await call(url(), "VTPM.destroy", session(), vtpm);
    expect((await vmRec(vm)).VTPMs).toEqual([]);
    expect(await failure(call(url(), "VTPM.get_record", session(), vtpm))).toEqual(["HANDLE_INVALID", "VTPM", vtpm]);
    const [tpl] = await call<string[]>(url(), "VM.get_by_name_label", session(), "Debian Bookworm 12");
    expect(await failure(call(url(), "VTPM.create", session(), tpl, false))).toEqual([
      "VM_IS_TEMPLATE",
      tpl,
      "create_vtpm",
    ]);
  });

  test("a BIOS VM gets a vTPM (xapi does not check the firmware there) but cannot start: NOT_IMPLEMENTED", async () => {
    const bios = await uefiVm("tpm-bios");
    await call(url(), "VM.set_HVM_boot_params", session(), bios, { order: "cdn", firmware: "bios" });
    await call(url(), "VTPM.create", session(), bios, false);
    expect(await failure(start(bios))).toEqual(["NOT_IMPLEMENTED", "Booting BIOS VM with VTPMs attached"]);
    const r = await vmRec(bios);
    expect(r.power_state).toBe("Halted");
    expect(r.scheduled_to_be_resident_on).toBe(NULL);
    // Back to UEFI, it boots with its vTPM.
    await call(url(), "VM.set_HVM_boot_params", session(), bios, { order: "cdn", firmware: "uefi" });
    await start(bios);
    expect((await vmRec(bios)).power_state).toBe("Running");
  });

  test("VM.destroy destroys the VM's vTPM", async () => {
    const gone = await uefiVm("tpm-destroy");
    const t = await call<string>(url(), "VTPM.create", session(), gone, false);
    await call(url(), "VM.destroy", session(), gone);
    expect(await failure(call(url(), "VTPM.get_record", session(), t))).toEqual(["HANDLE_INVALID", "VTPM", t]);
  });

  test("clone, copy and snapshot get their own copy of the vTPM; revert takes the snapshot's", async () => {
    const src = await uefiVm("tpm-src");
    const t = await call<string>(url(), "VTPM.create", session(), src, true);
    const copyOf = async (vm: string) => {
      const [c] = (await vmRec(vm)).VTPMs as string[];
      expect(c).toBeDefined();
      expect(c).not.toBe(t);
      expect(await call<Rec>(url(), "VTPM.get_record", session(), c)).toMatchObject({ VM: vm, is_unique: true });
      return c!;
    };
    await copyOf(await call<string>(url(), "VM.clone", session(), src, "tpm-clone"));
    await copyOf(await call<string>(url(), "VM.copy", session(), src, "tpm-copy", NULL));
    const snap = await call<string>(url(), "VM.snapshot", session(), src, "tpm-snap");
    const snapTpm = await copyOf(snap);
    await call(url(), "VM.revert", session(), snap);
    const restored = (await vmRec(src)).VTPMs as string[];
    expect(restored).toHaveLength(1);
    expect(restored).not.toContain(t);
    expect(restored).not.toContain(snapTpm);
    expect(await failure(call(url(), "VTPM.get_record", session(), t))).toEqual(["HANDLE_INVALID", "VTPM", t]);
  });
});

describe("boot firmware (HVM_boot_params firmware)", () => {
  test("an unknown firmware is accepted by the setter and refused by VM.start", async () => {
    const vm = await uefiVm("fw-unknown");
    await call(url(), "VM.set_HVM_boot_params", session(), vm, { order: "cdn", firmware: "efi" });
    expect(await failure(start(vm))).toEqual(["INVALID_VALUE", "HVM-boot-params['firmware']", "efi"]);
  });

  test("a first UEFI boot pins the device model; switching to BIOS then needs it removed", async () => {
    const vm = await uefiVm("fw-switch");
    expect((await vmRec(vm)).platform).not.toHaveProperty("device-model");
    await start(vm);
    expect((await vmRec(vm)).platform).toMatchObject({ "device-model": "qemu-upstream-uefi" });
    await call(url(), "VM.hard_shutdown", session(), vm);
    await call(url(), "VM.set_HVM_boot_params", session(), vm, { order: "cdn", firmware: "bios" });
    expect(await failure(start(vm))).toEqual([
      "INVALID_VALUE",
      "platform:device-model",
      "BIOS boot is not supported with qemu-upstream-uefi",
    ]);
    await call(url(), "VM.remove_from_platform", session(), vm, "device-model");
    await start(vm);
    expect((await vmRec(vm)).platform).toMatchObject({ "device-model": "qemu-upstream-compat" });
  });
});

describe("UEFI Secure Boot and the pool's certificates", () => {
  test("pools hold their certificates as a base64 tar archive; xen-02's has none", async () => {
    const [pool] = await call<string[]>(url(), "pool.get_all", session());
    const certs = await call<string>(url(), "pool.get_uefi_certificates", session(), pool);
    const tar = Buffer.from(certs, "base64");
    expect(tar.subarray(257, 262).toString()).toBe("ustar");
    const names = [0, 1024, 2048, 3072].map((o) =>
      tar
        .subarray(o, o + 100)
        .toString()
        .replace(/\0+$/, ""),
    );
    expect(names).toEqual(["PK.auth", "KEK.auth", "db.auth", "dbx.auth"]);
    const [bare] = await call<string[]>(noCerts.url, "pool.get_all", noCerts.session);
    expect(await call(noCerts.url, "pool.get_uefi_certificates", noCerts.session, bare)).toBe("");
  });

  test("only the custom certificates can be set (xapi_pool.ml, xapi_host.ml)", async () => {
    const [pool] = await call<string[]>(url(), "pool.get_all", session());
    expect(await failure(call(url(), "pool.set_uefi_certificates", session(), pool, "eA=="))).toEqual([
      "OPERATION_NOT_ALLOWED",
      "Setting UEFI certificates is deprecated, please use `set_custom_uefi_certificates`",
    ]);
    const [host] = await call<string[]>(url(), "host.get_all", session());
    expect(await failure(call(url(), "host.set_uefi_certificates", session(), host, "eA=="))).toEqual([
      "OPERATION_NOT_ALLOWED",
      "To set UEFI certificates use: `Pool.set_custom_uefi_certificates`",
    ]);
  });

  test('secureboot "auto" becomes "true" or "false" at VM.start, by the pool\'s certificates', async () => {
    const a = await uefiVm("sb-auto-1");
    const b = await uefiVm("sb-auto-2", noCerts);
    expect((await vmRec(a)).platform).toMatchObject({ secureboot: "auto" });
    await start(a);
    await start(b, noCerts);
    expect((await vmRec(a)).platform).toMatchObject({ secureboot: "true" });
    const rb = await vmRec(b, noCerts);
    expect(rb.platform).toMatchObject({ secureboot: "false" });
    expect(rb.guest_metrics).not.toBe(NULL);
  });

  test('secureboot "true" on a pool with certificates: the guest boots', async () => {
    const vm = await uefiVm("sb-true-1");
    await call(url(), "VM.remove_from_platform", session(), vm, "secureboot");
    await call(url(), "VM.add_to_platform", session(), vm, "secureboot", "true");
    await start(vm);
    const r = await vmRec(vm);
    expect(r.power_state).toBe("Running");
    expect(r.guest_metrics).not.toBe(NULL);
    expect(await messagesFor(withCerts, vm, "VM_SECURE_BOOT_FAILED")).toEqual([]);
  });

  test('secureboot "true" on a pool without: VM.start succeeds, the guest stops in its firmware', async () => {
    const p = noCerts;
    const vm = await uefiVm("sb-true-2", p);
    await call(p.url, "VM.remove_from_platform", p.session, vm, "secureboot");
    await call(p.url, "VM.add_to_platform", p.session, vm, "secureboot", "true");
    // xapi raises nothing: varstored (as XCP-ng builds it) enforces Secure Boot with no key to verify the loader.
    await start(vm, p);
    const r = await vmRec(vm, p);
    expect(r.power_state).toBe("Running");
    expect(r.guest_metrics).toBe(NULL);
    const [m] = await messagesFor(p, vm, "VM_SECURE_BOOT_FAILED");
    expect(m).toMatchObject({ priority: 5, cls: "VM", body: "The VM failed to pass Secure Boot verification." });
    // Certificates installed as secureboot-certs does (pool.set_custom_uefi_certificates): the next boot works.
    const [pool] = await call<string[]>(p.url, "pool.get_all", p.session);
    const [own] = await call<string[]>(url(), "pool.get_all", session());
    const certs = await call<string>(url(), "pool.get_uefi_certificates", session(), own);
    await call(p.url, "pool.set_custom_uefi_certificates", p.session, pool, certs);
    await call(p.url, "VM.hard_shutdown", p.session, vm);
    await start(vm, p);
    expect((await vmRec(vm, p)).guest_metrics).not.toBe(NULL);
  });
});

describe("new VMs from an existing VM or a snapshot (VM.clone / VM.copy)", () => {
  let src: string;
  let localSr: string;

  beforeAll(async () => {
    src = await uefiVm("source");
    const [vdi] = await disks(src);
    await control(s, "PUT", `/vdis/${String(vdi!.uuid)}/content`, { content: "source data" });
    [localSr] = await call<string[]>(url(), "SR.get_by_name_label", session(), "Local storage");
  });

  test("VM.copy to another SR: every disk a full, independent copy on that SR", async () => {
    // The source's disk is itself a copy-on-write clone, so a copy that still leaned on it would lose its data.
    const scratch = await call<string>(url(), "VM.clone", session(), src, "scratch");
    const [orig] = await disks(scratch);
    expect(orig!.SR).not.toBe(localSr);
    const copy = await call<string>(url(), "VM.copy", session(), scratch, "copy-local", localSr);
    const r = await vmRec(copy);
    expect(r).toMatchObject({ is_a_template: false, is_a_snapshot: false, parent: NULL, power_state: "Halted" });
    const copied = await disks(copy);
    expect(copied).toHaveLength(1);
    for (const d of copied) {
      expect(d.SR).toBe(localSr);
      expect(d.ref).not.toBe(orig!.ref);
      expect(d.parent).toBe(NULL);
    }
    await call(url(), "VM.destroy", session(), scratch);
    await call(url(), "VDI.destroy", session(), orig!.ref);
    const content = await control<{ content: string }>(s, "GET", `/vdis/${String(copied[0]!.uuid)}/content`);
    expect(content.content).toBe("source data");
    await start(copy);
  });

  test("VM.clone of a halted VM: a new top-level VM with copy-on-write disks on the same SRs", async () => {
    const [orig] = await disks(src);
    const clone = await call<string>(url(), "VM.clone", session(), src, "clone-1");
    const r = await vmRec(clone);
    expect(r).toMatchObject({ is_a_template: false, is_a_snapshot: false, parent: NULL });
    const other = r.other_config as Record<string, string>;
    expect(other.base_template_name).toBe("Debian Bookworm 12");
    expect(other.mac_seed).toMatch(/^[0-9a-f-]{36}$/);
    expect(other.mac_seed).not.toBe(((await vmRec(src)).other_config as Record<string, string>).mac_seed);
    const [d] = await disks(clone);
    expect(d!.SR).toBe(orig!.SR);
    expect(d!.ref).not.toBe(orig!.ref);
    await start(clone);
  });

  test("VM.clone of a snapshot is a template, not a snapshot; VM.provision makes it a VM that starts", async () => {
    const snap = await call<string>(url(), "VM.snapshot", session(), src, "snap-1");
    expect(await vmRec(snap)).toMatchObject({ is_a_snapshot: true, is_a_template: true, snapshot_of: src });
    expect((await vmRec(src)).parent).toBe(snap);
    expect((await vmRec(snap)).children).toEqual([src]);
    const fromSnap = await call<string>(url(), "VM.clone", session(), snap, "from-snap");
    const r = await vmRec(fromSnap);
    expect(r).toMatchObject({ is_a_template: true, is_a_snapshot: false, snapshot_of: NULL, parent: NULL });
    expect((r.other_config as Record<string, string>).base_template_name).toBe("Debian Bookworm 12");
    expect(await failure(start(fromSnap))).toEqual(["VM_IS_TEMPLATE", fromSnap, "start"]);
    await call(url(), "VM.provision", session(), fromSnap);
    expect((await vmRec(fromSnap)).is_a_template).toBe(false);
    const [d] = await disks(fromSnap);
    const [snapDisk] = await disks(snap);
    expect(d!.SR).toBe(snapDisk!.SR);
    expect(d!.is_a_snapshot).toBe(false);
    await start(fromSnap);
    expect((await vmRec(fromSnap)).power_state).toBe("Running");
  });

  test("VM.copy of a snapshot to another SR; destroying the snapshot moves its children up", async () => {
    const snap = await call<string>(url(), "VM.snapshot", session(), src, "snap-2");
    const copy = await call<string>(url(), "VM.copy", session(), snap, "copy-of-snap", localSr);
    expect(await vmRec(copy)).toMatchObject({ is_a_template: true, is_a_snapshot: false, parent: NULL });
    expect((await disks(copy)).map((d) => d.SR)).toEqual([localSr]);
    const parentOfSnap = (await vmRec(snap)).parent;
    await call(url(), "VM.destroy", session(), snap);
    expect((await vmRec(src)).parent).toBe(parentOfSnap);
  });
});

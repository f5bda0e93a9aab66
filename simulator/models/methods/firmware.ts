import { fail } from "../../errors";
import { Engine } from "../engine";
import { Registry, p } from "./registry";

/**
 * Boot firmware and UEFI Secure Boot: what xapi decides when a VM starts (xapi_vm.ml start, xapi_xenops.ml
 * firmware_of_vm / MD.of_vm, vm_platform.ml sanity_check) and what the guest firmware then does with the pool's
 * certificates (varstored as XCP-ng builds it).
 */

/** A ustar archive of `files` (name -> content), as `tar` writes it: 512-byte headers, padded data, two zero blocks. */
function tarball(files: [string, string][]): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, content] of files) {
    const data = Buffer.from(content, "latin1");
    const h = Buffer.alloc(512);
    const put = (off: number, len: number, s: string) => h.write(s.slice(0, len), off, len, "latin1");
    const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, "0");
    put(0, 100, name);
    put(100, 8, "0000644");
    put(108, 8, "0000000");
    put(116, 8, "0000000");
    put(124, 12, octal(data.length, 12));
    put(136, 12, octal(1727740800, 12));
    put(148, 8, "        ");
    put(156, 1, "0");
    put(257, 6, "ustar");
    put(263, 2, "00");
    put(265, 32, "root");
    put(297, 32, "root");
    let sum = 0;
    for (const b of h) sum += b;
    put(148, 8, `${octal(sum, 7)}\0 `);
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/**
 * What a pool with Secure Boot certificates holds in `pool.uefi_certificates`: base64 of a tar archive of the four
 * authenticated variables, as `secureboot-certs install` and xapi_host.ml write_uefi_certificates_to_disk keep it.
 * The contents are stand-ins (no real signature data).
 */
export const SIMULATED_UEFI_CERTIFICATES = tarball(
  ["PK", "KEK", "db", "dbx"].map((v): [string, string] => [`${v}.auth`, `simulated ${v} authenticated variable\n`]),
).toString("base64");

/** helpers.ml get_active_uefi_certificates, with XCP-ng's allow-custom-uefi-certs: custom ones win when set. */
export function activeUefiCertificates(e: Engine, pool: string): string {
  const r = e.poolRecord(pool);
  const custom = r.custom_uefi_certificates as string;
  return custom !== "" ? custom : (r.uefi_certificates as string);
}

export interface BootPlan {
  /** the platform map the VM boots with, written back to the record (xapi_vm.ml start) */
  platform: Record<string, string>;
  /** the guest firmware enforces Secure Boot without the keys to verify a boot loader: the OS never boots */
  secureBootFails: boolean;
}

/**
 * What VM.start checks and rewrites before the domain is built, in xapi's order; throws xapi's error.
 * - `HVM_boot_params["firmware"]`: "bios" (also when absent) or "uefi", else
 *   `INVALID_VALUE ["HVM-boot-params['firmware']", value]` (xapi_xenops.ml firmware_of_vm).
 * - `platform["device-model"]` is added to an HVM VM that lacks it (qemu-upstream-uefi for UEFI, else
 *   qemu-upstream-compat) and qemu-trad is upgraded (xapi_vm_helpers.ml ensure_device_model_profile_present), so a
 *   VM once started as UEFI keeps qemu-upstream-uefi and then refuses BIOS:
 *   `INVALID_VALUE ["platform:device-model", "BIOS boot is not supported with qemu-upstream-uefi"]`.
 * - `platform["secureboot"]` "auto" becomes "true" when the pool has UEFI certificates, else "false"
 *   (xapi_vm.ml update_platform_secureboot).
 * - a BIOS VM with a vTPM: `NOT_IMPLEMENTED ["Booting BIOS VM with VTPMs attached"]` (xapi_xenops.ml).
 */
export function planBoot(e: Engine, vmRef: string): BootPlan {
  const vm = e.db.get("VM", vmRef);
  const firmware = (vm.HVM_boot_params as Record<string, string>).firmware ?? "bios";
  if (firmware !== "bios" && firmware !== "uefi") throw fail("INVALID_VALUE", "HVM-boot-params['firmware']", firmware);
  const platform = { ...(vm.platform as Record<string, string>) };
  const deviceModel = firmware === "uefi" ? "qemu-upstream-uefi" : "qemu-upstream-compat";
  if (vm.domain_type === "hvm" && !("device-model" in platform)) platform["device-model"] = deviceModel;
  else if (platform["device-model"] === "qemu-trad") platform["device-model"] = deviceModel;
  const certificates = activeUefiCertificates(e, e.db.poolOf(vmRef)!);
  if (platform.secureboot === "auto") platform.secureboot = String(certificates !== "");
  if (platform["device-model"] === "qemu-upstream-uefi" && firmware === "bios")
    throw fail("INVALID_VALUE", "platform:device-model", "BIOS boot is not supported with qemu-upstream-uefi");
  if (firmware === "bios" && (vm.VTPMs as string[]).length > 0)
    throw fail("NOT_IMPLEMENTED", "Booting BIOS VM with VTPMs attached");
  // varstored enables Secure Boot for "true" only; without db/KEK (XCP-ng ships PK alone) nothing verifies.
  return { platform, secureBootFails: firmware === "uefi" && platform.secureboot === "true" && certificates === "" };
}

/**
 * Applies a plan just before the domain boots: the rewritten platform, and whether the guest gets past its firmware
 * (read by the guest agent). A failed verification is reported as varstored does, by a VM message.
 */
export function applyBoot(e: Engine, vmRef: string, plan: BootPlan): void {
  const vm = e.db.get("VM", vmRef);
  const cur = vm.platform as Record<string, string>;
  const keys = new Set([...Object.keys(cur), ...Object.keys(plan.platform)]);
  if ([...keys].some((k) => cur[k] !== plan.platform[k])) e.db.set(vmRef, "platform", plan.platform);
  if ((e.hidden(vmRef).secureBootFailed === true) !== plan.secureBootFails)
    e.db.setHidden(vmRef, "secureBootFailed", plan.secureBootFails);
  if (plan.secureBootFails)
    e.message(
      e.db.poolOf(vmRef)!,
      "VM_SECURE_BOOT_FAILED",
      5,
      "VM",
      vm.uuid as string,
      "The VM failed to pass Secure Boot verification.",
    );
}

export function registerFirmware(reg: Registry): void {
  // xapi_pool.ml: the field is filled from the hosts' disks; only the custom certificates can be set.
  reg.add({
    name: "pool.set_uefi_certificates",
    params: p("self:ref:pool", "value:string"),
    run: () => {
      throw fail(
        "OPERATION_NOT_ALLOWED",
        "Setting UEFI certificates is deprecated, please use `set_custom_uefi_certificates`",
      );
    },
  });
  reg.add({
    name: "pool.set_custom_uefi_certificates",
    params: p("self:ref:pool", "value:string"),
    note: "allowed, as XCP-ng runs xapi with allow-custom-uefi-certs (xapi's own default refuses it)",
    run: (e, _ctx, [pool, value]) => (e.db.set(pool as string, "custom_uefi_certificates", value), ""),
  });
  reg.add({
    name: "host.set_uefi_certificates",
    params: p("host:ref:host", "value:string"),
    run: () => {
      throw fail("OPERATION_NOT_ALLOWED", "To set UEFI certificates use: `Pool.set_custom_uefi_certificates`");
    },
  });
}

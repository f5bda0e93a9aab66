import { fail } from "../../errors";
import { NULL_REF } from "../../ids";
import { VM_OPS, VmOp, checkOperation } from "../../rules/gate";
import { assertMemoryCoercible, assertMemoryOrder, assertMemoryPinned } from "../../rules/memory";
import { assertCanBootHere, chooseHost, hostFreeMemory, vmMemoryNeeded, vmMemoryOverhead } from "../../rules/placement";
import { Rec } from "../db";
import { Ctx, Engine } from "../engine";
import { CLASSES } from "../schema";
import { checkFieldValue, checkRefField } from "./implicit";
import { assertHaPlanHolds } from "./pool";
import { Registry, p } from "./registry";
import { copyVdi, createVbd, createVdi, releaseVdiSpace } from "./storage";
import { applyBoot, planBoot } from "./firmware";
import { copyVtpms, destroyVtpms } from "./vtpm";

export { createVbd };

/** Fields a VM.create record may set (constructor fields of the datamodel). */
const CREATE_FIELDS = [
  "name_label",
  "name_description",
  "user_version",
  "is_a_template",
  "affinity",
  "memory_static_max",
  "memory_dynamic_max",
  "memory_dynamic_min",
  "memory_static_min",
  "VCPUs_params",
  "VCPUs_max",
  "VCPUs_at_startup",
  "actions_after_softreboot",
  "actions_after_shutdown",
  "actions_after_reboot",
  "actions_after_crash",
  "PV_bootloader",
  "PV_kernel",
  "PV_ramdisk",
  "PV_args",
  "PV_bootloader_args",
  "PV_legacy_args",
  "HVM_boot_policy",
  "HVM_boot_params",
  "HVM_shadow_multiplier",
  "platform",
  "PCI_bus",
  "other_config",
  "recommendations",
  "xenstore_data",
  "ha_always_run",
  "ha_restart_priority",
  "tags",
  "blocked_operations",
  "suspend_SR",
  "hardware_platform_version",
  "has_vendor_device",
  "domain_type",
  "appliance",
  "order",
  "start_delay",
  "shutdown_delay",
  "bios_strings",
  "reference_label",
  "NVRAM",
];

export function newVm(e: Engine, pool: string, fields: Rec, hidden: Rec = {}): string {
  const metrics = e.create("VM_metrics", pool, { install_time: e.now(), last_updated: e.now() });
  const staticMax = (fields.memory_static_max as number) ?? 0;
  const vcpus = (fields.VCPUs_max as number) ?? 1;
  return e.create(
    "VM",
    pool,
    {
      power_state: "Halted",
      domid: -1,
      actions_after_softreboot: "soft_reboot",
      actions_after_shutdown: "destroy",
      actions_after_reboot: "restart",
      actions_after_crash: "restart",
      HVM_shadow_multiplier: 1,
      domain_type: "unspecified",
      memory_overhead: vmMemoryOverhead(staticMax, vcpus, fields.domain_type !== "pv"),
      ...fields,
      memory_target: (fields.memory_dynamic_min as number) ?? 0,
      metrics,
    },
    hidden,
  );
}

function vmRec(e: Engine, ctx: Ctx, vm: unknown): Rec {
  return e.db.get("VM", vm as string, ctx.pool);
}

function limits(vm: Rec) {
  return {
    staticMin: vm.memory_static_min as number,
    dynamicMin: vm.memory_dynamic_min as number,
    dynamicMax: vm.memory_dynamic_max as number,
    staticMax: vm.memory_static_max as number,
  };
}

/** Applies new memory limits after checking the order (and the pin for control domains). */
function setLimits(e: Engine, ref: string, vm: Rec, m: ReturnType<typeof limits>): void {
  assertMemoryOrder(m);
  if (vm.is_control_domain === true) assertMemoryPinned(m, "Control domain");
  e.db.update(ref, {
    memory_static_min: m.staticMin,
    memory_dynamic_min: m.dynamicMin,
    memory_dynamic_max: m.dynamicMax,
    memory_static_max: m.staticMax,
    memory_target: m.dynamicMin,
    memory_overhead: vmMemoryOverhead(m.staticMax, vm.VCPUs_max as number, e.effectiveDomainType(vm) !== "pv"),
  });
}

/**
 * Clones a VM record and its devices, as xapi_vm_clone.ml copy_vm_record does. `sr` undefined: same SRs (clone,
 * copy to NULL). A clone or copy is a new top-level VM (no parent) with a fresh `mac_seed`; a clone of a template or
 * snapshot is a template. `snapshot`: MACs kept, the new VM takes the source's place in the parent chain.
 */
export function cloneVm(
  e: Engine,
  ctx: Ctx,
  src: string,
  name: string,
  opts: { full: boolean; sr?: string; snapshot?: boolean; ignoreVdis?: string[] },
): string {
  const s = e.db.get("VM", src);
  const fields: Rec = {};
  for (const f of CREATE_FIELDS) fields[f] = structuredClone(s[f]);
  const other = { ...(s.other_config as Record<string, string>) };
  delete other.default_template;
  delete other.xensource_internal;
  if (!opts.snapshot) other.mac_seed = e.ids.uuid();
  if (s.is_a_template === true && !("base_template_name" in other)) other.base_template_name = s.name_label as string;
  Object.assign(fields, {
    name_label: name,
    other_config: other,
    is_a_template: opts.snapshot === true || s.is_a_template === true,
    is_default_template: false,
    memory_overhead: s.memory_overhead,
    ha_always_run: false,
    blocked_operations: {},
    appliance: NULL_REF,
    order: 0,
    start_delay: 0,
    shutdown_delay: 0,
    suspend_SR: NULL_REF,
    parent: opts.snapshot ? s.parent : NULL_REF,
  });
  const hidden = structuredClone(e.hidden(src));
  delete hidden.snapshotMetadata;
  const ref = newVm(e, ctx.pool, fields, hidden);
  if (opts.snapshot) e.db.set(src, "parent", ref);
  for (const vbd of s.VBDs as string[]) {
    const b = e.db.maybe("VBD", vbd);
    if (!b || opts.ignoreVdis?.includes(b.VDI as string)) continue;
    let vdi = b.VDI as string;
    if (vdi !== NULL_REF && e.db.has(vdi) && b.type !== "CD")
      vdi = copyVdi(e, ctx, vdi, opts.sr ?? (e.db.get("VDI", vdi).SR as string), opts.full);
    createVbd(e, ctx.pool, { ...vbdFields(b), VM: ref, VDI: vdi });
  }
  for (const vif of s.VIFs as string[]) {
    const v = e.db.maybe("VIF", vif);
    if (!v) continue;
    e.create("VIF", ctx.pool, {
      VM: ref,
      network: v.network,
      device: v.device,
      MTU: v.MTU,
      MAC: opts.snapshot ? v.MAC : e.ids.mac(),
      MAC_autogenerated: opts.snapshot ? v.MAC_autogenerated : true,
      other_config: structuredClone(v.other_config),
      locking_mode: v.locking_mode,
      qos_algorithm_type: v.qos_algorithm_type,
      qos_algorithm_params: structuredClone(v.qos_algorithm_params),
    });
  }
  copyVtpms(e, src, ref);
  return ref;
}

/** The SR a suspend image goes to (xapi choose_suspend_sr): the VM's, the pool's, then its host's. */
function suspendSr(e: Engine, ctx: Ctx, vm: string): string {
  const r = e.db.get("VM", vm);
  const host = e.db.maybe("host", r.resident_on);
  const sr = [r.suspend_SR, e.poolRecord(ctx.pool).suspend_image_SR, host?.suspend_image_sr].find(
    (x) => x !== NULL_REF && e.db.has(x, "SR"),
  );
  if (!sr) throw fail("VM_NO_SUSPEND_SR", vm);
  return sr as string;
}

/** Fields of the VM record kept in a snapshot's metadata, which revert restores (with its uuid, as xapi). */
const METADATA_FIELDS = [...CREATE_FIELDS, "uuid"];

/**
 * Gives `to` a copy of `from`'s VM_metrics (xapi_vm_helpers.ml copy_metrics). Guest metrics are not copied: here a
 * VM that is not running has none.
 */
function copyMetrics(e: Engine, from: string, to: string): void {
  const m = e.db.maybe("VM_metrics", e.db.get("VM", from).metrics);
  if (!m) return;
  const t = e.db.get("VM", to);
  if (e.db.has(t.metrics)) e.db.destroy(t.metrics as string);
  const { uuid: _uuid, ...fields } = m;
  e.db.set(to, "metrics", e.create("VM_metrics", e.db.poolOf(to)!, structuredClone(fields)));
}

/**
 * VM.snapshot / VM.checkpoint (xapi_vm_snapshot.ml, xapi_vm_clone.ml): a template-like copy with copy-on-write
 * disks (less `ignore_vdis`), linked by snapshot_of, with a copy of the VM's metrics. A checkpoint of a Running VM
 * also saves its memory (a Suspended snapshot with a suspend image); of a Suspended one, a copy of its image; of a
 * Paused one, nothing (Halted, as xapi).
 */
function snapshotVm(e: Engine, ctx: Ctx, vm: string, name: string, checkpoint: boolean, ignoreVdis: string[]): string {
  const s = e.db.get("VM", vm);
  const power = s.power_state as string;
  const now = e.now();
  const sr = checkpoint && power === "Running" ? suspendSr(e, ctx, vm) : undefined;
  const snap = cloneVm(e, ctx, vm, name, { full: false, snapshot: true, ignoreVdis });
  // copy_vm_record snapshot_info; a checkpoint of a VM that is not Running records none.
  const info =
    !checkpoint || power === "Running"
      ? { "disk-snapshot-type": "crash_consistent", "power-state-at-snapshot": power }
      : {};
  e.db.update(snap, { is_a_snapshot: true, snapshot_of: vm, snapshot_time: now, snapshot_info: info });
  const metadata: Rec = {};
  for (const f of METADATA_FIELDS) metadata[f] = s[f];
  e.db.setHidden(snap, "snapshotMetadata", metadata);
  copyMetrics(e, vm, snap);
  const byDevice = new Map((s.VBDs as string[]).map((b) => [e.db.get("VBD", b).userdevice, e.db.get("VBD", b).VDI]));
  for (const b of e.db.get("VM", snap).VBDs as string[]) {
    const vbd = e.db.get("VBD", b);
    const orig = byDevice.get(vbd.userdevice);
    if (vbd.VDI !== NULL_REF && typeof orig === "string" && orig !== NULL_REF && vbd.type !== "CD")
      e.db.update(vbd.VDI as string, { is_a_snapshot: true, snapshot_of: orig, snapshot_time: now });
  }
  if (sr) {
    const vdi = createVdi(e, ctx, sr, {
      name_label: `Suspend image of ${name}`,
      virtual_size: s.memory_static_max,
      type: "suspend",
    });
    e.db.update(snap, { power_state: "Suspended", suspend_VDI: vdi });
  } else if (checkpoint && power === "Suspended" && e.db.has(s.suspend_VDI, "VDI")) {
    const sv = s.suspend_VDI as string;
    e.db.update(snap, {
      power_state: "Suspended",
      suspend_VDI: copyVdi(e, ctx, sv, e.db.get("VDI", sv).SR as string, false),
    });
  }
  return snap;
}

/**
 * xapi_vm_snapshot.ml create_vm_from_snapshot: the VM a snapshot was taken of is gone, so revert brings it back
 * from the snapshot's metadata under its old uuid, and its other snapshots point to it again.
 */
function vmFromSnapshot(e: Engine, ctx: Ctx, snap: string): string {
  const sn = e.db.get("VM", snap);
  const old = sn.snapshot_of as string;
  const saved = e.hidden(snap).snapshotMetadata as Rec | undefined;
  const uuid = saved?.uuid;
  if (!saved || typeof uuid !== "string" || e.db.refs("VM").some((r) => e.db.get("VM", r).uuid === uuid))
    throw fail("VM_REVERT_FAILED", snap, old);
  const fields: Rec = {};
  for (const f of CREATE_FIELDS) fields[f] = structuredClone(saved[f]);
  const hidden = structuredClone(e.hidden(snap));
  delete hidden.snapshotMetadata;
  const vm = newVm(e, ctx.pool, { ...fields, uuid, is_a_template: false }, hidden);
  for (const [r, v] of e.db.all("VM", ctx.pool)) if (v.snapshot_of === old) e.db.set(r, "snapshot_of", vm);
  return vm;
}

/**
 * VM.revert (xapi_vm_snapshot.ml revert, on a Halted VM: the forwarder hard-shuts it down first). The VM keeps its
 * uuid and ref. Its disks that the snapshot has a copy of are destroyed and replaced by new clones of the
 * snapshot's (every snapshot of such a disk then points to its clone); disks added since the snapshot lose their
 * VBD but stay; CD drives and VIFs become the snapshot's (same media, same MACs). The VM's fields are the
 * snapshot's metadata but tags, affinity and groups (ha_always_run false); metrics and vTPMs are copies of the
 * snapshot's; the power state is the snapshot's: Halted, or Suspended with a clone of a checkpoint's memory image.
 */
function revertVm(e: Engine, ctx: Ctx, snap: string): void {
  const sn = e.db.get("VM", snap);
  const vm = e.db.has(sn.snapshot_of, "VM") ? (sn.snapshot_of as string) : vmFromSnapshot(e, ctx, snap);
  try {
    const cur = e.db.get("VM", vm);
    const snapDisks = (sn.VBDs as string[])
      .map((b) => e.db.get("VBD", b))
      .filter((b) => b.type === "Disk" && e.db.has(b.VDI, "VDI"));
    const origins = new Set(snapDisks.map((b) => e.db.get("VDI", b.VDI as string).snapshot_of as string));
    for (const b of [...(cur.VBDs as string[])]) {
      const vbd = e.db.get("VBD", b);
      const vdi = vbd.VDI as string;
      e.db.destroy(b);
      if (vbd.type === "Disk" && origins.has(vdi) && e.db.has(vdi, "VDI")) {
        releaseVdiSpace(e, vdi);
        e.db.destroy(vdi);
      }
    }
    if (e.db.has(cur.suspend_VDI, "VDI")) {
      releaseVdiSpace(e, cur.suspend_VDI as string);
      e.db.destroy(cur.suspend_VDI as string);
    }
    for (const b of sn.VBDs as string[]) {
      const vbd = e.db.get("VBD", b);
      let vdi = vbd.VDI as string;
      if (vbd.type === "Disk" && e.db.has(vdi, "VDI")) {
        const origin = e.db.get("VDI", vdi).snapshot_of;
        vdi = copyVdi(e, ctx, vdi, e.db.get("VDI", vdi).SR as string, false);
        for (const [r, v] of e.db.all("VDI", ctx.pool)) if (v.snapshot_of === origin) e.db.set(r, "snapshot_of", vdi);
      }
      createVbd(e, ctx.pool, { ...vbdFields(vbd), VM: vm, VDI: vdi });
    }
    for (const v of [...(cur.VIFs as string[])]) e.db.destroy(v);
    for (const vif of sn.VIFs as string[]) {
      const v = e.db.get("VIF", vif);
      e.create("VIF", ctx.pool, {
        VM: vm,
        network: v.network,
        device: v.device,
        MTU: v.MTU,
        MAC: v.MAC,
        MAC_autogenerated: v.MAC_autogenerated,
        other_config: structuredClone(v.other_config),
        locking_mode: v.locking_mode,
        qos_algorithm_type: v.qos_algorithm_type,
        qos_algorithm_params: structuredClone(v.qos_algorithm_params),
      });
    }
    // revert_vm_fields: everything of the metadata but do_not_copy (uuid, tags, affinity, groups, ...); without
    // metadata, from the snapshot record itself less its name and template flag (extended_do_not_copy).
    const metadata = e.hidden(snap).snapshotMetadata as Rec | undefined;
    const saved = metadata ?? sn;
    const skip = metadata ? ["uuid", "tags", "affinity"] : ["uuid", "tags", "affinity", "name_label", "is_a_template"];
    const restore: Rec = {};
    for (const f of METADATA_FIELDS) if (f in saved && !skip.includes(f)) restore[f] = structuredClone(saved[f]);
    e.db.update(vm, { ...restore, ha_always_run: false, parent: snap });
    copyMetrics(e, snap, vm);
    destroyVtpms(e, vm);
    copyVtpms(e, snap, vm);
    const sv = sn.suspend_VDI as string;
    if (sn.power_state === "Suspended" && e.db.has(sv, "VDI"))
      e.db.update(vm, {
        power_state: "Suspended",
        suspend_VDI: copyVdi(e, ctx, sv, e.db.get("VDI", sv).SR as string, true),
      });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "SR_BACKEND_FAILURE_44" || code === "SR_BACKEND_FAILURE_109" || code === "VDI_INCOMPATIBLE_TYPE")
      throw err;
    throw fail("VM_REVERT_FAILED", snap, vm);
  }
}

function vbdFields(b: Rec): Rec {
  return {
    userdevice: b.userdevice,
    bootable: b.bootable,
    mode: b.mode,
    type: b.type,
    unpluggable: b.unpluggable,
    empty: b.empty,
    other_config: structuredClone(b.other_config),
    qos_algorithm_type: b.qos_algorithm_type,
    qos_algorithm_params: structuredClone(b.qos_algorithm_params),
  };
}

/** Parses other_config["disks"]: `<provision><disk device="0" size="..." sr="" bootable="true" type="system"/></provision>`. */
export function parseDisks(
  xml: string,
): { device: string; size: number; sr: string; bootable: boolean; type: string }[] {
  const out: { device: string; size: number; sr: string; bootable: boolean; type: string }[] = [];
  for (const m of xml.matchAll(/<disk\b([^>]*)\/?>/g)) {
    const attrs: Record<string, string> = {};
    for (const a of m[1]!.matchAll(/(\w+)="([^"]*)"/g)) attrs[a[1]!] = a[2]!;
    out.push({
      device: attrs.device ?? String(out.length),
      size: Number(attrs.size ?? 0),
      sr: attrs.sr ?? "",
      bootable: attrs.bootable === "true",
      type: attrs.type ?? "system",
    });
  }
  return out;
}

/** Creates the disks described in other_config["disks"] and turns the template into a VM (xapi provision). */
export function provisionVm(e: Engine, ctx: Ctx, vm: string): void {
  const r = e.db.get("VM", vm);
  const other = r.other_config as Record<string, string>;
  const disks = parseDisks(other.disks ?? "");
  const pool = e.poolRecord(ctx.pool);
  for (const d of disks) {
    let sr = pool.default_SR as string;
    if (d.sr) sr = e.db.byUuidRef("SR", d.sr, ctx.pool);
    if (!e.db.has(sr, "SR")) throw fail("DEFAULT_SR_NOT_FOUND", sr);
    let vdi: string;
    try {
      vdi = createVdi(e, ctx, sr, {
        name_label: `${r.name_label} ${d.device}`,
        virtual_size: d.size,
        type: d.type === "system" ? "system" : "user",
      });
    } catch (err) {
      if ((err as { code?: string }).code === "SR_FULL") throw fail("PROVISION_FAILED_OUT_OF_SPACE");
      throw err;
    }
    createVbd(e, ctx.pool, { VM: vm, VDI: vdi, userdevice: d.device, bootable: d.bootable, mode: "RW", type: "Disk" });
  }
  const next = { ...other };
  delete next.disks;
  e.db.update(vm, { other_config: next, is_a_template: false });
}

/** Picks a host and reserves its memory (scheduled_to_be_resident_on) inside the caller's transaction. */
function reserveHost(e: Engine, ctx: Ctx, vmRef: string, target?: string): string {
  const vm = e.db.get("VM", vmRef);
  assertMemoryCoercible(limits(vm));
  const pv = e.placementVm(vmRef);
  let host: string;
  if (target) {
    const th = e.db.get("host", target);
    if (Object.values(th.current_operations as Record<string, string>).includes("evacuate"))
      throw fail("HOST_EVACUATE_IN_PROGRESS", target);
    assertCanBootHere(pv, e.placementHost(target, vmRef));
    host = target;
  } else {
    const { host: h, memoryFits } = chooseHost(pv, e.poolHosts(ctx.pool, vmRef));
    if (!memoryFits) throw fail("HOST_NOT_ENOUGH_FREE_MEMORY", vmMemoryNeeded(pv), hostFreeMemory(h));
    host = h.ref;
  }
  e.db.set(vmRef, "scheduled_to_be_resident_on", host);
  return host;
}

function clearReservation(e: Engine, vmRef: string): void {
  if (e.db.has(vmRef) && e.db.get("VM", vmRef).scheduled_to_be_resident_on !== NULL_REF)
    e.db.set(vmRef, "scheduled_to_be_resident_on", NULL_REF);
}

function vmMessage(e: Engine, vmRef: string, name: string): void {
  const vm = e.db.get("VM", vmRef);
  e.message(
    e.db.poolOf(vmRef)!,
    name,
    5,
    "VM",
    vm.uuid as string,
    `VM '${vm.name_label}' ${name.slice(3).toLowerCase()}`,
  );
}

function startOp(e: Engine, ctx: Ctx, vm: string, paused: boolean, op: VmOp, key: string, target?: string) {
  // xapi_vm.ml start sleeps start_delay with the operation still marked; VM.start_on's forwarder sleeps it again
  // after Local.VM.start_on (which is that start), so start_on waits twice (message_forwarding.ml).
  const delay = e.delayMs(e.db.get("VM", vm).start_delay as number) * (op === "start_on" ? 2 : 1);
  return e.vmOp(ctx, vm, op, key, {
    // As xapi: the host is chosen and reserved first, then the host's xapi checks the firmware (planBoot).
    prepare: () => {
      const host = reserveHost(e, ctx, vm, target);
      planBoot(e, vm);
      return host;
    },
    apply: (host) => {
      if (!e.hostLive(host)) throw fail("HOST_OFFLINE", host);
      applyBoot(e, vm, planBoot(e, vm));
      e.bootVm(vm, host, paused);
      if (e.db.get("VM", vm).ha_always_run === true) assertHaPlanHolds(e, ctx.pool);
      return "";
    },
    abort: () => clearReservation(e, vm),
    hold: delay,
    after: () => vmMessage(e, vm, "VM_STARTED"),
  });
}

function resumeOp(e: Engine, ctx: Ctx, vm: string, paused: boolean, op: VmOp, key: string, target?: string) {
  return e.vmOp(ctx, vm, op, key, {
    prepare: () => reserveHost(e, ctx, vm, target),
    apply: (host) => {
      const sv = e.db.get("VM", vm).suspend_VDI as string;
      e.bootVm(vm, host, paused);
      if (sv !== NULL_REF && e.db.has(sv)) e.db.destroy(sv);
      e.db.set(vm, "suspend_VDI", NULL_REF);
      vmMessage(e, vm, "VM_RESUMED");
      return "";
    },
    abort: () => clearReservation(e, vm),
  });
}

function rebootInPlace(e: Engine, vm: string): void {
  const host = e.db.get("VM", vm).resident_on as string;
  e.bootVm(vm, host, false);
  vmMessage(e, vm, "VM_REBOOTED");
}

export function registerVm(reg: Registry): void {
  const vm1 = p("vm:ref:VM");
  const lifecycle = (
    name: string,
    role: "vm-operator" | "vm-admin" | "vm-power-admin",
    params: ReturnType<typeof p>,
    run: (e: Engine, ctx: Ctx, a: unknown[]) => unknown,
    result = "",
  ) => reg.add({ name: `VM.${name}`, params, role, async: true, result, run, long: true });

  reg.add({
    name: "VM.create",
    params: p("args:record:VM"),
    role: "vm-admin",
    async: true,
    result: "VM",
    run: (e, ctx, [args]) => {
      const r = args as Rec;
      const fields: Rec = {};
      for (const f of CREATE_FIELDS) {
        if (!(f in r)) continue;
        const def = CLASSES.VM!.byName.get(f)!;
        fields[f] = checkFieldValue("VM", f, def.type, r[f]);
        if (def.type.startsWith("ref:")) checkRefField(e, ctx, def.type, fields[f] as string);
      }
      const m = {
        staticMin: (fields.memory_static_min as number) ?? 0,
        dynamicMin: (fields.memory_dynamic_min as number) ?? 0,
        dynamicMax: (fields.memory_dynamic_max as number) ?? 0,
        staticMax: (fields.memory_static_max as number) ?? 0,
      };
      assertMemoryOrder(m);
      const max = (fields.VCPUs_max as number) ?? 1;
      const at = (fields.VCPUs_at_startup as number) ?? 1;
      if (at < 1 || at > max)
        throw fail("INVALID_VALUE", "VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max", at);
      const hvm = fields.domain_type === "hvm" || (fields.domain_type === undefined && !!fields.HVM_boot_policy);
      return newVm(
        e,
        ctx.pool,
        { VCPUs_max: max, VCPUs_at_startup: at, ...fields },
        { pvDrivers: !hvm, agent: true, features: [] },
      );
    },
  });

  lifecycle("destroy", "vm-admin", p("self:ref:VM"), (e, ctx, [vm]) =>
    e.vmOp(ctx, vm as string, "destroy", "VM.destroy", {
      prepare: () => {
        if (e.db.get("VM", vm as string).is_default_template === true)
          throw fail("VM_CANNOT_DELETE_DEFAULT_TEMPLATE", vm);
      },
      apply: () => {
        const r = e.db.get("VM", vm as string);
        // xapi_vm.ml destroy: children move up to this VM's parent; its vTPMs go with it.
        for (const c of [...(r.children as string[])]) e.db.set(c, "parent", r.parent);
        destroyVtpms(e, vm as string);
        for (const x of [...(r.VBDs as string[]), ...(r.VIFs as string[])]) e.db.destroy(x);
        for (const x of [r.metrics, r.guest_metrics, r.suspend_VDI]) if (e.db.has(x)) e.db.destroy(x as string);
        e.db.destroy(vm as string);
        return "";
      },
    }),
  );

  lifecycle(
    "clone",
    "vm-admin",
    p("vm:ref:VM", "new_name:string"),
    (e, ctx, [vm, name]) =>
      e.vmOp(ctx, vm as string, "clone", "VM.clone", {
        apply: () => cloneVm(e, ctx, vm as string, name as string, { full: false }),
      }),
    "VM",
  );

  lifecycle(
    "copy",
    "vm-admin",
    p("vm:ref:VM", "new_name:string", "sr:ref:SR?"),
    (e, ctx, [vm, name, sr]) =>
      e.vmOp(ctx, vm as string, "copy", "VM.copy", {
        apply: () =>
          cloneVm(e, ctx, vm as string, name as string, {
            full: true,
            ...(sr !== NULL_REF ? { sr: sr as string } : {}),
          }),
      }),
    "VM",
  );

  lifecycle(
    "snapshot",
    "vm-power-admin",
    p("vm:ref:VM", "new_name:string", "ignore_vdis:set:ref:VDI=[]"),
    (e, ctx, [vm, name, ignore]) =>
      e.vmOp(ctx, vm as string, "snapshot", "VM.snapshot", {
        apply: () => snapshotVm(e, ctx, vm as string, name as string, false, ignore as string[]),
      }),
    "VM",
  );
  lifecycle(
    "checkpoint",
    "vm-power-admin",
    p("vm:ref:VM", "new_name:string"),
    (e, ctx, [vm, name]) =>
      e.vmOp(ctx, vm as string, "checkpoint", "VM.checkpoint", {
        apply: () => snapshotVm(e, ctx, vm as string, name as string, true, []),
      }),
    "VM",
  );
  // message_forwarding.ml: the snapshot's `revert` gates first, then the VM's `reverting`; a VM that is not Halted
  // is hard-shut-down through the API (its own gate, blocked_operations included) before the revert proper.
  lifecycle("revert", "vm-power-admin", p("snapshot:ref:VM"), async (e, ctx, [snap]) => {
    const target = () => {
      const vm = e.db.get("VM", snap as string).snapshot_of as string;
      return e.db.has(vm, "VM") ? vm : undefined;
    };
    e.assertVmOp(snap as string, "revert");
    const vm = target();
    if (vm) {
      e.assertVmOp(vm, "reverting");
      if (e.db.get("VM", vm).power_state !== "Halted") await halt(e, ctx, vm, "hard_shutdown", "VM.hard_shutdown");
    }
    return e.vmOp(ctx, snap as string, "revert", "VM.revert", {
      prepare: () => {
        const v = target();
        if (v) e.assertVmOp(v, "reverting");
      },
      apply: () => (revertVm(e, ctx, snap as string), ""),
    });
  });

  lifecycle("provision", "vm-admin", vm1, (e, ctx, [vm]) =>
    e.vmOp(ctx, vm as string, "provision", "VM.provision", {
      apply: () => (provisionVm(e, ctx, vm as string), ""),
    }),
  );

  lifecycle(
    "start",
    "vm-operator",
    p("vm:ref:VM", "start_paused:bool=false", "force:bool=false"),
    (e, ctx, [vm, paused]) => startOp(e, ctx, vm as string, paused === true, "start", "VM.start"),
  );
  lifecycle(
    "start_on",
    "vm-power-admin",
    p("vm:ref:VM", "host:ref:host", "start_paused:bool=false", "force:bool=false"),
    (e, ctx, [vm, host, paused]) =>
      startOp(e, ctx, vm as string, paused === true, "start_on", "VM.start_on", host as string),
  );
  lifecycle(
    "resume",
    "vm-operator",
    p("vm:ref:VM", "start_paused:bool=false", "force:bool=false"),
    (e, ctx, [vm, paused]) => resumeOp(e, ctx, vm as string, paused === true, "resume", "VM.resume"),
  );
  lifecycle(
    "resume_on",
    "vm-power-admin",
    p("vm:ref:VM", "host:ref:host", "start_paused:bool=false", "force:bool=false"),
    (e, ctx, [vm, host, paused]) =>
      resumeOp(e, ctx, vm as string, paused === true, "resume_on", "VM.resume_on", host as string),
  );

  /** A domain's shutdown, then (Running or Paused only) the VM's shutdown_delay, as xapi_vm.ml's shutdowns. */
  const halt = (e: Engine, ctx: Ctx, vm: string, op: "clean_shutdown" | "hard_shutdown" | "shutdown", key: string) => {
    const r = e.db.get("VM", vm);
    const live = r.power_state === "Running" || r.power_state === "Paused";
    return e.vmOp(ctx, vm, op, key, {
      apply: () => {
        const cur = e.db.get("VM", vm);
        if (cur.power_state === "Suspended") {
          if (e.db.has(cur.suspend_VDI)) e.db.destroy(cur.suspend_VDI as string);
          e.db.set(vm, "suspend_VDI", NULL_REF);
        }
        e.haltVm(vm, true);
        return "";
      },
      hold: live ? e.delayMs(r.shutdown_delay as number) : 0,
      after: () => vmMessage(e, vm, "VM_SHUTDOWN"),
    });
  };
  lifecycle("clean_shutdown", "vm-operator", vm1, (e, ctx, [vm]) =>
    halt(e, ctx, vm as string, "clean_shutdown", "VM.clean_shutdown"),
  );
  lifecycle("hard_shutdown", "vm-operator", vm1, (e, ctx, [vm]) =>
    halt(e, ctx, vm as string, "hard_shutdown", "VM.hard_shutdown"),
  );
  // VM.shutdown is its own operation (blocked_operations key `shutdown`): a clean shutdown, or a hard one where the
  // guest cannot shut down cleanly (xapi_vm.ml shutdown); a suspended VM just loses its suspend image.
  lifecycle("shutdown", "vm-operator", vm1, (e, ctx, [vm]) => {
    const view = e.gateView(vm as string);
    const clean =
      view.powerState === "Running" &&
      checkOperation({ ...view, blockedOperations: {}, currentOperations: {} }, "clean_shutdown") === null;
    return halt(e, ctx, vm as string, "shutdown", clean ? "VM.clean_shutdown" : "VM.hard_shutdown");
  });
  lifecycle("clean_reboot", "vm-operator", vm1, (e, ctx, [vm]) =>
    e.vmOp(ctx, vm as string, "clean_reboot", "VM.clean_reboot", { apply: () => (rebootInPlace(e, vm as string), "") }),
  );
  lifecycle("hard_reboot", "vm-operator", vm1, (e, ctx, [vm]) =>
    e.vmOp(ctx, vm as string, "hard_reboot", "VM.hard_reboot", { apply: () => (rebootInPlace(e, vm as string), "") }),
  );
  lifecycle("pause", "vm-operator", vm1, (e, ctx, [vm]) =>
    e.vmOp(ctx, vm as string, "pause", "VM.pause", {
      apply: () => {
        e.db.set(vm as string, "power_state", "Paused");
        e.db.set(e.db.get("VM", vm as string).metrics as string, "state", ["paused"]);
        return "";
      },
    }),
  );
  lifecycle("unpause", "vm-operator", vm1, (e, ctx, [vm]) =>
    e.vmOp(ctx, vm as string, "unpause", "VM.unpause", {
      apply: () => {
        e.db.set(vm as string, "power_state", "Running");
        e.db.set(e.db.get("VM", vm as string).metrics as string, "state", ["running"]);
        return "";
      },
    }),
  );
  lifecycle("suspend", "vm-operator", vm1, (e, ctx, [vm]) =>
    e.vmOp(ctx, vm as string, "suspend", "VM.suspend", {
      prepare: () => {
        const r = e.db.get("VM", vm as string);
        const pool = e.poolRecord(ctx.pool);
        const host = e.db.maybe("host", r.resident_on);
        const sr = [r.suspend_SR, pool.suspend_image_SR, host?.suspend_image_sr].find(
          (s) => s !== NULL_REF && e.db.has(s, "SR"),
        );
        if (!sr) throw fail("VM_NO_SUSPEND_SR", vm);
        return sr as string;
      },
      apply: (sr) => {
        const r = e.db.get("VM", vm as string);
        const vdi = createVdi(e, ctx, sr, {
          name_label: `Suspend image for ${r.name_label}`,
          virtual_size: r.memory_static_max as number,
          type: "suspend",
        });
        e.haltVm(vm as string, false);
        e.db.update(vm as string, { power_state: "Suspended", suspend_VDI: vdi });
        vmMessage(e, vm as string, "VM_SUSPENDED");
        return "";
      },
    }),
  );

  lifecycle("pool_migrate", "vm-power-admin", p("vm:ref:VM", "host:ref:host", "options:map={}"), (e, ctx, [vm, host]) =>
    e.vmOp(ctx, vm as string, "pool_migrate", "VM.pool_migrate", {
      prepare: () => {
        const cur = e.db.get("VM", vm as string).resident_on;
        const same = cur === host;
        if (!e.hostLive(host as string)) throw fail("HOST_OFFLINE", host);
        assertCanBootHere(e.placementVm(vm as string), e.placementHost(host as string, vm as string), {
          skipEnabled: same,
        });
        if (!same) e.db.set(vm as string, "scheduled_to_be_resident_on", host);
        return host as string;
      },
      apply: (h) => {
        e.db.update(vm as string, { resident_on: h, scheduled_to_be_resident_on: NULL_REF });
        e.refreshHostMemory(ctx.pool);
        vmMessage(e, vm as string, "VM_MIGRATED");
        return "";
      },
      abort: () => clearReservation(e, vm as string),
    }),
  );

  reg.add({
    name: "VM.power_state_reset",
    params: vm1,
    role: "pool-operator",
    run: (e, ctx, [vm]) => {
      const r = vmRec(e, ctx, vm);
      if (r.is_control_domain === true)
        throw fail("OPERATION_NOT_ALLOWED", "This operation is not allowed on a control domain");
      e.haltVm(vm as string, false);
      return "";
    },
  });

  // ---- memory --------------------------------------------------------------------------------------------
  const memSetter = (
    name: string,
    params: ReturnType<typeof p>,
    op: VmOp,
    f: (vm: Rec, a: number[]) => ReturnType<typeof limits>,
    live?: boolean,
  ) =>
    reg.add({
      name: `VM.${name}`,
      params,
      role: "vm-power-admin",
      async: true,
      run: (e, ctx, [vm, ...a]) => {
        e.assertVmOp(vm as string, op);
        const r = vmRec(e, ctx, vm);
        const m = f(r, a as number[]);
        if (live && r.power_state === "Running") {
          const oldMin = r.memory_dynamic_min as number;
          if (m.dynamicMin > oldMin) {
            const h = e.placementHost(r.resident_on as string);
            const free = hostFreeMemory(h);
            const needed = m.dynamicMin - oldMin;
            if (needed > free)
              throw fail("HOST_NOT_ENOUGH_FREE_MEMORY", Math.ceil(needed / 1024), Math.floor(free / 1024));
          }
        }
        setLimits(e, vm as string, r, m);
        if (live && r.power_state === "Running") {
          e.db.set(r.metrics as string, "memory_actual", m.dynamicMax);
          e.refreshHostMemory(ctx.pool);
        }
        return "";
      },
    });
  memSetter(
    "set_memory_limits",
    p("self:ref:VM", "static_min:int", "static_max:int", "dynamic_min:int", "dynamic_max:int"),
    "changing_memory_limits",
    (_vm, [smin, smax, dmin, dmax]) => ({ staticMin: smin!, staticMax: smax!, dynamicMin: dmin!, dynamicMax: dmax! }),
  );
  memSetter("set_memory", p("self:ref:VM", "value:int"), "changing_memory_limits", (vm, [v]) => ({
    ...limits(vm),
    staticMax: v!,
    dynamicMin: v!,
    dynamicMax: v!,
  }));
  memSetter(
    "set_memory_static_range",
    p("self:ref:VM", "min:int", "max:int"),
    "changing_static_range",
    (vm, [a, b]) => ({
      ...limits(vm),
      staticMin: a!,
      staticMax: b!,
    }),
  );
  memSetter("set_memory_static_min", p("self:ref:VM", "value:int"), "changing_static_range", (vm, [v]) => ({
    ...limits(vm),
    staticMin: v!,
  }));
  memSetter("set_memory_static_max", p("self:ref:VM", "value:int"), "changing_static_range", (vm, [v]) => ({
    ...limits(vm),
    staticMax: v!,
  }));
  memSetter(
    "set_memory_dynamic_range",
    p("self:ref:VM", "min:int", "max:int"),
    "changing_dynamic_range",
    (vm, [a, b]) => ({ ...limits(vm), dynamicMin: a!, dynamicMax: b! }),
    true,
  );
  memSetter(
    "set_memory_dynamic_min",
    p("self:ref:VM", "value:int"),
    "changing_dynamic_range",
    (vm, [v]) => ({ ...limits(vm), dynamicMin: v! }),
    true,
  );
  memSetter(
    "set_memory_dynamic_max",
    p("self:ref:VM", "value:int"),
    "changing_dynamic_range",
    (vm, [v]) => ({ ...limits(vm), dynamicMax: v! }),
    true,
  );

  // ---- vCPUs ---------------------------------------------------------------------------------------------
  reg.add({
    name: "VM.set_VCPUs_max",
    params: p("self:ref:VM", "value:int"),
    role: "vm-admin",
    async: true,
    run: (e, ctx, [vm, v]) => {
      e.assertVmOp(vm as string, "changing_VCPUs");
      const r = vmRec(e, ctx, vm);
      const n = v as number;
      if (n < 1 || n < (r.VCPUs_at_startup as number))
        throw fail("INVALID_VALUE", "VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max", n);
      e.db.set(vm as string, "VCPUs_max", n);
      return "";
    },
  });
  reg.add({
    name: "VM.set_VCPUs_at_startup",
    params: p("self:ref:VM", "value:int"),
    role: "vm-admin",
    async: true,
    note: "no power-state check on a running VM (only the DB changes), as the forwarder does",
    run: (e, ctx, [vm, v]) => {
      const r = vmRec(e, ctx, vm);
      if (r.is_control_domain === true) throw fail("OPERATION_NOT_ALLOWED", "This operation is not allowed on dom0");
      const n = v as number;
      if (n < 1 || n > (r.VCPUs_max as number))
        throw fail("INVALID_VALUE", "VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max", n);
      e.db.set(vm as string, "VCPUs_at_startup", n);
      return "";
    },
  });
  reg.add({
    name: "VM.set_VCPUs_number_live",
    params: p("self:ref:VM", "nvcpu:int"),
    role: "vm-admin",
    async: true,
    run: (e, ctx, [vm, v]) => {
      e.assertVmOp(vm as string, "changing_VCPUs_live");
      const r = vmRec(e, ctx, vm);
      const n = v as number;
      if (n < 1 || n > (r.VCPUs_max as number))
        throw fail("INVALID_VALUE", "VCPU values must satisfy: 0 < VCPUs ≤ VCPUs_max", n);
      e.db.set(vm as string, "VCPUs_at_startup", n);
      e.db.set(r.metrics as string, "VCPUs_number", n);
      return "";
    },
  });

  // ---- other setters with rules --------------------------------------------------------------------------
  reg.add({
    name: "VM.set_affinity",
    params: p("self:ref:VM", "value:ref:host?"),
    role: "vm-power-admin",
    run: (e, _ctx, [vm, h]) => (e.db.set(vm as string, "affinity", h), ""),
  });
  reg.add({
    name: "VM.set_ha_restart_priority",
    params: p("self:ref:VM", "value:string"),
    role: "pool-operator",
    run: (e, ctx, [vm, v]) => {
      if (!["restart", "best-effort", ""].includes(v as string)) throw fail("INVALID_VALUE", "ha_restart_priority", v);
      const r = vmRec(e, ctx, vm);
      e.db.set(vm as string, "ha_restart_priority", v);
      const running = r.power_state === "Running" || r.power_state === "Paused";
      e.db.set(vm as string, "ha_always_run", v === "restart" ? running : false);
      if (v === "restart" && running) assertHaPlanHolds(e, ctx.pool);
      return "";
    },
  });
  reg.add({
    name: "VM.set_is_a_template",
    params: p("self:ref:VM", "value:bool"),
    role: "vm-admin",
    run: (e, ctx, [vm, v]) => {
      const r = vmRec(e, ctx, vm);
      if (v === true && r.is_a_template !== true) {
        e.assertVmOp(vm as string, "make_into_template");
        if (r.ha_restart_priority === "restart") throw fail("VM_IS_PROTECTED", vm);
      }
      e.db.set(vm as string, "is_a_template", v);
      if (v === false) e.db.set(vm as string, "is_default_template", false);
      return "";
    },
  });
  reg.add({
    name: "VM.set_domain_type",
    params: p("self:ref:VM", "value:enum:domain_type"),
    role: "vm-admin",
    run: (e, ctx, [vm, v]) => {
      vmRec(e, ctx, vm);
      e.db.set(vm as string, "domain_type", v);
      if (v === "hvm") e.db.set(vm as string, "HVM_boot_policy", "BIOS order");
      else if (v === "pv" || v === "pvh") e.db.set(vm as string, "HVM_boot_policy", "");
      return "";
    },
  });
  reg.add({
    name: "VM.set_HVM_boot_policy",
    params: p("self:ref:VM", "value:string"),
    role: "vm-admin",
    run: (e, ctx, [vm, v]) => {
      vmRec(e, ctx, vm);
      e.db.set(vm as string, "HVM_boot_policy", v);
      e.db.set(vm as string, "domain_type", v === "" ? "pv" : "hvm");
      return "";
    },
  });
  for (const f of ["order", "start_delay", "shutdown_delay"])
    reg.add({
      name: `VM.set_${f}`,
      params: p("self:ref:VM", "value:int"),
      role: "pool-operator",
      async: true,
      run: (e, ctx, [vm, v]) => {
        vmRec(e, ctx, vm);
        if ((v as number) < 0) throw fail("INVALID_VALUE", `${f} must be non-negative`, String(v));
        e.db.set(vm as string, f, v);
        return "";
      },
    });
  reg.add({
    name: "VM.set_name_label",
    params: p("self:ref:VM", "value:string"),
    role: "vm-admin",
    run: (e, ctx, [vm, v]) => (vmRec(e, ctx, vm), e.db.set(vm as string, "name_label", v), ""),
  });

  // ---- checks --------------------------------------------------------------------------------------------
  reg.add({
    name: "VM.assert_operation_valid",
    params: p("self:ref:VM", "op:string"),
    async: true,
    run: (e, _ctx, [vm, op]) => {
      if (!(VM_OPS as readonly string[]).includes(op as string)) throw fail("INVALID_VALUE", "op", op);
      e.assertVmOp(vm as string, op as VmOp);
      return "";
    },
  });
  reg.add({
    name: "VM.update_allowed_operations",
    params: p("self:ref:VM"),
    async: true,
    run: (e, _ctx, [vm]) => (e.db.bump(vm as string), ""),
  });
  reg.add({
    name: "VM.assert_can_boot_here",
    params: p("self:ref:VM", "host:ref:host"),
    async: true,
    run: (e, _ctx, [vm, host]) => {
      assertCanBootHere(e.placementVm(vm as string), e.placementHost(host as string, vm as string));
      return "";
    },
  });
  reg.add({
    name: "VM.get_possible_hosts",
    params: p("vm:ref:VM"),
    async: true,
    result: "host ref set",
    run: (e, ctx, [vm]) => {
      const pv = e.placementVm(vm as string);
      return e.poolHosts(ctx.pool, vm as string).flatMap((h) => {
        try {
          assertCanBootHere(pv, h);
          return [h.ref];
        } catch {
          return [];
        }
      });
    },
  });
  reg.add({
    name: "VM.compute_memory_overhead",
    params: p("vm:ref:VM"),
    async: true,
    result: "int",
    run: (e, ctx, [vm]) => {
      const r = vmRec(e, ctx, vm);
      return vmMemoryOverhead(r.memory_static_max as number, r.VCPUs_max as number, e.effectiveDomainType(r) !== "pv");
    },
  });

  // Keys of VM.other_config with their own roles (datamodel_vm.ml: folder, XenCenter.CustomFields.*).
  for (const m of ["VM.add_to_other_config", "VM.remove_from_other_config"]) {
    const def = reg.get(m)!;
    def.permission = (args) => {
      const key = String(args[1] ?? "");
      if (key === "folder" || key.startsWith("XenCenter.CustomFields."))
        return {
          name: `${m.toLowerCase()}/key:${key === "folder" ? "folder" : "XenCenter.CustomFields.*"}`,
          role: "vm-operator",
        };
      return undefined;
    };
  }
}

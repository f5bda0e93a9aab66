import { fail } from "../../errors";
import { NULL_REF } from "../../ids";
import { Rec } from "../db";
import { Ctx, Engine } from "../engine";
import { CLASSES } from "../schema";
import { SM_FEATURE, assertSrFeature } from "../sm";
import { copyVdiData } from "../vdi-data";
import { checkFieldValue, checkRefField } from "./implicit";
import { Registry, p } from "./registry";
import { chooseVbdUserdevice, vbdDeviceName } from "./vm-devices";

/** Creates a VDI on an SR, accounting its size (thick provisioning); SR_FULL when it does not fit. */
export function createVdi(e: Engine, ctx: Ctx, sr: string, fields: Rec, thin = false): string {
  const s = e.db.get("SR", sr);
  const size = Number(fields.virtual_size ?? 0);
  const used = s.physical_utilisation as number;
  const max = s.physical_size as number;
  const phys = thin ? 0 : size;
  if (used + phys > max) throw fail("SR_FULL", phys, max - used);
  e.db.update(sr, { physical_utilisation: used + phys, virtual_allocation: (s.virtual_allocation as number) + size });
  return e.create("VDI", ctx.pool, {
    allowed_operations: ["clone", "copy", "destroy", "resize", "snapshot", "update", "forget"],
    type: "user",
    on_boot: "persist",
    managed: true,
    location: e.ids.uuid(),
    ...fields,
    SR: sr,
    virtual_size: size,
    physical_utilisation: phys,
  });
}

export function releaseVdiSpace(e: Engine, vdi: string): void {
  const v = e.db.get("VDI", vdi);
  const s = e.db.maybe("SR", v.SR);
  if (!s) return;
  e.db.update(v.SR as string, {
    physical_utilisation: Math.max(0, (s.physical_utilisation as number) - (v.physical_utilisation as number)),
    virtual_allocation: Math.max(0, (s.virtual_allocation as number) - (v.virtual_size as number)),
  });
}

/**
 * The simulated disk content: an opaque string per VDI, kept with the object's simulator-only state (persisted,
 * never in a record), so tests can prove data survived a copy or a move. "" when never written.
 */
export function vdiContent(e: Engine, vdi: string): string {
  const c = e.hidden(vdi).content;
  return typeof c === "string" ? c : "";
}

export function setVdiContent(e: Engine, vdi: string, content: string): void {
  e.db.setHidden(vdi, "content", content);
}

/** A disk copy: full copies take space; clones are copy-on-write (thin). Either way the data comes along (vdi-data.ts). */
export function copyVdi(e: Engine, ctx: Ctx, vdi: string, sr: string, full: boolean): string {
  const v = e.db.get("VDI", vdi);
  const nv = createVdi(
    e,
    ctx,
    sr,
    {
      name_label: v.name_label,
      name_description: v.name_description,
      virtual_size: v.virtual_size,
      type: v.type,
      sharable: v.sharable,
      read_only: v.read_only,
      other_config: structuredClone(v.other_config),
      sm_config: structuredClone(v.sm_config),
      parent: full ? NULL_REF : vdi,
    },
    !full,
  );
  copyVdiData(e, vdi, nv);
  return nv;
}

/** VDI.copy into an existing VDI (xapi_vdi.ml copy): the target must be writable and at least as large. */
function checkCopyTarget(e: Engine, vdi: string, into: string): void {
  const size = e.db.get("VDI", vdi).virtual_size as number;
  const dst = e.db.get("VDI", into);
  if (dst.read_only === true) throw fail("VDI_READONLY", into);
  if ((dst.virtual_size as number) < size) throw fail("VDI_TOO_SMALL", into, size);
}

/** The running VMs a VDI is attached to through a VBD. */
function runningVmsOf(e: Engine, vdi: string): string[] {
  const out: string[] = [];
  for (const b of e.db.get("VDI", vdi).VBDs as string[]) {
    const vm = e.db.maybe("VBD", b)?.VM;
    if (e.db.maybe("VM", vm)?.power_state === "Running") out.push(vm as string);
  }
  return out;
}

export function createVbd(e: Engine, pool: string, fields: Rec): string {
  return e.create("VBD", pool, {
    allowed_operations: ["attach"],
    qos_supported_algorithms: [],
    mode: "RW",
    type: "Disk",
    unpluggable: true,
    ...fields,
  });
}

/**
 * VBD.insert and VBD.eject, as xapi_vbd_helpers.ml valid_operations rules them and in its order: only a CD drive
 * takes media (Helpers.is_removable), it must be empty (insert) or not (eject), and its VM not suspended.
 */
function assertMediaChange(e: Engine, b: Rec, vbd: string, op: "insert" | "eject"): void {
  if (b.type !== "CD") throw fail("VBD_NOT_REMOVABLE_MEDIA", vbd);
  if (op === "insert" && b.empty !== true) throw fail("VBD_NOT_EMPTY", vbd);
  if (op === "eject" && b.empty === true) throw fail("VBD_IS_EMPTY", vbd);
  const vm = e.db.get("VM", b.VM as string);
  if (vm.power_state === "Suspended") throw fail("VM_BAD_POWER_STATE", b.VM, "halted, running", "suspended");
}

function vbdVmRunning(e: Engine, vbd: Rec): Rec {
  return e.db.get("VM", vbd.VM as string);
}

/** Hot-plug needs a running VM and, for HVM guests, PV drivers. */
function assertHotplug(e: Engine, vmRef: string): void {
  const vm = e.db.get("VM", vmRef);
  if (vm.power_state !== "Running")
    throw fail("VM_BAD_POWER_STATE", vmRef, "running", String(vm.power_state).toLowerCase());
  const view = e.gateView(vmRef);
  if (!view.bootedPv && !view.pvDrivers) throw fail("VM_MISSING_PV_DRIVERS", vmRef);
}

const VDI_CREATE_FIELDS = [
  "name_label",
  "name_description",
  "virtual_size",
  "type",
  "sharable",
  "read_only",
  "other_config",
  "xenstore_data",
  "sm_config",
  "tags",
];
/** The VDI types a VBD may point to (xapi_vbd.ml create). */
const VBD_VDI_TYPES = ["system", "user", "ephemeral", "suspend", "crashdump", "metadata", "rrd", "pvs_cache"];

const VBD_CREATE_FIELDS = [
  "userdevice",
  "bootable",
  "mode",
  "type",
  "unpluggable",
  "empty",
  "other_config",
  "qos_algorithm_type",
  "qos_algorithm_params",
];

export function pickFields(e: Engine, ctx: Ctx, cls: string, r: Rec, names: string[]): Rec {
  const out: Rec = {};
  for (const f of names) {
    if (!(f in r)) continue;
    const def = CLASSES[cls]!.byName.get(f)!;
    out[f] = checkFieldValue(cls, f, def.type, r[f]);
    if (def.type.startsWith("ref:")) checkRefField(e, ctx, def.type, out[f] as string);
  }
  return out;
}

function requireRef(e: Engine, ctx: Ctx, cls: string, field: string, r: Rec, nullable = false): string {
  const v = r[field];
  if (v === undefined) throw fail("FIELD_TYPE_ERROR", field);
  if (typeof v !== "string") throw fail("FIELD_TYPE_ERROR", field);
  if (nullable && v === NULL_REF) return v;
  e.db.obj(cls, v, ctx.pool);
  return v;
}

export function registerStorage(reg: Registry): void {
  // ---- VDI -----------------------------------------------------------------------------------------------
  reg.add({
    name: "VDI.create",
    params: p("args:record:VDI"),
    role: "vm-admin",
    async: true,
    result: "VDI",
    run: (e, ctx, [args]) => {
      const r = args as Rec;
      const sr = requireRef(e, ctx, "SR", "SR", r);
      const fields = pickFields(e, ctx, "VDI", r, VDI_CREATE_FIELDS);
      if (((fields.virtual_size as number) ?? 0) < 0) throw fail("INVALID_VALUE", "virtual_size", fields.virtual_size);
      return createVdi(e, ctx, sr, fields);
    },
  });
  reg.add({
    name: "VDI.destroy",
    params: p("self:ref:VDI"),
    role: "vm-admin",
    async: true,
    run: (e, _ctx, [vdi]) => {
      const v = e.db.get("VDI", vdi as string);
      for (const vbd of v.VBDs as string[]) {
        const b = e.db.get("VBD", vbd);
        if (b.currently_attached === true) throw fail("VDI_IN_USE", vdi, "destroy");
      }
      for (const vbd of v.VBDs as string[]) e.db.destroy(vbd);
      releaseVdiSpace(e, vdi as string);
      e.db.destroy(vdi as string);
      return "";
    },
  });
  reg.add({
    name: "VDI.forget",
    params: p("vdi:ref:VDI"),
    role: "vm-admin",
    async: true,
    run: (e, _ctx, [vdi]) => {
      const v = e.db.get("VDI", vdi as string);
      for (const vbd of v.VBDs as string[]) e.db.destroy(vbd);
      e.db.destroy(vdi as string);
      return "";
    },
  });
  const resize = (name: string, online: boolean) =>
    reg.add({
      name: `VDI.${name}`,
      params: p("vdi:ref:VDI", "size:int"),
      role: "vm-admin",
      async: true,
      run: async (e, ctx, [vdi, size]) => {
        const check = () => {
          const v = e.db.get("VDI", vdi as string);
          assertSrFeature(e, v.SR as string, online ? SM_FEATURE.VDI_RESIZE_ONLINE : SM_FEATURE.VDI_RESIZE);
          const attached = (v.VBDs as string[]).some((b) => e.db.maybe("VBD", b)?.currently_attached === true);
          if (attached && !online) throw fail("VDI_IN_USE", vdi, "resize");
          if ((size as number) < (v.virtual_size as number)) throw fail("VDI_TOO_SMALL", vdi, v.virtual_size);
          return v;
        };
        e.tx(check);
        await e.taskSleep(ctx, e.duration(`VDI.${name}`));
        return e.tx(() => {
          const v = check();
          const grow = (size as number) - (v.virtual_size as number);
          const s = e.db.get("SR", v.SR as string);
          const free = (s.physical_size as number) - (s.physical_utilisation as number);
          if (grow > free) throw fail("SR_FULL", grow, free);
          e.db.update(v.SR as string, {
            physical_utilisation: (s.physical_utilisation as number) + grow,
            virtual_allocation: (s.virtual_allocation as number) + grow,
          });
          e.db.update(vdi as string, {
            virtual_size: size,
            physical_utilisation: (v.physical_utilisation as number) + grow,
          });
          return "";
        });
      },
    });
  resize("resize", false);
  resize("resize_online", true);
  reg.add({
    name: "VDI.copy",
    // base_vdi and into_vdi came with clearwater-felton; older clients send (vdi, sr) only.
    params: p("vdi:ref:VDI", "sr:ref:SR?", "base_vdi:ref:VDI?=NULL", "into_vdi:ref:VDI?=NULL"),
    role: "vm-admin",
    async: true,
    result: "VDI",
    note: "base_vdi is accepted but every copy is a full one; the simulated content is copied as a whole",
    run: async (e, ctx, [vdi, sr, , into]) => {
      // Into an existing VDI: that VDI receives the blocks and `sr` is not needed; else a fresh VDI on `sr`.
      const check = () => {
        if (into !== NULL_REF) checkCopyTarget(e, vdi as string, into as string);
        else e.db.obj("SR", sr as string, ctx.pool);
      };
      e.tx(check);
      await e.taskSleep(ctx, e.duration("VDI.copy"));
      return e.tx(() => {
        check();
        if (into === NULL_REF) return copyVdi(e, ctx, vdi as string, sr as string, true);
        copyVdiData(e, vdi as string, into as string);
        return into;
      });
    },
  });
  reg.add({
    name: "VDI.pool_migrate",
    params: p("vdi:ref:VDI", "sr:ref:SR", "options:map={}"),
    role: "vm-power-admin",
    async: true,
    result: "VDI",
    note: "VDI_NEEDS_VM_FOR_MIGRATE unless a VBD links the VDI to a Running VM",
    run: async (e, ctx, [vdi, sr]) => {
      const check = () => {
        const v = e.db.get("VDI", vdi as string);
        // xapi refuses a VDI that no VBD links to a VM (message_forwarding.ml); like the error's own text, the
        // simulator also refuses one whose VMs are all halted: that is VDI.copy's job.
        const vms = runningVmsOf(e, vdi as string);
        if (vms.length === 0) throw fail("VDI_NEEDS_VM_FOR_MIGRATE", vdi);
        if (v.SR === sr) throw fail("VDI_NOT_IN_MAP", vdi);
        for (const vm of vms) {
          const on = e.db.get("VM", vm).resident_on as string;
          if (on === NULL_REF) continue;
          const h = e.placementHost(on);
          if (!h.attachedSrs.includes(sr as string)) throw fail("VM_REQUIRES_SR", vm, sr);
        }
        return v;
      };
      e.tx(check);
      await e.taskSleep(ctx, e.duration("VDI.pool_migrate"));
      return e.tx(() => {
        check();
        const nv = copyVdi(e, ctx, vdi as string, sr as string, true);
        const v = e.db.get("VDI", vdi as string);
        for (const b of [...(v.VBDs as string[])]) e.db.set(b, "VDI", nv);
        releaseVdiSpace(e, vdi as string);
        e.db.destroy(vdi as string);
        // The uuid moves to the copy only once the original is gone (destroying it frees the uuid index).
        e.db.set(nv, "uuid", v.uuid);
        return nv;
      });
    },
  });
  reg.add({
    name: "VDI.set_name_label",
    params: p("self:ref:VDI", "value:string"),
    role: "vm-admin",
    run: (e, _ctx, [vdi, v]) => (e.db.set(vdi as string, "name_label", v), ""),
  });

  // ---- VBD -----------------------------------------------------------------------------------------------
  reg.add({
    name: "VBD.create",
    params: p("args:record:VBD"),
    role: "vm-admin",
    async: true,
    result: "VBD",
    note: "`device` is named at create (xvdb for userdevice 1); xapi leaves it empty until the disk is attached",
    run: (e, ctx, [args]) => {
      const r = args as Rec;
      const vm = requireRef(e, ctx, "VM", "VM", r);
      const vdi = requireRef(e, ctx, "VDI", "VDI", r, true);
      const fields = pickFields(e, ctx, "VBD", r, VBD_CREATE_FIELDS);
      const empty = vdi === NULL_REF;
      // xapi_vbd.ml create, in its order: a VDI of a type VMs use, CDs are read-only, only a CD may be empty, RW
      // needs a writable VDI.
      if (!empty) {
        const type = e.db.get("VDI", vdi).type as string;
        if (!VBD_VDI_TYPES.includes(type)) throw fail("VDI_INCOMPATIBLE_TYPE", vdi, type);
      }
      if (fields.type === "CD" && fields.mode !== "RO") throw fail("VBD_CDS_MUST_BE_READONLY");
      if (empty && fields.type !== "CD") throw fail("VBD_NOT_REMOVABLE_MEDIA", "in constructor");
      if (!empty && (fields.mode ?? "RW") === "RW" && e.db.get("VDI", vdi).read_only === true)
        throw fail("VDI_READONLY", vdi);
      const dev = chooseVbdUserdevice(
        e,
        e.db.get("VM", vm),
        (fields.userdevice as string | undefined) ?? "autodetect",
        (fields.type as string | undefined) ?? "Disk",
      );
      return createVbd(e, ctx.pool, {
        ...fields,
        VM: vm,
        VDI: vdi,
        userdevice: dev,
        device: vbdDeviceName(dev),
        empty,
      });
    },
  });
  reg.add({
    name: "VBD.destroy",
    params: p("self:ref:VBD"),
    role: "vm-admin",
    async: true,
    run: (e, _ctx, [vbd]) => {
      const b = e.db.get("VBD", vbd as string);
      if (b.currently_attached === true) throw fail("DEVICE_ALREADY_ATTACHED", vbd);
      e.db.destroy(vbd as string);
      return "";
    },
  });
  reg.add({
    name: "VBD.plug",
    params: p("self:ref:VBD"),
    role: "vm-admin",
    async: true,
    run: (e, _ctx, [vbd]) => {
      const b = e.db.get("VBD", vbd as string);
      assertHotplug(e, b.VM as string);
      if (b.currently_attached === true) throw fail("DEVICE_ALREADY_ATTACHED", vbd);
      e.db.set(vbd as string, "currently_attached", true);
      return "";
    },
  });
  const unplug = (name: string, force: boolean) =>
    reg.add({
      name: `VBD.${name}`,
      params: p("self:ref:VBD"),
      role: "vm-admin",
      async: true,
      run: (e, _ctx, [vbd]) => {
        const b = e.db.get("VBD", vbd as string);
        vbdVmRunning(e, b);
        if (b.currently_attached !== true) throw fail("DEVICE_ALREADY_DETACHED", vbd);
        if (!force) {
          assertHotplug(e, b.VM as string);
          if (b.unpluggable !== true) throw fail("VBD_NOT_UNPLUGGABLE", vbd);
        }
        e.db.set(vbd as string, "currently_attached", false);
        return "";
      },
    });
  unplug("unplug", false);
  unplug("unplug_force", true);
  reg.add({
    name: "VBD.insert",
    params: p("vbd:ref:VBD", "vdi:ref:VDI"),
    role: "vm-operator",
    async: true,
    note: "HA agility (HA_CONSTRAINT_VIOLATION_SR_NOT_SHARED) is not checked",
    run: (e, _ctx, [vbd, vdi]) => {
      const b = e.db.get("VBD", vbd as string);
      assertMediaChange(e, b, vbd as string, "insert");
      if (e.db.get("VDI", vdi as string).managed !== true) throw fail("VDI_NOT_MANAGED", vdi);
      e.db.update(vbd as string, { VDI: vdi, empty: false });
      return "";
    },
  });
  reg.add({
    name: "VBD.eject",
    params: p("vbd:ref:VBD"),
    role: "vm-operator",
    async: true,
    run: (e, _ctx, [vbd]) => {
      const b = e.db.get("VBD", vbd as string);
      assertMediaChange(e, b, vbd as string, "eject");
      e.db.update(vbd as string, { VDI: NULL_REF, empty: true });
      return "";
    },
  });

  // ---- SR / PBD ------------------------------------------------------------------------------------------
  reg.add({ name: "SR.scan", params: p("sr:ref:SR"), role: "vm-power-admin", async: true, run: () => "" });
  reg.add({
    name: "SR.set_shared",
    params: p("sr:ref:SR", "value:bool"),
    role: "pool-operator",
    async: true,
    run: (e, _ctx, [sr, v]) => (e.db.set(sr as string, "shared", v), ""),
  });
  reg.add({
    name: "SR.set_name_label",
    params: p("sr:ref:SR", "value:string"),
    role: "pool-operator",
    async: true,
    run: (e, _ctx, [sr, v]) => (e.db.set(sr as string, "name_label", v), ""),
  });
  reg.add({
    name: "SR.set_name_description",
    params: p("sr:ref:SR", "value:string"),
    role: "pool-operator",
    async: true,
    run: (e, _ctx, [sr, v]) => (e.db.set(sr as string, "name_description", v), ""),
  });
  reg.add({
    name: "SR.forget",
    params: p("sr:ref:SR"),
    role: "pool-operator",
    async: true,
    run: (e, _ctx, [sr]) => {
      const s = e.db.get("SR", sr as string);
      if ((s.PBDs as string[]).some((x) => e.db.get("PBD", x).currently_attached === true))
        throw fail("SR_HAS_PBD", sr);
      for (const v of s.VDIs as string[]) e.db.destroy(v);
      for (const x of s.PBDs as string[]) e.db.destroy(x);
      e.db.destroy(sr as string);
      return "";
    },
  });
  reg.add({
    name: "SR.destroy",
    params: p("sr:ref:SR"),
    role: "pool-operator",
    async: true,
    run: (e, _ctx, [sr]) => {
      const s = e.db.get("SR", sr as string);
      if ((s.PBDs as string[]).some((x) => e.db.get("PBD", x).currently_attached === true))
        throw fail("SR_HAS_PBD", sr);
      if ((s.VDIs as string[]).length > 0) throw fail("SR_NOT_EMPTY");
      for (const x of s.PBDs as string[]) e.db.destroy(x);
      e.db.destroy(sr as string);
      return "";
    },
  });
  for (const [name, v] of [
    ["plug", true],
    ["unplug", false],
  ] as const)
    reg.add({
      name: `PBD.${name}`,
      params: p("self:ref:PBD"),
      role: "pool-operator",
      async: true,
      run: (e, _ctx, [pbd]) => (e.db.set(pbd as string, "currently_attached", v), ""),
    });
  reg.add({
    name: "PBD.create",
    params: p("args:record:PBD"),
    role: "pool-operator",
    async: true,
    result: "PBD",
    run: (e, ctx, [args]) => {
      const r = args as Rec;
      const host = requireRef(e, ctx, "host", "host", r);
      const sr = requireRef(e, ctx, "SR", "SR", r);
      const dc = checkFieldValue("PBD", "device_config", "map", r.device_config ?? {});
      return e.create("PBD", ctx.pool, { host, SR: sr, device_config: dc, currently_attached: false });
    },
  });
  reg.add({
    name: "PBD.destroy",
    params: p("self:ref:PBD"),
    role: "pool-operator",
    async: true,
    run: (e, _ctx, [pbd]) => {
      if (e.db.get("PBD", pbd as string).currently_attached === true)
        throw fail("OPERATION_NOT_ALLOWED", "PBD is currently attached");
      e.db.destroy(pbd as string);
      return "";
    },
  });
}

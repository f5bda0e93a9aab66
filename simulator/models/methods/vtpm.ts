import { fail } from "../../errors";
import { NULL_REF } from "../../ids";
import { Engine } from "../engine";
import { Registry, p } from "./registry";

/**
 * Virtual TPMs (xapi_vtpm.ml). The contents live in xapi's database and never travel in a record, so the simulator
 * keeps none: `is_unique` (contents never copied) has no effect a client can see.
 */

/** xapi_vtpm.ml introduce: a vTPM persisted by xapi, not protected. */
function introduce(e: Engine, vm: string, isUnique: boolean): string {
  return e.create("VTPM", e.db.poolOf(vm)!, {
    VM: vm,
    backend: NULL_REF,
    persistence_backend: "xapi",
    is_unique: isUnique,
    is_protected: false,
  });
}

/** Copies of `from`'s vTPMs for `to` (xapi_vtpm.ml copy), as VM.clone, copy, snapshot and revert make them. */
export function copyVtpms(e: Engine, from: string, to: string): void {
  for (const t of e.db.get("VM", from).VTPMs as string[]) introduce(e, to, e.db.get("VTPM", t).is_unique === true);
}

/** Destroys a VM's vTPMs (VM.destroy, and VM.revert before the snapshot's copies arrive). */
export function destroyVtpms(e: Engine, vm: string): void {
  for (const t of [...(e.db.get("VM", vm).VTPMs as string[])]) e.db.destroy(t);
}

export function registerVtpm(reg: Registry): void {
  reg.add({
    name: "VTPM.create",
    params: p("vM:ref:VM", "is_unique:bool"),
    async: true,
    result: "VTPM",
    long: true,
    // message_forwarding.ml: under the VM's create_vtpm operation, whose gate also refuses a second vTPM
    // (VTPM_MAX_AMOUNT_REACHED [count]); then the pool's licence (restrict_vtpm). The firmware is not checked
    // here: a BIOS VM gets its vTPM and fails at VM.start.
    run: (e, ctx, [vm, isUnique]) =>
      e.vmOp(ctx, vm as string, "create_vtpm", "VTPM.create", {
        apply: () => {
          const restrictions = e.poolRecord(ctx.pool).restrictions as Record<string, string>;
          if (restrictions.restrict_vtpm !== "false") throw fail("FEATURE_RESTRICTED", "restrict_vtpm");
          return introduce(e, vm as string, isUnique === true);
        },
      }),
  });
  reg.add({
    name: "VTPM.destroy",
    params: p("self:ref:VTPM"),
    async: true,
    run: (e, ctx, [self]) => {
      const vm = e.db.get("VTPM", self as string, ctx.pool).VM as string;
      const state = e.db.get("VM", vm).power_state as string;
      // xapi_vm_lifecycle.ml assert_initial_power_state_in: the allowed states joined by ";".
      if (state !== "Halted" && state !== "Suspended")
        throw fail("VM_BAD_POWER_STATE", vm, "halted;suspended", state.toLowerCase());
      e.db.destroy(self as string);
      return "";
    },
  });
}

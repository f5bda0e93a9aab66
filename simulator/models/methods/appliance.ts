import { XenApiError, fail, toXenApiError } from "../../errors";
import { NULL_REF } from "../../ids";
import { ApplianceOp, applianceGateFailure } from "../../rules/gate";
import { Rec } from "../db";
import { Ctx, Engine } from "../engine";
import { Registry, p } from "./registry";
import { pickFields } from "./storage";

/**
 * VM appliances (xapi_vm_appliance.ml, xapi_vm_appliance_lifecycle.ml): a set of VMs started in ascending `order`
 * and stopped in descending `order`, one order at a time. Each VM's start or stop is its own `Async.VM.*` task
 * (a subtask of the appliance's), which includes the VM's `start_delay` / `shutdown_delay` (methods/vm.ts), so the
 * next order begins once every VM of the previous one has started and waited out its delay.
 */

/** Runs one VM operation as xapi's Client.Async call does: a task of its own, here a subtask of `parent`. */
async function subtask(e: Engine, reg: Registry, ctx: Ctx, parent: string, method: string, args: unknown[]) {
  const task = e.tx(() => {
    const t = e.createTask(ctx, `Async.${method}`);
    e.db.set(t, "subtask_of", parent);
    return t;
  });
  const def = reg.get(method)!;
  const tctx: Ctx = { ...ctx, task };
  let result: { ok: true; value: unknown; type: string } | { ok: false; error: XenApiError };
  try {
    if (e.innerFault) await e.innerFault(method);
    const value = def.long ? await def.run(e, tctx, args) : e.tx(() => def.run(e, tctx, args));
    result = { ok: true, value, type: "" };
  } catch (err) {
    result = { ok: false, error: toXenApiError(err) };
  }
  e.tx(() => e.finishTask(task, result));
}

/** perform_operation inside with_vm_appliance_operation: gate and mark, each order in turn, then the verdict. */
async function perform(
  e: Engine,
  reg: Registry,
  ctx: Ctx,
  self: string,
  op: ApplianceOp,
  vmCall: { method: string; args: (vm: string) => unknown[]; wanted: string },
): Promise<string> {
  let own: string | undefined;
  const task = e.tx(() => {
    const f = applianceGateFailure(e.applianceView(self), op);
    if (f) throw fail(f[0]!, ...f.slice(1));
    if (!ctx.task) own = e.createTask(ctx, `VM_appliance.${op}`);
    const t = ctx.task ?? own!;
    e.setCurrentOp(self, t, op);
    return t;
  });
  try {
    const targets = (e.db.get("VM_appliance", self).VMs as string[]).filter(
      (vm) => e.db.get("VM", vm).power_state !== vmCall.wanted,
    );
    const byOrder = new Map<number, string[]>();
    for (const vm of targets) {
      const o = e.db.get("VM", vm).order as number;
      byOrder.set(o, [...(byOrder.get(o) ?? []), vm]);
    }
    const orders = [...byOrder.keys()].sort((a, b) => (op === "start" ? a - b : b - a));
    for (const o of orders)
      await Promise.all(byOrder.get(o)!.map((vm) => subtask(e, reg, ctx, task, vmCall.method, vmCall.args(vm))));
    const failed = targets.filter((vm) => e.db.maybe("VM", vm)?.power_state !== vmCall.wanted);
    if (failed.length) throw fail("OPERATION_PARTIALLY_FAILED", `VM_appliance.${op}`, ...failed);
    return "";
  } finally {
    e.tx(() => {
      if (e.db.has(self)) e.setCurrentOp(self, task, null);
      if (own && e.db.has(own)) e.db.destroy(own);
    });
  }
}

export function registerAppliance(reg: Registry): void {
  reg.add({
    name: "VM_appliance.create",
    async: true,
    params: p("args:record:VM_appliance"),
    result: "VM_appliance",
    run: (e, ctx, [args]) =>
      e.create(
        "VM_appliance",
        ctx.pool,
        pickFields(e, ctx, "VM_appliance", args as Rec, ["name_label", "name_description"]),
      ),
  });
  reg.add({
    name: "VM_appliance.destroy",
    async: true,
    params: p("self:ref:VM_appliance"),
    // xapi_vm_appliance.ml destroy removes the record only: its VMs keep a dangling `appliance`.
    run: (e, _ctx, [self]) => (e.db.destroy(self as string), ""),
  });
  const lifecycle = (
    op: ApplianceOp,
    params: ReturnType<typeof p>,
    vmCall: (args: unknown[]) => Parameters<typeof perform>[5],
  ) =>
    reg.add({
      name: `VM_appliance.${op}`,
      params,
      async: true,
      long: true,
      run: (e, ctx, args) => perform(e, reg, ctx, args[0] as string, op, vmCall(args)),
    });
  lifecycle("start", p("self:ref:VM_appliance", "paused:bool"), ([, paused]) => ({
    method: "VM.start",
    args: (vm) => [vm, paused === true, false],
    wanted: paused === true ? "Paused" : "Running",
  }));
  for (const op of ["clean_shutdown", "hard_shutdown", "shutdown"] as const)
    lifecycle(op, p("self:ref:VM_appliance"), () => ({ method: `VM.${op}`, args: (vm) => [vm], wanted: "Halted" }));

  reg.add({
    name: "VM.set_appliance",
    async: true,
    params: p("self:ref:VM", "value:ref:VM_appliance?"),
    run: (e, ctx, [vm, value]) => {
      const r = e.db.get("VM", vm as string, ctx.pool);
      if (r.is_control_domain === true || r.is_a_template === true || r.is_a_snapshot === true)
        throw fail(
          "OPERATION_NOT_ALLOWED",
          "Control domains, templates and snapshots cannot be assigned to appliances.",
        );
      e.db.set(vm as string, "appliance", value ?? NULL_REF);
      return "";
    },
  });
}

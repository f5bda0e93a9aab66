import { XenApiError, fail } from "../../errors";
import { NULL_REF } from "../../ids";
import { checkOperation } from "../../rules/gate";
import { PlacementVm, assertCanBootHere, hostFreeMemory, planEvacuation } from "../../rules/placement";
import { Ctx, Engine } from "../engine";
import { assertHaPlanHolds } from "./pool";
import { Registry, p } from "./registry";

/** Regular (non control-domain) VMs that are running or paused on a host. */
export function residentGuests(e: Engine, host: string): string[] {
  return (e.db.get("host", host).resident_VMs as string[]).filter((v) => {
    const vm = e.db.maybe("VM", v);
    return vm && vm.is_control_domain !== true && vm.power_state !== "Halted";
  });
}

/** The evacuation plan (xapi compute_evacuation_plan): per VM either a target host or the first error. */
export function evacuationPlan(
  e: Engine,
  ctx: Ctx,
  host: string,
): { placed: Map<string, string>; failed: Map<string, XenApiError> } {
  const vms = residentGuests(e, host);
  const failed = new Map<string, XenApiError>();
  const ha = e.poolRecord(ctx.pool).ha_enabled === true;
  const movable: PlacementVm[] = [];
  for (const vm of vms) {
    const err = checkOperation(e.gateView(vm), "pool_migrate");
    if (err) failed.set(vm, err);
    else if (ha && e.db.get("VM", vm).ha_restart_priority !== "restart")
      failed.set(vm, fail("HOST_EVACUATE_VM_NOT_HA_PROTECTED", vm));
    else movable.push(e.placementVm(vm));
  }
  const targets = e.poolHosts(ctx.pool).filter((h) => h.ref !== host && h.enabled && h.live);
  if (targets.length === 0) {
    for (const vm of movable) failed.set(vm.ref, fail("NO_HOSTS_AVAILABLE", vm.ref));
    return { placed: new Map(), failed };
  }
  // Impediments other than memory (SRs, networks, HVM) are reported as such, from the first target host;
  // what fails only for lack of memory in the bin-packing is HOST_NOT_ENOUGH_FREE_MEMORY [vm].
  const packable: PlacementVm[] = [];
  for (const vm of movable) {
    const errs = targets.map((h) => {
      try {
        assertCanBootHere(vm, h, { checkMemory: false });
        return null;
      } catch (err) {
        return err as XenApiError;
      }
    });
    if (errs.every((x) => x !== null)) failed.set(vm.ref, errs[0]!);
    else packable.push(vm);
  }
  // The plan honours anti-affinity groups as far as memory allows (planEvacuation); a VM it leaves out did not fit.
  const placed = planEvacuation(packable, targets, e.db.count("host", ctx.pool));
  for (const vm of packable) if (!placed.has(vm.ref)) failed.set(vm.ref, fail("HOST_NOT_ENOUGH_FREE_MEMORY", vm.ref));
  return { placed, failed };
}

export function registerHost(reg: Registry): void {
  const h1 = p("host:ref:host");
  reg.add({
    name: "host.disable",
    params: p("host:ref:host", "auto_enable:bool=true"),
    role: "pool-operator",
    async: true,
    run: (e, ctx, [host]) => {
      e.db.set(host as string, "enabled", false);
      assertHaPlanHolds(e, ctx.pool);
      return "";
    },
  });
  reg.add({
    name: "host.enable",
    params: h1,
    role: "pool-operator",
    async: true,
    run: (e, _ctx, [host]) => {
      if (!e.hostLive(host as string)) throw fail("HOST_NOT_LIVE");
      e.db.set(host as string, "enabled", true);
      return "";
    },
  });
  reg.add({
    name: "host.compute_free_memory",
    params: h1,
    async: true,
    result: "int",
    run: (e, _ctx, [host]) => hostFreeMemory(e.placementHost(host as string)),
  });
  reg.add({
    name: "host.compute_memory_overhead",
    params: h1,
    async: true,
    result: "int",
    run: (e, _ctx, [host]) => e.db.get("host", host as string).memory_overhead,
  });
  reg.add({
    name: "host.get_vms_which_prevent_evacuation",
    params: p("self:ref:host"),
    async: true,
    run: (e, ctx, [host]) =>
      Object.fromEntries([...evacuationPlan(e, ctx, host as string).failed].map(([vm, err]) => [vm, err.toArray()])),
  });
  reg.add({
    name: "host.assert_can_evacuate",
    params: h1,
    role: "pool-operator",
    async: true,
    run: (e, ctx, [host]) => {
      const { failed } = evacuationPlan(e, ctx, host as string);
      if (failed.size)
        throw fail("CANNOT_EVACUATE_HOST", [...failed.values()].map((x) => x.toArray().join(",")).join("|"));
      return "";
    },
  });
  reg.add({
    name: "host.evacuate",
    params: p("host:ref:host", "network:ref:network?=NULL", "evacuate_batch_size:int=0"),
    role: "pool-operator",
    async: true,
    run: async (e, ctx, [host]) => {
      const taskRef = ctx.task ?? e.ids.ref();
      const plan = e.tx(() => {
        const h = e.db.get("host", host as string);
        if (Object.values(h.current_operations as Record<string, string>).includes("evacuate"))
          throw fail("HOST_EVACUATE_IN_PROGRESS", host);
        const plan = evacuationPlan(e, ctx, host as string);
        const first = [...plan.failed.values()][0];
        if (first) throw first;
        e.setCurrentOp(host as string, taskRef, "evacuate");
        return plan;
      });
      try {
        for (const [vm, target] of plan.placed) {
          await e.taskSleep(ctx, e.duration("VM.pool_migrate"));
          e.tx(() => {
            const r = e.db.maybe("VM", vm);
            if (!r || r.resident_on !== host || r.power_state === "Halted") return;
            e.db.update(vm, { resident_on: target, scheduled_to_be_resident_on: NULL_REF });
          });
        }
      } finally {
        e.tx(() => {
          e.setCurrentOp(host as string, taskRef, null);
          e.refreshHostMemory(ctx.pool);
        });
      }
      return "";
    },
  });
  for (const op of ["reboot", "shutdown"])
    reg.add({
      name: `host.${op}`,
      params: h1,
      role: "pool-operator",
      async: true,
      note: "the host comes back at once (reboot) or stays live (shutdown is recorded only as disabled)",
      run: (e, _ctx, [host]) => {
        const h = e.db.get("host", host as string);
        if (h.enabled === true) throw fail("HOST_NOT_DISABLED");
        const guests = residentGuests(e, host as string);
        if (guests.length) throw fail("HOST_IN_USE", host, "vm", guests[0]);
        return "";
      },
    });
  reg.add({
    name: "host.declare_dead",
    params: h1,
    role: "pool-operator",
    async: true,
    run: (e, ctx, [host]) => {
      if (e.hostLive(host as string) || e.masterOf(ctx.pool) === host) throw fail("HOST_IS_LIVE", host);
      for (const vm of e.db.get("host", host as string).resident_VMs as string[]) {
        const r = e.db.get("VM", vm);
        if (r.is_control_domain !== true) e.haltVm(vm, false);
      }
      e.db.set(host as string, "enabled", false);
      return "";
    },
  });
  reg.add({
    name: "host.destroy",
    params: p("self:ref:host"),
    role: "pool-operator",
    note: "removes a dead supporter's records (its PIFs, PBDs, metrics and control domain)",
    run: (e, ctx, [host]) => {
      if (e.hostLive(host as string)) throw fail("HOST_IS_LIVE", host);
      if (e.masterOf(ctx.pool) === host) throw fail("OPERATION_NOT_ALLOWED", "Cannot destroy the pool master");
      const h = e.db.get("host", host as string);
      for (const vm of [...(h.resident_VMs as string[])]) {
        const r = e.db.get("VM", vm);
        if (r.is_control_domain === true) {
          if (e.db.has(r.metrics)) e.db.destroy(r.metrics as string);
          e.db.destroy(vm);
        } else e.haltVm(vm, false);
      }
      for (const x of [...(h.PIFs as string[]), ...(h.PBDs as string[])]) e.db.destroy(x);
      if (e.db.has(h.metrics)) e.db.destroy(h.metrics as string);
      e.db.destroy(host as string);
      return "";
    },
  });
  reg.add({
    name: "host.get_servertime",
    params: h1,
    result: "datetime",
    run: (e) => e.now(),
  });
  reg.add({
    name: "host.get_server_localtime",
    params: h1,
    result: "datetime",
    run: (e) => e.now(),
  });
  reg.add({
    name: "host.get_management_interface",
    params: h1,
    async: true,
    result: "PIF",
    run: (e, _ctx, [host]) =>
      (e.db.get("host", host as string).PIFs as string[]).find((x) => e.db.get("PIF", x).management === true) ??
      NULL_REF,
  });
  reg.add({
    name: "host.set_name_label",
    params: p("self:ref:host", "value:string"),
    role: "pool-operator",
    run: (e, _ctx, [h, v]) => (e.db.set(h as string, "name_label", v), ""),
  });
  reg.add({
    name: "host.set_hostname_live",
    params: p("host:ref:host", "hostname:string"),
    role: "pool-operator",
    run: (e, _ctx, [h, v]) => (e.db.set(h as string, "hostname", v), ""),
  });
}

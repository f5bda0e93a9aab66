import { fail } from "../../errors";
import { NULL_REF } from "../../ids";
import { checkOperation } from "../../rules/gate";
import {
  PlacementHost,
  assertCanBootHere,
  biggestFitDecreasing,
  chooseHost,
  hostFreeMemory,
  planPlacements,
} from "../../rules/placement";
import { Engine } from "../engine";
import { dropJoinerIsoLibrary, isSeededIsoLibrary } from "../iso-library";
import { seedStandaloneHost } from "../seed";
import { Registry, p } from "./registry";
import { authenticate } from "./session";
import { createVdi } from "./storage";

function poolHostsRefs(e: Engine, pool: string): string[] {
  return e.db.refs("host", pool);
}

/** Protected VMs: ha_restart_priority=restart and meant to be running. */
function protectedVms(e: Engine, pool: string): string[] {
  return e.db
    .all("VM", pool)
    .filter(([, v]) => v.ha_restart_priority === "restart" && v.ha_always_run === true && v.is_control_domain !== true)
    .map(([r]) => r);
}

/**
 * How many host failures the pool survives with every protected VM restartable (a greedy bin-packing
 * stand-in for xapi's planner: the worst case removes the hosts carrying the most protected memory).
 */
export function maxTolerableFailures(e: Engine, pool: string): number {
  const hosts = e.poolHosts(pool).filter((h) => h.live && h.enabled);
  const prot = protectedVms(e, pool);
  const load = (h: PlacementHost) =>
    prot
      .filter((v) => e.db.get("VM", v).resident_on === h.ref)
      .reduce((s, v) => s + (e.db.get("VM", v).memory_static_max as number), 0);
  let best = 0;
  for (let r = 1; r < hosts.length; r++) {
    const failedHosts = [...hosts].sort((a, b) => load(b) - load(a)).slice(0, r);
    const failedSet = new Set(failedHosts.map((h) => h.ref));
    const victims = prot
      .filter((v) => failedSet.has(e.db.get("VM", v).resident_on as string))
      .map((v) => e.placementVm(v));
    // Survivors' usage already excludes the victims, which are resident on the failed hosts.
    const survivors = hosts.filter((h) => !failedSet.has(h.ref));
    const plan = planPlacements(victims, survivors);
    if (plan.failed.size > 0) break;
    best = r;
  }
  return best;
}

/** Inside a transaction that has applied a change: HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN if the plan broke. */
export function assertHaPlanHolds(e: Engine, pool: string): void {
  const pr = e.poolRecord(pool);
  if (pr.ha_enabled !== true || pr.ha_allow_overcommit === true) return;
  if (maxTolerableFailures(e, pool) < (pr.ha_host_failures_to_tolerate as number))
    throw fail("HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN");
  refreshHaPlan(e, pool);
}

function refreshHaPlan(e: Engine, pool: string): void {
  const pr = e.poolRecord(pool);
  if (pr.ha_enabled !== true) return;
  const max = maxTolerableFailures(e, pool);
  const want = pr.ha_host_failures_to_tolerate as number;
  e.db.update(pool, { ha_plan_exists_for: Math.min(max, want), ha_overcommitted: max < want });
}

/** A host dies (control plane). With HA on, protected VMs restart elsewhere in `order` (§6.3). */
export function crashHost(e: Engine, host: string): void {
  e.tx(() => {
    const pool = e.db.poolOf(host)!;
    const h = e.db.get("host", host);
    e.db.set(h.metrics as string, "live", false);
    const pr = e.poolRecord(pool);
    if (pr.ha_enabled !== true) return;
    e.message(pool, "HA_HOST_FAILED", 2, "Host", h.uuid as string, `Host ${h.name_label} failed`);
    const victims: string[] = [];
    for (const vm of [...(h.resident_VMs as string[])]) {
      const r = e.db.get("VM", vm);
      if (r.is_control_domain === true) continue;
      if (r.power_state !== "Halted") victims.push(vm);
      e.haltVm(vm, false);
    }
    if (pr.master === host) {
      const next = poolHostsRefs(e, pool).find((x) => x !== host && e.hostLive(x));
      if (next) e.db.set(pool, "master", next);
    }
    const rank = (vm: string) => {
      const o = e.db.get("VM", vm).order as number;
      return o < 0 ? Number.MAX_SAFE_INTEGER : o;
    };
    const restart = victims.filter(
      (v) => e.db.get("VM", v).ha_restart_priority === "restart" && e.db.get("VM", v).ha_always_run === true,
    );
    const best = victims.filter((v) => e.db.get("VM", v).ha_restart_priority === "best-effort");
    restart.sort((a, b) => rank(a) - rank(b));
    // compute_restart_plan: the protected VMs bin-packed by memory onto the live, enabled hosts
    // (biggest_fit_decreasing, which knows nothing of VM groups); a complete plan restarts each VM on its planned
    // host (VM.start_on), an incomplete one falls back to VM.start, whose placement honours anti-affinity.
    const live = e.poolHosts(pool).filter((x) => x.live && x.enabled);
    const room = new Map(live.map((x) => [x.ref, hostFreeMemory(x)]));
    const planned = biggestFitDecreasing(
      restart.map((vm) => e.placementVm(vm)),
      live,
      room,
    );
    const complete = planned.size === restart.length;
    const tryStart = (vm: string, on?: string): boolean => {
      try {
        if (checkOperation(e.gateView(vm), on ? "start_on" : "start")) return false;
        let target = on;
        if (target) assertCanBootHere(e.placementVm(vm), e.placementHost(target, vm));
        else {
          const { host: h, memoryFits } = chooseHost(e.placementVm(vm), e.poolHosts(pool, vm));
          if (!memoryFits) return false;
          target = h.ref;
        }
        e.bootVm(vm, target, false);
        return true;
      } catch {
        return false;
      }
    };
    const failed = restart.filter((vm) => !tryStart(vm, complete ? planned.get(vm) : undefined));
    const stillFailed = failed.filter((vm) => !tryStart(vm));
    for (const vm of stillFailed)
      e.message(
        pool,
        "HA_PROTECTED_VM_RESTART_FAILED",
        2,
        "VM",
        e.db.get("VM", vm).uuid as string,
        `VM could not be restarted`,
      );
    for (const vm of best) tryStart(vm);
    refreshHaPlan(e, pool);
  });
}

/** The host comes back after a crash: it rebooted, so whatever still claims to run there is Halted. */
export function recoverHost(e: Engine, host: string): void {
  e.tx(() => {
    const h = e.db.get("host", host);
    e.db.set(h.metrics as string, "live", true);
    for (const vm of [...(h.resident_VMs as string[])]) {
      const r = e.db.get("VM", vm);
      if (r.is_control_domain !== true) e.haltVm(vm, false);
    }
    refreshHaPlan(e, e.db.poolOf(host)!);
  });
}

/** Moves every object of the joining pool into the master's pool; networks merge by name. */
function mergeInto(e: Engine, from: string, to: string, joining: string): void {
  dropJoinerIsoLibrary(e, from);
  const masterNets = new Map(e.db.all("network", to).map(([r, n]) => [n.name_label as string, r]));
  for (const [ref, net] of e.db.all("network", from)) {
    const target = masterNets.get(net.name_label as string);
    if (!target) continue;
    for (const pif of [...(net.PIFs as string[])]) e.db.set(pif, "network", target);
    for (const vif of [...(net.VIFs as string[])]) e.db.set(vif, "network", target);
    e.db.destroy(ref);
  }
  for (const [ref, vm] of e.db.all("VM", from)) {
    if (vm.is_default_template === true) {
      if (e.db.has(vm.metrics)) e.db.destroy(vm.metrics as string);
      e.db.destroy(ref);
    }
  }
  // Storage drivers are per pool: the master's SM records stay, the joiner's duplicates go.
  const masterSms = new Set(e.db.all("SM", to).map(([, r]) => r.type));
  for (const [ref, sm] of e.db.all("SM", from)) if (masterSms.has(sm.type)) e.db.destroy(ref);
  for (const o of [...e.db.objects.values()]) if (o.pool === from && o.ref !== from) e.db.setPool(o.ref, to);
  e.db.destroy(from);
  for (const [sr, s] of e.db.all("SR", to)) {
    if (s.shared !== true) continue;
    const dc = e.db.maybe("PBD", (s.PBDs as string[])[0])?.device_config ?? {};
    e.create("PBD", to, { host: joining, SR: sr, device_config: structuredClone(dc), currently_attached: true });
  }
}

export function registerPool(reg: Registry): void {
  reg.add({
    name: "pool.join",
    params: p("master_address:string", "master_username:string", "master_password:string"),
    role: "pool-operator",
    async: true,
    run: async (e, ctx, [addr, user, pwd]) => {
      const check = () => {
        const master = e.hostOfAddress(addr as string);
        if (!master || !e.hostLive(master)) throw fail("JOINING_HOST_CONNECTION_FAILED");
        const mpool = e.db.poolOf(master)!;
        if (e.masterOf(mpool) !== master) throw fail("HOST_IS_SLAVE", e.db.get("host", e.masterOf(mpool)).address);
        if (!authenticate(e, user as string, pwd as string))
          throw fail("SESSION_AUTHENTICATION_FAILED", user, "Authentication failure");
        if (master === ctx.host || mpool === ctx.pool)
          throw fail("OPERATION_NOT_ALLOWED", "Host cannot become slave of itself");
        if (e.poolRecord(ctx.pool).ha_enabled === true || e.poolRecord(mpool).ha_enabled === true)
          throw fail("HA_IS_ENABLED");
        if (poolHostsRefs(e, ctx.pool).length > 1) throw fail("JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS");
        const vms = e.db.all("VM", ctx.pool).filter(([, v]) => v.is_control_domain !== true);
        if (vms.some(([, v]) => v.power_state !== "Halted")) throw fail("JOINING_HOST_CANNOT_HAVE_RUNNING_VMS");
        if (vms.some(([, v]) => Object.keys(v.current_operations as object).length > 0))
          throw fail("JOINING_HOST_CANNOT_HAVE_VMS_WITH_CURRENT_OPERATIONS");
        // The seeded ISO library is let through as xapi lets the Tools SR through (is_tools_sr).
        if (e.db.all("SR", ctx.pool).some(([sr, s]) => s.shared === true && !isSeededIsoLibrary(e, sr)))
          throw fail("JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS");
        const me = e.db.get("host", ctx.host);
        const them = e.db.get("host", master);
        if (me.API_version_major !== them.API_version_major || me.API_version_minor !== them.API_version_minor)
          throw fail(
            "POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION",
            `${me.API_version_major}.${me.API_version_minor}`,
            `${them.API_version_major}.${them.API_version_minor}`,
          );
        const sv = (h: Record<string, unknown>) => h.software_version as Record<string, string>;
        if (sv(me).db_schema !== sv(them).db_schema)
          throw fail("POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA", sv(me).db_schema, sv(them).db_schema);
        if (sv(me).product_version !== sv(them).product_version)
          throw fail("HOSTS_NOT_HOMOGENEOUS", "Software version differs");
        const vendor = (h: Record<string, unknown>) => (h.cpu_info as Record<string, string>).vendor;
        if (vendor(me) !== vendor(them)) throw fail("HOSTS_NOT_HOMOGENEOUS", "CPUs differ");
        return { master, mpool };
      };
      e.tx(check);
      await e.taskSleep(ctx, e.duration("pool.join"));
      return e.tx(() => {
        const { mpool } = check();
        const from = ctx.pool;
        mergeInto(e, from, mpool, ctx.host);
        e.refreshHostMemory(mpool);
        return "";
      });
    },
  });
  reg.add({
    name: "pool.join_force",
    params: p("master_address:string", "master_username:string", "master_password:string"),
    role: "pool-operator",
    async: true,
    long: true,
    run: (e, ctx, args) => reg.get("pool.join")!.run(e, ctx, args),
  });
  reg.add({
    name: "pool.eject",
    params: p("host:ref:host"),
    role: "pool-operator",
    async: true,
    note: "ejecting the master raises INTERNAL_ERROR [Cannot_eject_master]; the ejected host comes back as a fresh standalone pool at once",
    run: (e, ctx, [host]) => {
      const pr = e.poolRecord(ctx.pool);
      if (pr.ha_enabled === true) throw fail("HA_IS_ENABLED");
      if (pr.master === host) throw fail("INTERNAL_ERROR", "Cannot_eject_master");
      const h = e.db.get("host", host as string);
      for (const vm of h.resident_VMs as string[]) {
        const r = e.db.get("VM", vm);
        if (r.is_control_domain !== true && r.power_state !== "Halted")
          throw fail("OPERATION_NOT_ALLOWED", "VM resident on host");
      }
      const index = e.hidden(host as string).index as number;
      const uuid = h.uuid as string;
      for (const pbd of [...(h.PBDs as string[])]) {
        const sr = e.db.get("PBD", pbd).SR as string;
        e.db.destroy(pbd);
        const s = e.db.get("SR", sr);
        if (s.shared !== true && (s.PBDs as string[]).length === 0) {
          for (const vdi of [...(s.VDIs as string[])]) {
            for (const vbd of [...(e.db.get("VDI", vdi).VBDs as string[])]) e.db.destroy(vbd);
            e.db.destroy(vdi);
          }
          e.db.destroy(sr);
        }
      }
      for (const pif of [...(h.PIFs as string[])]) e.db.destroy(pif);
      for (const vm of [...(h.resident_VMs as string[])]) {
        const r = e.db.get("VM", vm);
        if (r.is_control_domain === true) {
          if (e.db.has(r.metrics)) e.db.destroy(r.metrics as string);
          e.db.destroy(vm);
        } else e.db.set(vm, "resident_on", NULL_REF);
      }
      for (const [vm, r] of e.db.all("VM", ctx.pool)) if (r.affinity === host) e.db.set(vm, "affinity", NULL_REF);
      if (e.db.has(h.metrics)) e.db.destroy(h.metrics as string);
      e.db.destroy(host as string);
      seedStandaloneHost(e, e.inventory, index, { hostUuid: uuid });
      e.refreshHostMemory(ctx.pool);
      return "";
    },
  });
  reg.add({
    name: "pool.designate_new_master",
    params: p("host:ref:host"),
    role: "pool-operator",
    async: true,
    run: (e, ctx, [host]) => {
      const pr = e.poolRecord(ctx.pool);
      if (pr.ha_enabled === true) throw fail("HA_IS_ENABLED");
      if (!e.hostLive(host as string)) throw fail("HOST_OFFLINE", host);
      if (pr.master !== host) e.db.set(ctx.pool, "master", host);
      return "";
    },
  });
  reg.add({
    name: "pool.enable_ha",
    params: p("heartbeat_srs:set:ref:SR", "configuration:map={}"),
    role: "pool-operator",
    async: true,
    run: (e, ctx, [srs, config]) => {
      const pr = e.poolRecord(ctx.pool);
      if (pr.ha_enabled === true) throw fail("HA_IS_ENABLED");
      for (const h of poolHostsRefs(e, ctx.pool)) if (!e.hostLive(h)) throw fail("HOST_OFFLINE", h);
      let list = srs as string[];
      if (list.length === 0)
        list = e.db
          .all("SR", ctx.pool)
          .filter(([, s]) => s.shared === true)
          .map(([r]) => r)
          .slice(0, 1);
      if (list.length === 0) throw fail("HA_CONSTRAINT_VIOLATION_SR_NOT_SHARED", NULL_REF);
      for (const sr of list)
        if (e.db.get("SR", sr).shared !== true) throw fail("HA_CONSTRAINT_VIOLATION_SR_NOT_SHARED", sr);
      const statefile = createVdi(e, ctx, list[0]!, {
        name_label: "Statefile for HA",
        virtual_size: 4 * 1024 * 1024,
        type: "ha_statefile",
      });
      e.db.update(ctx.pool, {
        ha_enabled: true,
        ha_statefiles: [statefile],
        ha_configuration: config,
        allowed_operations: ["ha_disable"],
      });
      for (const [vm, r] of e.db.all("VM", ctx.pool))
        if (r.ha_restart_priority === "restart")
          e.db.set(vm, "ha_always_run", r.power_state === "Running" || r.power_state === "Paused");
      refreshHaPlan(e, ctx.pool);
      return "";
    },
  });
  reg.add({
    name: "pool.disable_ha",
    params: [],
    role: "pool-operator",
    async: true,
    run: (e, ctx) => {
      const pr = e.poolRecord(ctx.pool);
      if (pr.ha_enabled !== true) throw fail("HA_NOT_ENABLED");
      for (const vdi of pr.ha_statefiles as string[]) if (e.db.has(vdi, "VDI")) e.db.destroy(vdi);
      e.db.update(ctx.pool, {
        ha_enabled: false,
        ha_statefiles: [],
        ha_configuration: {},
        ha_plan_exists_for: 0,
        ha_overcommitted: false,
        allowed_operations: ["ha_enable", "designate_new_master"],
      });
      return "";
    },
  });
  reg.add({
    name: "pool.set_ha_host_failures_to_tolerate",
    params: p("self:ref:pool", "value:int"),
    role: "pool-operator",
    async: true,
    run: (e, ctx, [pool, v]) => {
      const n = v as number;
      if (n < 0) throw fail("INVALID_VALUE", "ha_host_failures_to_tolerate", n);
      const pr = e.poolRecord(ctx.pool);
      if (pr.ha_enabled === true && pr.ha_allow_overcommit !== true && maxTolerableFailures(e, ctx.pool) < n)
        throw fail("HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN");
      e.db.set(pool as string, "ha_host_failures_to_tolerate", n);
      refreshHaPlan(e, ctx.pool);
      return "";
    },
  });
  reg.add({
    name: "pool.ha_compute_max_host_failures_to_tolerate",
    params: [],
    role: "pool-operator",
    async: true,
    result: "int",
    run: (e, ctx) => maxTolerableFailures(e, ctx.pool),
  });
  for (const [name, field] of [
    ["set_default_SR", "default_SR"],
    ["set_suspend_image_SR", "suspend_image_SR"],
    ["set_crash_dump_SR", "crash_dump_SR"],
  ] as const)
    reg.add({
      name: `pool.${name}`,
      params: p("self:ref:pool", "value:ref:SR?"),
      role: "pool-operator",
      run: (e, _ctx, [pool, sr]) => (e.db.set(pool as string, field, sr), ""),
    });
  reg.add({ name: "pool.sync_database", params: [], role: "pool-operator", async: true, run: () => "" });
}

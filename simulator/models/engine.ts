import { ROLES, type Role } from "../../xenapi-model/messages";
import { Clock, systemClock, xenDate } from "../clock";
import { XenApiError, fail } from "../errors";
import { Ids, NULL_REF } from "../ids";
import { Inventory } from "../inventory/types";
import {
  ApplianceView,
  GateVm,
  VmOp,
  allowedOperations,
  applianceAllowedOperations,
  checkOperation,
} from "../rules/gate";
import { PlacementHost, PlacementVm, vmMemoryNeeded, vmMemoryOverhead } from "../rules/placement";
import { configuredAddresses, netbiosName, startGuest } from "./boot";
import { antiAffinityOf, updateGroupAlerts } from "./vm-groups";
import { BootConsole } from "./console";
import { Db, Rec } from "./db";
import { CLASSES, defaultRecord } from "./schema";

export { ROLES, type Role };

/**
 * Base durations (ms at time scale 1) of simulated operations; multiplied by the time scale. `guest_agent` is the
 * delay between boot and the guest agent's first report; `install` the time an installer booted from CD takes to
 * write its system to disk (models/boot.ts); host.evacuate takes one VM.pool_migrate per VM.
 */
export const DEFAULT_DURATIONS: Record<string, number> = {
  "VM.start": 3000,
  "VM.start_on": 3000,
  "VM.resume": 2000,
  "VM.resume_on": 2000,
  "VM.clean_shutdown": 2000,
  "VM.hard_shutdown": 500,
  "VM.clean_reboot": 3000,
  "VM.hard_reboot": 1500,
  "VM.suspend": 2000,
  "VM.pause": 200,
  "VM.unpause": 200,
  "VM.clone": 1000,
  "VM.copy": 5000,
  "VM.provision": 1000,
  "VM.pool_migrate": 3000,
  "VM.snapshot": 1000,
  "VM.checkpoint": 3000,
  "VM.revert": 1000,
  "VM.destroy": 200,
  "VDI.resize": 500,
  "VDI.resize_online": 500,
  "VDI.pool_migrate": 5000,
  "VDI.copy": 3000,
  "pool.join": 2000,
  guest_agent: 5000,
  install: 60000,
};

export interface EngineOptions {
  seed?: number;
  clock?: Clock;
  timeScale?: number;
  rootPassword: string;
  failedLoginDelayMs?: number;
  sessionIdleMs?: number;
  log?: (line: object) => void;
}

/** Call context handed to models by the dispatcher; models never see HTTP. */
export interface Ctx {
  session: string;
  pool: string;
  host: string;
  user: string;
  role: Role;
  /** set while running inside an Async task */
  task?: string;
}

/**
 * Simulator state and the rules shared by the class models. Owns the store, the id source, the clock and the
 * time scale; methods live in models/methods/*.
 */
export class Engine {
  readonly db = new Db();
  /** what each VM's firmware, installer and guest printed (models/boot.ts) */
  readonly console = new BootConsole();
  ids: Ids;
  readonly clock: Clock;
  timeScale: number;
  durations: Record<string, number> = { ...DEFAULT_DURATIONS };
  rootPassword: string;
  failedLoginDelayMs: number;
  sessionIdleMs: number;
  inventory!: Inventory;
  log: (line: object) => void;
  private timers = new Set<NodeJS.Timeout>();
  /** fault hook consulted for the inner method of Async tasks (set by the server) */
  innerFault: ((method: string) => Promise<void>) | undefined;
  /** guest IP allocation per network cidr */
  private ipCursor = new Map<string, number>();

  constructor(opts: EngineOptions) {
    this.ids = new Ids(opts.seed);
    this.clock = opts.clock ?? systemClock;
    this.timeScale = opts.timeScale ?? 0;
    this.rootPassword = opts.rootPassword;
    this.failedLoginDelayMs = opts.failedLoginDelayMs ?? 5000 * this.timeScale;
    this.sessionIdleMs = opts.sessionIdleMs ?? 24 * 3600 * 1000;
    this.log = opts.log ?? (() => undefined);
    this.db.beforeCommit = (touched) => this.derive(touched);
  }

  closed = false;

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.db.wakeAll();
  }

  // ---- time ---------------------------------------------------------------------------------------------
  now(): string {
    return xenDate(this.clock.now());
  }

  duration(key: string): number {
    return Math.round((this.durations[key] ?? 0) * this.timeScale);
  }

  /** Runs `fn` later (scaled), unless the simulator closes first; immediately when the delay is 0. */
  later(ms: number, fn: () => void): void {
    if (ms <= 0) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      try {
        fn();
      } catch (e) {
        this.log({ level: "error", msg: "timer failed", error: String(e) });
      }
    }, ms);
    t.unref?.();
    this.timers.add(t);
  }

  // ---- objects ------------------------------------------------------------------------------------------
  tx<T>(fn: () => T): T {
    return this.db.tx(fn);
  }

  create(cls: string, pool: string, fields: Rec, hidden: Rec = {}): string {
    const ref = this.ids.ref();
    const rec = { ...defaultRecord(cls), uuid: this.ids.uuid(), ...fields };
    this.db.create(cls, pool, ref, rec, hidden);
    return ref;
  }

  hidden(ref: string): Rec {
    return this.db.objects.get(ref)?.hidden ?? {};
  }

  /**
   * Keeps derived state right at the end of every transaction: VM, VTPM and VM_appliance allowed_operations, and
   * the alert of each anti-affinity group a touched VM belongs to (models/vm-groups.ts).
   */
  private derive(touched: string[]): void {
    const appliances = new Set<string>();
    const groups = new Set<string>();
    for (const ref of touched) {
      const o = this.db.objects.get(ref);
      if (o?.cls === "VM_appliance") appliances.add(ref);
      if (o?.cls === "VM_group") groups.add(ref);
      if (!o || o.cls !== "VM") continue;
      if (this.db.has(o.rec.appliance, "VM_appliance")) appliances.add(o.rec.appliance as string);
      for (const g of o.rec.groups as string[]) groups.add(g);
      const ops = allowedOperations(this.gateView(ref));
      const cur = o.rec.allowed_operations as string[];
      if (cur.length !== ops.length || cur.some((x, i) => x !== ops[i])) this.db.set(ref, "allowed_operations", ops);
      // xapi_vm_lifecycle.ml vtpm_update_allowed_operations: destroy while the VM is Halted, nothing otherwise.
      const vtpmOps = o.rec.power_state === "Halted" ? ["destroy"] : [];
      for (const t of o.rec.VTPMs as string[]) {
        const v = this.db.objects.get(t);
        if (v && (v.rec.allowed_operations as string[]).length !== vtpmOps.length)
          this.db.set(t, "allowed_operations", vtpmOps);
      }
    }
    for (const a of appliances) {
      const rec = this.db.objects.get(a)?.rec;
      if (!rec) continue;
      const ops = applianceAllowedOperations(this.applianceView(a));
      const cur = rec.allowed_operations as string[];
      if (cur.length !== ops.length || cur.some((x, i) => x !== ops[i])) this.db.set(a, "allowed_operations", ops);
    }
    for (const g of groups) updateGroupAlerts(this, g);
  }

  /** Creates an alert; the oldest go once a pool holds more than 10 000 (xapi also garbage-collects them). */
  message(pool: string, name: string, priority: number, cls: string, objUuid: string, body: string): string {
    if (this.db.count("message", pool) >= 10000)
      for (const old of this.db.refs("message", pool).slice(0, 1000)) this.db.destroy(old);
    return this.create("message", pool, { name, priority, cls, obj_uuid: objUuid, timestamp: this.now(), body });
  }

  poolRecord(pool: string): Rec {
    return this.db.get("pool", pool);
  }

  masterOf(pool: string): string {
    return this.poolRecord(pool).master as string;
  }

  hostOfAddress(address: string): string | undefined {
    return this.db.refs("host").find((h) => this.db.get("host", h).address === address);
  }

  hostLive(host: string): boolean {
    const m = this.db.maybe("host_metrics", this.db.get("host", host).metrics);
    return !!m && m.live === true;
  }

  // ---- VM gate ------------------------------------------------------------------------------------------
  gateView(vmRef: string): GateVm {
    const vm = this.db.get("VM", vmRef);
    const gm = this.db.maybe("VM_guest_metrics", vm.guest_metrics);
    const metrics = this.db.maybe("VM_metrics", vm.metrics);
    const platform = vm.platform as Record<string, string>;
    return {
      ref: vmRef,
      powerState: vm.power_state as GateVm["powerState"],
      blockedOperations: vm.blocked_operations as Record<string, string>,
      currentOperations: vm.current_operations as Record<string, string>,
      isTemplate: vm.is_a_template === true,
      isDefaultTemplate: vm.is_default_template === true,
      isSnapshot: vm.is_a_snapshot === true,
      isControlDomain: vm.is_control_domain === true,
      isDom0: vm.is_control_domain === true,
      immobile: platform["nomigrate"] === "true" || platform["nested-virt"] === "true",
      bootedPv: metrics?.current_domain_type === "pv",
      pvDrivers: gm?.PV_drivers_detected === true,
      guestFeatures: (gm?.other as Record<string, string>) ?? {},
      vtpms: (vm.VTPMs as string[]).length,
      ...(this.db.has(vm.appliance, "VM_appliance") ? { appliance: vm.appliance as string } : {}),
    };
  }

  /** What the appliance gate needs: its current operations and its VMs' power states. */
  applianceView(ref: string): ApplianceView {
    const a = this.db.get("VM_appliance", ref);
    return {
      ref,
      currentOperations: a.current_operations as Record<string, string>,
      powerStates: (a.VMs as string[]).flatMap((v) => {
        const vm = this.db.maybe("VM", v);
        return vm ? [vm.power_state as GateVm["powerState"]] : [];
      }),
    };
  }

  assertVmOp(vmRef: string, op: VmOp): void {
    const err = checkOperation(this.gateView(vmRef), op);
    if (err) throw err;
  }

  /**
   * Runs a VM operation the way xapi's with_vm_operation does: gate, mark `current_operations`, take the
   * simulated time, apply. With no duration the whole call is one transaction; otherwise the marking and the
   * effect are separate transactions and a failure in between rolls the marking (and any reservation) back.
   * `hold` (ms) keeps the operation marked for a while after its effect, as xapi sleeps
   * start_delay / shutdown_delay inside the operation; `after` runs once the mark is gone (the VM_* messages, which
   * xapi writes after with_vm_operation).
   */
  async vmOp<P, T>(
    ctx: Ctx,
    vmRef: string,
    op: VmOp,
    key: string,
    steps: {
      prepare?: () => P;
      apply: (p: P) => T;
      abort?: (p: P) => void;
      hold?: number;
      after?: (out: T) => void;
    },
  ): Promise<T> {
    const d = this.duration(key);
    const prepare = steps.prepare ?? (() => undefined as P);
    const hold = steps.hold ?? 0;
    if (d <= 0 && hold <= 0) {
      return this.tx(() => {
        this.assertVmOp(vmRef, op);
        const out = steps.apply(prepare());
        steps.after?.(out);
        return out;
      });
    }
    // A synchronous call still runs under a (short-lived) task, as in xapi, so current_operations names a real task.
    let own: string | undefined;
    const p = this.tx(() => {
      this.assertVmOp(vmRef, op);
      const p = prepare();
      if (!ctx.task) own = this.createTask(ctx, key);
      this.setCurrentOp(vmRef, ctx.task ?? own!, op);
      return p;
    });
    const taskRef = ctx.task ?? own!;
    const tctx = { ...ctx, task: taskRef };
    const finish = (out: T) => {
      if (this.db.has(vmRef)) this.setCurrentOp(vmRef, taskRef, null);
      steps.after?.(out);
      if (own && this.db.has(own)) this.db.destroy(own);
    };
    let out: T;
    try {
      if (d > 0) await this.taskSleep(tctx, d);
      out = this.tx(() => {
        const o = steps.apply(p);
        if (hold <= 0) finish(o);
        return o;
      });
    } catch (e) {
      this.tx(() => {
        if (this.db.has(vmRef)) this.setCurrentOp(vmRef, taskRef, null);
        steps.abort?.(p);
        if (own && this.db.has(own)) this.db.destroy(own);
      });
      throw e;
    }
    if (hold > 0) {
      await this.clock.sleep(hold);
      this.tx(() => finish(out));
    }
    return out;
  }

  /** A VM's start_delay / shutdown_delay (seconds) as simulated time: scaled like every other duration. */
  delayMs(seconds: number): number {
    return Math.round(seconds * 1000 * this.timeScale);
  }

  setCurrentOp(ref: string, task: string, op: string | null): void {
    const o = this.db.objects.get(ref);
    if (!o) return;
    const cur = { ...(o.rec.current_operations as Record<string, string>) };
    if (op === null) delete cur[task];
    else cur[task] = op;
    this.db.set(ref, "current_operations", cur);
  }

  /** Sleeps for a simulated duration, advancing task progress and honouring task.cancel. */
  async taskSleep(ctx: Ctx, ms: number): Promise<void> {
    const steps = Math.min(4, Math.max(1, Math.floor(ms / 250)));
    for (let i = 1; i <= steps; i++) {
      await this.clock.sleep(ms / steps);
      if (ctx.task && this.db.has(ctx.task, "task")) {
        const t = this.db.get("task", ctx.task);
        if (t.status === "cancelling") throw fail("TASK_CANCELLED", ctx.task);
        if (i < steps) this.tx(() => this.db.set(ctx.task!, "progress", Math.round((i / steps) * 90) / 100));
      }
    }
  }

  // ---- placement views ----------------------------------------------------------------------------------
  vmSrs(vmRef: string): string[] {
    const vm = this.db.get("VM", vmRef);
    const srs = new Set<string>();
    for (const vbd of vm.VBDs as string[]) {
      const b = this.db.maybe("VBD", vbd);
      if (!b || b.empty === true) continue;
      const vdi = this.db.maybe("VDI", b.VDI);
      if (vdi) srs.add(vdi.SR as string);
    }
    const sv = this.db.maybe("VDI", vm.suspend_VDI);
    if (sv) srs.add(sv.SR as string);
    return [...srs];
  }

  vmNetworks(vmRef: string): string[] {
    const vm = this.db.get("VM", vmRef);
    return [...new Set((vm.VIFs as string[]).map((v) => this.db.maybe("VIF", v)?.network as string).filter(Boolean))];
  }

  effectiveDomainType(vm: Rec): string {
    const dt = vm.domain_type as string;
    if (dt !== "unspecified") return dt;
    return vm.HVM_boot_policy ? "hvm" : "pv";
  }

  placementVm(vmRef: string): PlacementVm {
    const vm = this.db.get("VM", vmRef);
    const dt = this.effectiveDomainType(vm);
    const staticMax = vm.memory_static_max as number;
    return {
      ref: vmRef,
      domainType: dt,
      dynamicMin: vm.memory_dynamic_min as number,
      dynamicMax: vm.memory_dynamic_max as number,
      staticMax,
      overhead: vmMemoryOverhead(staticMax, vm.VCPUs_max as number, dt !== "pv"),
      vcpusMax: vm.VCPUs_max as number,
      vcpuUnrestricted: (vm.platform as Record<string, string>)["vcpu-unrestricted"] === "true",
      srs: this.vmSrs(vmRef),
      networks: this.vmNetworks(vmRef),
      affinity: vm.affinity as string,
      ...antiAffinityOf(this, vmRef),
    };
  }

  /** Memory used per host, in one pass over the pool's VMs: resident (not Halted) or scheduled there. */
  hostUsage(pool: string, excludeVm?: string): Map<string, { used: number; sUsed: number; dUsed: number }> {
    const usage = new Map<string, { used: number; sUsed: number; dUsed: number }>();
    for (const [ref, vm] of this.db.all("VM", pool)) {
      if (ref === excludeVm) continue;
      const res = vm.resident_on as string;
      const sched = vm.scheduled_to_be_resident_on as string;
      const hosts = new Set<string>();
      if (res !== NULL_REF && vm.power_state !== "Halted") hosts.add(res);
      if (sched !== NULL_REF) hosts.add(sched);
      if (hosts.size === 0) continue;
      const ov = vm.memory_overhead as number;
      const used = vmMemoryNeeded({
        domainType: this.effectiveDomainType(vm),
        dynamicMin: vm.memory_dynamic_min as number,
        staticMax: vm.memory_static_max as number,
        overhead: ov,
      });
      for (const h of hosts) {
        const u = usage.get(h) ?? { used: 0, sUsed: 0, dUsed: 0 };
        u.used += used;
        u.sUsed += (vm.memory_static_max as number) + ov;
        u.dUsed += (vm.memory_dynamic_max as number) + ov;
        usage.set(h, u);
      }
    }
    return usage;
  }

  placementHost(hostRef: string, excludeVm?: string, usage?: ReturnType<Engine["hostUsage"]>): PlacementHost {
    const h = this.db.get("host", hostRef);
    const m = this.db.maybe("host_metrics", h.metrics);
    const u = (usage ?? this.hostUsage(this.db.poolOf(hostRef)!, excludeVm)).get(hostRef) ?? {
      used: 0,
      sUsed: 0,
      dUsed: 0,
    };
    const attachedSrs = (h.PBDs as string[])
      .map((p) => this.db.maybe("PBD", p))
      .filter((p) => p && p.currently_attached === true)
      .map((p) => p!.SR as string);
    const networks = (h.PIFs as string[]).map((p) => this.db.maybe("PIF", p)?.network as string).filter(Boolean);
    return {
      ref: hostRef,
      name: h.name_label as string,
      enabled: h.enabled === true,
      live: m?.live === true,
      hvm: (h.capabilities as string[]).some((c) => c.includes("hvm")),
      cpus: Number((h.cpu_info as Record<string, string>).cpu_count ?? 1),
      evacuating: Object.values(h.current_operations as Record<string, string>).includes("evacuate"),
      memoryTotal: (m?.memory_total as number) ?? 0,
      memoryOverhead: h.memory_overhead as number,
      memoryUsed: u.used,
      staticMaxUsed: u.sUsed,
      dynamicMaxUsed: u.dUsed,
      attachedSrs,
      networks,
    };
  }

  poolHosts(pool: string, excludeVm?: string): PlacementHost[] {
    const usage = this.hostUsage(pool, excludeVm);
    return this.db.refs("host", pool).map((h) => this.placementHost(h, excludeVm, usage));
  }

  /** Refreshes host_metrics.memory_free from the accounting (xapi writes it from rrdd). */
  refreshHostMemory(pool: string): void {
    const usage = this.hostUsage(pool);
    for (const h of this.db.refs("host", pool)) {
      const host = this.db.get("host", h);
      const mref = host.metrics as string;
      const m = this.db.maybe("host_metrics", mref);
      if (!m) continue;
      const free = Math.max(
        0,
        (m.memory_total as number) - (host.memory_overhead as number) - (usage.get(h)?.used ?? 0),
      );
      if (m.memory_free !== free) this.db.set(mref, "memory_free", free);
    }
  }

  // ---- guests -------------------------------------------------------------------------------------------
  /** Boots a VM on a host: domid, metrics, resident_on; schedules the guest agent. Call inside a tx. */
  bootVm(vmRef: string, hostRef: string, paused: boolean, refresh = true): void {
    const vm = this.db.get("VM", vmRef);
    const resumed = vm.power_state === "Suspended";
    const dt = this.effectiveDomainType(vm);
    const domid = (this.hidden(hostRef).nextDomid as number | undefined) ?? 1;
    this.db.setHidden(hostRef, "nextDomid", domid + 1);
    if (vm.guest_metrics !== NULL_REF && this.db.has(vm.guest_metrics)) this.db.destroy(vm.guest_metrics as string);
    this.db.update(vmRef, {
      power_state: paused ? "Paused" : "Running",
      resident_on: hostRef,
      scheduled_to_be_resident_on: NULL_REF,
      domid,
      guest_metrics: NULL_REF,
      memory_overhead: vmMemoryOverhead(vm.memory_static_max as number, vm.VCPUs_max as number, dt !== "pv"),
    });
    if (vm.ha_restart_priority === "restart") this.db.set(vmRef, "ha_always_run", true);
    const now = this.now();
    this.db.update(vm.metrics as string, {
      memory_actual: vm.memory_dynamic_max,
      VCPUs_number: vm.VCPUs_at_startup,
      start_time: now,
      last_updated: now,
      hvm: dt !== "pv",
      current_domain_type: dt,
      state: paused ? ["paused"] : ["running"],
    });
    if (refresh) this.refreshHostMemory(this.db.poolOf(vmRef)!);
    startGuest(this, vmRef, domid, resumed);
    this.scheduleGuestAgent(vmRef, domid);
  }

  /** Tears a domain down to Halted. Call inside a tx. */
  haltVm(vmRef: string, clearHaAlwaysRun: boolean): void {
    const vm = this.db.get("VM", vmRef);
    if (vm.guest_metrics !== NULL_REF && this.db.has(vm.guest_metrics)) this.db.destroy(vm.guest_metrics as string);
    this.db.update(vmRef, {
      power_state: "Halted",
      resident_on: NULL_REF,
      scheduled_to_be_resident_on: NULL_REF,
      domid: -1,
      guest_metrics: NULL_REF,
    });
    if (clearHaAlwaysRun) this.db.set(vmRef, "ha_always_run", false);
    for (const vbd of vm.VBDs as string[]) if (this.db.has(vbd)) this.db.set(vbd, "currently_attached", false);
    for (const vif of vm.VIFs as string[]) if (this.db.has(vif)) this.db.set(vif, "currently_attached", false);
    if (this.db.has(vm.metrics)) this.db.update(vm.metrics as string, { state: [], VCPUs_number: 0, memory_actual: 0 });
    this.refreshHostMemory(this.db.poolOf(vmRef)!);
  }

  private scheduleGuestAgent(vmRef: string, domid: number): void {
    const vm = this.db.get("VM", vmRef);
    for (const vbd of vm.VBDs as string[]) if (this.db.has(vbd)) this.db.set(vbd, "currently_attached", true);
    for (const vif of vm.VIFs as string[]) if (this.db.has(vif)) this.db.set(vif, "currently_attached", true);
    const h = this.hidden(vmRef);
    if (h.pvDrivers !== true && h.agent !== true) return;
    // An installer, or firmware that found nothing to boot: no guest OS, so no agent (models/boot.ts).
    if (h.noGuest === true) return;
    const report = () => {
      const cur = this.db.maybe("VM", vmRef);
      if (!cur || cur.domid !== domid || (cur.power_state !== "Running" && cur.power_state !== "Paused")) return;
      this.reportGuest(vmRef);
    };
    const d = this.duration("guest_agent");
    if (d <= 0) report();
    else this.later(d, () => this.tx(report));
  }

  /** The simulated guest agent's report: networks from the VIF's network range, PV drivers, features. */
  reportGuest(vmRef: string): void {
    const vm = this.db.get("VM", vmRef);
    const h = this.hidden(vmRef);
    // A guest stopped by Secure Boot in its firmware (methods/firmware.ts) never runs an agent.
    if (h.secureBootFailed === true) return;
    if (h.noGuest === true) return;
    const networks: Record<string, string> = {};
    for (const vif of vm.VIFs as string[]) {
      const v = this.db.maybe("VIF", vif);
      if (!v) continue;
      // Addresses cloud-init configured (models/boot.ts) instead of the DHCP lease.
      const configured = configuredAddresses(this, vmRef, v);
      if (configured) {
        configured.ipv4.forEach((a, i) => {
          if (i === 0) networks[`${v.device}/ip`] = a;
          networks[`${v.device}/ipv4/${i}`] = a;
        });
        configured.ipv6.forEach((a, i) => (networks[`${v.device}/ipv6/${i}`] = a));
        if (!configured.dhcp || configured.ipv4.length > 0) continue;
      }
      const net = this.db.maybe("network", v.network);
      const cidr = net ? this.networkCidr(net.name_label as string) : undefined;
      if (!cidr) continue;
      let ip = this.hidden(vif).ip as string | undefined;
      if (!ip) {
        ip = this.allocateIp(cidr);
        if (!ip) continue;
        this.db.setHidden(vif, "ip", ip);
      }
      networks[`${v.device}/ip`] = ip;
      networks[`${v.device}/ipv4/0`] = ip;
    }
    const pv = h.pvDrivers === true;
    const features = Object.fromEntries(((h.features as string[]) ?? []).map((f) => [f, "1"]));
    const fields = {
      os_version: (h.os as Record<string, string>) ?? {},
      netbios_name: netbiosName(this, vmRef),
      PV_drivers_version: pv ? { major: "9", minor: "3", micro: "3", build: "1" } : {},
      PV_drivers_up_to_date: pv,
      PV_drivers_detected: pv,
      networks,
      other: { ...features, "platform-feature-multiprocessor-suspend": "1" },
      last_updated: this.now(),
      live: true,
      can_use_hotplug_vbd: pv ? "yes" : "unspecified",
      can_use_hotplug_vif: pv ? "yes" : "unspecified",
    };
    const gm = vm.guest_metrics as string;
    if (gm !== NULL_REF && this.db.has(gm)) this.db.update(gm, fields);
    else this.db.set(vmRef, "guest_metrics", this.create("VM_guest_metrics", this.db.poolOf(vmRef)!, fields));
  }

  networkCidr(name: string): string | undefined {
    return this.inventory.networks.find((n) => n.name === name)?.cidr;
  }

  /** Addresses handed out per range: a cache, rebuilt from the VIFs when the range looks exhausted. */
  private usedIps = new Map<string, Set<string>>();
  /** range -> number of tombstones when it was found full (nothing frees an address until something is destroyed) */
  private fullAt = new Map<string, number>();

  private rebuildUsedIps(cidr: string): Set<string> {
    const used = new Set<string>();
    for (const o of this.db.objects.values())
      if (o.cls === "VIF" && typeof o.hidden.ip === "string") used.add(o.hidden.ip);
    this.usedIps.set(cidr, used);
    return used;
  }

  /** The next free address of the range (like a DHCP server), or undefined when the range is full. */
  private allocateIp(cidr: string): string | undefined {
    const [base, bitsS] = cidr.split("/");
    const bits = Number(bitsS ?? 24);
    const b = base!.split(".").map(Number);
    const baseInt = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    const usable = Math.max(1, 2 ** (32 - bits) - 12);
    if (this.fullAt.get(cidr) === this.db.tombstones.length) return undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      const used = attempt === 0 ? (this.usedIps.get(cidr) ?? this.rebuildUsedIps(cidr)) : this.rebuildUsedIps(cidr);
      const start = this.ipCursor.get(cidr) ?? 0;
      for (let i = 0; i < usable; i++) {
        const off = (start + i) % usable;
        const n = (baseInt + 10 + off) >>> 0;
        const ip = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
        if (used.has(ip)) continue;
        used.add(ip);
        this.ipCursor.set(cidr, off + 1);
        return ip;
      }
    }
    this.fullAt.set(cidr, this.db.tombstones.length);
    return undefined;
  }

  // ---- tasks --------------------------------------------------------------------------------------------
  createTask(ctx: Ctx, name: string, description = ""): string {
    const now = this.now();
    const ref = this.create("task", ctx.pool, {
      name_label: name,
      name_description: description,
      created: now,
      status: "pending",
      resident_on: ctx.host,
      allowed_operations: ["cancel"],
    });
    this.db.setHidden(ref, "owner", ctx.session);
    this.gcTasks(ctx.pool);
    return ref;
  }

  finishTask(
    task: string,
    result: { ok: true; value: unknown; type: string } | { ok: false; error: XenApiError },
  ): void {
    if (!this.db.has(task, "task")) return;
    const base = { finished: this.now(), progress: 1, allowed_operations: [] as string[], current_operations: {} };
    if (result.ok) {
      this.db.update(task, { ...base, status: "success", result: xmlValue(result.value), type: result.type });
    } else {
      const cancelled = result.error.code === "TASK_CANCELLED";
      this.db.update(task, {
        ...base,
        status: cancelled ? "cancelled" : "failure",
        error_info: result.error.toArray(),
      });
    }
  }

  /**
   * xapi's task garbage collection (db_gc.ml timeout_tasks): ended tasks go 65 minutes after they ended, and
   * beyond 200 tasks the oldest ended ones go first (pending ones never). Clients may leave ended tasks to it.
   */
  private gcTasks(pool: string): void {
    const tasks = this.db.all("task", pool);
    const ended = tasks.filter(([, t]) => t.status !== "pending" && t.status !== "cancelling");
    const cutoff = xenDate(this.clock.now() - COMPLETED_TASK_TIMEOUT_MS);
    const old = ended.filter(([, t]) => String(t.finished) < cutoff);
    const young = ended.filter(([, t]) => String(t.finished) >= cutoff);
    const overflow = tasks.length - old.length - MAX_TASKS;
    young.sort((a, b) => String(a[1].finished).localeCompare(String(b[1].finished)));
    for (const [ref] of [...old, ...young.slice(0, Math.max(0, overflow))]) this.db.destroy(ref);
  }

  classes(): string[] {
    return Object.keys(CLASSES);
  }
}

/** xapi_globs.ml: completed_task_timeout (65 minutes) and max_tasks. */
const COMPLETED_TASK_TIMEOUT_MS = 65 * 60_000;
const MAX_TASKS = 200;

/** task.result: an XML-RPC value fragment even over JSON-RPC (xapi taskHelper). */
export function xmlValue(v: unknown): string {
  if (v === undefined || v === null || v === "") return "<value></value>";
  if (typeof v === "string") return `<value>${escapeXml(v)}</value>`;
  if (typeof v === "number")
    return Number.isInteger(v) ? `<value>${v}</value>` : `<value><double>${v}</double></value>`;
  if (typeof v === "boolean") return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
  if (Array.isArray(v)) return `<value><array><data>${v.map(xmlValue).join("")}</data></array></value>`;
  const members = Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `<member><name>${escapeXml(k)}</name>${xmlValue(x)}</member>`)
    .join("");
  return `<value><struct>${members}</struct></value>`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

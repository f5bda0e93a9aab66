/**
 * A thin typed facade over {@link XenApiClient}: `xen.VM.start(vm, false, false)` instead of
 * `client.callAsync("VM.start", [vm, false, false])`. Every method is still one `{method, params}` call; long
 * operations (the {@link ASYNC_METHODS}) go through `Async.*` and the task waiter; `get_record` / `get_all_records`
 * return zod-parsed records. Methods not declared here stay reachable through `client.call`.
 */
import type { CallOptions } from "./client";
import type {
  HostMetricsRecord,
  HostRecord,
  MessageRecord,
  NetworkRecord,
  PbdRecord,
  PifRecord,
  PoolRecord,
  Ref,
  SrRecord,
  TaskRecord,
  VbdRecord,
  VdiRecord,
  VifRecord,
  VmGuestMetricsRecord,
  VmMetricsRecord,
  VmRecord,
  XenClass,
  XenRecord,
} from "./records";

/** The client surface the facade needs. */
export interface FacadeClient {
  call<T = unknown>(method: string, params?: readonly unknown[], opts?: CallOptions): Promise<T>;
  callAsync(method: string, params?: readonly unknown[], opts?: CallOptions): Promise<string>;
  getRecord<C extends XenClass>(cls: C, ref: string, opts?: CallOptions): Promise<XenRecord<C>>;
  getAllRecords<C extends XenClass>(cls: C, opts?: CallOptions): Promise<Map<string, XenRecord<C>>>;
}

/** Long-running messages: sent as `Async.<method>` and awaited through their task. */
export const ASYNC_METHODS: ReadonlySet<string> = new Set([
  "VM.clone",
  "VM.copy",
  "VM.provision",
  "VM.start",
  "VM.start_on",
  "VM.clean_shutdown",
  "VM.hard_shutdown",
  "VM.clean_reboot",
  "VM.hard_reboot",
  "VM.suspend",
  "VM.resume",
  "VM.resume_on",
  "VM.pool_migrate",
  "VM.snapshot",
  "VM.destroy",
  "host.evacuate",
  "pool.join",
  "pool.eject",
  "pool.enable_ha",
  "pool.disable_ha",
  "pool.designate_new_master",
  "VDI.create",
  "VDI.destroy",
  "VDI.resize",
  "VDI.resize_online",
  "VDI.copy",
  "VDI.pool_migrate",
  "VBD.plug",
  "VBD.unplug",
  "VIF.plug",
  "VIF.unplug",
  "SR.scan",
]);

type R<C extends string> = Ref<C>;
type StrMap = Record<string, string>;

/** Reads every class has. */
interface Common<C extends XenClass, Rec> {
  get_all(): Promise<R<C>[]>;
  get_record(ref: string): Promise<Rec>;
  get_all_records(): Promise<Map<string, Rec>>;
  get_by_uuid(uuid: string): Promise<R<C>>;
}

interface Named<C extends XenClass> {
  get_by_name_label(label: string): Promise<R<C>[]>;
  set_name_label(ref: string, value: string): Promise<void>;
  set_name_description(ref: string, value: string): Promise<void>;
}

interface Configurable {
  add_to_other_config(ref: string, key: string, value: string): Promise<void>;
  remove_from_other_config(ref: string, key: string): Promise<void>;
  set_tags(ref: string, tags: string[]): Promise<void>;
  add_tags(ref: string, tag: string): Promise<void>;
  remove_tags(ref: string, tag: string): Promise<void>;
}

export interface PoolCalls extends Common<"pool", PoolRecord>, Configurable {
  set_name_label(ref: string, value: string): Promise<void>;
  set_name_description(ref: string, value: string): Promise<void>;
  set_default_SR(ref: string, sr: string): Promise<void>;
  get_default_SR(ref: string): Promise<R<"SR">>;
  set_suspend_image_SR(ref: string, sr: string): Promise<void>;
  join(masterAddress: string, username: string, password: string): Promise<void>;
  eject(host: string): Promise<void>;
  designate_new_master(host: string): Promise<void>;
  enable_ha(heartbeatSrs: string[], configuration: StrMap): Promise<void>;
  disable_ha(): Promise<void>;
  set_ha_host_failures_to_tolerate(ref: string, value: number): Promise<void>;
  set_ha_allow_overcommit(ref: string, value: boolean): Promise<void>;
  ha_compute_max_host_failures_to_tolerate(): Promise<number>;
}

export interface HostCalls extends Common<"host", HostRecord>, Named<"host">, Configurable {
  enable(host: string): Promise<void>;
  disable(host: string): Promise<void>;
  evacuate(host: string): Promise<void>;
  compute_free_memory(host: string): Promise<number>;
  get_vms_which_prevent_evacuation(host: string): Promise<Record<string, string[]>>;
  declare_dead(host: string): Promise<void>;
  destroy(host: string): Promise<void>;
}

export interface VmCalls extends Common<"VM", VmRecord>, Named<"VM">, Configurable {
  clone(vm: string, newName: string): Promise<R<"VM">>;
  copy(vm: string, newName: string, sr: string): Promise<R<"VM">>;
  provision(vm: string): Promise<void>;
  start(vm: string, startPaused: boolean, force: boolean): Promise<void>;
  start_on(vm: string, host: string, startPaused: boolean, force: boolean): Promise<void>;
  clean_shutdown(vm: string): Promise<void>;
  hard_shutdown(vm: string): Promise<void>;
  clean_reboot(vm: string): Promise<void>;
  hard_reboot(vm: string): Promise<void>;
  suspend(vm: string): Promise<void>;
  resume(vm: string, startPaused: boolean, force: boolean): Promise<void>;
  resume_on(vm: string, host: string, startPaused: boolean, force: boolean): Promise<void>;
  pause(vm: string): Promise<void>;
  unpause(vm: string): Promise<void>;
  pool_migrate(vm: string, host: string, options: StrMap): Promise<void>;
  snapshot(vm: string, newName: string): Promise<R<"VM">>;
  destroy(vm: string): Promise<void>;
  set_memory_limits(
    vm: string,
    staticMin: number,
    staticMax: number,
    dynamicMin: number,
    dynamicMax: number,
  ): Promise<void>;
  set_memory(vm: string, value: number): Promise<void>;
  set_memory_dynamic_range(vm: string, min: number, max: number): Promise<void>;
  set_memory_static_range(vm: string, min: number, max: number): Promise<void>;
  set_VCPUs_max(vm: string, value: number): Promise<void>;
  set_VCPUs_at_startup(vm: string, value: number): Promise<void>;
  set_VCPUs_number_live(vm: string, value: number): Promise<void>;
  set_affinity(vm: string, host: string): Promise<void>;
  set_ha_restart_priority(vm: string, value: "restart" | "best-effort" | ""): Promise<void>;
  set_is_a_template(vm: string, value: boolean): Promise<void>;
  set_domain_type(vm: string, value: string): Promise<void>;
  set_HVM_boot_params(vm: string, value: StrMap): Promise<void>;
  set_platform(vm: string, value: StrMap): Promise<void>;
  set_PV_args(vm: string, value: string): Promise<void>;
  set_order(vm: string, value: number): Promise<void>;
  set_start_delay(vm: string, value: number): Promise<void>;
  add_to_xenstore_data(vm: string, key: string, value: string): Promise<void>;
  remove_from_xenstore_data(vm: string, key: string): Promise<void>;
  assert_can_boot_here(vm: string, host: string): Promise<void>;
  get_possible_hosts(vm: string): Promise<R<"host">[]>;
  power_state_reset(vm: string): Promise<void>;
}

export interface VbdCalls extends Common<"VBD", VbdRecord>, Configurable {
  create(record: Record<string, unknown>): Promise<R<"VBD">>;
  destroy(vbd: string): Promise<void>;
  plug(vbd: string): Promise<void>;
  unplug(vbd: string): Promise<void>;
  insert(vbd: string, vdi: string): Promise<void>;
  eject(vbd: string): Promise<void>;
}

export interface VdiCalls extends Common<"VDI", VdiRecord>, Named<"VDI">, Configurable {
  create(record: Record<string, unknown>): Promise<R<"VDI">>;
  destroy(vdi: string): Promise<void>;
  resize(vdi: string, size: number): Promise<void>;
  /** Only on SRs whose storage manager declares VDI_RESIZE_ONLINE. */
  resize_online(vdi: string, size: number): Promise<void>;
  copy(vdi: string, sr: string, baseVdi: string, intoVdi: string): Promise<R<"VDI">>;
  /** Live storage migration: the VDI must be attached to a running VM (else VDI_NEEDS_VM_FOR_MIGRATE). */
  pool_migrate(vdi: string, sr: string, options: StrMap): Promise<R<"VDI">>;
}

export interface SrCalls extends Common<"SR", SrRecord>, Named<"SR">, Configurable {
  scan(sr: string): Promise<void>;
}

export interface NetworkCalls extends Common<"network", NetworkRecord>, Named<"network">, Configurable {}

export interface VifCalls extends Common<"VIF", VifRecord>, Configurable {
  create(record: Record<string, unknown>): Promise<R<"VIF">>;
  destroy(vif: string): Promise<void>;
  plug(vif: string): Promise<void>;
  unplug(vif: string): Promise<void>;
  move(vif: string, network: string): Promise<void>;
}

export interface XenFacade {
  pool: PoolCalls;
  host: HostCalls;
  host_metrics: Common<"host_metrics", HostMetricsRecord>;
  VM: VmCalls;
  VM_metrics: Common<"VM_metrics", VmMetricsRecord>;
  VM_guest_metrics: Common<"VM_guest_metrics", VmGuestMetricsRecord>;
  VBD: VbdCalls;
  VDI: VdiCalls;
  SR: SrCalls;
  PBD: Common<"PBD", PbdRecord>;
  network: NetworkCalls;
  VIF: VifCalls;
  PIF: Common<"PIF", PifRecord>;
  task: Common<"task", TaskRecord> & { cancel(task: string): Promise<void>; destroy(task: string): Promise<void> };
  message: Common<"message", MessageRecord>;
}

/**
 * Builds the facade over `client`; `opts` (signal, deadline, timeout) apply to every call made through it.
 * Results of void calls are `""` at runtime (XenAPI's void), typed `void`.
 */
export function xenFacade(client: FacadeClient, opts?: CallOptions): XenFacade {
  const classCache = new Map<string, object>();
  const classProxy = (cls: string): object =>
    new Proxy(
      {},
      {
        get(_target, prop) {
          // Not a thenable, not iterable: only string message names become calls.
          if (typeof prop !== "string" || prop === "then") return undefined;
          const method = `${cls}.${prop}`;
          return (...params: unknown[]): Promise<unknown> => {
            if (prop === "get_record") return client.getRecord(cls as XenClass, params[0] as string, opts);
            if (prop === "get_all_records") return client.getAllRecords(cls as XenClass, opts);
            return ASYNC_METHODS.has(method)
              ? client.callAsync(method, params, opts)
              : client.call(method, params, opts);
          };
        },
      },
    );
  return new Proxy({} as XenFacade, {
    get(_target, prop) {
      if (typeof prop !== "string" || prop === "then") return undefined;
      let p = classCache.get(prop);
      if (!p) {
        p = classProxy(prop);
        classCache.set(prop, p);
      }
      return p;
    },
  });
}

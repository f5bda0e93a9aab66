/**
 * A thin typed facade over {@link XenApiClient}: `xen.VM.start(vm, false, false)` instead of
 * `client.callAsync("VM.start", [vm, false, false])`. Every method is still one `{method, params}` call; long
 * operations (the {@link ASYNC_METHODS}) go through `Async.*` and the task waiter; `get_record` / `get_all_records`
 * return zod-parsed records. Methods not declared here stay reachable through `client.call`.
 */
import type { CallOptions } from "./client";
import type { XenMessages } from "./facade-messages";
import { XEN_CLASSES, type XenClass, type XenRecord } from "./records";

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

/** Reads typed by the client's record schemas instead of the datamodel's plain records. */
type WithRecords<M, C extends XenClass> = Omit<M, "get_record" | "get_all_records"> & {
  get_record(ref: string): Promise<XenRecord<C>>;
  get_all_records(): Promise<Map<string, XenRecord<C>>>;
};

/**
 * Every message of every modelled class, with the datamodel's signature (provider/xenapi/facade-messages.ts is
 * generated from it): a call with the wrong arity or argument types is a type error.
 */
export type XenFacade = {
  [C in keyof XenMessages]: C extends XenClass ? WithRecords<XenMessages[C], C> : XenMessages[C];
};

export type PoolCalls = XenFacade["pool"];
export type HostCalls = XenFacade["host"];
export type VmCalls = XenFacade["VM"];
export type VbdCalls = XenFacade["VBD"];
export type VdiCalls = XenFacade["VDI"];
export type SrCalls = XenFacade["SR"];
export type NetworkCalls = XenFacade["network"];
export type VifCalls = XenFacade["VIF"];

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
            // Classes the client has record schemas for get parsed records; the others the raw answer.
            const typed = (XEN_CLASSES as readonly string[]).includes(cls);
            if (typed && prop === "get_record") return client.getRecord(cls as XenClass, params[0] as string, opts);
            if (typed && prop === "get_all_records") return client.getAllRecords(cls as XenClass, opts);
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

import { XenApiError, fail } from "../errors";

/**
 * Memory accounting and host choice (xapi memory_check.ml, xapi_vm_helpers.ml assert_can_boot_here and
 * choose_host_for_vm_no_wlb). Pure: the model builds the views, these functions decide.
 */

export const MiB = 1024 * 1024;

/** Per-VM overhead (bytes): a deterministic stand-in for xapi's shadow/page-table estimate. */
export function vmMemoryOverhead(staticMax: number, vcpusMax: number, hvm: boolean): number {
  const pages = Math.ceil(staticMax / 4096);
  const base = hvm ? 2 * MiB : MiB;
  return Math.ceil((pages * 8 + vcpusMax * 256 * 1024 + base) / MiB) * MiB;
}

export interface PlacementVm {
  ref: string;
  domainType: string;
  dynamicMin: number;
  dynamicMax: number;
  staticMax: number;
  overhead: number;
  vcpusMax: number;
  vcpuUnrestricted: boolean;
  /** SRs of the VM's non-empty VBDs and suspend VDI */
  srs: string[];
  networks: string[];
  affinity: string;
}

export interface PlacementHost {
  ref: string;
  name: string;
  enabled: boolean;
  live: boolean;
  hvm: boolean;
  cpus: number;
  evacuating: boolean;
  memoryTotal: number;
  memoryOverhead: number;
  /** Σ(dynamic_min + overhead) over VMs resident on or scheduled to this host (other than the one placed) */
  memoryUsed: number;
  /** Σ(static_max + overhead) and Σ(dynamic_max + overhead) over the same VMs (definite/probable) */
  staticMaxUsed: number;
  dynamicMaxUsed: number;
  attachedSrs: string[];
  networks: string[];
}

export function hostFreeMemory(h: Pick<PlacementHost, "memoryTotal" | "memoryOverhead" | "memoryUsed">): number {
  return Math.max(0, h.memoryTotal - h.memoryOverhead - h.memoryUsed);
}

/** Memory a VM needs to start: dynamic_min (static_max for pv_in_pvh) plus overhead. */
export function vmMemoryNeeded(vm: Pick<PlacementVm, "domainType" | "dynamicMin" | "staticMax" | "overhead">): number {
  return (vm.domainType === "pv_in_pvh" ? vm.staticMax : vm.dynamicMin) + vm.overhead;
}

export const HVM_TYPES = new Set(["hvm", "pvh", "pv_in_pvh"]);

/** assert_can_boot_here in xapi's order; `checkMemory=false` is the memory-blind second pass. */
export function assertCanBootHere(
  vm: PlacementVm,
  host: PlacementHost,
  opts: { checkMemory?: boolean; skipEnabled?: boolean } = {},
): void {
  if (!host.live) throw fail("HOST_NOT_LIVE");
  if (!host.enabled && !opts.skipEnabled) throw fail("HOST_DISABLED", host.ref);
  for (const sr of vm.srs) if (!host.attachedSrs.includes(sr)) throw fail("VM_REQUIRES_SR", vm.ref, sr);
  for (const n of vm.networks) if (!host.networks.includes(n)) throw fail("VM_REQUIRES_NETWORK", vm.ref, n);
  if (HVM_TYPES.has(vm.domainType) && !host.hvm) throw fail("VM_HVM_REQUIRED", vm.ref);
  if (opts.checkMemory !== false) {
    const needed = vmMemoryNeeded(vm);
    const free = hostFreeMemory(host);
    if (needed > free) throw fail("HOST_NOT_ENOUGH_FREE_MEMORY", needed, free);
  }
  if (vm.vcpusMax > host.cpus && !vm.vcpuUnrestricted) throw fail("HOST_NOT_ENOUGH_PCPUS", vm.vcpusMax, host.cpus);
}

function tryBoot(vm: PlacementVm, h: PlacementHost, checkMemory: boolean): XenApiError | null {
  try {
    assertCanBootHere(vm, h, { checkMemory });
    return null;
  } catch (e) {
    return e as XenApiError;
  }
}

/**
 * Host choice for VM.start/resume: affinity host, then "definite" (fits at static_max), "probable" (fits at
 * dynamic_max), "possible" (fits at dynamic_min); then a memory-blind pass. Within a category the host with
 * most free memory wins (ties by name): deterministic where xapi is biased-random.
 * Returns the host; a memory-blind choice is returned with `memoryFits=false` so the caller raises
 * HOST_NOT_ENOUGH_FREE_MEMORY for it, as xenopsd would.
 */
export function chooseHost(vm: PlacementVm, hosts: PlacementHost[]): { host: PlacementHost; memoryFits: boolean } {
  const usable = hosts.filter((h) => !h.evacuating);
  const valid = usable.filter((h) => tryBoot(vm, h, true) === null);
  const aff = valid.find((h) => h.ref === vm.affinity);
  if (aff) return { host: aff, memoryFits: true };
  const free = (h: PlacementHost) => hostFreeMemory(h);
  const byFree = (a: PlacementHost, b: PlacementHost) => free(b) - free(a) || a.name.localeCompare(b.name);
  const room = (h: PlacementHost, used: number, want: number) => h.memoryTotal - h.memoryOverhead - used - want >= 0;
  const definite = valid.filter((h) => room(h, h.staticMaxUsed, vm.staticMax + vm.overhead));
  if (definite.length) return { host: definite.sort(byFree)[0]!, memoryFits: true };
  const probable = valid.filter((h) => room(h, h.dynamicMaxUsed, vm.dynamicMax + vm.overhead));
  if (probable.length) return { host: probable.sort(byFree)[0]!, memoryFits: true };
  if (valid.length) return { host: valid.sort(byFree)[0]!, memoryFits: true };
  const blind = usable.filter((h) => tryBoot(vm, h, false) === null);
  if (blind.length) return { host: blind.sort(byFree)[0]!, memoryFits: false };
  throw fail("NO_HOSTS_AVAILABLE");
}

/**
 * Bin-packing plan used by host.evacuate and HA: place each VM (in the given order) on a host from `hosts`,
 * accounting memory as it goes. Returns placements and per-VM failures.
 */
export function planPlacements(
  vms: PlacementVm[],
  hosts: PlacementHost[],
): { placed: Map<string, string>; failed: Map<string, XenApiError> } {
  const hs = hosts.map((h) => ({ ...h }));
  const placed = new Map<string, string>();
  const failed = new Map<string, XenApiError>();
  for (const vm of vms) {
    try {
      const { host, memoryFits } = chooseHost(vm, hs);
      if (!memoryFits) throw fail("HOST_NOT_ENOUGH_FREE_MEMORY", vm.ref);
      host.memoryUsed += vmMemoryNeeded(vm);
      host.staticMaxUsed += vm.staticMax + vm.overhead;
      host.dynamicMaxUsed += vm.dynamicMax + vm.overhead;
      placed.set(vm.ref, host.ref);
    } catch (e) {
      failed.set(vm.ref, e as XenApiError);
    }
  }
  return { placed, failed };
}

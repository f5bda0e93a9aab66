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
  /** the VM's anti-affinity group, when it is in one (xapi vm_has_anti_affinity) */
  antiAffinity?: AntiAffinity;
}

/**
 * A VM's anti-affinity group and, per host, how many of the group's VMs run there or are scheduled to
 * (xapi_vm_helpers.ml host_to_vm_count_map: scheduled_to_be_resident_on, else resident_on of a Running VM).
 */
export interface AntiAffinity {
  group: string;
  counts: Record<string, number>;
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
 * Host choice for VM.start/resume (choose_host_for_vm_no_wlb): the candidates are ranked into tiers first, for a VM
 * of an anti-affinity group its affinity host, then the other hosts by how few of the group's VMs they run
 * (rank_hosts_by_placement); otherwise one tier of every host. Within the first tier where any host will do: the
 * affinity host, then "definite" (fits at static_max), "probable" (fits at dynamic_max), "possible" (fits at
 * dynamic_min); the host with most free memory wins (ties by name): deterministic where xapi is biased-random.
 * Then a memory-blind pass over every tier; its choice is returned with `memoryFits=false` so the caller raises
 * HOST_NOT_ENOUGH_FREE_MEMORY for it, as xenopsd would.
 */
export function chooseHost(vm: PlacementVm, hosts: PlacementHost[]): { host: PlacementHost; memoryFits: boolean } {
  const usable = hosts.filter((h) => !h.evacuating);
  for (const tier of rankHosts(vm, usable)) {
    const host = pickIn(vm, tier);
    if (host) return { host, memoryFits: true };
  }
  const byFree = (a: PlacementHost, b: PlacementHost) =>
    hostFreeMemory(b) - hostFreeMemory(a) || a.name.localeCompare(b.name);
  const blind = usable.filter((h) => tryBoot(vm, h, false) === null);
  if (blind.length) return { host: blind.sort(byFree)[0]!, memoryFits: false };
  throw fail("NO_HOSTS_AVAILABLE");
}

/** rank_hosts_by_placement: the tiers of equally good hosts, best first. */
export function rankHosts(vm: PlacementVm, hosts: PlacementHost[]): PlacementHost[][] {
  const aa = vm.antiAffinity;
  if (!aa) return [hosts];
  const affinity = hosts.find((h) => h.ref === vm.affinity);
  const byCount = new Map<number, PlacementHost[]>();
  for (const h of hosts) {
    if (h === affinity) continue;
    const n = aa.counts[h.ref] ?? 0;
    byCount.set(n, [...(byCount.get(n) ?? []), h]);
  }
  const tiers = [...byCount.entries()].sort(([a], [b]) => a - b).map(([, hs]) => hs);
  return affinity ? [[affinity], ...tiers] : tiers;
}

/** The host of one tier a VM starts on with its memory (Xapi_vm_placement.select_host), or undefined. */
function pickIn(vm: PlacementVm, hosts: PlacementHost[]): PlacementHost | undefined {
  const valid = hosts.filter((h) => tryBoot(vm, h, true) === null);
  const aff = valid.find((h) => h.ref === vm.affinity);
  if (aff) return aff;
  const byFree = (a: PlacementHost, b: PlacementHost) =>
    hostFreeMemory(b) - hostFreeMemory(a) || a.name.localeCompare(b.name);
  const room = (h: PlacementHost, used: number, want: number) => h.memoryTotal - h.memoryOverhead - used - want >= 0;
  const definite = valid.filter((h) => room(h, h.staticMaxUsed, vm.staticMax + vm.overhead));
  if (definite.length) return definite.sort(byFree)[0]!;
  const probable = valid.filter((h) => room(h, h.dynamicMaxUsed, vm.dynamicMax + vm.overhead));
  if (probable.length) return probable.sort(byFree)[0]!;
  return valid.sort(byFree)[0];
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

/** Free memory per host while a plan is made. */
type Room = Map<string, number>;

function canBoot(vm: PlacementVm, h: PlacementHost): boolean {
  return tryBoot(vm, h, false) === null;
}

/**
 * xapi's Binpack.biggest_fit_decreasing, the plan of HA restarts and of the evacuation's last phase: the biggest VM
 * first, each on the host with the most free memory (ties by name) that it fits on; a VM that fits nowhere is left
 * out. Only memory decides in xapi, whose evacuation first requires every VM to suit every target; here a host the
 * VM cannot boot on (SRs, networks, HVM) is skipped. `room` is updated.
 */
export function biggestFitDecreasing(vms: PlacementVm[], hosts: PlacementHost[], room: Room): Map<string, string> {
  const placed = new Map<string, string>();
  const sorted = [...vms].sort((a, b) => vmMemoryNeeded(b) - vmMemoryNeeded(a) || a.ref.localeCompare(b.ref));
  for (const vm of sorted) {
    const size = vmMemoryNeeded(vm);
    const best = hosts
      .filter((h) => canBoot(vm, h) && (room.get(h.ref) ?? 0) >= size)
      .sort((a, b) => room.get(b.ref)! - room.get(a.ref)! || a.name.localeCompare(b.name))[0];
    if (!best) continue;
    placed.set(vm.ref, best.ref);
    room.set(best.ref, room.get(best.ref)! - size);
  }
  return placed;
}

/** Per anti-affinity group: each target's count of the group's VMs and its free memory (HostStatistics). */
type GroupQueues = Map<string, Map<string, { count: number; size: number }>>;

/** The hosts of a group's queue, least loaded first: fewest of the group's VMs, then least free memory, then name. */
function queueOrder(q: Map<string, { count: number; size: number }>, hosts: Map<string, PlacementHost>): string[] {
  return [...q.keys()].sort(
    (a, b) =>
      q.get(a)!.count - q.get(b)!.count ||
      q.get(a)!.size - q.get(b)!.size ||
      hosts.get(a)!.name.localeCompare(hosts.get(b)!.name),
  );
}

/**
 * select_host_for_anti_aff_evac_plan: the first host of the queue the VM fits on. A host too small for it is
 * dropped from the group's queue (the VMs come smallest first); one it cannot boot on is only passed over.
 */
function selectFromQueue(
  vm: PlacementVm,
  q: Map<string, { count: number; size: number }>,
  hosts: Map<string, PlacementHost>,
): string | undefined {
  const size = vmMemoryNeeded(vm);
  for (const h of queueOrder(q, hosts)) {
    if (!canBoot(vm, hosts.get(h)!)) continue;
    if (size <= q.get(h)!.size) return h;
    q.delete(h);
  }
  return undefined;
}

/**
 * host.evacuate's plan (xapi_ha_vm_failover.ml compute_anti_aff_evac_plan): with fewer than 3 hosts in the pool a
 * plain bin-packing; otherwise (1) "spread evenly": the anti-affinity VMs, smallest first, each on the target that
 * runs fewest of its group's VMs (then the one with least free memory it fits on), the others bin-packed after;
 * (2) failing that, "no breach": only until each group runs on two hosts, on hosts that run none of it, the rest
 * bin-packed; (3) failing that, a bin-packing that ignores the groups. A VM no phase places is left out (the caller
 * reports HOST_NOT_ENOUGH_FREE_MEMORY).
 */
export function planEvacuation(vms: PlacementVm[], targets: PlacementHost[], totalHosts: number): Map<string, string> {
  const free = (): Room => new Map(targets.map((h) => [h.ref, hostFreeMemory(h)]));
  const binpackAll = () => biggestFitDecreasing(vms, targets, free());
  if (totalHosts < 3) return binpackAll();
  const byRef = new Map(targets.map((h) => [h.ref, h]));
  const anti = vms
    .filter((v) => v.antiAffinity)
    .sort((a, b) => vmMemoryNeeded(a) - vmMemoryNeeded(b) || a.ref.localeCompare(b.ref));
  const others = vms.filter((v) => !v.antiAffinity);
  const initial = (): GroupQueues => {
    const qs: GroupQueues = new Map();
    for (const v of anti) {
      const aa = v.antiAffinity!;
      if (qs.has(aa.group)) continue;
      qs.set(aa.group, new Map(targets.map((h) => [h.ref, { count: aa.counts[h.ref] ?? 0, size: hostFreeMemory(h) }])));
    }
    return qs;
  };
  /** binpack_after_plan_applied: the rest bin-packed on what the plan leaves; undefined unless everything fits. */
  const complete = (plan: Map<string, string>, rest: PlacementVm[]) => {
    if (plan.size === 0) return undefined;
    const room = free();
    for (const v of vms) {
      const h = plan.get(v.ref);
      if (h) room.set(h, room.get(h)! - vmMemoryNeeded(v));
    }
    const more = biggestFitDecreasing(rest, targets, room);
    return more.size === rest.length ? new Map([...plan, ...more]) : undefined;
  };

  // (1) spread evenly
  const spread = new Map<string, string>();
  const qs = initial();
  for (const v of anti) {
    const q = qs.get(v.antiAffinity!.group)!;
    const h = selectFromQueue(v, q, byRef);
    if (!h) {
      spread.clear();
      break;
    }
    spread.set(v.ref, h);
    q.get(h)!.count++;
    for (const other of qs.values()) {
      const st = other.get(h);
      if (st) st.size -= vmMemoryNeeded(v);
    }
  }
  const first = complete(spread, others);
  if (first) return first;

  // (2) no breach
  const noBreach = new Map<string, string>();
  const left: PlacementVm[] = [];
  const state = new Map(
    [...initial()].map(([g, q]) => {
      const empty = new Map([...q].filter(([, st]) => st.count === 0));
      return [g, { empty, resident: q.size - empty.size }];
    }),
  );
  for (const v of anti) {
    const st = state.get(v.antiAffinity!.group)!;
    const h = st.resident < 2 ? selectFromQueue(v, st.empty, byRef) : undefined;
    if (!h) {
      left.push(v);
      continue;
    }
    noBreach.set(v.ref, h);
    st.empty.delete(h);
    st.resident++;
    for (const other of state.values()) {
      const e = other.empty.get(h);
      if (e) e.size -= vmMemoryNeeded(v);
    }
  }
  const second = complete(noBreach, [...others, ...left]);
  if (second) return second;

  // (3) ignore the groups
  return binpackAll();
}

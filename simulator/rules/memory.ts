import { fail } from "../errors";

/** VM memory constraints (xapi_vm_memory_constraints.ml): static_min ≤ dynamic_min ≤ dynamic_max ≤ static_max. */
export interface MemoryLimits {
  staticMin: number;
  dynamicMin: number;
  dynamicMax: number;
  staticMax: number;
}

export function assertMemoryOrder(m: MemoryLimits): void {
  if (!(m.staticMin <= m.dynamicMin && m.dynamicMin <= m.dynamicMax && m.dynamicMax <= m.staticMax))
    throw fail("MEMORY_CONSTRAINT_VIOLATION_ORDER");
}

/** With DMC off (or a control domain / nested-virt VM) the dynamic range is pinned to static_max. */
export function assertMemoryPinned(m: MemoryLimits, reason: string): void {
  if (m.dynamicMin !== m.staticMax || m.dynamicMax !== m.staticMax)
    throw fail("MEMORY_CONSTRAINT_VIOLATION_MAXPIN", reason);
}

/** At start only impossible constraints fail (validate_memory). */
export function assertMemoryCoercible(m: MemoryLimits): void {
  if (m.staticMax < m.staticMin || m.dynamicMax < m.dynamicMin) throw fail("MEMORY_CONSTRAINT_VIOLATION");
}

export function assertVcpus(atStartup: number, max: number, field: "VCPUs_at_startup" | "VCPUs_max"): void {
  if (field === "VCPUs_at_startup" && (atStartup < 1 || atStartup > max))
    throw fail("INVALID_VALUE", "VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max", atStartup);
  if (field === "VCPUs_max" && (max < 1 || max < atStartup))
    throw fail("INVALID_VALUE", "VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max", max);
}

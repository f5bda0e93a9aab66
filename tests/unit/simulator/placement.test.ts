import { assertMemoryCoercible, assertMemoryOrder, assertMemoryPinned } from "../../../simulator/rules/memory";
import {
  MiB,
  PlacementHost,
  PlacementVm,
  assertCanBootHere,
  biggestFitDecreasing,
  chooseHost,
  hostFreeMemory,
  planEvacuation,
  planPlacements,
  rankHosts,
} from "../../../simulator/rules/placement";

const GiB = 1024 * MiB;

function host(name: string, over: Partial<PlacementHost> = {}): PlacementHost {
  return {
    ref: `OpaqueRef:${name}`,
    name,
    enabled: true,
    live: true,
    hvm: true,
    cpus: 8,
    evacuating: false,
    memoryTotal: 16 * GiB,
    memoryOverhead: 0,
    memoryUsed: 0,
    staticMaxUsed: 0,
    dynamicMaxUsed: 0,
    attachedSrs: ["OpaqueRef:sr"],
    networks: ["OpaqueRef:net"],
    ...over,
  };
}

function vm(over: Partial<PlacementVm> = {}): PlacementVm {
  return {
    ref: "OpaqueRef:vm",
    domainType: "hvm",
    dynamicMin: 4 * GiB,
    dynamicMax: 4 * GiB,
    staticMax: 4 * GiB,
    overhead: 0,
    vcpusMax: 2,
    vcpuUnrestricted: false,
    srs: ["OpaqueRef:sr"],
    networks: ["OpaqueRef:net"],
    affinity: "OpaqueRef:NULL",
    ...over,
  };
}

function err(f: () => unknown): string[] | null {
  try {
    f();
    return null;
  } catch (e) {
    return (e as { toArray(): string[] }).toArray();
  }
}

describe("assert_can_boot_here (check order)", () => {
  const cases: { name: string; vm?: Partial<PlacementVm>; host?: Partial<PlacementHost>; expected: string[] | null }[] =
    [
      { name: "fits", expected: null },
      { name: "dead host", host: { live: false, enabled: false }, expected: ["HOST_NOT_LIVE"] },
      { name: "disabled host", host: { enabled: false }, expected: ["HOST_DISABLED", "OpaqueRef:h"] },
      {
        name: "missing SR",
        vm: { srs: ["OpaqueRef:other"] },
        expected: ["VM_REQUIRES_SR", "OpaqueRef:vm", "OpaqueRef:other"],
      },
      {
        name: "missing network",
        vm: { networks: ["OpaqueRef:n2"] },
        expected: ["VM_REQUIRES_NETWORK", "OpaqueRef:vm", "OpaqueRef:n2"],
      },
      { name: "HVM on a host without VT", host: { hvm: false }, expected: ["VM_HVM_REQUIRED", "OpaqueRef:vm"] },
      { name: "PV on a host without VT", vm: { domainType: "pv" }, host: { hvm: false }, expected: null },
      {
        name: "HVM check precedes memory",
        host: { hvm: false, memoryTotal: GiB },
        expected: ["VM_HVM_REQUIRED", "OpaqueRef:vm"],
      },
      {
        name: "not enough memory: [needed, available] in bytes",
        vm: { overhead: 8 * MiB },
        host: { memoryTotal: 4 * GiB, memoryOverhead: 0 },
        expected: ["HOST_NOT_ENOUGH_FREE_MEMORY", String(4 * GiB + 8 * MiB), String(4 * GiB)],
      },
      { name: "too many vCPUs", vm: { vcpusMax: 16 }, expected: ["HOST_NOT_ENOUGH_PCPUS", "16", "8"] },
      { name: "vcpu-unrestricted", vm: { vcpusMax: 16, vcpuUnrestricted: true }, expected: null },
    ];
  test.each(cases)("$name", (c) => {
    expect(err(() => assertCanBootHere(vm(c.vm), host("h", c.host)))).toEqual(c.expected);
  });
});

describe("free memory", () => {
  test("total - host overhead - used, floored at 0", () => {
    expect(hostFreeMemory({ memoryTotal: 10, memoryOverhead: 2, memoryUsed: 3 })).toBe(5);
    expect(hostFreeMemory({ memoryTotal: 10, memoryOverhead: 2, memoryUsed: 30 })).toBe(0);
  });
});

describe("chooseHost", () => {
  test("affinity host wins when valid", () => {
    const hs = [host("a", { memoryTotal: 64 * GiB }), host("b")];
    expect(chooseHost(vm({ affinity: "OpaqueRef:b" }), hs).host.name).toBe("b");
  });
  test("affinity is only a hint: an invalid affinity host is skipped", () => {
    const hs = [host("a"), host("b", { enabled: false })];
    expect(chooseHost(vm({ affinity: "OpaqueRef:b" }), hs).host.name).toBe("a");
  });
  test("most free memory among definite hosts", () => {
    const hs = [
      host("a", { memoryUsed: 8 * GiB, staticMaxUsed: 8 * GiB }),
      host("b", { memoryUsed: 2 * GiB, staticMaxUsed: 2 * GiB }),
    ];
    expect(chooseHost(vm(), hs).host.name).toBe("b");
  });
  test("disabled, dead and evacuating hosts are skipped", () => {
    const hs = [host("a", { enabled: false }), host("b", { live: false }), host("c", { evacuating: true }), host("d")];
    expect(chooseHost(vm(), hs).host.name).toBe("d");
  });
  test("HVM guest: only hosts with hardware assist", () => {
    expect(chooseHost(vm(), [host("nohvm", { hvm: false, memoryTotal: 64 * GiB }), host("hvm")]).host.name).toBe("hvm");
  });
  test("no host qualifies: NO_HOSTS_AVAILABLE", () => {
    expect(err(() => chooseHost(vm(), [host("a", { hvm: false }), host("b", { enabled: false })]))).toEqual([
      "NO_HOSTS_AVAILABLE",
    ]);
  });
  test("memory-blind second pass returns a host that lacks memory", () => {
    const r = chooseHost(vm(), [host("a", { memoryTotal: 2 * GiB })]);
    expect(r.host.name).toBe("a");
    expect(r.memoryFits).toBe(false);
  });
});

describe("planPlacements (evacuation/HA bin-packing)", () => {
  test("accounts memory as it places", () => {
    const vms = [1, 2, 3].map((i) =>
      vm({ ref: `OpaqueRef:v${i}`, dynamicMin: 6 * GiB, dynamicMax: 6 * GiB, staticMax: 6 * GiB }),
    );
    const { placed, failed } = planPlacements(vms, [host("a"), host("b", { memoryTotal: 8 * GiB })]);
    expect([...placed.entries()]).toEqual([
      ["OpaqueRef:v1", "OpaqueRef:a"],
      ["OpaqueRef:v2", "OpaqueRef:a"],
      ["OpaqueRef:v3", "OpaqueRef:b"],
    ]);
    expect(failed.size).toBe(0);
  });
  test("a VM that fits nowhere fails with HOST_NOT_ENOUGH_FREE_MEMORY [vm]", () => {
    const { failed } = planPlacements(
      [vm({ dynamicMin: 32 * GiB, dynamicMax: 32 * GiB, staticMax: 32 * GiB })],
      [host("a")],
    );
    expect(failed.get("OpaqueRef:vm")!.toArray()).toEqual(["HOST_NOT_ENOUGH_FREE_MEMORY", "OpaqueRef:vm"]);
  });
});

describe("anti-affinity (xapi_vm_helpers.ml rank_hosts_by_placement, xapi_ha_vm_failover.ml)", () => {
  const member = (ref: string, counts: Record<string, number>, over: Partial<PlacementVm> = {}) =>
    vm({ ref: `OpaqueRef:${ref}`, domainType: "pv", antiAffinity: { group: "OpaqueRef:g", counts }, ...over });
  const names = (tiers: PlacementHost[][]) => tiers.map((t) => t.map((h) => h.name));

  test("tiers: the affinity host, then by how few of the group each host runs", () => {
    const hs = [host("a"), host("b"), host("c"), host("d")];
    const counts = { "OpaqueRef:a": 2, "OpaqueRef:b": 1, "OpaqueRef:d": 1 };
    expect(names(rankHosts(member("v", counts), hs))).toEqual([["c"], ["b", "d"], ["a"]]);
    expect(names(rankHosts(member("v", counts, { affinity: "OpaqueRef:a" }), hs))).toEqual([["a"], ["c"], ["b", "d"]]);
    expect(names(rankHosts(vm(), hs))).toEqual([["a", "b", "c", "d"]]);
  });
  test("start: the least loaded tier that has room wins over free memory, else the next tier", () => {
    const hs = [host("big", { memoryTotal: 64 * GiB }), host("small", { memoryTotal: 8 * GiB })];
    expect(chooseHost(member("v", { "OpaqueRef:big": 1 }), hs).host.name).toBe("small");
    const full = [host("big", { memoryTotal: 64 * GiB }), host("small", { memoryTotal: 2 * GiB })];
    expect(chooseHost(member("v", { "OpaqueRef:big": 1 }), full)).toMatchObject({
      host: { name: "big" },
      memoryFits: true,
    });
  });
  test("biggest fit decreasing: the biggest VM first, each on the host with the most room", () => {
    const hs = [host("a", { memoryTotal: 16 * GiB }), host("b", { memoryTotal: 12 * GiB })];
    const sized = (ref: string, gib: number) =>
      vm({
        ref: `OpaqueRef:${ref}`,
        domainType: "pv",
        dynamicMin: gib * GiB,
        dynamicMax: gib * GiB,
        staticMax: gib * GiB,
      });
    const room = new Map(hs.map((h) => [h.ref, hostFreeMemory(h)]));
    const plan = biggestFitDecreasing([sized("s", 2), sized("l", 10), sized("m", 6), sized("x", 20)], hs, room);
    expect(Object.fromEntries(plan)).toEqual({
      "OpaqueRef:l": "OpaqueRef:a",
      "OpaqueRef:m": "OpaqueRef:b",
      "OpaqueRef:s": "OpaqueRef:a",
    });
    expect(room.get("OpaqueRef:a")).toBe(4 * GiB);
  });
  test("evacuation: spread evenly where memory allows, otherwise no breach, otherwise bin-packing", () => {
    const hs = [host("a", { memoryTotal: 32 * GiB }), host("b", { memoryTotal: 8 * GiB })];
    // Two members leave a third host; a already runs one of the group.
    const two = [member("v1", { "OpaqueRef:a": 1 }), member("v2", { "OpaqueRef:a": 1 })];
    expect(Object.fromEntries(planEvacuation(two, hs, 3))).toEqual({
      "OpaqueRef:v1": "OpaqueRef:b",
      "OpaqueRef:v2": "OpaqueRef:b",
    });
    // b has room for one only: the next least loaded host that fits takes the other.
    const tight = [host("a", { memoryTotal: 32 * GiB }), host("b", { memoryTotal: 5 * GiB })];
    expect(Object.fromEntries(planEvacuation(two, tight, 3))).toEqual({
      "OpaqueRef:v1": "OpaqueRef:b",
      "OpaqueRef:v2": "OpaqueRef:a",
    });
    // Fewer than 3 hosts in the pool: memory alone decides.
    expect(Object.fromEntries(planEvacuation(two, hs, 2))).toEqual({
      "OpaqueRef:v1": "OpaqueRef:a",
      "OpaqueRef:v2": "OpaqueRef:a",
    });
    // A VM nothing can take is left out.
    const huge = member("v3", {}, { dynamicMin: 40 * GiB, dynamicMax: 40 * GiB, staticMax: 40 * GiB });
    expect(planEvacuation([huge], hs, 3).has("OpaqueRef:v3")).toBe(false);
  });
});

describe("memory constraints", () => {
  const m = (a: number, b: number, c: number, d: number) => ({
    staticMin: a,
    dynamicMin: b,
    dynamicMax: c,
    staticMax: d,
  });
  test.each([
    { name: "ordered", m: m(1, 2, 3, 4), expected: null },
    { name: "equal values", m: m(4, 4, 4, 4), expected: null },
    { name: "dynamic_min below static_min", m: m(2, 1, 3, 4), expected: ["MEMORY_CONSTRAINT_VIOLATION_ORDER"] },
    { name: "dynamic_max above static_max", m: m(1, 2, 5, 4), expected: ["MEMORY_CONSTRAINT_VIOLATION_ORDER"] },
    { name: "dynamic_min above dynamic_max", m: m(1, 3, 2, 4), expected: ["MEMORY_CONSTRAINT_VIOLATION_ORDER"] },
  ])("order: $name", ({ m: limits, expected }) => {
    expect(err(() => assertMemoryOrder(limits))).toEqual(expected);
  });
  test("pinned", () => {
    expect(err(() => assertMemoryPinned(m(1, 2, 4, 4), "DMC disabled"))).toEqual([
      "MEMORY_CONSTRAINT_VIOLATION_MAXPIN",
      "DMC disabled",
    ]);
    expect(err(() => assertMemoryPinned(m(1, 4, 4, 4), "DMC disabled"))).toBeNull();
  });
  test("coercible at start", () => {
    expect(err(() => assertMemoryCoercible(m(5, 1, 2, 4)))).toEqual(["MEMORY_CONSTRAINT_VIOLATION"]);
    expect(err(() => assertMemoryCoercible(m(1, 3, 2, 4)))).toEqual(["MEMORY_CONSTRAINT_VIOLATION"]);
  });
});

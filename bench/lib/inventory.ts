/** A generated datacenter for the simulator benchmarks: `hosts` identical hosts, joinable into one pool. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Inventory } from "../../simulator/inventory/types";
import { REPO_ROOT } from "./util";

export function benchInventory(hosts: number): Inventory {
  const base = JSON.parse(
    fs.readFileSync(path.join(REPO_ROOT, "simulator", "inventory", "default.json"), "utf8"),
  ) as Inventory;
  if (hosts > 250) throw new Error("at most 250 hosts (one 127.42.0.x address each)");
  return {
    ...base,
    // one shared SR big enough for every benchmark VM's disk (the default one holds 4 TiB)
    srs: [{ name: "shared-nfs", type: "nfs", shared: true, sizeGiB: 1024 * 1024, host: "bench-001" }],
    hosts: Array.from({ length: hosts }, (_, i) => ({
      name: `bench-${String(i + 1).padStart(3, "0")}`,
      address: `127.42.0.${i + 1}`,
      cpus: 64,
      sockets: 2,
      memoryGiB: 1024,
      cpuVendor: "GenuineIntel",
      cpuModel: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
      hvm: true,
      localSrGiB: 4000,
    })),
  };
}

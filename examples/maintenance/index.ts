/**
 * Rolling host maintenance. The pool's hosts are declared here (members are joined), HA protects the VMs, and
 * the config key `maintenance:host` names the ONE host that is in maintenance right now: that host is disabled
 * and its VMs are evacuated live to the others (same VMs, same UUIDs, still running). Roll through the pool by
 * setting the key to each host in turn and running `pulumi up`; remove the key when done. See README.md.
 */
import * as pulumi from "@pulumi/pulumi";
import * as xen from "pulumi-xen";

const config = new pulumi.Config("maintenance");
/** The pool's hosts: name_label (used for VM affinity) and management address; the first is the master at xen:url. */
const poolHosts: { name: string; address: string }[] = config.getObject("hosts") ?? [
  { name: "xen-01", address: "127.42.0.1" },
  { name: "xen-02", address: "127.42.0.2" },
  { name: "xen-03", address: "127.42.0.3" },
];
const addresses = poolHosts.map((h) => h.address);
/** Address of the host in maintenance now, or unset/empty when none is. */
const inMaintenance = config.get("host") ?? "";
const sharedSr = config.get("sharedSr") ?? "shared-nfs";
const vmNetwork = config.get("vmNetwork") ?? "VM Network";
const vmCount = config.getNumber("vmCount") ?? 4;
const ha = config.getBoolean("ha") ?? true;

if (inMaintenance && !addresses.includes(inMaintenance)) {
  throw new Error(`maintenance:host ${inMaintenance} is not one of the pool's hosts (${addresses.join(", ")})`);
}

// Hosts in service first. The host entering maintenance depends on them, so a host leaving maintenance in the
// same `up` is enabled before the next one is disabled: the pool never has two hosts out at once, and HA's
// failover plan is checked against the hosts that are really available.
const hosts = new Map<string, xen.Host>();
for (const { name, address } of poolHosts) {
  if (address !== inMaintenance)
    hosts.set(address, new xen.Host(name, { address, maintenance: false, tags: ["maintenance-roll"] }));
}
for (const { name, address } of poolHosts) {
  if (address === inMaintenance)
    hosts.set(
      address,
      new xen.Host(
        name,
        { address, maintenance: true, tags: ["maintenance-roll"] },
        { dependsOn: [...hosts.values()] },
      ),
    );
}
const inOrder = addresses.map((a) => hosts.get(a)!);

// HA is enabled once every host has joined (pool.join refuses while HA is on). With HA on, a host can only be
// evacuated when each of its VMs is protected (haRestartPriority "restart") and the failover plan still holds.
const pool = new xen.Pool(
  "pool",
  {
    nameLabel: config.get("poolName") ?? "maintenance",
    defaultSr: sharedSr,
    ha: { enabled: ha, hostFailuresToTolerate: 1, heartbeatSr: sharedSr },
  },
  { dependsOn: inOrder },
);

// VMs spread over the hosts by affinity, disks on shared storage so they can move live. A VM that maintenance
// moved elsewhere is not drift: only a changed affinityHost migrates it back.
const vms = Array.from(
  { length: vmCount },
  (_, i) =>
    new xen.Vm(
      `app-${i + 1}`,
      {
        template: "Debian Bookworm 12",
        vcpus: 1,
        maxVcpus: 2,
        memory: "1GiB",
        maxMemory: "2GiB",
        disks: [{ size: "10GiB", sr: sharedSr }],
        networks: [{ network: vmNetwork }],
        affinityHost: poolHosts[i % poolHosts.length]!.name,
        haRestartPriority: "restart",
        tags: ["maintenance-roll"],
      },
      { dependsOn: [pool] },
    ),
);

export const maintenanceHost = inMaintenance;
/** Host name -> uuid. */
export const hostUuids = pulumi
  .all(inOrder.map((h, i) => h.uuid.apply((uuid) => [poolHosts[i]!.name, uuid] as const)))
  .apply((rows) => Object.fromEntries(rows));
/** Per VM: uuid, power state and the uuid of the host it runs on. */
export const placement = pulumi
  .all(vms.map((vm) => pulumi.all([vm.nameLabel, vm.uuid, vm.powerState, vm.residentOn])))
  .apply((rows) =>
    Object.fromEntries(rows.map(([name, uuid, powerState, residentOn]) => [name, { uuid, powerState, residentOn }])),
  );

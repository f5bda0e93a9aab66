/**
 * A datacenter on the default simulator inventory (or a real pool): four standalone hosts formed into one pool
 * with HA, a Windows HVM VM, Linux HVM VMs spread by affinity, a legacy PV VM on the host without hardware
 * assist, a data disk and two networks. Run it with `npm run demo` (or `pulumi up` with xen:url set).
 */
import * as pulumi from "@pulumi/pulumi";
import * as xen from "pulumi-xen";

const config = new pulumi.Config("datacenter");
/** Hosts that join the pool of the master at xen:url. */
const members: string[] = config.getObject<string[]>("members") ?? ["127.42.0.2", "127.42.0.3", "127.42.0.4"];
const sharedSr = config.get("sharedSr") ?? "shared-nfs";
const vmNetwork = config.get("vmNetwork") ?? "VM Network";
const managementNetwork = config.get("managementNetwork") ?? "Management";

const hosts = members.map((address, i) => new xen.Host(`xen-0${i + 2}`, { address, tags: ["datacenter"] }));

// HA is enabled after the members have joined: pool.join refuses while HA is on.
const pool = new xen.Pool(
  "datacenter",
  {
    nameLabel: "datacenter",
    description: "Example datacenter managed by pulumi-xen",
    defaultSr: sharedSr,
    ha: { enabled: true, hostFailuresToTolerate: 1, heartbeatSr: sharedSr },
  },
  { dependsOn: hosts },
);

const onPool = { dependsOn: [pool] };

const windows = new xen.Vm(
  "win-app",
  {
    template: "Windows Server 2022 (64-bit)",
    vcpus: 2,
    maxVcpus: 4,
    memory: "4GiB",
    maxMemory: "8GiB",
    disks: [{ size: "40GiB", sr: sharedSr }],
    networks: [{ network: vmNetwork }],
    haRestartPriority: "restart",
    tags: ["windows"],
  },
  onPool,
);

// Linux HVM guests spread over the hardware-assisted hosts by affinity.
const web = ["xen-01", "xen-02", "xen-03"].map(
  (host, i) =>
    new xen.Vm(
      `web-${i + 1}`,
      {
        template: "Debian Bookworm 12",
        vcpus: 2,
        maxVcpus: 4,
        memory: "2GiB",
        maxMemory: "4GiB",
        disks: [{ size: "10GiB", sr: sharedSr }],
        networks: [{ network: vmNetwork }],
        affinityHost: host,
        haRestartPriority: "restart",
        waitForIp: true,
        tags: ["web"],
      },
      onPool,
    ),
);

// A database with a data disk on both networks.
const db = new xen.Vm(
  "db",
  {
    template: "Debian Bookworm 12",
    vcpus: 4,
    maxVcpus: 8,
    memory: "8GiB",
    maxMemory: "16GiB",
    disks: [
      { size: "20GiB", sr: sharedSr },
      // Named: a disk's name is its identity, so editing the list never touches the wrong disk.
      { name: "data", size: "100GiB", sr: sharedSr, nameLabel: "db-data" },
    ],
    networks: [{ network: vmNetwork }, { network: managementNetwork }],
    haRestartPriority: "best-effort",
    tags: ["db"],
  },
  onPool,
);

// A legacy paravirtualised guest: it needs no hardware assist, so it can run on xen-04.
const legacy = new xen.Vm(
  "legacy-pv",
  {
    template: "CentOS 6 (PV)",
    vcpus: 1,
    memory: "1GiB",
    networks: [{ network: managementNetwork }],
    affinityHost: "xen-04",
  },
  onPool,
);

const vms = {
  "win-app": windows,
  ...Object.fromEntries(web.map((v, i) => [`web-${i + 1}`, v])),
  db,
  "legacy-pv": legacy,
};

export const poolUuid = pool.uuid;
export const hostUuids = pool.hostUuids;
/** Where each VM runs and its addresses: `{ name: { host, powerState, ip } }`. */
export const placement = pulumi
  .all(
    Object.entries(vms).map(([name, vm]) =>
      pulumi
        .all([vm.residentOn, vm.powerState, vm.ipAddresses, vm.domainType])
        .apply(([host, powerState, ips, domainType]) => ({
          name,
          host,
          powerState,
          domainType,
          ip: ips[0] ?? "",
        })),
    ),
  )
  .apply((rows) => Object.fromEntries(rows.map(({ name, ...row }) => [name, row])));

import * as pulumi from "@pulumi/pulumi";
import * as xen from "pulumi-xen";

const cfg = new pulumi.Config();
const protectDb = cfg.getBoolean("protectDb") ?? true;
const revertDbTo = cfg.get("revertDbTo");

// A pool of three: the simulator's first host is the master, two standalone hosts join it.
const hosts = ["127.42.0.2", "127.42.0.3"].map((address, i) => new xen.Host(`member-${i + 2}`, { address }));

// The web tier, kept on different hosts by the pool (start, migration, evacuation).
const spread = new xen.VmGroup("web-spread", { placement: "anti-affinity" });
const webs = [1, 2, 3].map(
  (i) =>
    new xen.Vm(
      `web-${i}`,
      {
        template: "Debian Bookworm 12",
        vcpus: 1,
        memory: "1GiB",
        networks: [{ network: "VM Network" }],
        group: spread.uuid,
      },
      { dependsOn: hosts },
    ),
);

// The database: nobody may destroy or shut it down by hand (blocked_operations), a snapshot is taken before any
// restart-level change, and `revertDbTo` takes it back to a snapshot. VM.revert shuts the VM down first, so the
// shutdown guard is lifted while a revert is asked for (the provider refuses a revert the guard blocks).
const db = new xen.Vm(
  "db",
  {
    template: "Debian Bookworm 12",
    vcpus: 2,
    memory: "2GiB",
    disks: [{ size: "10GiB" }, { name: "data", size: "20GiB" }],
    networks: [{ network: "VM Network" }],
    protect: { destroy: protectDb, shutdown: protectDb && !revertDbTo },
    snapshotBeforeChange: true,
    snapshotsKept: 2,
    allowRestart: true,
    ...(revertDbTo ? { revertTo: revertDbTo } : {}),
  },
  { dependsOn: hosts },
);
const beforeUpgrade = new xen.Snapshot("db-before-upgrade", { vm: db.uuid });

// Start order: the database first, the web tier 30 s later; stopped the other way round.
const shop = new xen.Appliance("shop", {
  members: [
    { vm: db.uuid, order: 0, startDelay: "30s" },
    ...webs.map((w) => ({ vm: w.uuid, order: 1, shutdownDelay: "5s" })),
  ],
});

export const webHosts = webs.map((w) => w.residentOn);
export const dbUuid = db.uuid;
export const snapshotUuid = beforeUpgrade.uuid;
export const applianceUuid = shop.uuid;
export const groupMembers = spread.memberUuids;

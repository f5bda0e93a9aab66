/**
 * One program, one stack per environment. Everything that differs between dev and prod lives in the committed
 * `Pulumi.<stack>.yaml` (reviewed like any other change); the program only reads it. Connection and credentials
 * come from the XEN_* environment variables, never from the committed files.
 */
import * as pulumi from "@pulumi/pulumi";
import * as xen from "pulumi-xen";

const config = new pulumi.Config("gitops");

/** The environment's name: prefixes every VM name and becomes a tag. */
const envName = config.require("env");
if (!/^[a-z][a-z0-9-]{0,15}$/.test(envName)) {
  throw new Error(`gitops:env "${envName}" must be a short lowercase name such as "dev" or "prod"`);
}
const vmCount = config.requireNumber("vmCount");
if (!Number.isInteger(vmCount) || vmCount < 0 || vmCount > 50) {
  throw new Error(`gitops:vmCount must be a whole number from 0 to 50, got ${vmCount}`);
}

const template = config.get("template") ?? "Debian Bookworm 12";
const vcpus = config.getNumber("vcpus") ?? 1;
const maxVcpus = config.getNumber("maxVcpus") ?? vcpus;
const memory = config.get("memory") ?? "1GiB";
const maxMemory = config.get("maxMemory") ?? memory;
const diskSize = config.get("diskSize") ?? "10GiB";
/** Optional second disk per VM. */
const dataDiskSize = config.get("dataDiskSize");
/** SR for the disks (name_label or UUID); default: the pool's default SR. */
const sr = config.get("sr");
const network = config.get("network") ?? "VM Network";
const haRestartPriority = config.get("haRestartPriority") as "restart" | "best-effort" | "" | undefined;

const disks: xen.VmDiskArgs[] = [{ size: diskSize, ...(sr ? { sr } : {}) }];
if (dataDiskSize) disks.push({ size: dataDiskSize, nameLabel: "data", ...(sr ? { sr } : {}) });

const vms = Array.from({ length: vmCount }, (_, i) => {
  const name = `${envName}-app-${i + 1}`;
  return new xen.Vm(name, {
    template,
    nameLabel: name,
    description: `app server ${i + 1} of the ${envName} environment`,
    vcpus,
    maxVcpus,
    memory,
    maxMemory,
    disks,
    networks: [{ network }],
    ...(haRestartPriority !== undefined ? { haRestartPriority } : {}),
    // Listed in sorted order: Xen returns tags sorted, and the provider compares the lists in order.
    tags: [`env:${envName}`, "gitops"],
    otherConfig: { environment: envName },
  });
});

export const environment = envName;
/** `{ name: { uuid, powerState, residentOn, ip } }` per VM of this environment. */
export const servers = pulumi
  .all(
    vms.map((vm) =>
      pulumi
        .all([vm.nameLabel, vm.uuid, vm.powerState, vm.residentOn, vm.ipAddresses])
        .apply(([name, uuid, powerState, residentOn, ips]) => ({
          name,
          uuid,
          powerState,
          residentOn,
          ip: ips[0] ?? "",
        })),
    ),
  )
  .apply((rows) => Object.fromEntries(rows.map(({ name, ...row }) => [name, row])));

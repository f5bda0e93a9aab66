import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as xen from "pulumi-xen";

const cfg = new pulumi.Config();
const hostname = cfg.get("hostname") ?? "web-1";

// 1. Cloud-init: hostname, a user and a static address, read by the guest at boot. A later change of the config
//    restarts the VM with a new drive (cloudInitChangePolicy: "restart", the default, with allowRestart).
const web = new xen.Vm("web", {
  template: "Debian Bookworm 12",
  vcpus: 2,
  memory: "2GiB",
  disks: [{ size: "10GiB" }],
  networks: [{ network: "VM Network" }],
  cloudInit: {
    userData: [
      "#cloud-config",
      `hostname: ${hostname}`,
      "users:",
      "  - name: ops",
      "    ssh_authorized_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleOnlyKey ops@example]",
      "",
    ].join("\n"),
    networkConfig: "version: 2\nethernets:\n  eth0:\n    addresses: [10.20.0.10/24]\n    gateway4: 10.20.0.1\n",
  },
  cloudInitChangePolicy: "restart",
  allowRestart: true,
  waitForIp: true,
});

// 2. An install from an ISO: an empty HVM template, the installer booted from CD, ejected when it is done.
const installed = new xen.Vm("debian-from-iso", {
  template: "Other install media",
  vcpus: 1,
  memory: "2GiB",
  bootOrder: "dc",
  disks: [{ name: "root", size: "16GiB" }],
  networks: [{ network: "VM Network" }],
  cdrom: { iso: "debian-12.7.0-amd64-netinst.iso", ejectAfterInstall: true },
});

// 3. Windows 11 needs UEFI, Secure Boot and a TPM.
const win11 = new xen.Vm("win11", {
  template: "Other install media",
  vcpus: 2,
  memory: "4GiB",
  firmware: "uefi",
  secureBoot: true,
  vtpm: true,
  bootOrder: "dc",
  disks: [{ name: "system", size: "64GiB" }],
  networks: [{ network: "VM Network" }],
  cdrom: { iso: "win11-24h2-x64.iso", ejectAfterInstall: true },
});

// 4. A full copy (independent disks) onto the shared SR.
const copy = new xen.Vm("db", {
  source: "Debian Bookworm 12",
  cloneMode: "full",
  vcpus: 2,
  memory: "2GiB",
  disks: [{ size: "10GiB", sr: "shared-nfs" }],
  networks: [{ network: "VM Network" }],
});

// 5. A pool seeded from code: a disk image imported into an SR, a template made from it, a VM made from that.
const file = path.join(__dirname, ".images", "appliance.raw");
if (!fs.existsSync(file)) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const bytes = Buffer.alloc(4 * 1024 * 1024);
  bytes.write("appliance disk image, version 1", 0);
  fs.writeFileSync(file, bytes);
}
const image = new xen.Image("appliance", { nameLabel: "appliance v1", file, sr: "shared-nfs" });
const template = new xen.Template("appliance", {
  nameLabel: "appliance v1",
  image: image.uuid,
  vcpus: 1,
  memory: "1GiB",
  bootOrder: "c",
});
const appliance = new xen.Vm("appliance-1", {
  source: template.uuid,
  vcpus: 1,
  memory: "1GiB",
  networks: [{ network: "VM Network" }],
});

export const webUuid = web.uuid;
export const webIps = web.ipAddresses;
export const webCloudInit = web.cloudInitDigest;
export const installedUuid = installed.uuid;
export const win11Uuid = win11.uuid;
export const copyDisks = copy.diskUuids;
export const imageUuid = image.uuid;
export const applianceUuid = appliance.uuid;

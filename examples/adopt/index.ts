/**
 * Brings an existing VM (created by hand, see create-vm.ts) under management without recreating it: `adopt`
 * names its UUID, and the rest of the arguments describe the VM as it is, so the first `up` changes nothing on
 * it and every later preview shows no diff. From then on it is managed like any other xen.Vm.
 *
 * By default `pulumi destroy` only releases the VM (it keeps running, outside the stack); set
 * `adopt:deleteOnDestroy true` to let destroy shut it down and delete it like a VM the stack created.
 */
import * as pulumi from "@pulumi/pulumi";
import * as xen from "pulumi-xen";

const config = new pulumi.Config("adopt");
const vmUuid = config.require("vmUuid");
const deleteOnDestroy = config.getBoolean("deleteOnDestroy") ?? false;

const vm = new xen.Vm(
  "legacy-app",
  {
    adopt: vmUuid,
    // The VM as create-vm.ts made it: its template, name, description and sizes. Anything declared differently
    // here would be applied by the first `up` (live where possible; a restart only with allowRestart: true).
    template: "Debian Bookworm 12",
    nameLabel: config.get("nameLabel") ?? "legacy-app",
    description: config.get("description") ?? "Installed by hand before pulumi-xen",
    vcpus: 2,
    maxVcpus: 4,
    memory: "2GiB",
    maxMemory: "2GiB",
    disks: [{ size: "10GiB" }],
    networks: [{ network: "VM Network" }],
  },
  { retainOnDelete: !deleteOnDestroy },
);

export const uuid = vm.uuid;
export const powerState = vm.powerState;
export const residentOn = vm.residentOn;
export const ipAddresses = vm.ipAddresses;

import {
  DeviceNumber,
  allowedVbdDevices,
  allowedVifDevices,
  linuxDevice,
  ofLinuxDevice,
  parseDevice,
  validVbdDevice,
  vbdDeviceTaken,
} from "./vm-devices";

const dev = (bus: DeviceNumber["bus"], disk: number, partition = 0): DeviceNumber => ({ bus, disk, partition });
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => String(a + i));

// The cases of xapi's ocaml/xapi-idl/lib_test/device_number_test.ml.
describe("Linux device names (device_number_test.ml examples)", () => {
  test.each([
    ["xvda", dev("xen", 0)],
    ["xvda1", dev("xen", 0, 1)],
    ["hda", dev("ide", 0)],
    ["hda1", dev("ide", 0, 1)],
    ["sda", dev("scsi", 0)],
    ["sda1", dev("scsi", 0, 1)],
    ["sdb3", dev("scsi", 1, 3)],
    ["hdc2", dev("ide", 2, 2)],
    ["xvdaa", dev("xen", 26)],
    ["hde", dev("ide", 4)],
    ["hdp", dev("ide", 15)],
    ["d536p37", dev("xen", 536, 37)],
  ])("%s", (name, expected) => {
    expect(ofLinuxDevice(name)).toEqual(expected);
  });
  test.each([
    ["d0", "xvda"],
    ["d0", "0"],
    ["d5", "5"],
    ["xvdf", "5"],
    ["d0p0", "xvda"],
    ["d536p37", "xvdtq37"],
  ])("%s = %s for a PV guest", (a, b) => {
    expect(parseDevice(false, a)).toEqual(parseDevice(false, b));
  });
  test.each(["d0p0q", "", "eth0", "xvdA"])("%j is not a device", (name) => {
    expect(parseDevice(false, name)).toBeUndefined();
  });
  test("a disk number is IDE below 4 for an HVM guest, a Xen disk otherwise", () => {
    expect(parseDevice(true, "3")).toEqual(dev("ide", 3));
    expect(parseDevice(true, "4")).toEqual(dev("xen", 4));
    expect(parseDevice(false, "3")).toEqual(dev("xen", 3));
  });
});

describe("allowed VBD devices (xapi_vm_helpers.ml allowed_VBD_devices)", () => {
  const cases: { name: string; hvm: boolean; dom0: boolean; used: string[]; expected: string[] }[] = [
    { name: "HVM, no disks: 0-254", hvm: true, dom0: false, used: [], expected: range(0, 254) },
    { name: "PV, no disks: 0-254", hvm: false, dom0: false, used: [], expected: range(0, 254) },
    { name: "control domain: 0-255", hvm: false, dom0: true, used: [], expected: range(0, 255) },
    {
      name: "HVM, boot disk as userdevice 0 / device xvda",
      hvm: true,
      dom0: false,
      used: ["xvda", "0"],
      expected: range(1, 254),
    },
    {
      name: "HVM: xvda alone does not take IDE disk 0",
      hvm: true,
      dom0: false,
      used: ["xvda", ""],
      expected: range(0, 254),
    },
    {
      name: "PV: hdb alone does not take Xen disk 1",
      hvm: false,
      dom0: false,
      used: ["hdb", ""],
      expected: range(0, 254),
    },
    {
      name: "HVM: hde is IDE disk 4, which an HVM guest numbers as Xen disk 4",
      hvm: true,
      dom0: false,
      used: ["hde", ""],
      expected: range(0, 254),
    },
    {
      name: "a partition is not the disk",
      hvm: false,
      dom0: false,
      used: ["xvda1", ""],
      expected: range(0, 254),
    },
    {
      name: "numbers taken in any order, names in d<n> form",
      hvm: false,
      dom0: false,
      used: ["", "3", "d1", "xvdc", "200"],
      expected: ["0", ...range(4, 199), ...range(201, 254)],
    },
  ];
  test.each(cases)("$name", ({ hvm, dom0, used, expected }) => {
    expect(allowedVbdDevices(hvm, dom0, used)).toEqual(expected);
  });
});

test("allowed VIF devices: 0-15 less the VIFs' devices", () => {
  expect(allowedVifDevices([])).toEqual(range(0, 15));
  expect(allowedVifDevices(["0", "7", "16"])).toEqual([...range(1, 6), ...range(8, 15)]);
});

describe("VBD.create's device rules (xapi_vbd.ml, xapi_vbd_helpers.ml valid_device)", () => {
  test.each([
    [dev("xen", 0), "xvda"],
    [dev("xen", 25), "xvdz"],
    [dev("xen", 26), "xvdaa"],
    [dev("xen", 536, 37), "xvdtq37"],
    [dev("ide", 2), "xvdc"],
    [dev("scsi", 1, 3), "sdb3"],
    [dev("floppy", 1), "fdb"],
  ])("%j is named %s", (d, name) => {
    expect(linuxDevice(d)).toBe(name);
  });
  test.each([
    ["autodetect", "Disk", true],
    ["3", "Disk", true],
    ["-1", "Disk", true], // any integer passes valid_device (its range test is always true)
    ["xvdb", "Disk", true],
    ["fda", "Floppy", true],
    ["3", "Floppy", true], // read as Xen disk 3
    ["-1", "Floppy", false],
    ["", "Disk", false],
    ["disk1", "Disk", false],
  ])("%j is a valid %s device: %s", (name, type, valid) => {
    expect(validVbdDevice(name, type)).toBe(valid);
  });
  test("a number clashes with its device names, whichever spelling is in use", () => {
    expect(vbdDeviceTaken("1", ["xvdb", ""])).toBe(true);
    expect(vbdDeviceTaken("1", ["hdb", ""])).toBe(true);
    expect(vbdDeviceTaken("xvdb", ["", "1"])).toBe(true);
    expect(vbdDeviceTaken("2", ["xvdb", "1"])).toBe(false);
    expect(vbdDeviceTaken("xvda1", ["xvda", "0"])).toBe(false);
  });
});

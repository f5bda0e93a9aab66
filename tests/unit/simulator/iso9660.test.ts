import { readNoCloud } from "../../../simulator/models/cloud-init";
import { IsoFormatError, fileBytes, findFile, isIso9660, readIso } from "../../../simulator/models/iso9660";
import { isoImage, noCloudDrive } from "../../integration/simulator/iso-image";

const files = [
  { name: "user-data", content: "#cloud-config\nhostname: web-1\n" },
  { name: "meta-data", content: "instance-id: iid-1\n" },
  { name: "Notes.TXT", content: "x".repeat(5000) },
];

describe("ISO 9660 reader", () => {
  test.each([
    ["rockridge", ["user-data", "meta-data", "Notes.TXT"]],
    ["joliet", ["user-data", "meta-data", "Notes.TXT"]],
    // Without extensions Linux shows the ISO name lowercased, without ";1" and a trailing dot.
    ["iso", ["user-data", "meta-data", "notes.txt"]],
  ] as const)("%s names", (names, expected) => {
    const img = isoImage(files, { label: "cidata", names });
    expect(isIso9660(img)).toBe(true);
    const vol = readIso(img);
    expect(vol.names).toBe(names);
    expect(vol.label).toBe("cidata");
    expect(vol.files.map((f) => f.name)).toEqual(expected);
    const notes = findFile(vol, expected[2]!)!;
    expect(notes.size).toBe(5000);
    expect(fileBytes(img, notes).toString()).toBe("x".repeat(5000));
    expect(fileBytes(img, findFile(vol, "user-data")!).toString()).toContain("hostname: web-1");
  });

  test("the Joliet volume label is read too", () => {
    expect(readIso(isoImage(files, { label: "CIDATA", names: "joliet" })).jolietLabel).toBe("CIDATA");
  });

  test("bytes that are not an ISO image", () => {
    expect(isIso9660(Buffer.alloc(100))).toBe(false);
    expect(isIso9660(Buffer.alloc(40 * 2048))).toBe(false);
    expect(() => readIso(Buffer.from("not an image"))).toThrow(IsoFormatError);
  });

  test("a directory that contains itself is read once", () => {
    const img = isoImage([{ name: "loop", content: "" }], { label: "x", names: "iso" });
    // Turn the file (the record after "." and "..") into a directory whose extent is the root directory.
    const rootSector = img.readUInt32LE(16 * 2048 + 156 + 2);
    let at = rootSector * 2048;
    for (let i = 0; i < 2; i++) at += img[at]!;
    img.writeUInt32LE(rootSector, at + 2);
    img.writeUInt32LE(2048, at + 10);
    img[at + 25] = 2;
    const again = readIso(img);
    expect(again.files.map((f) => f.path)).toEqual(["loop"]);
  });
});

describe("NoCloud drive", () => {
  test("hostname from user-data, fqdn domain, static addresses from network config v2", () => {
    const seed = readNoCloud(
      noCloudDrive({
        metaData: "instance-id: iid-web\nlocal-hostname: ignored\n",
        userData: "#cloud-config\nhostname: web-1\nfqdn: web-1.example.com\n",
        networkConfig:
          "version: 2\nethernets:\n  enX0:\n    dhcp4: false\n    addresses: [10.20.0.50/24, 'fd00::50/64']\n  second:\n    match: {macaddress: 'AA:BB:CC:00:11:22'}\n    dhcp4: true\n",
      }),
    );
    expect(seed).toEqual({
      instanceId: "iid-web",
      hostname: "web-1",
      domain: "example.com",
      interfaces: [
        { name: "enX0", ipv4: ["10.20.0.50"], ipv6: ["fd00::50"], dhcp4: false },
        { name: "second", mac: "aa:bb:cc:00:11:22", ipv4: [], ipv6: [], dhcp4: true },
      ],
    });
  });

  test("network config v1 under a network key, local-hostname from meta-data", () => {
    const seed = readNoCloud(
      noCloudDrive(
        {
          metaData: "instance-id: iid-2\nlocal-hostname: db-1.lab.local\n",
          userData: "#!/bin/sh\necho not cloud-config\n",
          networkConfig:
            "network:\n  version: 1\n  config:\n    - type: physical\n      name: eth0\n      subnets:\n        - type: static\n          address: 10.20.0.60\n          netmask: 255.255.255.0\n",
        },
        { names: "joliet", label: "CIDATA" },
      ),
    );
    expect(seed).toMatchObject({
      instanceId: "iid-2",
      hostname: "db-1",
      domain: "lab.local",
      interfaces: [{ name: "eth0", ipv4: ["10.20.0.60"], dhcp4: false }],
    });
  });

  test("preserve_hostname keeps the guest's name; no meta-data or another label is no datasource", () => {
    expect(
      readNoCloud(noCloudDrive({ metaData: "instance-id: a\n", userData: "#cloud-config\npreserve_hostname: true\n" })),
    ).toEqual({ instanceId: "a" });
    expect(readNoCloud(isoImage([{ name: "user-data", content: "#cloud-config\n" }], { label: "cidata" }))).toBe(
      undefined,
    );
    expect(
      readNoCloud(noCloudDrive({ metaData: "instance-id: a\n", userData: "#cloud-config\n" }, { label: "config-2" })),
    ).toBe(undefined);
  });
});

/**
 * The config drive the provider writes is one a NoCloud guest reads: written by provider/media, read back by the
 * simulator's ISO 9660 and NoCloud readers (which follow the standards, not the writer).
 */
import { configDriveImage, defaultMetaData, hostnameOf } from "../../../provider/media/config-drive";
import { buildIso, isoName } from "../../../provider/media/iso9660";
import { readNoCloud } from "../../../simulator/models/cloud-init";
import { fileBytes, findFile, readIso } from "../../../simulator/models/iso9660";

describe("ISO 9660 writer", () => {
  test("Rock Ridge names, contents and the label survive a read", () => {
    const files = [
      { name: "user-data", content: Buffer.from("#cloud-config\nhostname: a\n") },
      { name: "meta-data", content: Buffer.from("instance-id: x\n") },
      { name: "network-config", content: Buffer.alloc(5000, 0x61) },
    ];
    const image = buildIso("cidata", files);
    expect(image.length % 2048).toBe(0);
    const volume = readIso(image);
    expect(volume.label).toBe("cidata");
    expect(volume.names).toBe("rockridge");
    for (const f of files) expect(fileBytes(image, findFile(volume, f.name)!)).toEqual(f.content);
  });

  test("the same files give the same bytes (no timestamps)", () => {
    const files = [{ name: "a", content: Buffer.from("x") }];
    expect(buildIso("v", files).equals(buildIso("v", [...files]))).toBe(true);
  });

  test("ISO names are d-characters with a version", () => {
    expect(isoName("user-data")).toBe("USER_DATA.;1");
    expect(isoName("meta.data.yaml")).toBe("META_DATA.YAML;1");
  });

  test("two names that map to one ISO name are refused", () => {
    expect(() =>
      buildIso("v", [
        { name: "a-b", content: Buffer.from("1") },
        { name: "a_b", content: Buffer.from("2") },
      ]),
    ).toThrow(/same ISO name/);
  });
});

describe("NoCloud config drive", () => {
  test("a guest reads the hostname and static addresses from it", () => {
    const image = configDriveImage(
      {
        userData: "#cloud-config\nhostname: web-7\n",
        networkConfig: "version: 2\nethernets:\n  eth0:\n    addresses: [10.20.0.77/24]\n",
      },
      "ignored-by-user-data",
    );
    const seed = readNoCloud(image)!;
    expect(seed.hostname).toBe("web-7");
    expect(seed.interfaces?.[0]?.ipv4).toEqual(["10.20.0.77"]);
  });

  test("the default meta-data names the instance after the config and the host after the VM", () => {
    const a = defaultMetaData({ userData: "a" }, "vm");
    expect(a).toMatch(/^instance-id: pulumi-xen-[0-9a-f]{16}\nlocal-hostname: vm\n$/);
    expect(defaultMetaData({ userData: "b" }, "vm")).not.toBe(a);
    expect(readNoCloud(configDriveImage({ userData: "#cloud-config\n" }, "web-1"))!.hostname).toBe("web-1");
  });

  test("host names from VM names", () => {
    expect(hostnameOf("Web Server #1")).toBe("web-server-1");
    expect(hostnameOf("---")).toBe("localhost");
  });
});

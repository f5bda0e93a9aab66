import { providers } from "../../../provider";
import { UNKNOWN } from "../../../provider/schema";

const vm = providers.Vm;
const base = { template: "Debian Bookworm 12", nameLabel: "web-1", vcpus: 2, memory: "2GiB", __provider: "code" };

describe("Vm check", () => {
  test("source is what template names; checked inputs pass a second check", async () => {
    const r = await vm.check!(
      {},
      { ...base, cloudInit: { userData: "#cloud-config\n" }, firmware: "uefi", vtpm: true },
    );
    expect(r.failures).toBeUndefined();
    expect(r.inputs).toMatchObject({
      source: "Debian Bookworm 12",
      cloneMode: "fast",
      cloudInitChangePolicy: "restart",
    });
    const again = await vm.check!({}, { ...r.inputs, __provider: "code" });
    expect(again.failures).toBeUndefined();
  });

  test("a template known only at apply time is the source then", async () => {
    const r = await vm.check!({}, { ...base, template: UNKNOWN });
    expect(r.inputs).toMatchObject({ template: UNKNOWN, source: UNKNOWN });
  });

  test("normalises sizes and applies defaults", async () => {
    const r = await vm.check!({}, { ...base, maxMemory: "4GiB", disks: [{ size: "10GiB" }] });
    expect(r.failures).toBeUndefined();
    expect(r.inputs).toMatchObject({
      memory: 2 * 1024 ** 3,
      maxMemory: 4 * 1024 ** 3,
      maxVcpus: 2,
      powerState: "Running",
      allowRestart: false,
      disks: [{ size: 10 * 1024 ** 3 }],
      tags: [],
      otherConfig: {},
    });
    expect(r.inputs).not.toHaveProperty("__provider");
  });

  test.each([
    [{ memory: "8GiB", maxMemory: "4GiB" }, "memory", "memory 8 GiB exceeds maxMemory 4 GiB"],
    [{ vcpus: 6, maxVcpus: 4 }, "vcpus", "vcpus 6 exceeds maxVcpus 4"],
    [{ memory: "lots" }, "memory", '"lots" is not a size: use bytes or a string such as "512MiB", "4GiB" or "1TiB"'],
    [{ disks: [{ size: "10GiB" }, { size: "ten" }] }, "disks[1].size", '"ten" is not a size'],
    [{ powerState: "Off" }, "powerState", "Invalid option"],
    [{ networks: [{ network: "VM Network", mac: "zz" }] }, "networks[0].mac", "must be a MAC address"],
    [{ vcpus: 0 }, "vcpus", "must be at least 1"],
    [{ tempalte: "x" }, "(inputs)", "Unrecognized key"],
    [{ timeouts: { create: "soon" } }, "timeouts.create", "is not a duration"],
    [{ adopt: "not-a-uuid" }, "adopt", "must be the UUID of an existing VM"],
    [{ source: "golden" }, "template", 'names "Debian Bookworm 12" but source names "golden"'],
    [{ template: undefined }, "source", "is required"],
    [{ secureBoot: true }, "secureBoot", 'needs firmware: "uefi"'],
    [{ firmware: "bios", vtpm: true }, "vtpm", 'a vTPM needs firmware: "uefi"'],
    [{ bootOrder: "dd" }, "bootOrder", "each once"],
    [{ bootOrder: "x" }, "bootOrder", "must be letters c (disk), d (CD), n (network)"],
    [{ cloudInitChangePolicy: "later" }, "cloudInitChangePolicy", "Invalid option"],
    [{ cloudInit: { userData: "" } }, "cloudInit.userData", "must not be empty"],
    [{ disks: [{ size: "10GiB" }, { name: "d" }] }, "disks[1].size", "is required (or vdi"],
    [{ disks: [{ size: "10GiB" }, { vdi: "nope" }] }, "disks[1].vdi", "must be the UUID of an existing VDI"],
    [
      { disks: [{ size: "10GiB" }, { vdi: "8ef2a0d4-1b6c-4b1e-9a3e-0c1d2e3f4a5b", sr: "x" }] },
      "disks[1].vdi",
      "used as it is",
    ],
  ])("%j fails on %s", async (change, property, reason) => {
    const r = await vm.check!({}, { ...base, ...change });
    expect(r.inputs).toBeUndefined();
    expect(r.failures).toEqual(expect.arrayContaining([{ property, reason: expect.stringContaining(reason) }]));
  });

  test("unknown preview values are tolerated and passed through", async () => {
    const r = await vm.check!({}, { ...base, memory: UNKNOWN, affinityHost: UNKNOWN });
    expect(r.failures).toBeUndefined();
    expect(r.inputs).toMatchObject({ memory: UNKNOWN, affinityHost: UNKNOWN });
  });

  test("tags are a set: sorted so their order is not a change", async () => {
    const r = await vm.check!({}, { ...base, tags: ["web", "env:dev"] });
    expect(r.inputs).toMatchObject({ tags: ["env:dev", "web"] });
  });

  test("output placeholders are not inputs", async () => {
    const r = await vm.check!({}, { ...base, uuid: undefined, residentOn: undefined });
    expect(r.failures).toBeUndefined();
    expect(r.inputs).not.toHaveProperty("uuid");
  });
});

describe("Pool and Host check", () => {
  test("pool HA settings are validated with their path", async () => {
    const r = await providers.Pool.check!({}, { nameLabel: "dc", ha: { enabled: true, hostFailuresToTolerate: -1 } });
    expect(r.failures).toEqual([{ property: "ha.hostFailuresToTolerate", reason: "must be 0 or more" }]);
  });

  test("host defaults", async () => {
    const r = await providers.Host.check!({}, { address: "127.42.0.2", tags: ["b", "a"] });
    expect(r.inputs).toEqual({
      address: "127.42.0.2",
      enabled: true,
      maintenance: false,
      ejectOnDelete: false,
      tags: ["a", "b"],
    });
  });
});

import { providers } from "../../../provider";
import { UNKNOWN } from "../../../provider/schema";

const vm = providers.Vm;
const base = { template: "Debian Bookworm 12", nameLabel: "web-1", vcpus: 2, memory: "2GiB", __provider: "code" };

describe("Vm check", () => {
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

/**
 * The provider object is serialized into state twice per resource: it must stay small, hold no credential,
 * and work when deserialized the way the dynamic provider host does (require-from-string).
 */
import * as pulumi from "@pulumi/pulumi";
import { providerStubs } from "../../../sdk/provider-stub";

const requireFromString = require("require-from-string") as (code: string) => {
  handler: () => pulumi.dynamic.ResourceProvider;
};

describe.each(["Vm", "Host", "Pool"] as const)("%s provider stub", (kind) => {
  const secret = "s3cret-password-never-stored";
  beforeAll(() => {
    process.env.XEN_PASSWORD = secret;
  });
  afterAll(() => {
    delete process.env.XEN_PASSWORD;
  });

  test("serializes small, without credentials", async () => {
    const stub = providerStubs[kind];
    const sf = await pulumi.runtime.serializeFunction(() => stub, { allowSecrets: true });
    expect(sf.text.length).toBeLessThan(4096);
    expect(sf.text).not.toContain(secret);
    expect(sf.containsSecrets).toBe(false);
  });

  test("round-trips and loads the installed implementation", async () => {
    const stub = providerStubs[kind];
    const sf = await pulumi.runtime.serializeFunction(() => stub, { allowSecrets: true });
    const provider = requireFromString(sf.text).handler();
    const inputs =
      kind === "Vm"
        ? { template: "t", nameLabel: "n", vcpus: 1, memory: "1GiB" }
        : kind === "Host"
          ? { address: "10.0.0.2" }
          : { nameLabel: "p" };
    const r = await provider.check!({}, inputs);
    expect(r.failures ?? []).toEqual([]);
    expect(r.inputs).toBeDefined();
  });
});

import { XenApiClient, XenTransportError, type Inventory } from "../../../provider/xenapi";
import { FakeXapi } from "./fake-xapi";
import { hostRecord, vmRecord } from "./fixtures-records";

const POOL = {
  uuid: "pool-uuid",
  name_label: "pool",
  master: "OpaqueRef:h1",
  default_SR: "OpaqueRef:NULL",
};

function setup(nVms = 3) {
  const fake = new FakeXapi();
  fake.add("pool", "OpaqueRef:pool", POOL);
  fake.add("host", "OpaqueRef:h1", hostRecord());
  for (let i = 0; i < nVms; i++) {
    fake.add("VM", `OpaqueRef:vm${i}`, vmRecord({ uuid: `vm-uuid-${i}`, name_label: `vm-${i}` }));
  }
  const logs: string[] = [];
  const client = new XenApiClient({
    url: "http://fake.xapi",
    username: "root",
    password: "pw",
    transportFactory: () => fake.transport(),
    logger: (l) => logs.push(l),
  });
  return { fake, client, logs };
}

async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 5));
  }
}

let inv: Inventory | undefined;
let client: XenApiClient | undefined;
afterEach(async () => {
  inv?.close();
  await inv?.stopped();
  await client?.close();
  inv = undefined;
  client = undefined;
});

test("primes with one get_all_records per class, then serves reads from the cache", async () => {
  const s = setup(200);
  client = s.client;
  inv = await s.client.inventory(["VM", "host"]);
  expect(inv.all("VM").size).toBe(200);
  expect(inv.get("VM", "OpaqueRef:vm7")?.name_label).toBe("vm-7");
  expect(inv.byUuid("VM", "vm-uuid-9")?.ref).toBe("OpaqueRef:vm9");
  expect(inv.get("host", "OpaqueRef:h1")?.address).toBe("10.0.0.1");
  expect(inv.get("pool", "OpaqueRef:pool")?.master).toBe("OpaqueRef:h1"); // always cached for barriers
  expect(s.fake.count("VM.get_all_records")).toBe(1);
  expect(s.fake.count("VM.get_record")).toBe(0);
});

test("changes, additions and deletions arrive through event.from, without per-object reads", async () => {
  const s = setup();
  client = s.client;
  inv = await s.client.inventory(["VM"]);
  s.fake.mod("OpaqueRef:vm1", { name_label: "renamed", power_state: "Halted" });
  s.fake.add("VM", "OpaqueRef:new", vmRecord({ uuid: "new-uuid", name_label: "new" }));
  s.fake.del("OpaqueRef:vm2");
  await until(() => inv!.get("VM", "OpaqueRef:vm2") === undefined && inv!.get("VM", "OpaqueRef:new") !== undefined);
  expect(inv.get("VM", "OpaqueRef:vm1")).toMatchObject({ name_label: "renamed", power_state: "Halted" });
  expect(inv.byUuid("VM", "new-uuid")?.ref).toBe("OpaqueRef:new");
  expect(inv.byUuid("VM", "vm-uuid-2")).toBeUndefined();
  expect(s.fake.count("VM.get_all_records")).toBe(1);
  expect(s.fake.count("VM.get_record")).toBe(0);
});

test("refresh() after a write of this client is a barrier: the write is visible when it resolves", async () => {
  const s = setup();
  client = s.client;
  inv = await s.client.inventory(["VM"]);
  s.fake.onCall("VM.set_name_label", () => s.fake.mod("OpaqueRef:vm0", { name_label: "written" }));
  await s.client.call("VM.set_name_label", ["OpaqueRef:vm0", "written"]);
  await inv.refresh();
  expect(inv.get("VM", "OpaqueRef:vm0")?.name_label).toBe("written");
  expect(s.fake.count("event.inject")).toBe(1);
  expect(s.fake.count("VM.get_all_records")).toBe(1);
});

test("refresh() without a write since the last barrier costs no call; concurrent barriers share one inject", async () => {
  const s = setup();
  client = s.client;
  inv = await s.client.inventory(["VM"]);
  await inv.refresh();
  await inv.refresh();
  expect(s.fake.count("event.inject")).toBe(0);
  s.fake.onCall("VM.set_name_label", () => s.fake.mod("OpaqueRef:vm1", { name_label: "x" }));
  await s.client.call("VM.set_name_label", ["OpaqueRef:vm1", "x"]);
  await Promise.all([inv.refresh(), inv.refresh(), inv.refresh(), inv.refresh()]);
  expect(s.fake.count("event.inject")).toBeLessThanOrEqual(2);
  expect(inv.get("VM", "OpaqueRef:vm1")?.name_label).toBe("x");
  await inv.refresh();
  expect(s.fake.count("event.inject")).toBeLessThanOrEqual(2);
  // othersToo: what someone else changed before the call is there too, for one inject.
  const before = s.fake.count("event.inject");
  s.fake.mod("OpaqueRef:vm2", { name_label: "changed-elsewhere" });
  await inv.refresh({ othersToo: true });
  expect(inv.get("VM", "OpaqueRef:vm2")?.name_label).toBe("changed-elsewhere");
  expect(s.fake.count("event.inject")).toBe(before + 1);
});

test("EVENTS_LOST: the cache is rebuilt from get_all_records", async () => {
  const s = setup();
  client = s.client;
  inv = await s.client.inventory(["VM"]);
  expect(inv.primes).toBe(1);
  s.fake.loseEvents();
  await until(() => inv!.primes === 2);
  s.fake.mod("OpaqueRef:vm0", { name_label: "after-recovery" });
  await until(() => inv!.get("VM", "OpaqueRef:vm0")?.name_label === "after-recovery");
  expect(s.logs.join("\n")).toContain("EVENTS_LOST");
});

test("a missed deletion is caught by valid_ref_counts and that class is re-read", async () => {
  const s = setup();
  client = s.client;
  inv = await s.client.inventory(["VM"]);
  s.fake.del("OpaqueRef:vm1", { silently: true });
  s.fake.mod("OpaqueRef:vm0", { name_label: "poke" }); // wake the watcher
  await until(() => inv!.get("VM", "OpaqueRef:vm1") === undefined);
  expect(s.fake.count("VM.get_all_records")).toBe(2);
});

test("transport failures: the watcher backs off, reports lastError, and recovers", async () => {
  const s = setup();
  client = s.client;
  inv = await s.client.inventory(["VM"]);
  const down = () => new XenTransportError({ kind: "tls", method: "event.from", host: "fake.xapi", message: "down" });
  s.fake.fail("event.from", down(), down());
  s.fake.mod("OpaqueRef:vm0", { name_label: "x" }); // wakes the blocked poll; the next two polls fail
  await until(() => inv!.lastError !== undefined);
  expect((inv.lastError as Error).message).toBe("down");
  s.fake.mod("OpaqueRef:vm0", { name_label: "y" });
  await until(() => inv!.get("VM", "OpaqueRef:vm0")?.name_label === "y" && inv!.lastError === undefined, 4_000);
  expect(s.fake.count("VM.get_all_records")).toBe(1);
});

test("a snapshot that does not parse is skipped, not fatal", async () => {
  const s = setup();
  client = s.client;
  inv = await s.client.inventory(["VM"]);
  s.fake.mod("OpaqueRef:vm0", { power_state: "Exploded" });
  s.fake.mod("OpaqueRef:vm1", { name_label: "still-fine" });
  await until(() => inv!.get("VM", "OpaqueRef:vm1")?.name_label === "still-fine");
  expect(inv.get("VM", "OpaqueRef:vm0")?.power_state).toBe("Running");
  expect(s.logs.join("\n")).toContain("skipping VM OpaqueRef:vm0");
});

test("close() stops the watcher; client.close() closes inventories", async () => {
  const s = setup();
  client = s.client;
  inv = await s.client.inventory(["VM"]);
  await s.client.close();
  await inv.stopped();
  const n = s.fake.count("event.from");
  s.fake.mod("OpaqueRef:vm0", { name_label: "ignored" });
  await new Promise((r) => setTimeout(r, 50));
  expect(s.fake.count("event.from")).toBe(n);
  expect(inv.get("VM", "OpaqueRef:vm0")?.name_label).toBe("vm-0"); // cache stays readable
  await expect(inv.refresh()).rejects.toThrow(/closed/);
});

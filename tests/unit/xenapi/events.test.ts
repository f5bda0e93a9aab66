/**
 * The client's one event loop: every task the client waits for and its inventory share one event.from long-poll;
 * the loop sends nothing while nobody listens.
 */
import { EventWatcher, XenApiClient } from "../../../provider/xenapi";
import { FakeXapi } from "./fake-xapi";
import { hostRecord } from "./fixtures-records";

function setup() {
  const fake = new FakeXapi();
  fake.add("pool", "OpaqueRef:pool", { uuid: "pool-uuid", name_label: "pool", master: "OpaqueRef:h1" });
  fake.add("host", "OpaqueRef:h1", hostRecord());
  const client = new XenApiClient({
    url: "http://fake.xapi",
    username: "root",
    password: "pw",
    transportFactory: () => fake.transport(),
    eventMinIntervalMs: 0,
  });
  return { fake, client };
}

async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 5));
  }
}

let client: XenApiClient | undefined;
afterEach(async () => {
  await client?.close();
  client = undefined;
});

test("twenty concurrent tasks are waited for by one loop: event.from calls do not grow per task, no task.destroy", async () => {
  const s = setup();
  client = s.client;
  const results = Array.from({ length: 20 }, (_, i) => s.client.callAsync("VM.start", [`OpaqueRef:vm${i}`]));
  await until(() => s.fake.pendingTasks().length === 20);
  for (const t of s.fake.pendingTasks()) s.fake.endTask(t, `<value>${t}</value>`);
  const refs = await Promise.all(results);
  expect(new Set(refs).size).toBe(20);
  // one token, then a few batches: far fewer than one long-poll per task
  expect(s.fake.count("event.from")).toBeLessThanOrEqual(6);
  expect(s.fake.count("task.destroy")).toBe(0);
  expect(s.fake.count("task.get_record")).toBe(0);
});

test("a task end seen before anyone asks for it is kept for the waiter that comes later", async () => {
  const s = setup();
  client = s.client;
  const watcher = new EventWatcher(s.client, { minIntervalMs: 0 });
  await watcher.start();
  // someone waits for another task, so the loop polls
  const other = watcher.nextTaskNews("OpaqueRef:other", Date.now() + 5_000);
  await until(() => s.fake.count("event.from") >= 2);
  s.fake.add("task", "OpaqueRef:early", { uuid: "u", status: "success", result: "<value>r</value>" });
  await until(() => s.fake.count("event.from") >= 3);
  const polls = s.fake.count("event.from");
  await expect(watcher.nextTaskNews("OpaqueRef:early", Date.now() + 5_000)).resolves.toMatchObject({
    kind: "snapshot",
    snapshot: { status: "success", result: "<value>r</value>" },
  });
  expect(s.fake.count("event.from")).toBe(polls);
  expect(s.fake.count("task.get_record")).toBe(0);
  watcher.close();
  await expect(other).resolves.toMatchObject({ kind: "unavailable" });
});

test("the loop is idle while nobody listens, and an inventory and tasks share it", async () => {
  const s = setup();
  client = s.client;
  const first = s.client.callAsync("VM.start", ["OpaqueRef:x"]);
  await until(() => s.fake.pendingTasks().length === 1);
  s.fake.endTask(s.fake.pendingTasks()[0]!);
  await first;
  await new Promise((r) => setTimeout(r, 50));
  const idle = s.fake.count("event.from");
  s.fake.mod("OpaqueRef:h1", { name_label: "poke" });
  await new Promise((r) => setTimeout(r, 50));
  expect(s.fake.count("event.from")).toBe(idle);

  const inv = await s.client.inventory(["host"]);
  const task = s.client.callAsync("VM.start", ["OpaqueRef:y"]);
  await until(() => s.fake.pendingTasks().length === 1);
  s.fake.mod("OpaqueRef:h1", { name_label: "renamed" });
  s.fake.endTask(s.fake.pendingTasks()[0]!);
  await task;
  expect(inv.get("host", "OpaqueRef:h1")?.name_label).toBe("renamed");
  // one long-poll at a time: the number of event.from calls in flight never exceeded one
  expect(s.fake.maxConcurrent("event.from")).toBe(1);
});

test("after EVENTS_LOST every waiting task is read once, and the wait goes on", async () => {
  const s = setup();
  client = s.client;
  const p = s.client.callAsync("VM.start", ["OpaqueRef:z"]);
  await until(() => s.fake.pendingTasks().length === 1 && s.fake.count("event.from") >= 2);
  const gets = s.fake.count("task.get_record");
  s.fake.loseEvents();
  await until(() => s.fake.count("task.get_record") > gets);
  s.fake.endTask(s.fake.pendingTasks()[0]!, "<value>ok</value>");
  await expect(p).resolves.toBe("ok");
});

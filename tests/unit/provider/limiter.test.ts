import { KeyedLimiter } from "../../../provider/resources/common";

test("KeyedLimiter never runs more than the key's limit at once, and runs everything", async () => {
  const limiter = new KeyedLimiter((key) => (key === "wide" ? 3 : 1));
  const active = new Map<string, number>();
  const peak = new Map<string, number>();
  const done: string[] = [];
  const job = (key: string, i: number) =>
    limiter.run(key, async () => {
      active.set(key, (active.get(key) ?? 0) + 1);
      peak.set(key, Math.max(peak.get(key) ?? 0, active.get(key)!));
      await new Promise((r) => setTimeout(r, 2));
      active.set(key, active.get(key)! - 1);
      done.push(`${key}${i}`);
      if (i === 4 && key === "narrow") throw new Error("a failure releases its slot");
    });
  const results = await Promise.allSettled([
    ...Array.from({ length: 10 }, (_, i) => job("wide", i)),
    ...Array.from({ length: 6 }, (_, i) => job("narrow", i)),
  ]);
  expect(peak.get("wide")).toBe(3);
  expect(peak.get("narrow")).toBe(1);
  expect(done).toHaveLength(16);
  expect(results.filter((r) => r.status === "rejected")).toHaveLength(1);
});

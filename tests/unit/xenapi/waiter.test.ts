import { WaiterState, checkTaskState, runWaiter, sleep } from "../../../provider/xenapi";

test.each([
  ["pending", "RETRY"],
  ["cancelling", "RETRY"],
  ["success", "SUCCESS"],
  ["failure", "FAILURE"],
  ["cancelled", "FAILURE"],
] as const)("checkTaskState(%s) = %s", (status, expected) => {
  expect(checkTaskState({ status })).toBe(expected);
});

describe("runWaiter", () => {
  test("polls until a final state", async () => {
    const states = ["a", "b", "done"];
    let i = 0;
    const out = await runWaiter({
      poll: async () => states[i++],
      checkState: (s) => (s === "done" ? WaiterState.SUCCESS : WaiterState.RETRY),
      deadlineAt: Date.now() + 5_000,
    });
    expect(out).toEqual({ state: "SUCCESS", result: "done", polls: 3 });
  });

  test("FAILURE is final", async () => {
    const out = await runWaiter({
      poll: async () => 1,
      checkState: () => WaiterState.FAILURE,
      deadlineAt: Date.now() + 1000,
    });
    expect(out.state).toBe("FAILURE");
  });

  test("times out without sleeping past the deadline", async () => {
    const t0 = Date.now();
    const out = await runWaiter({
      poll: async () => "x",
      checkState: () => WaiterState.RETRY,
      deadlineAt: t0 + 120,
      delayMs: () => 10_000,
    });
    expect(out.state).toBe("TIMEOUT");
    expect(out.state === "TIMEOUT" && out.last).toBe("x");
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  test("an already-passed deadline polls nothing", async () => {
    const poll = jest.fn(async () => "x");
    const out = await runWaiter({ poll, checkState: () => WaiterState.RETRY, deadlineAt: Date.now() - 1 });
    expect(out).toEqual({ state: "TIMEOUT", last: undefined, polls: 0 });
    expect(poll).not.toHaveBeenCalled();
  });

  test("abort interrupts the delay", async () => {
    const ac = new AbortController();
    const p = runWaiter({
      poll: async () => "x",
      checkState: () => WaiterState.RETRY,
      deadlineAt: Date.now() + 60_000,
      delayMs: () => 30_000,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(new Error("stop")), 20);
    await expect(p).rejects.toThrow("stop");
  });

  test("poll errors propagate", async () => {
    await expect(
      runWaiter({
        poll: async () => Promise.reject(new Error("bad")),
        checkState: () => WaiterState.RETRY,
        deadlineAt: Date.now() + 1000,
      }),
    ).rejects.toThrow("bad");
  });
});

test("sleep rejects at once on an aborted signal", async () => {
  const ac = new AbortController();
  ac.abort(new Error("gone"));
  await expect(sleep(10_000, ac.signal)).rejects.toThrow("gone");
});

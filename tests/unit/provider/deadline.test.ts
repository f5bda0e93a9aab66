import { PhaseDeadline } from "../../../provider/resources/deadline";
import type { XenApiClient } from "../../../provider/xenapi";

describe("one deadline per phase", () => {
  test("each call gets what is left of the phase, not a fresh budget", async () => {
    const seen: number[] = [];
    const client = {
      call: async (_m: string, _p: unknown[], o: { deadlineMs: number }) => void seen.push(o.deadlineMs),
      callAsync: async (_m: string, _p: unknown[], o: { deadlineMs: number }) => void seen.push(o.deadlineMs),
    } as unknown as XenApiClient;
    const deadline = new PhaseDeadline(1_000, "timeouts.create", Date.now() - 600);
    const bound = deadline.bound(client);
    await bound.call("VM.get_record", []);
    await bound.callAsync("VM.start", [], { deadlineMs: 60_000 });
    expect(seen).toHaveLength(2);
    for (const ms of seen) expect(ms).toBeLessThanOrEqual(400);
  });

  test("no call starts once the phase is over; the error names the setting to raise", async () => {
    const deadline = new PhaseDeadline(2_000, "timeouts.update", Date.now() - 5_000);
    const client = { call: jest.fn() } as unknown as XenApiClient;
    expect(() => deadline.bound(client).call("VM.start", [])).toThrow(
      /timeouts\.update \(2 s\) ran out before VM\.start could finish; raise timeouts\.update/,
    );
    expect((client as unknown as { call: jest.Mock }).call).not.toHaveBeenCalled();
    await expect(deadline.sleep(10, "an IP address")).rejects.toMatchObject({ code: "PHASE_TIMEOUT" });
  });
});

/**
 * Waiters: a pure `checkState(result) -> SUCCESS | FAILURE | RETRY` plus one generic loop that polls until the state
 * is final or the deadline passes. The loop never sleeps past the deadline and stops on abort.
 */
import type { TaskRecord } from "./records";

export const WaiterState = { SUCCESS: "SUCCESS", FAILURE: "FAILURE", RETRY: "RETRY" } as const;
export type WaiterState = (typeof WaiterState)[keyof typeof WaiterState];

/** Task status -> waiter state. `cancelling` is not final: the task may still succeed (task.cancel is a request). */
export function checkTaskState(task: Pick<TaskRecord, "status">): WaiterState {
  switch (task.status) {
    case "success":
      return WaiterState.SUCCESS;
    case "failure":
    case "cancelled":
      return WaiterState.FAILURE;
    case "pending":
    case "cancelling":
      return WaiterState.RETRY;
  }
}

export type WaitOutcome<R> =
  { state: "SUCCESS" | "FAILURE"; result: R; polls: number } | { state: "TIMEOUT"; last: R | undefined; polls: number };

export interface WaiterOptions<R> {
  /** Fetches the next observation; may block (event.from) but must honour `remainingMs` and `signal`. */
  poll: (ctx: { remainingMs: number; attempt: number; signal?: AbortSignal }) => Promise<R>;
  checkState: (result: R) => WaiterState;
  /** Absolute deadline (ms, same clock as `now`). */
  deadlineAt: number;
  /** Delay before the next poll; default 0 (poll functions that block need none). */
  delayMs?: (attempt: number) => number;
  signal?: AbortSignal;
  now?: () => number;
}

/** Resolves after `ms`, or rejects with the signal's reason when aborted. Never leaves a timer behind. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason ?? new Error("aborted"));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error("aborted"));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The generic loop: poll, check, maybe wait, until SUCCESS/FAILURE or the deadline. Poll errors propagate. */
export async function runWaiter<R>(opts: WaiterOptions<R>): Promise<WaitOutcome<R>> {
  const now = opts.now ?? Date.now;
  let last: R | undefined;
  let attempt = 0;
  while (true) {
    const remainingMs = opts.deadlineAt - now();
    if (remainingMs <= 0) return { state: "TIMEOUT", last, polls: attempt };
    attempt++;
    last = await opts.poll({ remainingMs, attempt, signal: opts.signal });
    const state = opts.checkState(last);
    if (state !== WaiterState.RETRY) return { state, result: last, polls: attempt };
    const delay = opts.delayMs?.(attempt) ?? 0;
    const left = opts.deadlineAt - now();
    if (left <= 0) return { state: "TIMEOUT", last, polls: attempt };
    if (delay > 0) await sleep(Math.min(delay, left), opts.signal);
  }
}

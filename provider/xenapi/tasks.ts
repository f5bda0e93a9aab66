/**
 * Waiting for XenAPI tasks: the client's event loop reports a task's end (no long-poll per task); where events
 * are unusable, `task.get_record` is polled. Ended tasks are decoded into the call's result or its XenApiError.
 */
import { XenApiError, XenTransportError, isTransportError, isXenApiError } from "./errors";
import type { EventWatcher, TaskNews } from "./events";
import { describeIssues, parseRecord, type TaskRecord } from "./records";
import { decodeTaskResult } from "./task-result";
import { checkTaskState, runWaiter, sleep } from "./waiter";

/** Poll interval when event.from is not available. */
const TASK_POLL_MS = 1_000;
/** causeCode of the transport error raised when a task we wait for no longer exists. */
export const TASK_VANISHED = "TASK_VANISHED";

/** One logical call: when it started, when it must end, the per-exchange timeout, the caller's abort signal. */
export interface CallContext {
  startedAt: number;
  deadlineAt: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export function abortedError(method: string, host: string, signal?: AbortSignal): XenTransportError {
  return new XenTransportError({
    kind: "aborted",
    method,
    host,
    message: `${method} on ${host}: aborted by the caller`,
    cause: signal?.reason,
  });
}

/** What the waiter uses of its client. */
export interface TaskIo {
  call(method: string, params: readonly unknown[], ctx: CallContext): Promise<unknown>;
  host(): string;
  events(): EventWatcher;
  /** A short budget of its own for task.cancel and a last look. */
  housekeeping(): CallContext;
  closed(): boolean;
  log(line: string): void;
}

export class TaskWaiter {
  constructor(private readonly io: TaskIo) {}

  private parseTask(raw: unknown, taskRef: string, method: string): TaskRecord {
    const parsed = parseRecord("task", raw);
    if (!parsed.success) {
      throw new XenTransportError({
        kind: "malformed",
        method,
        host: this.io.host(),
        taskRef,
        message: `${method} on ${this.io.host()}: task ${taskRef} has an unexpected shape (${describeIssues(parsed.error)})`,
      });
    }
    return parsed.data;
  }

  /**
   * Waits for a task to finish and returns its decoded result (or throws its error): the client's event loop
   * reports the task's end; where events are unusable, `task.get_record` is polled.
   */
  async wait(taskRef: string, method: string, ctx: CallContext, writesBefore: number): Promise<string> {
    const readTask = async (): Promise<TaskRecord> => {
      try {
        return this.parseTask(await this.io.call("task.get_record", [taskRef], ctx), taskRef, method);
      } catch (e) {
        // A vanished task is not a vanished object: never let it pass for the operation's own HANDLE_INVALID.
        if (isXenApiError(e, "HANDLE_INVALID") && (e.params[0] === "task" || e.params.includes(taskRef))) {
          throw new XenTransportError({
            kind: "network",
            method,
            host: this.io.host(),
            taskRef,
            causeCode: TASK_VANISHED,
            cause: e,
            message: `${method} on ${this.io.host()}: task ${taskRef} disappeared before its result was read (toolstack restart, coordinator change, or destroyed by another client); the outcome is unknown, check the object's state.`,
          });
        }
        throw e;
      }
    };
    const watcher = this.io.events();
    let last: TaskRecord | undefined;
    try {
      for (;;) {
        let news: TaskNews;
        try {
          news = await watcher.nextTaskNews(taskRef, ctx.deadlineAt, ctx.signal, writesBefore);
        } catch {
          throw abortedError(method, this.io.host(), ctx.signal);
        }
        if (news.kind === "timeout") break;
        if (news.kind === "snapshot") {
          last = this.parseTask(news.snapshot, taskRef, method);
          return this.finishTask(taskRef, method, last);
        }
        if (news.kind === "unavailable") return await this.pollTask(taskRef, method, ctx, readTask);
        // gone or recheck: look for ourselves (a gone task raises TASK_VANISHED)
        last = await readTask();
        if (checkTaskState(last) !== "RETRY") return this.finishTask(taskRef, method, last);
      }
    } catch (e) {
      if (ctx.signal?.aborted) {
        this.cancelTaskInBackground(taskRef);
        throw abortedError(method, this.io.host(), ctx.signal);
      }
      // The task's own outcome, or a poll that already gave up on it: nothing more to do.
      if (e instanceof XenApiError && e.taskRef === taskRef) throw e;
      if (isTransportError(e) && (e.taskRef === taskRef || e.causeCode === TASK_VANISHED)) throw e;
      // A read that ran into the deadline is the task timing out, not a transport problem.
      if (!(isTransportError(e, "timeout") && Date.now() >= ctx.deadlineAt - 50)) {
        // We stop watching, so stop the operation too rather than let it finish unobserved.
        this.cancelTaskInBackground(taskRef);
        throw e;
      }
    }
    return this.taskTimedOut(taskRef, method, ctx, last);
  }

  /** Waiting without events: `task.get_record` every second until the task ends or the deadline passes. */
  private async pollTask(
    taskRef: string,
    method: string,
    ctx: CallContext,
    readTask: () => Promise<TaskRecord>,
  ): Promise<string> {
    const outcome = await runWaiter<TaskRecord>({
      poll: async ({ remainingMs, attempt }) => {
        if (attempt > 1) await sleepOrAbort(Math.min(TASK_POLL_MS, remainingMs), ctx.signal, method, this.io.host());
        return readTask();
      },
      checkState: checkTaskState,
      deadlineAt: ctx.deadlineAt,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    if (outcome.state === "TIMEOUT") return this.taskTimedOut(taskRef, method, ctx, outcome.last);
    return this.finishTask(taskRef, method, outcome.result);
  }

  /**
   * The task's outcome. Ended tasks are left to xapi's own garbage collection (ended tasks go after 65 minutes, the
   * oldest first beyond 200: db_gc.ml), as other XenAPI clients do: a `task.destroy` per operation is a round trip
   * the user pays for nothing.
   */
  private finishTask(taskRef: string, method: string, task: TaskRecord): string {
    if (task.status === "success") {
      try {
        return decodeTaskResult(task.result);
      } catch (e) {
        throw new XenTransportError({
          kind: "malformed",
          method,
          host: this.io.host(),
          taskRef,
          cause: e,
          message: `${method} on ${this.io.host()}: task ${taskRef} succeeded but its result could not be decoded (${(e as Error).message}): ${task.result.slice(0, 120)}`,
        });
      }
    }
    const [code, ...params] = task.error_info;
    if (code) throw new XenApiError({ code, params, method, host: this.io.host(), taskRef });
    if (task.status === "cancelled") {
      throw new XenApiError({ code: "TASK_CANCELLED", params: [taskRef], method, host: this.io.host(), taskRef });
    }
    throw new XenApiError({
      code: "INTERNAL_ERROR",
      params: ["task failed without error_info"],
      method,
      host: this.io.host(),
      taskRef,
    });
  }

  private async taskTimedOut(
    taskRef: string,
    method: string,
    ctx: CallContext,
    last: TaskRecord | undefined,
  ): Promise<string> {
    const budgetMs = ctx.deadlineAt - ctx.startedAt;
    // One short budget for cancel + last look + destroy, so a dead host cannot stretch the deadline much.
    const house = this.io.housekeeping();
    let cancelled = false;
    try {
      await this.io.call("task.cancel", [taskRef], house);
      cancelled = true;
    } catch (e) {
      this.io.log(`[xenapi] task.cancel ${taskRef} failed: ${(e as Error).message}`);
    }
    // task.cancel is only a request; the task may have finished meanwhile.
    try {
      const now = this.parseTask(await this.io.call("task.get_record", [taskRef], house), taskRef, method);
      if (now.status === "success" || now.status === "failure") return this.finishTask(taskRef, method, now);
      last = now;
    } catch (e) {
      if (isXenApiError(e) && e.taskRef === taskRef) throw e;
      if (isTransportError(e) && e.taskRef === taskRef && e.kind === "malformed") throw e;
    }
    const progress = last ? ` (last status ${last.status}, progress ${Math.round(last.progress * 100)}%)` : "";
    throw new XenTransportError({
      kind: "timeout",
      method,
      host: this.io.host(),
      taskRef,
      message: `${method} on ${this.io.host()}: gave up after ${Math.round(budgetMs / 1000)} s waiting for task ${taskRef} to finish${progress}; ${cancelled ? "cancellation was requested, but the operation may still complete" : "the task could not be cancelled and may still complete"}. Check the object's state before retrying, or raise deadlineMs.`,
    });
  }

  private cancelTaskInBackground(taskRef: string): void {
    if (this.io.closed()) return;
    this.io
      .call("task.cancel", [taskRef], this.io.housekeeping())
      .catch((e: unknown) => this.io.log(`[xenapi] task.cancel ${taskRef} failed: ${(e as Error).message}`));
  }
}

async function sleepOrAbort(ms: number, signal: AbortSignal | undefined, method: string, host: string) {
  try {
    await sleep(ms, signal);
  } catch {
    throw abortedError(method, host, signal);
  }
}

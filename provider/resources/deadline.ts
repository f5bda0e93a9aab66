/**
 * One deadline per phase: `timeouts.create/update/delete` bound the whole phase, across every call, task and
 * wait, not each call on its own. A client seen through a {@link PhaseDeadline} gives each call what is left of the
 * phase (the client cancels a task still running when its deadline passes) and refuses to start a call once the
 * phase is over, with an error that names the timeout to raise.
 */
import type { CallOptions, FacadeClient, XenApiClient, XenClass, XenRecord } from "../xenapi";
import { ProviderError } from "./errors";

export class PhaseDeadline {
  private readonly endsAt: number;

  constructor(
    readonly budgetMs: number,
    /** How the user sets it, for the message: `timeouts.create`. */
    readonly setting: string,
    now: number = Date.now(),
  ) {
    this.endsAt = now + budgetMs;
  }

  remainingMs(): number {
    return this.endsAt - Date.now();
  }

  /** Throws when the phase is over; `doing` says what could not start. */
  check(doing: string): number {
    const left = this.remainingMs();
    if (left <= 0) throw this.exceeded(doing);
    return left;
  }

  exceeded(doing: string): ProviderError {
    return new ProviderError(
      `${this.setting} (${formatMs(this.budgetMs)}) ran out before ${doing} could finish; raise ${this.setting} or make the pool faster`,
      { code: "PHASE_TIMEOUT" },
    );
  }

  /** The client as this phase sees it: every call bounded by what is left of the phase. */
  bound(client: XenApiClient): FacadeClient {
    const opts = (method: string, o?: CallOptions): CallOptions => {
      const left = this.check(method);
      return { ...o, deadlineMs: Math.min(o?.deadlineMs ?? Infinity, left) };
    };
    return {
      call: <T>(method: string, params?: readonly unknown[], o?: CallOptions) =>
        client.call<T>(method, params, opts(method, o)),
      callAsync: (method: string, params?: readonly unknown[], o?: CallOptions) =>
        client.callAsync(method, params, opts(method, o)),
      getRecord: <C extends XenClass>(cls: C, ref: string, o?: CallOptions): Promise<XenRecord<C>> =>
        client.getRecord(cls, ref, opts(`${cls}.get_record`, o)),
      getAllRecords: <C extends XenClass>(cls: C, o?: CallOptions) =>
        client.getAllRecords(cls, opts(`${cls}.get_all_records`, o)),
    };
  }

  /** Waits `ms`, or fails if the phase ends first. */
  async sleep(ms: number, doing: string): Promise<void> {
    if (this.remainingMs() < ms) throw this.exceeded(doing);
    await new Promise((r) => setTimeout(r, ms));
  }
}

export type Phase = "create" | "update" | "delete";

/** The deadline of one phase of a resource: its `timeouts[phase]`, else the resource's default for it. */
export function phaseDeadline(
  resource: { timeouts?: Partial<Record<Phase, number>> | undefined },
  phase: Phase,
  defaults: Record<Phase, number>,
): PhaseDeadline {
  return new PhaseDeadline(resource.timeouts?.[phase] ?? defaults[phase], `timeouts.${phase}`);
}

function formatMs(ms: number): string {
  return ms % 60_000 === 0 && ms >= 60_000 ? `${ms / 60_000} min` : `${Math.round(ms / 100) / 10} s`;
}

/**
 * The one error family of the simulator's models: a XenAPI failure with its code and params, exactly as it
 * travels on the wire (`["CODE", "p1", ...]`). Models throw it; the wire layer encodes it.
 */
export class XenApiError extends Error {
  override readonly name = "XenApiError";
  readonly code: string;
  readonly params: string[];

  constructor(code: string, params: readonly unknown[] = []) {
    super(`${code}${params.length ? ` ${JSON.stringify(params.map(String))}` : ""}`);
    this.code = code;
    this.params = params.map((p) => String(p));
  }

  /** `[code, ...params]`, the shape of `task.error_info` and of JSON-RPC 1.0 errors. */
  toArray(): string[] {
    return [this.code, ...this.params];
  }
}

/** Builds (does not throw) a XenAPI error: `throw fail("VM_BAD_POWER_STATE", vm, "halted", "running")`. */
export function fail(code: string, ...params: unknown[]): XenApiError {
  return new XenApiError(code, params);
}

/** Type guard that also accepts errors crossing a realm boundary (matched by `name`). */
export function isXenApiError(e: unknown): e is XenApiError {
  return (
    e instanceof XenApiError ||
    (typeof e === "object" && e !== null && (e as { name?: unknown }).name === "XenApiError")
  );
}

/** Any non-XenAPI exception becomes `INTERNAL_ERROR [message]`, as xapi's exnHelper does. */
export function toXenApiError(e: unknown): XenApiError {
  if (isXenApiError(e)) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return fail("INTERNAL_ERROR", msg);
}

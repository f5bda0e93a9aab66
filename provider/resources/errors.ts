/**
 * The provider's one error type. It carries the property path the user wrote (`disks[1].sr`), the XenAPI code
 * when the failure came from the pool (kept so that callers and tests can tell VM_BAD_POWER_STATE from SR_FULL),
 * and a message that says what to do.
 */
import { isXenApiError } from "../xenapi";

export interface ProviderErrorInit {
  /** The input the error is about, as written in the program: `disks[1].size`. */
  path?: string;
  /** XenAPI error code, or one of the provider's own (PHASE_TIMEOUT, NOT_FOUND, AMBIGUOUS, BLOCKED). */
  code?: string;
  cause?: unknown;
}

export class ProviderError extends Error {
  override readonly name = "ProviderError" as const;
  readonly path?: string;
  readonly code?: string;

  constructor(message: string, init: ProviderErrorInit = {}) {
    super(init.path ? `${init.path}: ${message}` : message, init.cause !== undefined ? { cause: init.cause } : {});
    if (init.path !== undefined) this.path = init.path;
    const code = init.code ?? (isXenApiError(init.cause) ? init.cause.code : undefined);
    if (code !== undefined) this.code = code;
  }
}

export function isProviderError(e: unknown, code?: string): e is ProviderError {
  return e instanceof Error && e.name === "ProviderError" && (code === undefined || (e as ProviderError).code === code);
}

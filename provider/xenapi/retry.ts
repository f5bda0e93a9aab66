/**
 * Retry policy as pure functions: which calls may be repeated, after which failures, and how long to wait.
 * The client's call loop asks {@link retryDecision} after every failed attempt and does nothing clever itself.
 */
import { isTransportError, isXenApiError } from "./errors";

/** Method-name suffixes (after `Class.`) that only read state, so repeating them is always safe. */
const READ_ONLY_PREFIXES = ["get_", "assert_", "compute_", "ha_compute_", "retrieve_wlb_"] as const;

/** Whole method names that are read-only despite their name. */
const READ_ONLY_METHODS: ReadonlySet<string> = new Set([
  "event.from",
  "event.get_current_id",
  "system.listMethods",
  "system.methodHelp",
  // A repeated login only creates one more session; xapi evicts the oldest beyond 500 per user (xapi_session.ml).
  "session.login_with_password",
]);

/** XenAPI codes meaning "the call was refused before doing anything; try again later". */
export const BUSY_CODES: ReadonlySet<string> = new Set(["OTHER_OPERATION_IN_PROGRESS", "TOO_MANY_PENDING_TASKS"]);

/** Low-level codes meaning the request never reached the server, so even a mutation may be sent again. */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
]);

/** HTTP statuses of proxies / a restarting xapi that did not process the request. */
const NOT_PROCESSED_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/** True if calling `method` cannot change pool state (`VM.get_record`, `event.from`, `host.compute_free_memory`...). */
export function isReadOnlyMethod(method: string): boolean {
  if (method.startsWith("Async.")) return false; // creates a task and runs the operation
  if (READ_ONLY_METHODS.has(method)) return true;
  const dot = method.indexOf(".");
  if (dot <= 0) return false;
  const message = method.slice(dot + 1);
  return READ_ONLY_PREFIXES.some((p) => message.startsWith(p));
}

export interface BackoffOptions {
  /** Ceiling of the first retry's delay. Default 200 ms. */
  baseMs?: number;
  /** Upper bound of any delay. Default 10 s. */
  capMs?: number;
  /** Injected for tests; default Math.random. */
  random?: () => number;
}

/**
 * Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempt-1))). `attempt` is the 1-based
 * number of the attempt that just failed. Non-finite or < 1 attempts count as 1.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? 200;
  const cap = opts.capMs ?? 10_000;
  const random = opts.random ?? Math.random;
  const n = Number.isFinite(attempt) && attempt >= 1 ? Math.floor(attempt) : 1;
  const ceiling = Math.min(cap, base * 2 ** Math.min(n - 1, 30));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * ceiling);
}

export interface RetryInput {
  method: string;
  error: unknown;
  /** 1-based number of the attempt that just failed. */
  attempt: number;
  elapsedMs: number;
  deadlineMs: number;
  /** Cap on attempts for transport failures (busy codes are bounded by the deadline only). Default 5. */
  maxAttempts?: number;
  random?: () => number;
}

export type RetryDecision = { retry: false } | { retry: true; delayMs: number; reason: string };

/** Busy objects free up on xapi's own scale (it retries 1-20 s itself, Helpers.retry), so wait longer. */
const BUSY_BACKOFF: BackoffOptions = { baseMs: 1_000, capMs: 20_000 };
const MIN_BUSY_DELAY_MS = 250;
export const DEFAULT_MAX_ATTEMPTS = 5;

function classify(method: string, error: unknown): { retryable: boolean; reason: string; busy: boolean } {
  if (isXenApiError(error)) {
    if (BUSY_CODES.has(error.code)) return { retryable: true, reason: error.code, busy: true };
    return { retryable: false, reason: error.code, busy: false };
  }
  if (isTransportError(error)) {
    const readOnly = isReadOnlyMethod(method);
    const code = error.causeCode ?? "";
    switch (error.kind) {
      case "aborted":
      case "tls":
      case "too-large":
        return { retryable: false, reason: error.kind, busy: false };
      case "network":
        if (NOT_SENT_CODES.has(code)) return { retryable: true, reason: `network (${code}, not sent)`, busy: false };
        return { retryable: readOnly, reason: `network${code ? ` (${code})` : ""}`, busy: false };
      case "http-status":
        if (error.status !== undefined && NOT_PROCESSED_STATUSES.has(error.status))
          return { retryable: true, reason: `HTTP ${error.status}`, busy: false };
        return { retryable: false, reason: `HTTP ${error.status ?? "?"}`, busy: false };
      case "timeout":
        // The host may have acted on the request; only reads are repeated.
        return { retryable: readOnly, reason: error.kind, busy: false };
      case "malformed":
        // A body cut short may be a one-off; an HTML page or a foreign JSON shape will not change on retry.
        return { retryable: readOnly && code === "INVALID_JSON", reason: "truncated response", busy: false };
    }
  }
  return { retryable: false, reason: "unknown error", busy: false };
}

/**
 * Decides whether the failed attempt of `method` is tried again and after how long. Retries: busy codes
 * (`OTHER_OPERATION_IN_PROGRESS`, `TOO_MANY_PENDING_TASKS`, which xapi raises before acting) for any call;
 * transport failures for read-only calls; for mutations only failures where the request provably was not processed
 * (connection refused / DNS / unreachable, HTTP 502-504); at most `maxAttempts` tries for transport failures,
 * while busy codes keep waiting until the deadline. Never past the deadline: a delay that would end at or
 * beyond it means no retry.
 */
export function retryDecision(input: RetryInput): RetryDecision {
  const { method, error, attempt, elapsedMs, deadlineMs } = input;
  if (elapsedMs >= deadlineMs) return { retry: false };
  const c = classify(method, error);
  if (!c.retryable) return { retry: false };
  if (!c.busy && attempt >= (input.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)) return { retry: false };
  const random = input.random ?? Math.random;
  const delayMs = c.busy
    ? Math.max(MIN_BUSY_DELAY_MS, backoffDelay(attempt, { ...BUSY_BACKOFF, random }))
    : backoffDelay(attempt, { random });
  if (elapsedMs + delayMs >= deadlineMs) return { retry: false };
  return { retry: true, delayMs, reason: c.reason };
}

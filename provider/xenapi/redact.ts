/**
 * Redaction of secrets before anything is logged: passwords (by key name and by known call position) and session
 * refs (by key name and by value, for the refs this process obtained).
 */

export const REDACTED = "<redacted>";
export const REDACTED_SESSION_REF = "OpaqueRef:<redacted-session>";

/** Map keys whose values are secrets wherever they appear (device_config, plugin args, other_config, ...). */
const SECRET_KEY =
  /pass(word|wd|phrase)?$|^pwd$|secret|credential|private[-_]?key|^session(_id|_ref)?$|^auth[-_]?token$/i;

/** Positional secret params (session excluded) of calls that take credentials. */
export const SECRET_PARAM_POSITIONS: Readonly<Record<string, readonly number[]>> = {
  "session.login_with_password": [1],
  "session.slave_local_login_with_password": [1],
  "session.change_password": [0, 1],
  "pool.join": [2],
  "pool.join_force": [2],
};

export interface RedactOptions {
  /** Exact strings (e.g. live session refs) to replace wherever they occur, even inside longer strings. */
  secrets?: Iterable<string>;
}

function scrubString(s: string, secrets: string[]): string {
  let out = s;
  for (const secret of secrets) {
    if (secret.length > 0 && out.includes(secret)) out = out.split(secret).join(REDACTED_SESSION_REF);
  }
  return out;
}

/**
 * Returns a deep copy of `value` with secrets replaced: values under secret-looking keys (`password`, `secret`,
 * `session_id`, ...) become `<redacted>`, and every occurrence of a string in `opts.secrets` becomes
 * `OpaqueRef:<redacted-session>`. Pure; cycles are cut.
 */
export function redact(value: unknown, opts: RedactOptions = {}): unknown {
  const secrets = [...(opts.secrets ?? [])].filter((s) => s.length > 0);
  const seen = new WeakSet<object>();
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return scrubString(v, secrets);
    if (typeof v !== "object" || v === null) return v;
    if (seen.has(v)) return "<cycle>";
    seen.add(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v instanceof Date) return v.toISOString();
    const out: Record<string, unknown> = {};
    for (const [k, inner] of Object.entries(v as Record<string, unknown>)) {
      out[k] = SECRET_KEY.test(k) && inner !== null && inner !== "" ? REDACTED : walk(inner);
    }
    return out;
  };
  return walk(value);
}

/** Redacts the params of one call (session not included) for logging. */
export function redactParams(method: string, params: readonly unknown[], opts: RedactOptions = {}): unknown[] {
  const bare = method.startsWith("Async.") ? method.slice("Async.".length) : method;
  const positions = SECRET_PARAM_POSITIONS[bare] ?? [];
  const masked = params.map((p, i) => (positions.includes(i) ? REDACTED : p));
  return redact(masked, opts) as unknown[];
}

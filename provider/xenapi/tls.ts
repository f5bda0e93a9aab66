/**
 * HTTPS verification for XAPI hosts, which ship self-signed certificates: verify against a CA bundle (default: the
 * system CAs), or pin the SHA-256 fingerprint of the host certificate, or (explicitly) do not verify.
 *
 * All three modes use one hook on the TLS socket's `secureConnect` event, which Node emits synchronously once the
 * handshake is done and before buffered request bytes are flushed (the same point where Node applies
 * `rejectUnauthorized` itself), so a rejected host never receives the request (and so never the password).
 */
import * as http from "node:http";
import * as https from "node:https";
import type * as tls from "node:tls";

export interface TlsOptions {
  caCert?: string;
  /** One or more SHA-256 fingerprints (hex, colons/spaces optional), separated by commas. */
  fingerprint?: string;
  insecure?: boolean;
}

/** Raised on the socket when the host's certificate is not accepted. `code` starts with `XEN_TLS_`. */
export class TlsVerificationError extends Error {
  override readonly name = "TlsVerificationError";
  constructor(
    readonly code: "XEN_TLS_FINGERPRINT_MISMATCH" | "XEN_TLS_UNTRUSTED",
    message: string,
    /** SHA-256 fingerprint of the certificate the host presented (colon-separated hex). */
    readonly fingerprint: string | undefined,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** Normalises a SHA-256 fingerprint to Node's `AB:CD:...` form. Throws if it is not 32 hex bytes. */
export function normalizeFingerprint(fp: string): string {
  const hex = fp
    .trim()
    .replace(/^sha-?256[:=/ ]*/i, "")
    .replace(/[\s:-]/g, "")
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new Error(
      `invalid certificate fingerprint '${fp}': expected a SHA-256 fingerprint of 64 hex digits (colons optional), e.g. from 'openssl x509 -noout -fingerprint -sha256'`,
    );
  }
  return hex.match(/../g)!.join(":");
}

export function parseFingerprints(spec: string | undefined): string[] {
  if (spec === undefined || spec.trim() === "") return [];
  return spec
    .split(/[,;]+/)
    .filter((s) => s.trim() !== "")
    .map(normalizeFingerprint);
}

export type TlsMode = "ca" | "fingerprint" | "insecure";

/** Verification outcome for one handshake; pure so it can be table-tested. */
export function verifyPeer(input: {
  mode: TlsMode;
  pins: readonly string[];
  authorized: boolean;
  authorizationError?: string;
  fingerprint?: string;
  host: string;
}): TlsVerificationError | undefined {
  const fp = input.fingerprint;
  const seen = fp ? ` The host presented a certificate with SHA-256 fingerprint ${fp}.` : "";
  switch (input.mode) {
    case "insecure":
      return undefined;
    case "fingerprint":
      if (fp && input.pins.includes(fp)) return undefined;
      return new TlsVerificationError(
        "XEN_TLS_FINGERPRINT_MISMATCH",
        `TLS: the certificate of ${input.host} does not match the pinned fingerprint.${seen} If the host certificate was legitimately replaced (or this is another pool member), verify it out of band and update the fingerprint.`,
        fp,
        "fingerprint mismatch",
      );
    case "ca":
      if (input.authorized) return undefined;
      return new TlsVerificationError(
        "XEN_TLS_UNTRUSTED",
        `TLS: the certificate of ${input.host} is not trusted (${input.authorizationError ?? "unknown reason"}).${seen} XAPI hosts use self-signed certificates by default: pass the host's CA/certificate PEM as caCert, or pin the fingerprint above after checking it on the host ('openssl x509 -noout -fingerprint -sha256 -in /etc/xensource/xapi-ssl.pem'). 'insecure' disables verification entirely.`,
        fp,
        input.authorizationError ?? "untrusted",
      );
  }
}

export interface Agents {
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
  destroy(): void;
}

/** Keep-alive agents; the HTTPS one verifies every new connection per `opts`. */
export function createAgents(opts: TlsOptions): Agents {
  const pins = parseFingerprints(opts.fingerprint);
  const mode: TlsMode = opts.insecure ? "insecure" : pins.length > 0 ? "fingerprint" : "ca";
  // Generous socket limits: every task waiter and inventory holds one connection in an event.from long-poll.
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16 });
  const httpsAgent = new https.Agent({
    keepAlive: true,
    maxSockets: 64,
    maxFreeSockets: 16,
    // Verification is done in the secureConnect hook below (so the error can name the fingerprint).
    rejectUnauthorized: false,
    ...(opts.caCert ? { ca: opts.caCert } : {}),
  });
  const agentWithHook = httpsAgent as unknown as { createConnection: (...args: unknown[]) => unknown };
  const original = agentWithHook.createConnection.bind(httpsAgent);
  agentWithHook.createConnection = (...args: unknown[]) => {
    const socket = original(...args) as tls.TLSSocket;
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      const failure = verifyPeer({
        mode,
        pins,
        authorized: socket.authorized,
        authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined,
        fingerprint: cert && typeof cert.fingerprint256 === "string" ? cert.fingerprint256 : undefined,
        host: `${socket.servername || (socket as unknown as { _host?: string })._host || "host"}`,
      });
      if (failure) socket.destroy(failure);
    });
    return socket;
  };
  return {
    httpAgent,
    httpsAgent,
    destroy() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

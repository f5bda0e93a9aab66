/**
 * xapi's HTTP handlers beside the RPC endpoint: `/import_raw_vdi` writes a disk image into a VDI (the body is the
 * raw bytes). It goes over the client's own connections (same TLS verification) with the client's session.
 */
import axios from "axios";
import { XenTransportError } from "./errors";
import type { Agents } from "./tls";
import { classifyTransportFailure } from "./transport";

export interface RawVdiUpload {
  endpoint: string;
  host: string;
  agents: Agents | undefined;
  sessionRef: string;
  vdiRef: string;
  /** The task xapi reports the import's outcome in (it answers 200 before writing). */
  taskRef: string;
  bytes: Buffer;
  timeoutMs: number;
}

/**
 * PUT /import_raw_vdi?session_id=..&vdi=..&format=raw&task_id=... A refusal before the upload (credentials, role,
 * format) is a XenTransportError with the HTTP status; the caller reads the task for the rest.
 */
export async function importRawVdi(u: RawVdiUpload): Promise<void> {
  const method = "PUT /import_raw_vdi";
  let status: number;
  let body: string;
  try {
    const res = await axios.put(`${u.endpoint}/import_raw_vdi`, u.bytes, {
      params: { session_id: u.sessionRef, vdi: u.vdiRef, format: "raw", task_id: u.taskRef },
      headers: { "Content-Type": "application/octet-stream" },
      ...(u.agents ? { httpAgent: u.agents.httpAgent, httpsAgent: u.agents.httpsAgent } : {}),
      timeout: u.timeoutMs,
      maxBodyLength: Infinity,
      responseType: "text",
      transformResponse: (x: unknown) => x,
      validateStatus: () => true,
    });
    status = res.status;
    body = String(res.data ?? "");
  } catch (e) {
    throw classifyTransportFailure(e, {
      method,
      host: u.host,
      why: undefined,
      timeoutMs: u.timeoutMs,
      maxBytes: 0,
    });
  }
  if (status >= 200 && status < 300) return;
  const text = body
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 200);
  throw new XenTransportError({
    kind: "http-status",
    method,
    host: u.host,
    status,
    message: `${method} on ${u.host}: HTTP ${status}${text ? ` (${text})` : ""}. The image was not written; check that the VDI is not attached elsewhere and that the image fits its virtual size`,
  });
}

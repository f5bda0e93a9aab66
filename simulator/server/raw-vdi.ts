/**
 * xapi's raw disk HTTP handlers, as ocaml/xapi/import_raw_vdi.ml and export_raw_vdi.ml serve them:
 *
 *   PUT /import_raw_vdi?session_id=&vdi=&format=raw[&task_id=][&chunked=true]   body: the disk image
 *   GET /export_raw_vdi?session_id=&vdi=&format=raw[&task_id=]                  reply: the whole disk
 *
 * Credentials (Xapi_http.assert_credentials_ok): `session_id` (cookie or query), else HTTP basic credentials;
 * none or a dead session is 401, a role below vm-admin (RBAC `http/put_import_raw_vdi`, `http/get_export_raw_vdi`)
 * 403. `vdi` is a ref or a uuid. The work runs under `task_id`'s task, or a task of the handler's own that goes once
 * the transfer ends; its ref is in the `task-id` reply header. xapi sends its 200 headers before it attaches the
 * disk and copies, so a failure from then on (read-only VDI, disk in use on another host, an image larger than the
 * disk) still answers 200: the task carries the error. Formats other than raw are refused as unknown (the simulator
 * keeps raw bytes only).
 */
import * as http from "node:http";
import { TLSSocket } from "node:tls";
import { XenApiError, fail, toXenApiError } from "../errors";
import { NULL_REF } from "../ids";
import { Ctx, ROLES, Role } from "../models/engine";
import { authenticate, checkSession } from "../models/methods/session";
import { createVdi } from "../models/methods/storage";
import { Write } from "../models/vdi-data";
import {
  DISK_FORMATS,
  DiskFormat,
  assertAttachable,
  deviceIoError,
  hostForSr,
  readVdi,
  srAttachedOn,
  writeVdi,
  MAX_STORED_BYTES,
} from "../models/vdi-transfer";
import { SimulatorCore } from "../sim";
import { permissionDenied } from "./dispatch";

type Req = http.IncomingMessage;
type Res = http.ServerResponse;

/** The RBAC permission of each handler (datamodel.ml http_actions) and the realm of its 401. */
const ACTIONS = {
  import: { permission: "http/put_import_raw_vdi", realm: "VDI.import", label: "Importing raw VDI" },
  export: { permission: "http/get_export_raw_vdi", realm: "VDI.export_raw", label: "Exporting raw VDI" },
} as const;
type Action = keyof typeof ACTIONS;
const REQUIRED_ROLE: Role = "vm-admin";

/** An early answer of the handler, as xapi's Http_svr writes it. */
class HttpAnswer extends Error {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string> = {},
    readonly body = "",
  ) {
    super(`HTTP ${status}`);
  }
}

const html = (h1: string, text: string) => `<html><body><h1>${h1}</h1>${text}</body></html>`;

function unauthorised(realm: string): HttpAnswer {
  return new HttpAnswer(
    401,
    { "WWW-Authenticate": `Basic realm="${realm}"`, "Content-Type": "text/html" },
    html("HTTP 401 unauthorised", "Please check your credentials and retry."),
  );
}

function forbidden(): HttpAnswer {
  return new HttpAnswer(
    403,
    { "Content-Type": "text/html" },
    html("HTTP 403 forbidden", "Access to the requested resource is forbidden."),
  );
}

/** Http_svr.response_internal_error: any exception the handler does not turn into a task failure. */
function internalError(err: XenApiError): HttpAnswer {
  const extra = `<h1> Additional information </h1>Server_error(${err.code}, [ ${err.params.join("; ")} ])`;
  return new HttpAnswer(
    500,
    { "Content-Type": "text/html" },
    html(
      "HTTP 500 internal server error",
      `An unexpected error occurred; please wait a while and try again. If the problem persists, please contact your support representative.${extra}`,
    ),
  );
}

/** Query and cookie parameters, looked up in the order xapi's helper for each uses. */
class Params {
  private readonly cookies = new Map<string, string>();
  constructor(
    readonly url: URL,
    req: Req,
  ) {
    for (const part of (req.headers.cookie ?? "").split(";")) {
      const i = part.indexOf("=");
      if (i > 0) this.cookies.set(part.slice(0, i).trim(), decodeURIComponent(part.slice(i + 1).trim()));
    }
  }
  /** Xapi_http.lookup_param_of_req: cookie first (session_id, task_id, sr_id). */
  cookieFirst(name: string): string | undefined {
    return this.cookies.get(name) ?? this.url.searchParams.get(name) ?? undefined;
  }
  /** `req.query @ req.cookie`: query first (vdi, format, chunked). */
  queryFirst(name: string): string | undefined {
    return this.url.searchParams.get(name) ?? this.cookies.get(name);
  }
  has(name: string): boolean {
    return this.queryFirst(name) !== undefined;
  }
}

interface Caller {
  ctx: Ctx;
}

/** Xapi_http.assert_credentials_ok: a live session or basic credentials, with the handler's RBAC permission. */
function credentials(core: SimulatorCore, host: string, p: Params, req: Req, action: Action): Caller {
  const e = core.engine;
  const pool = e.db.poolOf(host)!;
  const { permission, realm } = ACTIONS[action];
  let who: { session: string; user: string; role: Role };
  const session = p.cookieFirst("session_id");
  if (session !== undefined) {
    try {
      const s = checkSession(e, session, pool);
      who = { session, user: s.user, role: s.role };
    } catch {
      throw unauthorised(realm);
    }
  } else {
    const m = /^Basic (.+)$/i.exec(req.headers.authorization ?? "");
    if (!m) throw unauthorised(realm);
    const raw = Buffer.from(m[1]!, "base64").toString("utf8");
    const i = raw.indexOf(":");
    const user = i > 0 ? authenticate(e, raw.slice(0, i), raw.slice(i + 1)) : undefined;
    if (!user) throw unauthorised(realm);
    who = { session: NULL_REF, user: user.name, role: user.role };
  }
  if (ROLES.indexOf(who.role) < ROLES.indexOf(REQUIRED_ROLE)) {
    // The caller's task learns why (rbac_raise), then the reply is 403.
    const task = p.cookieFirst("task_id");
    const err = permissionDenied(permission, REQUIRED_ROLE);
    if (task && e.db.has(task, "task")) e.tx(() => e.finishTask(task, { ok: false, error: err }));
    throw forbidden();
  }
  return { ctx: { session: who.session, pool, host, user: who.user, role: who.role } };
}

/** Importexport.vdi_of_req: a ref of any object, else a VDI uuid (an unknown uuid fails the request: 500). */
function vdiOfReq(core: SimulatorCore, p: Params, pool: string): string | undefined {
  const v = p.queryFirst("vdi");
  if (v === undefined) return undefined;
  const e = core.engine;
  if (e.db.has(v) && e.db.poolOf(v) === pool) return v;
  try {
    return e.db.byUuidRef("VDI", v, pool);
  } catch (err) {
    throw internalError(toXenApiError(err));
  }
}

/** The task the transfer runs under: the caller's (`task_id`) or one of the handler's own, dropped at the end. */
class TransferTask {
  readonly ref: string;
  private readonly own: boolean;
  constructor(
    private readonly core: SimulatorCore,
    ctx: Ctx,
    given: string | undefined,
    label: string,
  ) {
    const e = core.engine;
    this.own = !(given && e.db.has(given, "task"));
    this.ref = this.own ? e.tx(() => e.createTask(ctx, label)) : given!;
  }
  succeed(value: unknown, type: string): void {
    this.end({ ok: true, value, type });
  }
  fail(err: unknown): void {
    this.end({ ok: false, error: toXenApiError(err) });
  }
  private end(result: Parameters<SimulatorCore["engine"]["finishTask"]>[1]): void {
    const e = this.core.engine;
    e.tx(() => {
      e.finishTask(this.ref, result);
      if (this.own && e.db.has(this.ref)) e.db.destroy(this.ref);
    });
  }
}

function formatOf(p: Params): DiskFormat | { unknown: string } {
  const f = p.queryFirst("format");
  if (f === undefined) return "raw";
  const lower = f.toLowerCase();
  return (DISK_FORMATS as readonly string[]).includes(lower) ? (lower as DiskFormat) : { unknown: f };
}

/** A 302 to a host that has the SR plugged (Importexport.return_302_redirect), on this server's scheme and port. */
function redirect(core: SimulatorCore, sr: string, req: Req, url: URL): HttpAnswer {
  const e = core.engine;
  const host = hostForSr(e, sr);
  if (!host) throw internalError(fail("SR_HAS_NO_PBDS", sr));
  const scheme = req.socket instanceof TLSSocket ? "https" : "http";
  const target = `${scheme}://${e.db.get("host", host).address as string}:${req.socket.localPort}${url.pathname}${url.search}`;
  return new HttpAnswer(302, { Location: target });
}

function answer(res: Res, a: HttpAnswer): void {
  res.writeHead(a.status, {
    Connection: "close",
    "Cache-Control": "no-cache, no-store",
    "Content-Length": Buffer.byteLength(a.body),
    ...a.headers,
  });
  res.end(a.body);
}

/** Reads what is left of the body without keeping it. */
function drain(req: Req): Promise<void> {
  return new Promise((resolve) => {
    if (req.readableEnded) return resolve();
    req.on("data", () => undefined);
    req.on("end", () => resolve());
    req.on("error", () => resolve());
    req.on("close", () => resolve());
  });
}

/**
 * The body as the runs it writes. Plain: the bytes from offset 0. `chunked` (vhd-tool's protocol, not HTTP
 * chunking): frames of a little-endian u64 offset and u32 length, then the data; offset 0 and length 0 ends it.
 * Stops keeping data once the writes pass `limit`, but reads the body to its end; `over` says so.
 */
async function readWrites(req: Req, chunked: boolean, limit: number): Promise<{ writes: Write[]; over: boolean }> {
  const writes: Write[] = [];
  let over = false;
  let offset = 0;
  if (!chunked) {
    const parts: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) {
      if (over) continue;
      offset += c.length;
      if (offset > limit) over = true;
      else parts.push(c);
    }
    if (!over) writes.push({ offset: 0, data: Buffer.concat(parts) });
    return { writes, over };
  }
  let pending: Buffer = Buffer.alloc(0);
  let frame: { offset: number; len: number; parts: Buffer[]; got: number } | undefined;
  let done = false;
  for await (const c of req as AsyncIterable<Buffer>) {
    if (done || over) continue;
    pending = pending.length ? Buffer.concat([pending, c]) : c;
    while (!done && !over) {
      if (!frame) {
        if (pending.length < 12) break;
        const at = Number(pending.readBigUInt64LE(0));
        const len = pending.readUInt32LE(8);
        pending = pending.subarray(12);
        if (at === 0 && len === 0) {
          done = true;
          break;
        }
        if (at + len > limit) {
          over = true;
          break;
        }
        frame = { offset: at, len, parts: [], got: 0 };
      }
      const take = Math.min(frame.len - frame.got, pending.length);
      if (take > 0) {
        frame.parts.push(pending.subarray(0, take));
        frame.got += take;
        pending = pending.subarray(take);
      }
      if (frame.got < frame.len) break;
      writes.push({ offset: frame.offset, data: Buffer.concat(frame.parts) });
      frame = undefined;
    }
  }
  return { writes, over };
}

/** PUT /import_raw_vdi */
export async function importRawVdi(core: SimulatorCore, host: string, url: URL, req: Req, res: Res): Promise<void> {
  const e = core.engine;
  const p = new Params(url, req);
  const pool = e.db.poolOf(host)!;
  let caller: Caller;
  let vdi: string | undefined;
  let sr: string | undefined;
  try {
    caller = credentials(core, host, p, req, "import");
    vdi = vdiOfReq(core, p, pool);
    const failRequest = (err: XenApiError): never => {
      // import_raw_vdi.ml fail_task_in_request: the caller's task fails, the reply is 400.
      const task = p.cookieFirst("task_id");
      if (task && e.db.has(task, "task")) e.tx(() => e.finishTask(task, { ok: false, error: err }));
      throw new HttpAnswer(400);
    };
    if (vdi !== undefined) {
      if (!e.db.has(vdi, "VDI")) failRequest(fail("HANDLE_INVALID", "VDI", vdi));
      sr = e.db.get("VDI", vdi).SR as string;
    } else {
      const srId = p.cookieFirst("sr_id");
      const srUuid = p.cookieFirst("sr_uuid");
      if (srId !== undefined) {
        if (!e.db.has(srId, "SR") || e.db.poolOf(srId) !== pool) failRequest(fail("HANDLE_INVALID", "SR", srId));
        sr = srId;
      } else if (srUuid !== undefined) {
        try {
          sr = e.db.byUuidRef("SR", srUuid, pool);
        } catch (err) {
          failRequest(toXenApiError(err));
        }
      } else failRequest(fail("VDI_MISSING"));
    }
    if (!srAttachedOn(e, sr!, host)) throw redirect(core, sr!, req, url);
  } catch (err) {
    await drain(req);
    if (err instanceof HttpAnswer) return answer(res, err);
    throw err;
  }
  const task = new TransferTask(core, caller.ctx, p.cookieFirst("task_id"), ACTIONS.import.label);
  const refuse = async (err: XenApiError, status: number) => {
    task.fail(err);
    await drain(req);
    answer(res, new HttpAnswer(status));
  };
  const format = formatOf(p);
  const chunked = p.has("chunked");
  if (typeof format !== "string") return refuse(fail("INTERNAL_ERROR", `Unknown format ${format.unknown}`), 404);
  if (format !== "raw" && chunked) return refuse(fail("INTERNAL_ERROR", "Cannot handle chunked VHD"), 404);
  const encoding = req.headers["transfer-encoding"];
  if (encoding !== undefined) return refuse(fail("INTERNAL_ERROR", `Cannot handle encoding: ${encoding}`), 404);
  if (format !== "raw" && vdi === undefined) {
    const what = format === "qcow2" ? "QCOW2" : "VHD";
    return refuse(fail("INTERNAL_ERROR", `Importing a ${what} directly into an SR not yet supported`), 400);
  }
  // The simulator keeps raw bytes only: vhd, tar and qcow2 images are refused as an unknown format.
  if (format !== "raw") return refuse(fail("INTERNAL_ERROR", `Unknown format ${format}`), 404);
  const length = req.headers["content-length"] === undefined ? undefined : Number(req.headers["content-length"]);
  if (vdi === undefined) {
    if (length === undefined || !Number.isFinite(length))
      return refuse(fail("INTERNAL_ERROR", "Not enough info supplied to import"), 400);
    try {
      // Importing into an SR: a new VDI the size of the image (Client.VDI.create with the caller's session).
      vdi = e.tx(() =>
        createVdi(e, { ...caller.ctx, task: task.ref }, sr!, {
          name_label: "Imported VDI",
          name_description: "",
          virtual_size: length,
          type: "user",
          sharable: false,
          read_only: false,
        }),
      );
    } catch (err) {
      return refuse(toXenApiError(err), 500);
    }
  }
  const target = vdi;
  // From here on xapi has answered 200 (with the task's ref) before it attaches the disk and copies.
  try {
    e.tx(() => assertAttachable(e, target, host, true));
  } catch (err) {
    task.fail(err);
    await drain(req);
    return answer(res, ok(task.ref));
  }
  const limit = Math.min(e.db.get("VDI", target).virtual_size as number, MAX_STORED_BYTES);
  const { writes, over } = await readWrites(req, chunked, limit);
  try {
    if (over) throw deviceIoError();
    e.tx(() => {
      if (!e.db.has(target, "VDI")) throw fail("HANDLE_INVALID", "VDI", target);
      writeVdi(e, target, writes);
    });
    task.succeed(target, "VDI");
  } catch (err) {
    task.fail(err);
  }
  answer(res, ok(task.ref));
}

function ok(task: string): HttpAnswer {
  return new HttpAnswer(200, { "task-id": task, "Content-Type": "application/octet-stream" });
}

/** GET /export_raw_vdi */
export async function exportRawVdi(core: SimulatorCore, host: string, url: URL, req: Req, res: Res): Promise<void> {
  const e = core.engine;
  const p = new Params(url, req);
  const pool = e.db.poolOf(host)!;
  let caller: Caller;
  let vdi: string;
  try {
    caller = credentials(core, host, p, req, "export");
    const v = vdiOfReq(core, p, pool);
    if (v === undefined) throw internalError(fail("INTERNAL_ERROR", "Missing vdi query parameter"));
    if (!e.db.has(v, "VDI")) throw internalError(fail("HANDLE_INVALID", "VDI", v));
    vdi = v;
    const sr = e.db.get("VDI", vdi).SR as string;
    if (!srAttachedOn(e, sr, host)) throw redirect(core, sr, req, url);
  } catch (err) {
    if (err instanceof HttpAnswer) return answer(res, err);
    throw err;
  }
  const task = new TransferTask(core, caller.ctx, p.cookieFirst("task_id"), ACTIONS.export.label);
  const format = formatOf(p);
  if (format !== "raw") {
    const name = typeof format === "string" ? format : format.unknown;
    // The simulator keeps raw bytes only: vhd, tar and qcow2 are refused as an unknown format.
    task.fail(fail("INTERNAL_ERROR", `Unknown format ${name}`));
    return answer(res, new HttpAnswer(404));
  }
  const uuid = e.db.get("VDI", vdi).uuid as string;
  const { data, size } = readVdi(e, vdi);
  res.writeHead(200, {
    Connection: "close",
    "task-id": task.ref,
    "Content-Type": "application/octet-stream",
    "Content-Disposition": `attachment; filename="${uuid}.raw"`,
    "Content-Length": size,
  });
  try {
    e.tx(() => assertAttachable(e, vdi, host, false));
  } catch (err) {
    // The headers are out: the body ends early and the task says why.
    task.fail(err);
    res.flushHeaders();
    res.socket?.end();
    return;
  }
  const sent = await stream(res, data, size);
  if (sent) task.succeed("", "");
  else task.fail(fail("INTERNAL_ERROR", "the client closed the connection"));
}

const PIECE = 1024 * 1024;

/** Writes `data` then zeros up to `size`, a piece at a time, waiting for the socket to take each. */
async function stream(res: Res, data: Buffer, size: number): Promise<boolean> {
  const zeros = Buffer.alloc(Math.min(PIECE, Math.max(0, size - data.length)));
  for (let at = 0; at < size;) {
    const piece =
      at < data.length
        ? data.subarray(at, Math.min(data.length, at + PIECE))
        : zeros.subarray(0, Math.min(PIECE, size - at));
    at += piece.length;
    if (!res.write(piece)) {
      const drained = await new Promise<boolean>((resolve) => {
        const gone = () => resolve(false);
        res.once("close", gone);
        res.once("drain", () => {
          res.off("close", gone);
          resolve(true);
        });
      });
      if (!drained) return false;
    }
    if (res.destroyed) return false;
  }
  res.end();
  return true;
}

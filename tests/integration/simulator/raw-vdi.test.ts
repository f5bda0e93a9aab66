/**
 * xapi's raw disk handlers over HTTP: PUT /import_raw_vdi and GET /export_raw_vdi (import_raw_vdi.ml,
 * export_raw_vdi.ml): credentials, RBAC, tasks, status codes, and the bytes landing in the VDI.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RunningSimulator } from "../../../simulator";
import { call, failure, login, newVm, sim, waitTask } from "./helpers";

type Rec = Record<string, unknown>;
const MiB = 1024 * 1024;

let s: RunningSimulator;
let url: string;
let session: string;
let sr: string;

beforeAll(async () => {
  s = await sim();
  url = s.url;
  session = await login(url);
  const [pool] = await call<string[]>(url, "pool.get_all", session);
  sr = await call<string>(url, "pool.get_default_SR", session, pool);
});
afterAll(() => s.close());

async function newVdi(size: number, extra: Rec = {}, base = url, ses = session, on = sr): Promise<string> {
  return call<string>(base, "VDI.create", ses, {
    SR: on,
    virtual_size: size,
    type: "user",
    name_label: "raw",
    sharable: false,
    read_only: false,
    other_config: {},
    ...extra,
  });
}

function query(q: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, v);
  return p.toString();
}

async function put(
  q: Record<string, string | undefined>,
  body: Buffer,
  opts: { base?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  return fetch(`${opts.base ?? url}/import_raw_vdi?${query(q)}`, {
    method: "PUT",
    body,
    redirect: "manual",
    ...(opts.headers ? { headers: opts.headers } : {}),
  });
}

async function get(q: Record<string, string | undefined>, base = url): Promise<Response> {
  return fetch(`${base}/export_raw_vdi?${query(q)}`, { redirect: "manual" });
}

async function exported(vdi: string): Promise<Buffer> {
  const r = await get({ session_id: session, vdi, format: "raw" });
  expect(r.status).toBe(200);
  return Buffer.from(await r.arrayBuffer());
}

const newTask = () => call<string>(url, "task.create", session, "upload", "");
const taskRecord = (t: string) => call<Rec>(url, "task.get_record", session, t);

describe("round trip", () => {
  test("import writes the bytes at offset 0; export returns the whole disk; the task names the VDI", async () => {
    const vdi = await newVdi(4 * MiB);
    const image = randomBytes(MiB + 123);
    const task = await newTask();
    const r = await put({ session_id: session, vdi, format: "raw", task_id: task }, image);
    expect(r.status).toBe(200);
    expect(r.headers.get("task-id")).toBe(task);
    const t = await waitTask(url, session, task);
    expect(t.status).toBe("success");
    expect(t.result).toBe(`<value>${vdi}</value>`);
    expect(t.progress).toBe(1);
    const e = await get({ session_id: session, vdi, format: "raw" });
    expect(e.status).toBe(200);
    expect(e.headers.get("content-type")).toBe("application/octet-stream");
    const uuid = await call<string>(url, "VDI.get_uuid", session, vdi);
    expect(e.headers.get("content-disposition")).toBe(`attachment; filename="${uuid}.raw"`);
    const disk = Buffer.from(await e.arrayBuffer());
    expect(disk.length).toBe(4 * MiB);
    expect(disk.subarray(0, image.length).equals(image)).toBe(true);
    expect(disk.subarray(image.length).every((b) => b === 0)).toBe(true);
  });

  test("a second, shorter image overwrites the start and leaves the rest; the vdi may be given by uuid", async () => {
    const vdi = await newVdi(2 * MiB);
    const uuid = await call<string>(url, "VDI.get_uuid", session, vdi);
    expect((await put({ session_id: session, vdi: uuid }, Buffer.alloc(3000, 0xaa))).status).toBe(200);
    expect((await put({ session_id: session, vdi: uuid }, Buffer.alloc(1000, 0xbb))).status).toBe(200);
    const disk = await exported(vdi);
    expect(disk.subarray(0, 1000).every((b) => b === 0xbb)).toBe(true);
    expect(disk.subarray(1000, 3000).every((b) => b === 0xaa)).toBe(true);
    expect(disk.subarray(3000).every((b) => b === 0)).toBe(true);
  });

  test("a 64 MiB body streams in (the JSON-RPC body limit does not apply)", async () => {
    const vdi = await newVdi(64 * MiB);
    const image = randomBytes(64 * MiB);
    expect((await put({ session_id: session, vdi, format: "raw" }, image)).status).toBe(200);
    const disk = await exported(vdi);
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    expect(sha(disk)).toBe(sha(image));
  }, 60_000);

  test("HTTP basic credentials instead of a session", async () => {
    const vdi = await newVdi(MiB);
    const auth = `Basic ${Buffer.from("root:xen-root-pw").toString("base64")}`;
    const r = await put({ vdi }, Buffer.from("hello"), { headers: { Authorization: auth } });
    expect(r.status).toBe(200);
    expect((await exported(vdi)).subarray(0, 5).toString()).toBe("hello");
  });

  test("vhd-tool's chunked protocol: frames of offset and length, then the end frame", async () => {
    const vdi = await newVdi(MiB);
    const frame = (offset: number, data: Buffer) => {
      const h = Buffer.alloc(12);
      h.writeBigUInt64LE(BigInt(offset), 0);
      h.writeUInt32LE(data.length, 8);
      return Buffer.concat([h, data]);
    };
    const body = Buffer.concat([
      frame(4096, Buffer.from("second")),
      frame(10, Buffer.from("first")),
      frame(0, Buffer.alloc(0)),
    ]);
    const r = await put({ session_id: session, vdi, format: "raw", chunked: "true" }, body);
    expect(r.status).toBe(200);
    const disk = await exported(vdi);
    expect(disk.subarray(10, 15).toString()).toBe("first");
    expect(disk.subarray(4096, 4102).toString()).toBe("second");
    expect(disk.subarray(0, 10).every((b) => b === 0)).toBe(true);
  });

  test("without a vdi, into an SR (sr_id): a new VDI named 'Imported VDI', sized as the image", async () => {
    const task = await newTask();
    const image = randomBytes(300_000);
    const r = await put({ session_id: session, sr_id: sr, task_id: task }, image);
    expect(r.status).toBe(200);
    const t = await waitTask(url, session, task);
    expect(t.status).toBe("success");
    const vdi = /<value>(.*)<\/value>/.exec(String(t.result))![1]!;
    const v = await call<Rec>(url, "VDI.get_record", session, vdi);
    expect(v).toMatchObject({ name_label: "Imported VDI", virtual_size: image.length, SR: sr, type: "user" });
    expect((await exported(vdi)).equals(image)).toBe(true);
  });
});

describe("the bytes are disk content", () => {
  test("VDI.copy, VM.clone and VM.snapshot carry them; a copy-on-write clone's physical_utilisation grows", async () => {
    const vm = await newVm(url, session, "Debian Bookworm 12", "raw-src");
    const disk = await newVdi(4 * MiB);
    await call(url, "VBD.create", session, {
      VM: vm,
      VDI: disk,
      userdevice: "1",
      bootable: false,
      mode: "RW",
      type: "Disk",
      unpluggable: true,
      empty: false,
      other_config: {},
      qos_algorithm_type: "",
      qos_algorithm_params: {},
    });
    const image = randomBytes(5000);
    expect((await put({ session_id: session, vdi: disk }, image)).status).toBe(200);
    const copy = await call<string>(url, "VDI.copy", session, disk, sr);
    expect((await exported(copy)).subarray(0, 5000).equals(image)).toBe(true);
    // The small disk of a clone or snapshot of the VM (its 10 GiB system disk is left alone).
    const second = async (of: string) => {
      for (const b of await call<string[]>(url, "VM.get_VBDs", session, of))
        if ((await call(url, "VBD.get_userdevice", session, b)) === "1")
          return call<string>(url, "VBD.get_VDI", session, b);
      throw new Error("no userdevice 1");
    };
    const cdisk = await second(await call<string>(url, "VM.clone", session, vm, "raw-clone"));
    expect((await exported(cdisk)).subarray(0, 5000).equals(image)).toBe(true);
    const sdisk = await second(await call<string>(url, "VM.snapshot", session, vm, "raw-snap"));
    expect((await exported(sdisk)).subarray(0, 5000).equals(image)).toBe(true);
    // The clone's disk is copy-on-write (nothing allocated); writing 2 MiB allocates 2 MiB, on its SR too.
    expect(await call(url, "VDI.get_physical_utilisation", session, cdisk)).toBe(0);
    const before = await call<number>(url, "SR.get_physical_utilisation", session, sr);
    expect((await put({ session_id: session, vdi: cdisk }, randomBytes(2 * MiB))).status).toBe(200);
    expect(await call(url, "VDI.get_physical_utilisation", session, cdisk)).toBe(2 * MiB);
    expect(await call(url, "SR.get_physical_utilisation", session, sr)).toBe(before + 2 * MiB);
    // The source is untouched by writes to its clone.
    expect((await exported(disk)).subarray(0, 5000).equals(image)).toBe(true);
  });

  test("the bytes survive a restart of a simulator with a data dir", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xen-raw-"));
    try {
      let p = await sim({ dataDir: dir });
      let ses = await login(p.url);
      const [pool] = await call<string[]>(p.url, "pool.get_all", ses);
      const target = await call<string>(p.url, "pool.get_default_SR", ses, pool);
      const vdi = await newVdi(MiB, {}, p.url, ses, target);
      const image = randomBytes(70_000);
      const r = await fetch(`${p.url}/import_raw_vdi?${query({ session_id: ses, vdi })}`, {
        method: "PUT",
        body: image,
      });
      expect(r.status).toBe(200);
      await p.close();
      p = await sim({ dataDir: dir });
      ses = await login(p.url);
      const e = await fetch(`${p.url}/export_raw_vdi?${query({ session_id: ses, vdi })}`);
      expect(
        Buffer.from(await e.arrayBuffer())
          .subarray(0, image.length)
          .equals(image),
      ).toBe(true);
      await p.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("refusals, as xapi answers them", () => {
  test("no credentials or a dead session: 401 with the handler's realm", async () => {
    const vdi = await newVdi(MiB);
    const none = await put({ vdi }, Buffer.from("x"));
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Basic realm="VDI.import"');
    expect((await put({ session_id: "OpaqueRef:dead", vdi }, Buffer.from("x"))).status).toBe(401);
    const badPw = `Basic ${Buffer.from("root:wrong").toString("base64")}`;
    expect((await put({ vdi }, Buffer.from("x"), { headers: { Authorization: badPw } })).status).toBe(401);
    const e = await get({ session_id: "OpaqueRef:dead", vdi });
    expect(e.status).toBe(401);
    expect(e.headers.get("www-authenticate")).toBe('Basic realm="VDI.export_raw"');
  });

  test("a role below vm-admin: 403, and the caller's task fails with RBAC_PERMISSION_DENIED", async () => {
    const vdi = await newVdi(MiB);
    const op = await login(url, "operator", "operator-pw");
    const task = await call<string>(url, "task.create", op, "upload", "");
    expect((await put({ session_id: op, vdi, task_id: task }, Buffer.from("x"))).status).toBe(403);
    const t = await call<Rec>(url, "task.get_record", op, task);
    expect(t.status).toBe("failure");
    expect((t.error_info as string[]).slice(0, 2)).toEqual(["RBAC_PERMISSION_DENIED", "http/put_import_raw_vdi"]);
    expect((await get({ session_id: op, vdi })).status).toBe(403);
    const admin = await login(url, "vmadmin", "vmadmin-pw");
    expect((await put({ session_id: admin, vdi }, Buffer.from("x"))).status).toBe(200);
  });

  test("an unknown VDI: 500; neither vdi nor SR: 400 and the task fails VDI_MISSING", async () => {
    const r = await put({ session_id: session, vdi: "00000000-0000-4000-8000-000000000000" }, Buffer.from("x"));
    expect(r.status).toBe(500);
    expect(await r.text()).toContain("UUID_INVALID");
    expect((await get({ session_id: session, vdi: "no-such-vdi" })).status).toBe(500);
    expect((await get({ session_id: session })).status).toBe(500);
    const task = await newTask();
    expect((await put({ session_id: session, task_id: task }, Buffer.from("x"))).status).toBe(400);
    expect((await taskRecord(task)).error_info).toEqual(["VDI_MISSING"]);
  });

  test("formats: vhd, qcow2 and unknown names are 404 with the task failed; HTTP chunked encoding is 404", async () => {
    const vdi = await newVdi(MiB);
    for (const format of ["vhd", "qcow2", "bogus"]) {
      const task = await newTask();
      expect((await put({ session_id: session, vdi, format, task_id: task }, Buffer.from("x"))).status).toBe(404);
      expect((await taskRecord(task)).error_info).toEqual(["INTERNAL_ERROR", `Unknown format ${format}`]);
    }
    expect((await get({ session_id: session, vdi, format: "vhd" })).status).toBe(404);
    const task = await newTask();
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array([1, 2, 3]));
        c.close();
      },
    });
    const r = await fetch(`${url}/import_raw_vdi?${query({ session_id: session, vdi, task_id: task })}`, {
      method: "PUT",
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(r.status).toBe(404);
    expect((await taskRecord(task)).error_info).toEqual(["INTERNAL_ERROR", "Cannot handle encoding: chunked"]);
  });

  test("an image larger than the disk: 200 (the headers are out), the task fails VDI_IO_ERROR, nothing written", async () => {
    const vdi = await newVdi(MiB);
    const task = await newTask();
    const r = await put({ session_id: session, vdi, task_id: task }, randomBytes(MiB + 1));
    expect(r.status).toBe(200);
    const t = await waitTask(url, session, task);
    expect(t.status).toBe("failure");
    expect(t.error_info).toEqual(["VDI_IO_ERROR", "Device I/O errors"]);
    expect((await exported(vdi)).every((b) => b === 0)).toBe(true);
  });

  test("a read-only VDI (an ISO of the library): the task fails VDI_READONLY", async () => {
    const [iso] = await call<string[]>(url, "VDI.get_by_name_label", session, "guest-tools.iso");
    const task = await newTask();
    expect((await put({ session_id: session, vdi: iso, task_id: task }, Buffer.from("x"))).status).toBe(200);
    expect((await taskRecord(task)).error_info).toEqual(["VDI_READONLY", iso]);
  });
});

describe("a pool of two hosts", () => {
  let ses: string;
  let u2: string;
  beforeAll(async () => {
    u2 = s.hostUrls["xen-02"]!;
    const x2 = await login(u2);
    await call(u2, "pool.join", x2, "127.42.0.1", "root", "xen-root-pw");
    ses = await login(url);
  });

  test("a disk a guest on the other host writes to: the task fails SR_BACKEND_FAILURE_46; on that host it works", async () => {
    const vm = await newVm(url, ses, "CentOS 6 (PV)", "busy");
    const [h2] = await call<string[]>(url, "host.get_by_name_label", ses, "xen-02");
    await call(url, "VM.start_on", ses, vm, h2, false, false);
    const [vbd] = await call<string[]>(url, "VM.get_VBDs", ses, vm);
    const disk = await call<string>(url, "VBD.get_VDI", ses, vbd);
    const uuid = await call<string>(url, "VDI.get_uuid", ses, disk);
    const task = await call<string>(url, "task.create", ses, "upload", "");
    expect((await put({ session_id: ses, vdi: disk, task_id: task }, Buffer.from("x"))).status).toBe(200);
    const t = await call<Rec>(url, "task.get_record", ses, task);
    expect(t.error_info).toEqual([
      "SR_BACKEND_FAILURE_46",
      "",
      `The VDI is not available [opterr=VDI ${uuid} not detached cleanly]`,
      "",
    ]);
    // Exporting it from here fails the same way: the body ends before the disk does.
    const e = await get({ session_id: ses, vdi: disk });
    expect(e.status).toBe(200);
    await expect(e.arrayBuffer()).rejects.toThrow();
    // On the host that runs the guest the tapdisk is shared: the import goes through.
    expect((await put({ session_id: ses, vdi: disk }, Buffer.from("x"), { base: u2 })).status).toBe(200);
    await call(url, "VM.hard_shutdown", ses, vm);
  });

  test("a VDI on an SR the serving host does not see: 302 to a host that does", async () => {
    const srs = await call<Record<string, Rec>>(url, "SR.get_all_records", ses);
    const [h1] = await call<string[]>(url, "host.get_by_name_label", ses, "xen-01");
    const local = Object.entries(srs).find(
      ([, r]) => r.name_label === "Local storage" && String(r.name_description).includes("xen-01"),
    )![0];
    expect(await call(url, "SR.get_PBDs", ses, local)).toHaveLength(1);
    const vdi = await newVdi(MiB, {}, url, ses, local);
    const r = await put({ session_id: ses, vdi }, Buffer.from("x"), { base: u2 });
    expect(r.status).toBe(302);
    const address = await call<string>(url, "host.get_address", ses, h1);
    const location = new URL(r.headers.get("location")!);
    expect(location.hostname).toBe(address);
    expect(location.pathname).toBe("/import_raw_vdi");
    expect(location.searchParams.get("vdi")).toBe(vdi);
    expect((await get({ session_id: ses, vdi }, u2)).status).toBe(302);
  });

  test("the joining host's ISO library went; the master's is plugged on both hosts", async () => {
    const libs = await call<string[]>(url, "SR.get_by_name_label", ses, "ISO library");
    expect(libs).toHaveLength(1);
    expect(await call<string[]>(url, "SR.get_PBDs", ses, libs[0])).toHaveLength(2);
    expect(await failure(call(url, "SR.get_record", ses, "OpaqueRef:none"))).toEqual([
      "HANDLE_INVALID",
      "SR",
      "OpaqueRef:none",
    ]);
  });
});

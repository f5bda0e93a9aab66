import { RunningSimulator } from "../../../simulator";
import { call, control, failure, login, newVm, sim } from "./helpers";

/**
 * Storage operations the simulator refuses as xapi does: online resize on a driver without VDI_RESIZE_ONLINE,
 * live storage migration without a running VM, VDI.copy into an unsuitable VDI; and the content marker that
 * proves a disk's data survived a copy or a move.
 */
let s: RunningSimulator;
let url: string;
let session: string;
const GiB = 1024 ** 3;
const NULL = "OpaqueRef:NULL";

type Rec = Record<string, unknown>;

beforeAll(async () => {
  s = await sim();
  url = s.url;
  session = await login(url);
});
afterAll(() => s.close());

async function srByName(name: string): Promise<string> {
  const srs = await call<Record<string, Rec>>(url, "SR.get_all_records", session);
  return Object.entries(srs).find(([, r]) => r.name_label === name)![0];
}

async function newVdi(sr: string, size: number, name: string, extra: Rec = {}): Promise<string> {
  return call<string>(url, "VDI.create", session, {
    SR: sr,
    virtual_size: size,
    type: "user",
    name_label: name,
    ...extra,
  });
}

const uuidOf = (vdi: string) => call<string>(url, "VDI.get_uuid", session, vdi);

/** The control plane without helpers.control's 200-only check: status and parsed body. */
async function rawControl(method: string, route: string, body?: unknown): Promise<{ status: number; json: Rec }> {
  const r = await fetch(`${s.controlUrl}${route}`, {
    method,
    headers: { Authorization: `Bearer ${s.controlToken}`, "Content-Type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, json: (await r.json()) as Rec };
}

const getContent = async (vdi: string) =>
  (await control<{ content: string }>(s, "GET", `/vdis/${await uuidOf(vdi)}/content`)).content;
const putContent = async (vdi: string, content: string) =>
  control(s, "PUT", `/vdis/${await uuidOf(vdi)}/content`, { content });

/** A started Debian VM (PV drivers, so disks hot-plug) and its boot disk, on the pool's default SR (shared-nfs). */
async function runningVm(name: string): Promise<{ vm: string; vbd: string; vdi: string }> {
  const vm = await newVm(url, session, "Debian Bookworm 12", name);
  await call(url, "VM.start", session, vm, false, false);
  const [vbd] = await call<string[]>(url, "VM.get_VBDs", session, vm);
  return { vm, vbd: vbd!, vdi: await call<string>(url, "VBD.get_VDI", session, vbd) };
}

/** Hot-plugs `vdi` into a running VM as a new disk. */
async function plugDisk(vm: string, vdi: string): Promise<string> {
  const vbd = await call<string>(url, "VBD.create", session, {
    VM: vm,
    VDI: vdi,
    userdevice: "autodetect",
    bootable: false,
    mode: "RW",
    type: "Disk",
    empty: false,
    other_config: {},
    qos_algorithm_type: "",
    qos_algorithm_params: {},
  });
  await call(url, "VBD.plug", session, vbd);
  return vbd;
}

describe("SM records", () => {
  test("one SM record per SR type, with features; only nfs declares VDI_RESIZE_ONLINE", async () => {
    const all = await call<Record<string, Rec>>(url, "SM.get_all_records", session);
    const byType = new Map(Object.entries(all).map(([ref, r]) => [r.type as string, { ref, r }]));
    expect([...byType.keys()].sort()).toEqual(["ext", "iso", "nfs"]);
    const srTypes = Object.values(await call<Record<string, Rec>>(url, "SR.get_all_records", session)).map(
      (r) => r.type,
    );
    // The ISO library every pool has: SM's ISOSR.
    expect(new Set(srTypes)).toEqual(new Set(["ext", "nfs", "iso"]));
    const nfs = byType.get("nfs")!;
    const ext = byType.get("ext")!;
    for (const { r } of [nfs, ext]) {
      expect(Object.keys(r).sort()).toEqual(
        [
          "uuid",
          "name_label",
          "name_description",
          "type",
          "vendor",
          "copyright",
          "version",
          "required_api_version",
          "configuration",
          "capabilities",
          "features",
          "other_config",
          "driver_filename",
          "required_cluster_stack",
        ].sort(),
      );
      expect(r.features).toMatchObject({
        SR_PROBE: 1,
        SR_UPDATE: 1,
        VDI_CREATE: 1,
        VDI_DELETE: 1,
        VDI_ATTACH: 1,
        VDI_DETACH: 1,
        VDI_RESIZE: 1,
        VDI_CLONE: 1,
        VDI_SNAPSHOT: 1,
        VDI_MIRROR: 1,
        VDI_GENERATE_CONFIG: 1,
        THIN_PROVISIONING: 1,
      });
      expect(r.capabilities).toEqual(Object.keys(r.features as Rec));
    }
    expect((nfs.r.features as Rec).VDI_RESIZE_ONLINE).toBe(1);
    expect((ext.r.features as Rec).VDI_RESIZE_ONLINE).toBeUndefined();
    expect(nfs.r.driver_filename).toBe("/opt/xensource/sm/NFSSR");
    // The implicit accessors work as for every other class.
    expect((await call<string[]>(url, "SM.get_all", session)).sort()).toEqual(Object.keys(all).sort());
    expect(await call(url, "SM.get_record", session, nfs.ref)).toEqual(nfs.r);
    expect(await call(url, "SM.get_by_uuid", session, nfs.r.uuid)).toBe(nfs.ref);
    expect(await call(url, "SM.get_features", session, ext.ref)).toEqual(ext.r.features);
    expect(await call(url, "SM.get_type", session, ext.ref)).toBe("ext");
    expect(await call(url, "SM.get_by_name_label", session, "NFS VHD")).toEqual([nfs.ref]);
    // Every pool has the drivers installed, even without an SR of that type (xen-02 has no NFS SR).
    const url2 = s.hostUrls["xen-02"]!;
    const s2 = await login(url2);
    const types2 = Object.values(await call<Record<string, Rec>>(url2, "SM.get_all_records", s2)).map((r) => r.type);
    expect(types2.sort()).toEqual(["ext", "iso", "nfs"]);
  });
});

describe("VDI.resize_online and VDI.resize", () => {
  test("resize_online on a local SR is refused with SR_OPERATION_NOT_SUPPORTED; on nfs it grows the disk", async () => {
    const local = await srByName("Local storage");
    const { vm, vdi: nfsDisk } = await runningVm("grow-1");
    const localDisk = await newVdi(local, GiB, "grow-local");
    await plugDisk(vm, localDisk);
    expect(await failure(call(url, "VDI.resize_online", session, localDisk, 2 * GiB))).toEqual([
      "SR_OPERATION_NOT_SUPPORTED",
      local,
    ]);
    expect(await call(url, "VDI.get_virtual_size", session, localDisk)).toBe(GiB);
    const before = await call<number>(url, "VDI.get_virtual_size", session, nfsDisk);
    await call(url, "VDI.resize_online", session, nfsDisk, before + GiB);
    expect(await call(url, "VDI.get_virtual_size", session, nfsDisk)).toBe(before + GiB);
    // The offline resize of an attached disk stays refused, on either SR.
    for (const d of [nfsDisk, localDisk])
      expect(await failure(call(url, "VDI.resize", session, d, 4 * GiB))).toEqual(["VDI_IN_USE", d, "resize"]);
    await call(url, "VM.hard_shutdown", session, vm);
    await call(url, "VDI.resize", session, localDisk, 2 * GiB);
    expect(await call(url, "VDI.get_virtual_size", session, localDisk)).toBe(2 * GiB);
  });
});

describe("VDI.pool_migrate", () => {
  test("a halted VM's VDI and a loose VDI need a running VM: VDI_NEEDS_VM_FOR_MIGRATE [vdi]", async () => {
    const local = await srByName("Local storage");
    const vm = await newVm(url, session, "Debian Bookworm 12", "halted-1");
    const [vbd] = await call<string[]>(url, "VM.get_VBDs", session, vm);
    const vdi = await call<string>(url, "VBD.get_VDI", session, vbd);
    expect(await failure(call(url, "VDI.pool_migrate", session, vdi, local, {}))).toEqual([
      "VDI_NEEDS_VM_FOR_MIGRATE",
      vdi,
    ]);
    const loose = await newVdi(local, GiB, "loose");
    expect(await failure(call(url, "VDI.pool_migrate", session, loose, await srByName("shared-nfs"), {}))).toEqual([
      "VDI_NEEDS_VM_FOR_MIGRATE",
      loose,
    ]);
    // Nothing moved.
    expect(await call(url, "VBD.get_VDI", session, vbd)).toBe(vdi);
    expect(await call(url, "VDI.get_SR", session, vdi)).toBe(await srByName("shared-nfs"));
  });
  test("a running VM's disk moves live: same uuid, VBD repointed, content carried", async () => {
    const local = await srByName("Local storage");
    const { vm, vbd, vdi } = await runningVm("live-move-1");
    await putContent(vdi, "boot sector of live-move-1");
    const uuid = await uuidOf(vdi);
    const moved = await call<string>(url, "VDI.pool_migrate", session, vdi, local, {});
    expect(moved).not.toBe(vdi);
    expect(await call(url, "VDI.get_SR", session, moved)).toBe(local);
    expect(await call(url, "VDI.get_uuid", session, moved)).toBe(uuid);
    expect(await call(url, "VBD.get_VDI", session, vbd)).toBe(moved);
    expect(await getContent(moved)).toBe("boot sector of live-move-1");
    expect(await call(url, "VM.get_power_state", session, vm)).toBe("Running");
  });
});

describe("VDI.copy", () => {
  test("the 2-parameter form (vdi, sr) makes a fresh VDI on sr with the content", async () => {
    const local = await srByName("Local storage");
    const shared = await srByName("shared-nfs");
    const src = await newVdi(local, GiB, "copy-src-2");
    await putContent(src, "two-param data");
    const dst = await call<string>(url, "VDI.copy", session, src, shared);
    expect(dst).not.toBe(src);
    expect(await call(url, "VDI.get_SR", session, dst)).toBe(shared);
    expect(await call(url, "VDI.get_virtual_size", session, dst)).toBe(GiB);
    expect(await getContent(dst)).toBe("two-param data");
    expect(await getContent(src)).toBe("two-param data");
    expect(await uuidOf(dst)).not.toBe(await uuidOf(src));
  });
  test("the 4-parameter form: NULL base/into is a fresh copy; into_vdi receives the content in place", async () => {
    const local = await srByName("Local storage");
    const shared = await srByName("shared-nfs");
    const src = await newVdi(local, GiB, "copy-src-4");
    await putContent(src, "four-param data");
    const fresh = await call<string>(url, "VDI.copy", session, src, shared, NULL, NULL);
    expect(await call(url, "VDI.get_SR", session, fresh)).toBe(shared);
    expect(await getContent(fresh)).toBe("four-param data");

    const into = await newVdi(shared, 2 * GiB, "copy-into");
    const vdis = (await call<string[]>(url, "VDI.get_all", session)).length;
    // sr is not needed when the destination VDI is given.
    expect(await call(url, "VDI.copy", session, src, NULL, NULL, into)).toBe(into);
    expect(await getContent(into)).toBe("four-param data");
    expect(await call(url, "VDI.get_SR", session, into)).toBe(shared);
    expect(await call(url, "VDI.get_virtual_size", session, into)).toBe(2 * GiB);
    expect((await call<string[]>(url, "VDI.get_all", session)).length).toBe(vdis);
    // A delta copy from a base VDI ends with the same content.
    await putContent(src, "four-param data, later");
    expect(await call(url, "VDI.copy", session, src, NULL, fresh, into)).toBe(into);
    expect(await getContent(into)).toBe("four-param data, later");
  });
  test("into_vdi must be large enough (VDI_TOO_SMALL [into, size]) and writable (VDI_READONLY [into])", async () => {
    const local = await srByName("Local storage");
    const src = await newVdi(local, 2 * GiB, "copy-src-big");
    await putContent(src, "big");
    const small = await newVdi(local, GiB, "copy-small");
    await putContent(small, "untouched");
    expect(await failure(call(url, "VDI.copy", session, src, NULL, NULL, small))).toEqual([
      "VDI_TOO_SMALL",
      small,
      String(2 * GiB),
    ]);
    expect(await getContent(small)).toBe("untouched");
    const ro = await newVdi(local, 4 * GiB, "copy-ro", { read_only: true });
    expect(await failure(call(url, "VDI.copy", session, src, NULL, NULL, ro))).toEqual(["VDI_READONLY", ro]);
    // Without into_vdi, the SR is required.
    expect(await failure(call(url, "VDI.copy", session, src, NULL))).toEqual(["HANDLE_INVALID", "SR", NULL]);
  });
});

describe("content marker and its control routes", () => {
  test("PUT and GET /control/vdis/<uuid>/content; 404 for an unknown uuid; not a XenAPI field", async () => {
    const local = await srByName("Local storage");
    const vdi = await newVdi(local, GiB, "content-1");
    const uuid = await uuidOf(vdi);
    expect(await rawControl("GET", `/vdis/${uuid}/content`)).toEqual({ status: 200, json: { content: "" } });
    expect(await rawControl("PUT", `/vdis/${uuid}/content`, { content: "hello" })).toEqual({
      status: 200,
      json: { content: "hello" },
    });
    expect(await rawControl("GET", `/vdis/${uuid}/content`)).toEqual({ status: 200, json: { content: "hello" } });
    expect(await rawControl("PUT", `/vdis/${uuid}/content`, { content: 5 })).toEqual({
      status: 400,
      json: { error: "content must be a string" },
    });
    const unknown = "00000000-0000-4000-8000-000000000000";
    for (const [m, b] of [
      ["GET", undefined],
      ["PUT", { content: "x" }],
    ] as const)
      expect(await rawControl(m, `/vdis/${unknown}/content`, b)).toEqual({
        status: 404,
        json: { error: `no VDI with uuid ${unknown}` },
      });
    const r = await call<Rec>(url, "VDI.get_record", session, vdi);
    expect(Object.values(r)).not.toContain("hello");
    expect(r.content).toBeUndefined();
  });
  test("VM.clone and VM.copy carry each disk's content", async () => {
    const vm = await newVm(url, session, "Debian Bookworm 12", "content-vm");
    const [vbd] = await call<string[]>(url, "VM.get_VBDs", session, vm);
    await putContent(await call<string>(url, "VBD.get_VDI", session, vbd), "os image");
    const diskOf = async (v: string) => {
      const [b] = await call<string[]>(url, "VM.get_VBDs", session, v);
      return call<string>(url, "VBD.get_VDI", session, b);
    };
    const clone = await call<string>(url, "VM.clone", session, vm, "content-vm-clone");
    expect(await getContent(await diskOf(clone))).toBe("os image");
    const copy = await call<string>(url, "VM.copy", session, vm, "content-vm-copy", await srByName("Local storage"));
    expect(await getContent(await diskOf(copy))).toBe("os image");
  });
});

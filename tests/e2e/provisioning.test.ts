/**
 * Guest provisioning under the real Pulumi engine: cloud-init with each change policy (the guest's reported
 * hostname proves what it booted with), an install from an ISO (CD, then disk), UEFI with Secure Boot and a vTPM,
 * a firmware change previewed as a replacement, VMs made from an existing VM (full copy onto another SR) and from
 * a snapshot, an existing VDI attached and kept after destroy, and an image imported into a template.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Stack } from "@pulumi/pulumi/automation";
import { XenApiClient } from "../../provider/xenapi";
import { startSimulator, type RunningSimulator } from "../../simulator";
import { createE2eEnv, E2E_TIMEOUT_MS, fixtureDir, type E2eEnv } from "./harness";

jest.setTimeout(E2E_TIMEOUT_MS);

const PASSWORD = "e2e-provisioning-pw-9d1e";
const GiB = 1024 ** 3;
const DEBIAN_ISO = "debian-12.7.0-amd64-netinst.iso";

let sim: RunningSimulator;
let env: E2eEnv;
let xen: XenApiClient;
let counter = 0;

type Rec = Record<string, unknown> & { uuid: string; name_label: string };

async function control(method: string, route: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${sim.controlUrl}/${route}`, {
    method,
    headers: { authorization: `Bearer ${sim.controlToken}`, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  expect(res.status).toBeLessThan(300);
  return res.json();
}

async function vm(uuid: string): Promise<Rec> {
  return (await xen.getRecord("VM", await xen.getByUuid("VM", uuid))) as unknown as Rec;
}

async function vmsNamed(name: string): Promise<Rec[]> {
  const out: Rec[] = [];
  for (const r of (await xen.getAllRecords("VM")).values()) {
    const v = r as unknown as Rec;
    if (v.is_a_template !== true && v.is_a_snapshot !== true && v.name_label === name) out.push(v);
  }
  return out;
}

/** What the guest agent reports: its hostname and addresses. */
async function guest(uuid: string): Promise<{ hostname: string; ips: string[] }> {
  const r = await vm(uuid);
  const gm = (await xen.getRecord("VM_guest_metrics", r.guest_metrics as string)) as unknown as Rec;
  // xapi reports the guest's host name in netbios_name (from xenstore data/host_name_dns).
  const netbios = (gm.netbios_name ?? {}) as Record<string, string>;
  const networks = (gm.networks ?? {}) as Record<string, string>;
  return {
    hostname: netbios.host_name ?? "",
    ips: Object.entries(networks)
      .filter(([k]) => /\/ip$/.test(k))
      .map(([, v]) => v),
  };
}

async function consoleLines(uuid: string): Promise<string[]> {
  return ((await control("GET", `vms/${uuid}/console`)) as { lines: string[] }).lines;
}

async function vbdsOf(uuid: string): Promise<Rec[]> {
  const out: Rec[] = [];
  for (const ref of (await vm(uuid)).VBDs as string[]) out.push((await xen.getRecord("VBD", ref)) as unknown as Rec);
  return out;
}

async function vdiByUuid(uuid: string): Promise<Rec | undefined> {
  return [...(await xen.getAllRecords("VDI")).values()].find((v) => v.uuid === uuid) as Rec | undefined;
}

/** A VDI's bytes through xapi's /export_raw_vdi handler. */
async function exportRaw(vdiRef: string): Promise<Buffer> {
  const login = await fetch(`${sim.url}/jsonrpc`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "session.login_with_password", params: ["root", PASSWORD] }),
  });
  const session = ((await login.json()) as { result: string }).result;
  const res = await fetch(
    `${sim.url}/export_raw_vdi?session_id=${encodeURIComponent(session)}&vdi=${encodeURIComponent(vdiRef)}&format=raw`,
  );
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

async function provStack(config: Record<string, unknown>): Promise<{ stack: Stack; name: string }> {
  const name = `prov-${process.pid}-${counter++}`;
  const stack = await env.openStack(fixtureDir("provisioning"), { stackName: `e2e-prov-${name}` });
  await setConfig(stack, { name, ...config });
  return { stack, name };
}

async function setConfig(stack: Stack, config: Record<string, unknown>): Promise<void> {
  for (const [k, v] of Object.entries(config))
    await stack.setConfig(`prov:${k}`, { value: typeof v === "string" ? v : JSON.stringify(v) });
}

async function expectClean(stack: Stack): Promise<void> {
  const refresh = await env.refresh(stack);
  expect(refresh.summary.resourceChanges?.update ?? 0).toBe(0);
  await env.preview(stack, { expectNoChanges: true });
}

const cloudConfig = (hostname: string) => ({ userData: `#cloud-config\nhostname: ${hostname}\n` });

beforeAll(async () => {
  sim = await startSimulator({ port: 0, http: true, timeScale: 0, failedLoginDelayMs: 0, rootPassword: PASSWORD });
  xen = new XenApiClient({ url: sim.url, username: "root", password: PASSWORD });
  env = await createE2eEnv({
    name: "provisioning",
    envVars: { XEN_URL: sim.url, XEN_USERNAME: "root", XEN_PASSWORD: PASSWORD },
  });
});

afterAll(async () => {
  await env?.cleanup();
  await xen?.close().catch(() => undefined);
  await sim?.close();
});

describe("cloud-init", () => {
  test("create, then a userData change under restart, ignore and replace", async () => {
    const base = { waitForIp: true, cloudInit: cloudConfig("ci-first") };
    const { stack, name } = await provStack({ vm: base });
    const created = await env.up(stack);
    const uuid = created.outputs.uuid!.value as string;
    expect((await guest(uuid)).hostname).toBe("ci-first");
    const drives = (await vbdsOf(uuid)).filter((b) => b.type === "CD");
    expect(drives).toHaveLength(1);
    await expectClean(stack);

    // restart (the default) without consent: refused, and the message says how to go on.
    await setConfig(stack, { vm: { ...base, cloudInit: cloudConfig("ci-second") } });
    await expect(env.preview(stack)).rejects.toThrow(/cloudInitChangePolicy: restart[\s\S]*allowRestart/);

    // restart with consent: same VM, new drive, the guest reports the new hostname.
    await setConfig(stack, { vm: { ...base, cloudInit: cloudConfig("ci-second"), allowRestart: true } });
    const preview = await env.preview(stack);
    expect(preview.stdout + env.log.text()).toMatch(/restarts with a new one \(cloudInitChangePolicy: restart\)/);
    const restarted = await env.up(stack);
    expect(restarted.summary.resourceChanges).toMatchObject({ update: 1 });
    expect(restarted.outputs.uuid!.value).toBe(uuid);
    expect((await guest(uuid)).hostname).toBe("ci-second");
    await expectClean(stack);

    // ignore: said in preview, recorded, and the guest keeps what it has (same domain, same hostname).
    const domid = (await vm(uuid)).domid;
    await setConfig(stack, {
      vm: { ...base, cloudInit: cloudConfig("ci-third"), cloudInitChangePolicy: "ignore", allowRestart: true },
    });
    const ignoring = await env.preview(stack);
    expect(ignoring.stdout + env.log.text()).toMatch(
      /cloudInit changed, not applied \(cloudInitChangePolicy: ignore\)/,
    );
    await env.up(stack);
    expect((await vm(uuid)).domid).toBe(domid);
    expect((await guest(uuid)).hostname).toBe("ci-second");
    await expectClean(stack);

    // replace: a new VM with the new config, and exactly one VM of that name afterwards.
    await setConfig(stack, {
      vm: { ...base, cloudInit: cloudConfig("ci-fourth"), cloudInitChangePolicy: "replace" },
    });
    const replaced = await env.up(stack);
    expect(replaced.summary.resourceChanges).toMatchObject({ replace: 1 });
    const second = replaced.outputs.uuid!.value as string;
    expect(second).not.toBe(uuid);
    expect((await vmsNamed(name)).map((v) => v.uuid)).toEqual([second]);
    expect((await guest(second)).hostname).toBe("ci-fourth");
    await expectClean(stack);

    await env.destroy(stack);
    expect(await vmsNamed(name)).toHaveLength(0);
  });

  test("static addresses from network-config reach the guest", async () => {
    const { stack } = await provStack({
      vm: {
        waitForIp: true,
        cloudInit: {
          ...cloudConfig("ci-static"),
          networkConfig: "version: 2\nethernets:\n  eth0:\n    addresses: [10.20.0.200/24]\n",
        },
      },
    });
    const uuid = (await env.up(stack)).outputs.uuid!.value as string;
    expect(await guest(uuid)).toEqual({ hostname: "ci-static", ips: ["10.20.0.200"] });
    await env.destroy(stack);
  });
});

describe("installs from an ISO", () => {
  test("an empty HVM template and an ISO: boots from CD, installs, is ejected, boots from disk", async () => {
    const { stack } = await provStack({
      vm: {
        template: "Other install media",
        bootOrder: "dc",
        memory: "2GiB",
        disks: [{ name: "root", size: "16GiB" }],
        cdrom: { iso: DEBIAN_ISO, ejectAfterInstall: true },
      },
    });
    const up = await env.up(stack);
    const uuid = up.outputs.uuid!.value as string;
    expect(env.log.text()).toMatch(/installing from debian-12\.7\.0-amd64-netinst\.iso/);
    const lines = await consoleLines(uuid);
    const cd = lines.findIndex((l) => /boot: CD/.test(l));
    const disk = lines.findIndex((l) => /boot: disk/.test(l));
    expect(cd).toBeGreaterThanOrEqual(0);
    expect(disk).toBeGreaterThan(cd);
    const r = await vm(uuid);
    expect(r.power_state).toBe("Running");
    expect((r.HVM_boot_params as Record<string, string>).order).toBe("dc");
    const cdDrive = (await vbdsOf(uuid)).find((b) => b.type === "CD")!;
    expect(cdDrive.empty).toBe(true);
    await expectClean(stack);
    await env.destroy(stack);
  });
});

describe("firmware", () => {
  test("UEFI with Secure Boot and a vTPM; a firmware change previews as a replacement", async () => {
    const uefi = { firmware: "uefi", secureBoot: true, vtpm: true };
    const { stack } = await provStack({ vm: uefi });
    const uuid = (await env.up(stack)).outputs.uuid!.value as string;
    const r = await vm(uuid);
    expect(r.power_state).toBe("Running");
    expect((r.HVM_boot_params as Record<string, string>).firmware).toBe("uefi");
    expect((r.platform as Record<string, string>).secureboot).toBe("true");
    expect(r.VTPMs as string[]).toHaveLength(1);
    await expectClean(stack);

    await setConfig(stack, { vm: { firmware: "bios" } });
    const preview = await env.preview(stack);
    expect(preview.changeSummary).toMatchObject({ replace: 1 });
    expect(preview.stdout + env.log.text()).toMatch(/firmware uefi -> bios: the guest's boot loader/);
    await setConfig(stack, { vm: uefi });
    await env.destroy(stack);
  });
});

describe("sources", () => {
  test("a full copy of an existing VM onto another SR, and a VM made from a snapshot", async () => {
    // A halted VM made by hand, and a snapshot of it.
    const [tpl] = await xen.call<string[]>("VM.get_by_name_label", ["Debian Bookworm 12"]);
    const srcName = `golden-${process.pid}`;
    const src = await xen.call<string>("VM.clone", [tpl, srcName]);
    await xen.call("VM.provision", [src]);
    const snapName = `golden-snap-${process.pid}`;
    await xen.call<string>("VM.snapshot", [src, snapName]);
    const [nfs] = await xen.call<string[]>("SR.get_by_name_label", ["shared-nfs"]);
    const nfsUuid = (await xen.getRecord("SR", nfs!)).uuid;

    const { stack: full } = await provStack({
      vm: { source: srcName, cloneMode: "full", disks: [{ size: "10GiB", sr: "shared-nfs" }] },
    });
    const fullUuid = (await env.up(full)).outputs.uuid!.value as string;
    const srcDisks = new Set<string>();
    for (const b of await vbdsOf((await xen.getRecord("VM", src)).uuid))
      if (b.type === "Disk") srcDisks.add(b.VDI as string);
    for (const b of (await vbdsOf(fullUuid)).filter((v) => v.type === "Disk")) {
      const vdi = (await xen.getRecord("VDI", b.VDI as string)) as unknown as Rec;
      expect(srcDisks.has(b.VDI as string)).toBe(false);
      expect((await xen.getRecord("SR", vdi.SR as string)).uuid).toBe(nfsUuid);
    }
    expect((await vm(fullUuid)).power_state).toBe("Running");
    await expectClean(full);

    const { stack: fromSnap } = await provStack({ vm: { source: snapName } });
    const snapVm = await vm((await env.up(fromSnap)).outputs.uuid!.value as string);
    expect(snapVm.is_a_template).toBe(false);
    expect(snapVm.power_state).toBe("Running");
    await expectClean(fromSnap);

    await env.destroy(full);
    await env.destroy(fromSnap);
    expect((await xen.getRecord("VM", src)).name_label).toBe(srcName); // the source is untouched
  });

  test("an existing VDI attached as a data disk is kept after the VM is destroyed", async () => {
    const [sr] = await xen.call<string[]>("SR.get_by_name_label", ["shared-nfs"]);
    const vdiRef = await xen.call<string>("VDI.create", [
      {
        name_label: `shared-data-${process.pid}`,
        name_description: "",
        SR: sr,
        virtual_size: 2 * GiB,
        type: "user",
        sharable: false,
        read_only: false,
        other_config: {},
        xenstore_data: {},
        sm_config: {},
        tags: [],
      },
    ]);
    const vdiUuid = (await xen.getRecord("VDI", vdiRef)).uuid;
    const { stack } = await provStack({
      vm: { disks: [{ size: "10GiB" }, { name: "shared", vdi: vdiUuid }] },
    });
    const up = await env.up(stack);
    const uuid = up.outputs.uuid!.value as string;
    expect(up.outputs.diskUuids!.value).toEqual([expect.any(String), vdiUuid]);
    expect((await vbdsOf(uuid)).some((b) => b.VDI === vdiRef)).toBe(true);
    await expectClean(stack);
    await env.destroy(stack);
    expect(await vdiByUuid(vdiUuid)).toMatchObject({ virtual_size: 2 * GiB });
  });
});

describe("images", () => {
  test("an image imported into an SR, a template made from it, and a VM made from that", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-xen-image-"));
    const file = path.join(dir, "disk.raw");
    const bytes = Buffer.alloc(3 * 1024 * 1024);
    bytes.write("a raw disk image for the provisioning test", 0);
    fs.writeFileSync(file, bytes);
    const { stack } = await provStack({
      image: { nameLabel: `img-${process.pid}`, file, sr: "shared-nfs" },
      template: { nameLabel: `tpl-${process.pid}`, vcpus: 1, memory: "1GiB", bootOrder: "c" },
      vm: {},
    });
    const up = await env.up(stack);
    const imageUuid = up.outputs.imageUuid!.value as string;
    const image = (await vdiByUuid(imageUuid))!;
    expect(image.virtual_size).toBe(3 * 1024 * 1024);
    expect((await exportRaw(await xen.getByUuid("VDI", imageUuid))).subarray(0, bytes.length)).toEqual(bytes);
    const uuid = up.outputs.uuid!.value as string;
    const boot = (await vbdsOf(uuid)).find((b) => b.type === "Disk" && b.userdevice === "0")!;
    const bootVdi = (await xen.getRecord("VDI", boot.VDI as string)) as unknown as Rec;
    expect(bootVdi.uuid).not.toBe(imageUuid); // the VM has its own copy, of the image
    expect((await exportRaw(boot.VDI as string)).subarray(0, bytes.length)).toEqual(bytes);
    expect((await vm(uuid)).power_state).toBe("Running");
    await expectClean(stack);

    // A new image content is a new image (and template, and VM), never written over the one in use.
    fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, 100), Buffer.from("v2"), bytes.subarray(102)]));
    const preview = await env.preview(stack);
    expect(preview.stdout + env.log.text()).toMatch(/the file's content changed: a new image is imported/);

    await env.destroy(stack);
    expect(await vdiByUuid(imageUuid)).toBeUndefined();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

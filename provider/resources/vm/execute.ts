/**
 * The executor: carries out the planner's steps with typed facade calls (the facade says which calls are Async),
 * every call bounded by the phase deadline. It decides nothing the planner could decide; what it checks is what
 * only the moment of the call knows (the VDI about to be destroyed is still the one the preview named, a VDI is
 * destroyed only if this stack created it, a clean shutdown that did not finish in time is followed by a hard one).
 */
import type { PowerOp } from "../../plan/power";
import { DISK_KEY, KEEP_KEY, NIC_KEY, diskKey, nicKeys } from "../../plan/devices";
import type { VmStep } from "../../plan/vm";
import type { PowerState, VmInputs } from "../../schema";
import { formatSize } from "../../units";
import {
  isTransportError,
  isXenApiError,
  xenFacade,
  type FacadeClient,
  type Inventory,
  type XenApiClient,
  type XenFacade,
} from "../../xenapi";
import {
  NULL_REF,
  OWNER_KEY,
  isNullRef,
  map,
  refs,
  resolveRef,
  say,
  str,
  type NamedClass,
  type Reader,
  type Rec,
} from "../common";
import type { PhaseDeadline } from "../deadline";
import { ProviderError } from "../errors";
import { executeGuestStep } from "./execute-guest";
import { executeProtectionStep } from "./execute-protection";
import { disksByKey, nicsByKey } from "./observe";

export interface ExecContext {
  client: XenApiClient;
  /** The pool's inventory cache, when there is one: names are resolved from it. */
  inventory?: Inventory;
  deadline: PhaseDeadline;
  ref: string;
  news: VmInputs;
}

export interface Run extends ExecContext {
  xen: XenFacade;
  /** The client bounded by the phase deadline, under the facade. */
  bound: FacadeClient;
  read: Reader;
  owner: string;
}

export async function execute(ctx: ExecContext, steps: VmStep[]): Promise<void> {
  const run = runFor(ctx);
  for (const step of steps) await executeStep(run, step);
}

/** What a step runs with: the facade over the phase-bounded client, and reads through it. */
export function runFor(ctx: ExecContext): Run {
  const bound = ctx.deadline.bound(ctx.client);
  return {
    ...ctx,
    xen: xenFacade(bound),
    bound,
    read: async (cls, ref) => (await bound.getRecord(cls, ref)) as unknown as Rec,
    owner: ctx.news.ownershipKey ?? "",
  };
}

async function executeStep(r: Run, step: VmStep): Promise<void> {
  const { xen, ref } = r;
  switch (step.kind) {
    case "set":
      if (step.field === "nameLabel") return xen.VM.set_name_label(ref, step.value);
      if (step.field === "description") return xen.VM.set_name_description(ref, step.value);
      return xen.VM.set_ha_restart_priority(ref, step.value as "restart" | "best-effort" | "");
    case "setTags":
      return xen.VM.set_tags(ref, step.value);
    case "setOtherConfig":
      for (const k of [...step.remove, ...Object.keys(step.add)]) await xen.VM.remove_from_other_config(ref, k);
      for (const [k, v] of Object.entries(step.add)) await xen.VM.add_to_other_config(ref, k, v);
      return;
    case "setVcpusLive":
      return xen.VM.set_VCPUs_number_live(ref, step.vcpus);
    case "setMemoryLive":
      return xen.VM.set_memory_dynamic_range(ref, step.memory, step.memory);
    case "setLimits":
      if (step.setMemory) await xen.VM.set_memory_limits(ref, step.staticMin, step.maxMemory, step.memory, step.memory);
      for (const call of step.vcpuCalls) {
        if (call === "max") await xen.VM.set_VCPUs_max(ref, step.maxVcpus);
        else await xen.VM.set_VCPUs_at_startup(ref, step.vcpus);
      }
      return;
    case "restart": {
      // The observation that planned this restart is current: the VM's name and host come from it.
      const vm = (r.inventory?.get("VM", ref) as unknown as Rec | undefined) ?? (await r.read("VM", ref));
      say(`  restarting ${vm.name_label}: ${step.reason}`);
      for (const op of step.shutdown) await powerOp(r, op);
      for (const inner of step.whileHalted) await executeStep(r, inner);
      const on =
        step.startOn !== undefined
          ? await resolveIn(r, "host", step.startOn, "affinityHost")
          : (vm.resident_on as string);
      return powerOp(r, { op: "start", paused: false, ...(isNullRef(on) ? {} : { on }) });
    }
    case "setAffinity":
      return xen.VM.set_affinity(
        ref,
        step.host === undefined ? NULL_REF : await resolveIn(r, "host", step.host, "affinityHost"),
      );
    case "migrate": {
      const host = await resolveIn(r, "host", step.host, "affinityHost");
      if ((await r.read("VM", ref)).resident_on !== host) await xen.VM.pool_migrate(ref, host, { live: "true" });
      return;
    }
    case "power":
      for (const op of step.ops) await powerOp(r, op);
      return;
    case "setBootParams":
    case "setSecureBoot":
    case "addVtpm":
    case "removeVtpm":
    case "setCdrom":
    case "writeConfigDrive":
      return executeGuestStep(r, step);
    case "setGroup":
    case "setBlockedOps":
    case "revert":
    case "snapshot":
      return executeProtectionStep(r, step);
    case "addDisk":
      return addDisk(r, step);
    case "removeDisk":
      return removeDisk(r, step);
    case "resizeDisk": {
      const disk = await diskOf(r, step.key);
      if (step.method === "online") return xen.VDI.resize_online(disk.vdiRef, step.size);
      if (step.method === "offline") return xen.VDI.resize(disk.vdiRef, step.size);
      // The SR cannot resize an attached disk: detach it from the running guest, grow it, attach it again.
      if (disk.vbd.currently_attached === true) await xen.VBD.unplug(disk.vbdRef);
      await xen.VDI.resize(disk.vdiRef, step.size);
      return xen.VBD.plug(disk.vbdRef);
    }
    case "moveDisk":
      return moveDisk(r, step);
    case "retagDisk": {
      const disk = await diskOf(r, step.from);
      await xen.VDI.remove_from_other_config(disk.vdiRef, DISK_KEY);
      return xen.VDI.add_to_other_config(disk.vdiRef, DISK_KEY, step.to);
    }
    case "setDiskKeep": {
      const disk = await diskOf(r, step.key);
      await xen.VDI.remove_from_other_config(disk.vdiRef, KEEP_KEY);
      if (step.keep) await xen.VDI.add_to_other_config(disk.vdiRef, KEEP_KEY, "true");
      return;
    }
    case "setDiskLabel":
      return xen.VDI.set_name_label((await diskOf(r, step.key)).vdiRef, step.value);
    case "addVif":
      return addVif(r, step);
    case "removeVif": {
      const nic = (await nicsByKey(r.read, await r.read("VM", ref), r.news)).get(step.key);
      if (!nic) return;
      if (nic.vif.currently_attached === true) await xen.VIF.unplug(nic.ref);
      return xen.VIF.destroy(nic.ref);
    }
    case "moveVif": {
      const nic = (await nicsByKey(r.read, await r.read("VM", ref), r.news)).get(step.key);
      if (!nic) throw new ProviderError(`NIC "${step.key}" is not on the VM`, { path: "networks", code: "NOT_FOUND" });
      const net = await resolveIn(r, "network", step.network, `networks[${nicIndex(r, step.key)}].network`);
      return xen.VIF.move(nic.ref, net);
    }
  }
}

/** One power call. A clean shutdown that has not finished after `hardAfterMs` (or that the guest refuses) is
 * followed by a hard one, said out loud; a shutdown of a VM that is already halted is done. */
export async function powerOp(r: Pick<Run, "xen" | "bound" | "ref" | "read">, op: PowerOp): Promise<void> {
  const { xen, ref } = r;
  switch (op.op) {
    case "start":
      if (op.on !== undefined) return xen.VM.start_on(ref, op.on, op.paused, false);
      return xen.VM.start(ref, op.paused, false);
    case "clean_shutdown":
      try {
        await xenFacade(r.bound, { deadlineMs: op.hardAfterMs }).VM.clean_shutdown(ref);
        return;
      } catch (e) {
        if (await isHalted(r)) return;
        const timedOut = isTransportError(e, "timeout");
        if (!timedOut && !isXenApiError(e)) throw e;
        say(
          `  clean shutdown ${timedOut ? `did not finish within ${Math.round(op.hardAfterMs / 1000)} s (shutdownTimeout)` : `refused (${(e as Error).message})`}: hard shutdown`,
        );
        return powerOp(r, { op: "hard_shutdown" });
      }
    case "hard_shutdown":
      try {
        return await xen.VM.hard_shutdown(ref);
      } catch (e) {
        if (isXenApiError(e, "VM_BAD_POWER_STATE") && (await isHalted(r))) return;
        throw e;
      }
    case "suspend":
      return xen.VM.suspend(ref);
    case "resume":
      return xen.VM.resume(ref, op.paused, false);
    case "pause":
      return xen.VM.pause(ref);
    case "unpause":
      return xen.VM.unpause(ref);
  }
}

async function isHalted(r: Pick<Run, "read" | "ref">): Promise<boolean> {
  return str(await r.read("VM", r.ref), "power_state") === ("Halted" satisfies PowerState);
}

/** An object named by the program (name_label or UUID), resolved from the inventory when it can be. */
function resolveIn(r: Run, cls: NamedClass, nameOrUuid: string, what: string): Promise<string> {
  return resolveRef(r.client, cls, nameOrUuid, what, undefined, r.inventory);
}

async function diskOf(r: Run, key: string) {
  const disk = (await disksByKey(r.read, await r.read("VM", r.ref), r.news)).get(key);
  if (!disk) throw new ProviderError(`disk "${key}" is not on the VM`, { path: "disks", code: "NOT_FOUND" });
  return disk;
}

/** Where the program lists the device with this key (for messages that name the input). */
function diskIndex(r: Run, key: string): number {
  return r.news.disks.findIndex((d, i) => diskKey(d, i) === key);
}

function nicIndex(r: Run, key: string): number {
  return nicKeys(r.news.networks).indexOf(key);
}

/**
 * A device number the VM's VBDs (userdevice) or VIFs (device) do not use yet: `preferred` when it is free, else
 * the lowest.
 */
export async function freeDevice(r: Run, vm: Rec, cls: "VBD" | "VIF", preferred?: string): Promise<string> {
  const used: string[] = [];
  for (const ref of refs(vm, `${cls}s`))
    used.push(str(await r.read(cls, ref), cls === "VBD" ? "userdevice" : "device"));
  if (preferred !== undefined && !used.includes(preferred)) return preferred;
  let n = 0;
  while (used.includes(String(n))) n++;
  return String(n);
}

/** Whether this stack created the VDI: only then may it destroy it. */
export function createdByStack(r: Pick<Run, "owner">, vdi: Rec): boolean {
  return r.owner !== "" && map(vdi, "other_config")[OWNER_KEY] === r.owner;
}

export async function defaultSr(r: Run, path: string): Promise<string> {
  const pools = await r.xen.pool.get_all();
  const sr = await r.xen.pool.get_default_SR(pools[0]!);
  if (isNullRef(sr)) throw new ProviderError("no sr given and the pool has no default SR", { path, code: "NOT_FOUND" });
  return sr;
}

async function addDisk(r: Run, step: Extract<VmStep, { kind: "addDisk" }>): Promise<void> {
  const { xen, ref } = r;
  const path = `disks[${diskIndex(r, step.key)}]`;
  const vm = await r.read("VM", ref);
  const userdevice = await freeDevice(r, vm, "VBD");
  const vdi =
    step.disk.vdi !== undefined ? await existingVdi(r, step.disk.vdi, `${path}.vdi`) : await newVdi(r, step, vm, path);
  const vbd = await xen.VBD.create({
    VM: ref,
    VDI: vdi,
    userdevice,
    // A disk added to a VM without one (made from an empty template) is the boot disk.
    bootable: userdevice === "0",
    mode: "RW",
    type: "Disk",
    unpluggable: true,
    empty: false,
    other_config: {},
    qos_algorithm_type: "",
    qos_algorithm_params: {},
  });
  if (step.plug) await xen.VBD.plug(vbd);
}

/** An existing VDI the program attaches: used as it is, never tagged (it is not this stack's to destroy). */
async function existingVdi(r: Run, uuid: string, path: string): Promise<string> {
  const known = r.inventory?.byUuid("VDI", uuid)?.ref;
  if (known) return known;
  try {
    return await r.xen.VDI.get_by_uuid(uuid);
  } catch (e) {
    if (isXenApiError(e, "UUID_INVALID"))
      throw new ProviderError(`no VDI with UUID ${uuid}`, { path, code: "NOT_FOUND", cause: e });
    throw e;
  }
}

async function newVdi(r: Run, step: Extract<VmStep, { kind: "addDisk" }>, vm: Rec, path: string): Promise<string> {
  const sr =
    step.disk.sr !== undefined ? await resolveIn(r, "SR", step.disk.sr, `${path}.sr`) : await defaultSr(r, path);
  return r.xen.VDI.create({
    name_label: step.disk.nameLabel ?? `${vm.name_label ?? "vm"} ${step.key.replace(/^#/, "disk ")}`,
    name_description: "",
    SR: sr,
    virtual_size: step.disk.size!,
    type: "user",
    sharable: false,
    read_only: false,
    other_config: {
      [OWNER_KEY]: r.owner,
      [DISK_KEY]: step.key,
      ...(step.disk.keepOnRemove ? { [KEEP_KEY]: "true" } : {}),
    },
    xenstore_data: {},
    sm_config: {},
    tags: [],
  });
}

async function removeDisk(r: Run, step: Extract<VmStep, { kind: "removeDisk" }>): Promise<void> {
  const { xen } = r;
  const disk = (await disksByKey(r.read, await r.read("VM", r.ref), r.news)).get(step.key);
  if (!disk) return; // already gone
  // The preview named a VDI: never destroy another one that happens to carry the key now.
  if (step.vdiUuid && disk.vdi.uuid !== step.vdiUuid) {
    throw new ProviderError(
      `disk "${step.key}" is now VDI ${disk.vdi.uuid}, not ${step.vdiUuid} as previewed; nothing was removed. Run pulumi refresh, then preview again`,
      { path: "disks", code: "CHANGED_SINCE_PREVIEW" },
    );
  }
  if (disk.vbd.currently_attached === true) await xen.VBD.unplug(disk.vbdRef);
  await xen.VBD.destroy(disk.vbdRef);
  const keep = step.keep || map(disk.vdi, "other_config")[KEEP_KEY] === "true";
  if (createdByStack(r, disk.vdi) && !keep) {
    await xen.VDI.destroy(disk.vdiRef);
    say(`  disk "${step.key}": VDI ${disk.vdi.uuid} (${formatSize(step.size)}) destroyed`);
  } else {
    say(
      `  disk "${step.key}" detached; VDI ${disk.vdi.uuid} is kept (${keep ? "keepOnRemove" : "not created by this stack"})`,
    );
  }
}

/**
 * A halted VM's disk moves by copy and swap: the copy is made and attached before the original is detached, and
 * the original is destroyed last, so an interruption leaves the data in at least one VDI the VM still points at.
 */
async function moveDisk(r: Run, step: Extract<VmStep, { kind: "moveDisk" }>): Promise<void> {
  const { xen, ref } = r;
  const disk = await diskOf(r, step.key);
  const sr = await resolveIn(r, "SR", step.sr, `disks[${diskIndex(r, step.key)}].sr`);
  if (step.method === "live") {
    await xen.VDI.pool_migrate(disk.vdiRef, sr, {});
    return;
  }
  const copy = await xen.VDI.copy(disk.vdiRef, sr, NULL_REF, NULL_REF);
  for (const [k, v] of Object.entries({ [OWNER_KEY]: r.owner, [DISK_KEY]: step.key })) {
    await xen.VDI.remove_from_other_config(copy, k);
    await xen.VDI.add_to_other_config(copy, k, v);
  }
  const fields = {
    VM: ref,
    VDI: copy,
    bootable: disk.vbd.bootable === true,
    mode: str(disk.vbd, "mode") || "RW",
    type: "Disk",
    unpluggable: disk.vbd.unpluggable !== false,
    empty: false,
    other_config: {},
    qos_algorithm_type: "",
    qos_algorithm_params: {},
  };
  if (disk.position === 0) {
    // The boot disk keeps userdevice 0: the old VBD must go first.
    await xen.VBD.destroy(disk.vbdRef);
    await xen.VBD.create({ ...fields, userdevice: str(disk.vbd, "userdevice") || "0" });
  } else {
    await xen.VBD.create({ ...fields, userdevice: await freeDevice(r, await r.read("VM", ref), "VBD") });
    await xen.VBD.destroy(disk.vbdRef);
  }
  if (createdByStack(r, disk.vdi)) await xen.VDI.destroy(disk.vdiRef);
  else
    say(
      `  disk "${step.key}" copied to ${step.sr}; the original VDI ${disk.vdi.uuid} was not created by this stack and is kept`,
    );
}

async function addVif(r: Run, step: Extract<VmStep, { kind: "addVif" }>): Promise<void> {
  const { xen, ref } = r;
  const net = await resolveIn(r, "network", step.network.network, `networks[${nicIndex(r, step.key)}].network`);
  const vif = await xen.VIF.create({
    device: await freeDevice(r, await r.read("VM", ref), "VIF"),
    network: net,
    VM: ref,
    MAC: step.network.mac ?? "",
    MTU: 1500,
    other_config: { [NIC_KEY]: step.key },
    qos_algorithm_type: "",
    qos_algorithm_params: {},
  });
  if (step.plug) await xen.VIF.plug(vif);
}

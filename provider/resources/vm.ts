/**
 * The Vm resource provider: check (zod, local), diff (pure planner, local, says why), and create/read/update/delete
 * that reconcile the actual VM towards the desired one through one executor.
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { clientFor, configureFrom } from "../connection";
import { describePlan, planVm, type VmState, type VmStep } from "../plan/vm";
import { checkInputs, vmInputSchema, type PowerState, type VmInputs } from "../schema";
import { formatSize } from "../units";
import type { XenApiClient } from "../xenapi";
import { isXenApiError } from "../xenapi";
import {
  cached,
  inputsOf,
  inventoryFor,
  KeyedLimiter,
  OWNER_KEY,
  isGone,
  isNullRef,
  map,
  num,
  partialFailure,
  readResult,
  record,
  refOrGone,
  refs,
  resolveRef,
  sameForm,
  say,
  str,
  type Reader,
  type Rec,
} from "./common";

export const VM_OUTPUT_KEYS = [
  "uuid",
  "pvDrivers",
  "residentOn",
  "domainType",
  "ipAddresses",
  "actualMemory",
  "actualVcpus",
  "diskUuids",
] as const;

const DEFAULT_TIMEOUT_MS = { create: 30 * 60_000, update: 30 * 60_000, delete: 15 * 60_000 };
const CLEAN_SHUTDOWN_SHARE = 0.5; // of the delete budget, before falling back to a hard shutdown

/**
 * XenAPI contention is per host: a few lifecycle operations at a time on each, whatever --parallel says. VMs not
 * yet placed (new, halted) share one wider queue: the pool master spreads their starts itself.
 */
const UNPLACED = "unplaced";
const perHost = new KeyedLimiter((key) => (key === UNPLACED ? 32 : 8));

type Provider = Required<Pick<dynamic.ResourceProvider, "check" | "diff" | "create" | "read" | "update" | "delete">> &
  Pick<dynamic.ResourceProvider, "configure">;

function deadline(news: VmInputs, phase: keyof typeof DEFAULT_TIMEOUT_MS): number {
  return news.timeouts?.[phase] ?? DEFAULT_TIMEOUT_MS[phase];
}

/** Parses `other_config.disks` of a template (`<provision><disk device="0" size="..." .../></provision>`). */
export function templateDiskSizes(xml: string | undefined): Map<number, number> {
  const sizes = new Map<number, number>();
  for (const m of (xml ?? "").matchAll(/<disk\b([^>]*)>?/g)) {
    const device = /device="(\d+)"/.exec(m[1]!);
    const size = /size="(\d+)"/.exec(m[1]!);
    if (device && size) sizes.set(Number(device[1]), Number(size[1]));
  }
  return sizes;
}

/** Reads the VM as it is, expressed in the terms of the program (names where the program used names). */
async function observe(reader: Reader, ref: string, desired: VmInputs, knownDisks?: number): Promise<VmState> {
  const vm = await reader("VM", ref);
  const otherConfig = { ...map(vm, "other_config") };
  delete otherConfig[OWNER_KEY];
  // Keys the program does not manage are not drift.
  for (const k of Object.keys(otherConfig)) if (!(k in desired.otherConfig)) delete otherConfig[k];

  const vbds = (await diskVbds(reader, vm)).map((d) => d.vbd);
  const managedDisks = knownDisks ?? desired.disks.length;
  const disks: VmState["disks"] = [];
  const diskUuids: string[] = [];
  for (const vbd of vbds.slice(0, Math.max(managedDisks, 0))) {
    const vdi = await reader("VDI", vbd.VDI as string);
    const sr = await reader("SR", vdi.SR as string);
    const want = desired.disks[disks.length];
    disks.push({
      size: num(vdi, "virtual_size"),
      ...(want?.sr !== undefined ? { sr: sameForm(want.sr, sr) } : {}),
      ...(want?.nameLabel !== undefined ? { nameLabel: vdi.name_label ?? "" } : {}),
    });
    diskUuids.push(vdi.uuid);
  }

  const vifs: Rec[] = [];
  for (const vifRef of refs(vm, "VIFs")) vifs.push(await reader("VIF", vifRef));
  vifs.sort((a, b) => Number(str(a, "device")) - Number(str(b, "device")));
  const networks: VmState["networks"] = [];
  for (const vif of vifs) {
    const net = await reader("network", vif.network as string);
    const want = desired.networks[networks.length];
    networks.push({
      network: sameForm(want?.network, net),
      ...(want?.mac !== undefined ? { mac: str(vif, "MAC").toLowerCase() } : {}),
    });
  }

  let affinityHost: string | undefined;
  if (!isNullRef(vm.affinity))
    affinityHost = sameForm(desired.affinityHost, await reader("host", vm.affinity as string));
  const residentOn = isNullRef(vm.resident_on) ? "" : (await reader("host", vm.resident_on as string)).uuid;

  let actualMemory = num(vm, "memory_dynamic_max");
  let actualVcpus = num(vm, "VCPUs_at_startup");
  let domainType = str(vm, "domain_type");
  if (!isNullRef(vm.metrics) && str(vm, "power_state") !== "Halted") {
    try {
      const metrics = await reader("VM_metrics", vm.metrics as string);
      actualMemory = num(metrics, "memory_actual") || actualMemory;
      actualVcpus = num(metrics, "VCPUs_number") || actualVcpus;
      domainType = str(metrics, "current_domain_type") || domainType;
    } catch (e) {
      if (!isGone(e)) throw e;
    }
  }
  const ipAddresses: string[] = [];
  // The XenAPI gate treats a live non-PV guest without guest metrics as lacking PV drivers.
  let pvDrivers = domainType === "pv";
  if (!isNullRef(vm.guest_metrics) && str(vm, "power_state") === "Running") {
    try {
      const gm = await reader("VM_guest_metrics", vm.guest_metrics as string);
      pvDrivers ||= gm.PV_drivers_detected === true;
      for (const [k, v] of Object.entries(map(gm, "networks"))) if (/\/ip(v6\/\d+)?$/.test(k) && v) ipAddresses.push(v);
    } catch (e) {
      if (!isGone(e)) throw e;
    }
  }

  return {
    ...desired,
    nameLabel: vm.name_label ?? "",
    description: str(vm, "name_description"),
    vcpus: num(vm, "VCPUs_at_startup"),
    maxVcpus: num(vm, "VCPUs_max"),
    memory: num(vm, "memory_dynamic_max"),
    maxMemory: num(vm, "memory_static_max"),
    disks,
    networks,
    powerState: str(vm, "power_state") as PowerState,
    ...(affinityHost !== undefined ? { affinityHost } : { affinityHost: undefined }),
    haRestartPriority: str(vm, "ha_restart_priority") as VmInputs["haRestartPriority"],
    tags: [...refs(vm, "tags")].sort(),
    otherConfig,
    uuid: vm.uuid,
    residentOn,
    domainType,
    ipAddresses: ipAddresses.sort(),
    actualMemory,
    actualVcpus,
    diskUuids,
    pvDrivers,
  };
}

/** Removes undefined values so the engine stores exactly what the planner compares. */
function clean<T extends object>(o: T): T {
  return JSON.parse(JSON.stringify(o)) as T;
}

async function transition(client: XenApiClient, ref: string, from: PowerState, to: PowerState, budgetMs: number) {
  const opts = { deadlineMs: budgetMs };
  const cleanShutdown = async () => {
    try {
      await client.callAsync("VM.clean_shutdown", [ref], opts);
    } catch (e) {
      // A guest without PV drivers cannot shut down cleanly (VM_LACKS_FEATURE): power it off.
      if (!isXenApiError(e, "VM_LACKS_FEATURE")) throw e;
      say(`  guest cannot shut down cleanly (no PV drivers): hard shutdown`);
      await client.callAsync("VM.hard_shutdown", [ref], opts);
    }
  };
  if (from === to) return;
  switch (`${from}->${to}`) {
    case "Halted->Running":
      return void (await client.callAsync("VM.start", [ref, false, false], opts));
    case "Halted->Paused":
      return void (await client.callAsync("VM.start", [ref, true, false], opts));
    case "Halted->Suspended":
      await client.callAsync("VM.start", [ref, false, false], opts);
      return void (await client.callAsync("VM.suspend", [ref], opts));
    case "Running->Halted":
      return cleanShutdown();
    case "Running->Suspended":
      return void (await client.callAsync("VM.suspend", [ref], opts));
    case "Running->Paused":
      return void (await client.call("VM.pause", [ref]));
    case "Paused->Running":
      return void (await client.call("VM.unpause", [ref]));
    case "Paused->Halted":
    case "Suspended->Halted":
      return void (await client.callAsync("VM.hard_shutdown", [ref], opts));
    case "Paused->Suspended":
      await client.call("VM.unpause", [ref]);
      return void (await client.callAsync("VM.suspend", [ref], opts));
    case "Suspended->Running":
      return void (await client.callAsync("VM.resume", [ref, false, false], opts));
    case "Suspended->Paused":
      return void (await client.callAsync("VM.resume", [ref, true, false], opts));
  }
}

async function setLimits(client: XenApiClient, ref: string, s: Extract<VmStep, { kind: "setLimits" }>) {
  const vm = await record(client, "VM", ref);
  const staticMin = Math.min(num(vm, "memory_static_min") || s.memory, s.memory);
  await client.call("VM.set_memory_limits", [ref, staticMin, s.maxMemory, s.memory, s.memory]);
  // VCPUs_at_startup <= VCPUs_max must hold after each call.
  if (s.maxVcpus >= num(vm, "VCPUs_at_startup")) {
    await client.call("VM.set_VCPUs_max", [ref, s.maxVcpus]);
    await client.call("VM.set_VCPUs_at_startup", [ref, s.vcpus]);
  } else {
    await client.call("VM.set_VCPUs_at_startup", [ref, s.vcpus]);
    await client.call("VM.set_VCPUs_max", [ref, s.maxVcpus]);
  }
}

async function createDisk(
  client: XenApiClient,
  ref: string,
  index: number,
  disk: VmInputs["disks"][number],
  owner: string,
) {
  const vm = await record(client, "VM", ref);
  let srRef: string;
  if (disk.sr !== undefined) srRef = await resolveRef(client, "SR", disk.sr, `disks[${index}].sr`);
  else {
    const pools = await client.call<string[]>("pool.get_all", []);
    srRef = await client.call<string>("pool.get_default_SR", [pools[0]]);
    if (isNullRef(srRef)) throw new Error(`disks[${index}]: no sr given and the pool has no default SR`);
  }
  const vdi = await client.call<string>("VDI.create", [
    {
      name_label: disk.nameLabel ?? `${vm.name_label ?? "vm"} disk ${index}`,
      name_description: "",
      SR: srRef,
      virtual_size: disk.size,
      type: "user",
      sharable: false,
      read_only: false,
      other_config: { [OWNER_KEY]: owner },
      xenstore_data: {},
      sm_config: {},
      tags: [],
    },
  ]);
  const vbd = await client.call<string>("VBD.create", [
    {
      VM: ref,
      VDI: vdi,
      userdevice: String(index),
      bootable: false,
      mode: "RW",
      type: "Disk",
      unpluggable: true,
      empty: false,
      other_config: {},
      qos_algorithm_type: "",
      qos_algorithm_params: {},
    },
  ]);
  if (str(vm, "power_state") === "Running") await client.callAsync("VBD.plug", [vbd]);
}

/** The VM's disks (not CDs, not empty drives) in userdevice order: what `disks[i]` refers to. */
async function diskVbds(reader: Reader, vm: Rec): Promise<Array<{ ref: string; vbd: Rec }>> {
  const disks: Array<{ ref: string; vbd: Rec }> = [];
  for (const ref of refs(vm, "VBDs")) {
    const vbd = await reader("VBD", ref);
    if (str(vbd, "type") === "Disk" && !isNullRef(vbd.VDI)) disks.push({ ref, vbd });
  }
  return disks.sort((a, b) => Number(str(a.vbd, "userdevice")) - Number(str(b.vbd, "userdevice")));
}

async function vbdAt(
  client: XenApiClient,
  ref: string,
  index: number,
): Promise<{ vbd: string; vdi: string } | undefined> {
  const read: Reader = (cls, r) => record(client, cls, r);
  const disk = (await diskVbds(read, await read("VM", ref)))[index];
  return disk && { vbd: disk.ref, vdi: disk.vbd.VDI as string };
}

async function execute(client: XenApiClient, ref: string, steps: VmStep[], news: VmInputs, budgetMs: number) {
  const owner = news.ownershipKey ?? "";
  for (const step of steps) {
    switch (step.kind) {
      case "set": {
        const method = {
          nameLabel: "VM.set_name_label",
          description: "VM.set_name_description",
          haRestartPriority: "VM.set_ha_restart_priority",
        }[step.field];
        await client.call(method, [ref, step.value]);
        break;
      }
      case "setTags":
        await client.call("VM.set_tags", [ref, step.value]);
        break;
      case "setOtherConfig":
        for (const k of [...step.remove, ...Object.keys(step.add)])
          await client.call("VM.remove_from_other_config", [ref, k]);
        for (const [k, v] of Object.entries(step.add)) await client.call("VM.add_to_other_config", [ref, k, v]);
        break;
      case "setVcpusLive":
        await client.call("VM.set_VCPUs_number_live", [ref, step.vcpus]);
        break;
      case "setMemoryLive":
        await client.call("VM.set_memory_dynamic_range", [ref, step.memory, step.memory]);
        break;
      case "setLimits":
        await setLimits(client, ref, step);
        break;
      case "restart": {
        const vm = await record(client, "VM", ref);
        const host = vm.resident_on as string;
        say(`  restarting ${vm.name_label}: ${step.reason}`);
        await transition(client, ref, str(vm, "power_state") as PowerState, "Halted", budgetMs);
        await execute(client, ref, step.whileHalted, news, budgetMs);
        const target =
          step.startOn !== undefined ? await resolveRef(client, "host", step.startOn, "affinityHost") : host;
        if (!isNullRef(target))
          await client.callAsync("VM.start_on", [ref, target, false, false], { deadlineMs: budgetMs });
        else await client.callAsync("VM.start", [ref, false, false], { deadlineMs: budgetMs });
        break;
      }
      case "setAffinity": {
        const host =
          step.host === undefined ? "OpaqueRef:NULL" : await resolveRef(client, "host", step.host, "affinityHost");
        await client.call("VM.set_affinity", [ref, host]);
        break;
      }
      case "migrate": {
        const host = await resolveRef(client, "host", step.host, "affinityHost");
        const vm = await record(client, "VM", ref);
        if (vm.resident_on !== host)
          await client.callAsync("VM.pool_migrate", [ref, host, { live: "true" }], { deadlineMs: budgetMs });
        break;
      }
      case "power": {
        const vm = await record(client, "VM", ref);
        await transition(client, ref, str(vm, "power_state") as PowerState, step.to, budgetMs);
        break;
      }
      case "addDisk":
        await createDisk(client, ref, step.index, step.disk, owner);
        break;
      case "removeDisk": {
        const at = await vbdAt(client, ref, step.index);
        if (!at) break;
        const vdi = await record(client, "VDI", at.vdi);
        const vbd = await record(client, "VBD", at.vbd);
        if (vbd.currently_attached === true) await client.callAsync("VBD.unplug", [at.vbd]);
        await client.call("VBD.destroy", [at.vbd]);
        // Only a disk this stack created is destroyed; anything else is detached and kept.
        if (map(vdi, "other_config")[OWNER_KEY] === owner && owner !== "")
          await client.callAsync("VDI.destroy", [at.vdi]);
        else say(`  disks[${step.index}] detached; VDI ${vdi.uuid} was not created by this stack and is kept`);
        break;
      }
      case "resizeDisk": {
        const at = await vbdAt(client, ref, step.index);
        if (!at) throw new Error(`disks[${step.index}] not found on the VM`);
        await client.callAsync(step.online ? "VDI.resize_online" : "VDI.resize", [at.vdi, step.size]);
        break;
      }
      case "moveDisk": {
        const at = await vbdAt(client, ref, step.index);
        if (!at) throw new Error(`disks[${step.index}] not found on the VM`);
        const sr = await resolveRef(client, "SR", step.sr, `disks[${step.index}].sr`);
        await client.callAsync("VDI.pool_migrate", [at.vdi, sr, {}], { deadlineMs: budgetMs });
        break;
      }
      case "addVif": {
        const net = await resolveRef(client, "network", step.network.network, `networks[${step.index}].network`);
        const vm = await record(client, "VM", ref);
        const vif = await client.call<string>("VIF.create", [
          {
            device: String(step.index),
            network: net,
            VM: ref,
            MAC: step.network.mac ?? "",
            MTU: 1500,
            other_config: {},
            qos_algorithm_type: "",
            qos_algorithm_params: {},
          },
        ]);
        if (str(vm, "power_state") === "Running") await client.callAsync("VIF.plug", [vif]);
        break;
      }
      case "removeVif": {
        const vm = await record(client, "VM", ref);
        for (const vifRef of refs(vm, "VIFs")) {
          const vif = await record(client, "VIF", vifRef);
          if (str(vif, "device") !== String(step.index)) continue;
          if (vif.currently_attached === true) await client.callAsync("VIF.unplug", [vifRef]);
          await client.call("VIF.destroy", [vifRef]);
        }
        break;
      }
    }
  }
}

async function findOwned(owner: string, url?: string): Promise<string | undefined> {
  if (!owner) return undefined;
  // The inventory is brought up to date first, so a VM tagged by an interrupted create is seen.
  const all = (await inventoryFor(url)).all("VM");
  for (const [ref, vm] of all) {
    const rec = vm as unknown as Rec;
    if (map(rec, "other_config")[OWNER_KEY] === owner || rec.name_label === cloneName(owner)) return ref;
  }
  return undefined;
}

/**
 * The name a clone carries until it is tagged and renamed: were the answer to VM.clone lost (timeout, crash),
 * the next attempt still finds the clone by this name instead of making a second one.
 */
function cloneName(owner: string): string {
  return `pulumi-xen creating ${owner}`;
}

async function waitForIp(client: XenApiClient, ref: string, budgetMs: number, name: string): Promise<void> {
  const until = Date.now() + budgetMs;
  for (let delay = 200; ; delay = Math.min(delay * 2, 5000)) {
    const vm = await record(client, "VM", ref);
    if (!isNullRef(vm.guest_metrics)) {
      const gm = await record(client, "VM_guest_metrics", vm.guest_metrics as string);
      if (Object.entries(map(gm, "networks")).some(([k, v]) => /\/ip$/.test(k) && v && !v.startsWith("169.254.")))
        return;
    }
    if (Date.now() + delay > until)
      throw new Error(
        `${name}: no IP address reported by the guest agent within ${Math.round(budgetMs / 1000)} s (waitForIp)`,
      );
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Brings an existing VM (fresh clone, resumed attempt or adopted) to the desired state. */
async function reconcile(
  client: XenApiClient,
  ref: string,
  news: VmInputs,
  phase: "create" | "update",
  allowRestart: boolean,
) {
  const budget = deadline(news, phase);
  const vm = await record(client, "VM", ref);
  if (vm.is_a_template === true) {
    // A clone of a template is a template until provisioned (VM.provision creates its disks).
    await client.callAsync("VM.provision", [ref], { deadlineMs: budget });
    const provisioned = await record(client, "VM", ref);
    for (const vbdRef of refs(provisioned, "VBDs")) {
      const vbd = await record(client, "VBD", vbdRef);
      if (!isNullRef(vbd.VDI) && news.ownershipKey)
        await client.call("VDI.add_to_other_config", [vbd.VDI, OWNER_KEY, news.ownershipKey]).catch(() => undefined);
    }
  }
  // With no `disks` the VM's disks are not managed (the template's stay as they are); with a list, every disk
  // of the VM is compared with it.
  const actual = await outputs(client, ref, news, news.disks.length === 0 ? 0 : Number.MAX_SAFE_INTEGER);
  const plan = planVm(actual, { ...news, allowRestart });
  if (plan.blocked) throw new Error(`${news.nameLabel}: ${plan.blocked}`);
  await perHost.run(actual.residentOn || UNPLACED, () => execute(client, ref, plan.steps, news, budget));
  if (news.waitForIp && news.powerState === "Running") await waitForIp(client, ref, budget, news.nameLabel);
}

/**
 * Clones the template under a name derived from the ownership key, tags the clone, then gives it its name: a
 * retried create finds it by the tag, or by that name if the answer to the clone itself was lost.
 */
async function cloneFromTemplate(client: XenApiClient, news: VmInputs, owner: string): Promise<string> {
  const template = await resolveRef(client, "VM", news.template, "template", (r) => r.is_a_template === true);
  const tpl = await record(client, "VM", template);
  const bootSize = templateDiskSizes(map(tpl, "other_config").disks).get(0);
  if (bootSize !== undefined && news.disks[0] && news.disks[0].size < bootSize) {
    throw new Error(
      `disks[0].size ${formatSize(news.disks[0].size)} is smaller than the boot disk of template "${news.template}" (${formatSize(bootSize)}); disks cannot shrink`,
    );
  }
  const name = owner ? cloneName(owner) : news.nameLabel;
  const ref = await client.callAsync("VM.clone", [template, name], { deadlineMs: deadline(news, "create") });
  try {
    if (owner) await client.call("VM.add_to_other_config", [ref, OWNER_KEY, owner]);
  } catch (e) {
    // Tagging failed: remove the fresh clone rather than leave it behind.
    await client.call("VM.destroy", [ref]).catch(() => undefined);
    throw e;
  }
  if (owner) await client.call("VM.set_name_label", [ref, news.nameLabel]);
  return ref;
}

/** State written by a partial create or an older version may lack fields: fill the collections. */
function asState(olds: Record<string, unknown>): VmState {
  const s = olds as Partial<VmState>;
  return {
    ...(s as VmState),
    disks: s.disks ?? [],
    networks: s.networks ?? [],
    tags: s.tags ?? [],
    otherConfig: s.otherConfig ?? {},
    diskUuids: s.diskUuids ?? [],
    ipAddresses: s.ipAddresses ?? [],
  };
}

/** The VM as it is now, read through the inventory cache brought up to date first (a few calls, not a dozen). */
async function outputs(client: XenApiClient, ref: string, news: VmInputs, knownDisks?: number): Promise<VmState> {
  const inventory = await inventoryFor(news.url);
  return clean(await observe(cached(inventory, client), ref, news, knownDisks));
}

export const vmProvider: Provider = {
  async configure(req) {
    configureFrom(req.config);
  },

  async check(_olds, news) {
    const result = checkInputs(vmInputSchema, news, VM_OUTPUT_KEYS, { memory: 1024 ** 3, vcpus: 1 });
    return result.failures.length > 0 ? { failures: result.failures } : { inputs: result.inputs };
  },

  async diff(_id, olds, news) {
    const plan = planVm(asState(olds), inputsOf<VmInputs>(news));
    if (plan.blocked) throw new Error(`xen:Vm ${(news.nameLabel as string) ?? ""}: ${plan.blocked}`);
    for (const line of describePlan(String(news.nameLabel ?? olds.nameLabel), plan)) say(line);
    return {
      changes: plan.changed.length > 0,
      replaces: plan.replaces,
      deleteBeforeReplace: plan.replaces.includes("adopt"),
    };
  },

  async create(inputs) {
    const news = inputsOf<VmInputs>(inputs);
    const client = clientFor(news.url);
    const owner = news.ownershipKey ?? "";
    let ref: string | undefined;
    if (news.adopt) {
      ref = await client.getByUuid("VM", news.adopt);
      say(`xen:Vm ${news.nameLabel}: adopting existing VM ${news.adopt}`);
    } else {
      ref = await findOwned(owner, news.url);
      if (ref) say(`xen:Vm ${news.nameLabel}: resuming an earlier create (VM tagged ${owner})`);
    }
    if (ref && owner) {
      await client.call("VM.remove_from_other_config", [ref, OWNER_KEY]);
      await client.call("VM.add_to_other_config", [ref, OWNER_KEY, owner]);
    }
    const vmRef = ref ?? (await cloneFromTemplate(client, news, owner));
    const uuid = (await record(client, "VM", vmRef)).uuid;
    try {
      await reconcile(client, vmRef, news, "create", news.adopt ? news.allowRestart : true);
      return { id: uuid, outs: await outputs(client, vmRef, news) };
    } catch (e) {
      // The VM exists and is tagged: record it so the next `up` resumes instead of duplicating it.
      let props: Record<string, unknown> = { ...news, uuid };
      try {
        props = { ...(await outputs(client, vmRef, news)), ...pick(news) };
      } catch {
        /* keep the minimal properties */
      }
      throw partialFailure(uuid, props, inputs.__provider, e);
    }
  },

  async read(id, props) {
    const olds = (props ?? {}) as VmState;
    // Refresh reads from the inventory cache (one get_all_records per class, then events), not per-VM calls.
    const inventory = await inventoryFor(olds.url);
    const found = inventory.byUuid("VM", id);
    if (!found) return {}; // deleted out of band: the engine drops it, the next `up` recreates it
    const outs = clean(await observe(cached(inventory, clientFor(olds.url)), found.ref, olds));
    return readResult(id, outs, VM_OUTPUT_KEYS);
  },

  async update(id, _olds, newsRaw) {
    const news = inputsOf<VmInputs>(newsRaw);
    const client = clientFor(news.url);
    const ref = await client.getByUuid("VM", id);
    try {
      await reconcile(client, ref, news, "update", news.allowRestart);
    } catch (e) {
      const props = { ...(await outputs(client, ref, news).catch(() => ({ ...news, uuid: id }))), ...pick(news) };
      throw partialFailure(id, props, newsRaw.__provider, e);
    }
    return { outs: await outputs(client, ref, news) };
  },

  async delete(id, props) {
    const olds = props as VmState;
    const client = clientFor(olds.url);
    const ref = await refOrGone(client, "VM", id);
    if (!ref) return;
    const budget = olds.timeouts?.delete ?? DEFAULT_TIMEOUT_MS.delete;
    try {
      const vm = await record(client, "VM", ref);
      const state = str(vm, "power_state") as PowerState;
      if (state === "Running") {
        try {
          await client.callAsync("VM.clean_shutdown", [ref], { deadlineMs: budget * CLEAN_SHUTDOWN_SHARE });
        } catch (e) {
          say(`xen:Vm ${olds.nameLabel}: clean shutdown failed (${(e as Error).message}); hard shutdown`);
          await client.callAsync("VM.hard_shutdown", [ref], { deadlineMs: budget * (1 - CLEAN_SHUTDOWN_SHARE) });
        }
      } else if (state !== "Halted") {
        await client.callAsync("VM.hard_shutdown", [ref], { deadlineMs: budget });
      }
      const owner = olds.ownershipKey ?? "";
      const vdis: string[] = [];
      const read = cached(await inventoryFor(olds.url), client);
      for (const vbdRef of refs(await read("VM", ref), "VBDs")) {
        const vbd = await read("VBD", vbdRef);
        if (isNullRef(vbd.VDI)) continue;
        const vdi = await read("VDI", vbd.VDI as string);
        // Only disks this stack created: never shared or template disks, nor those of an adopted VM.
        if (owner && map(vdi, "other_config")[OWNER_KEY] === owner && vdi.sharable !== true)
          vdis.push(vbd.VDI as string);
      }
      await client.callAsync("VM.destroy", [ref], { deadlineMs: budget });
      for (const vdi of vdis) {
        await client.callAsync("VDI.destroy", [vdi]).catch((e: unknown) => {
          if (!isGone(e)) throw e;
        });
      }
    } catch (e) {
      if (isGone(e)) return;
      throw e;
    }
  },
};

/** The state-only inputs are kept as given (they are not observable on the VM). */
function pick(news: VmInputs): Partial<VmInputs> {
  const { template, url, allowRestart, waitForIp, timeouts, ownershipKey, adopt } = news;
  return clean({ template, url, allowRestart, waitForIp, timeouts, ownershipKey, adopt });
}

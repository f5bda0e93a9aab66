/**
 * The Vm resource provider, the thin contract between the engine and the three layers below it: check (zod,
 * local), diff (the pure planner, says why), and create/read/update/delete as observe -> plan -> execute, each
 * phase bounded by one deadline (`timeouts.create/update/delete`).
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { Connections, ProviderContext } from "../../connection";
import { KEEP_KEY, diskKey, nicKeys } from "../../plan/devices";
import { haltForDelete } from "../../plan/power";
import { describePlan, isUnknownInput, planVm, shutdownPolicy, type VmState, type VmStep } from "../../plan/vm";
import { checkInputs, vmInputSchema, type PowerState, type VmInputs } from "../../schema";
import { xenFacade, type Inventory, type XenApiClient } from "../../xenapi";
import {
  cached,
  inputsOf,
  KeyedLimiter,
  OWNER_KEY,
  isGone,
  isNullRef,
  map,
  partialFailure,
  readResult,
  record,
  type Rec,
  refs,
  say,
  str,
} from "../common";
import { phaseDeadline, type PhaseDeadline } from "../deadline";
import { ProviderError } from "../errors";
import { createdByStack, execute, powerOp, runFor } from "./execute";
import { AUTO_SNAPSHOT_KEY, destroySnapshot } from "./execute-protection";
import { makeFromSource } from "./source";
import { CREATING_KEY, cloneName, findUnfinishedCreate } from "./identity";
import { observe, type Desired, type SrFeatures } from "./observe";

export const VM_OUTPUT_KEYS = [
  "uuid",
  "pvDrivers",
  "residentOn",
  "domainType",
  "ipAddresses",
  "actualMemory",
  "actualVcpus",
  "diskUuids",
  "onlineResizable",
  "memoryStaticMin",
  "imported",
  "cloudInitDigest",
  "hasCdDrive",
  "inAppliance",
] as const;

/** The template recorded for an imported VM whose template is not known (xapi keeps no trace of it). */
export const UNKNOWN_TEMPLATE = "(imported)";

const DEFAULT_TIMEOUT_MS = { create: 30 * 60_000, update: 30 * 60_000, delete: 15 * 60_000 };
/** After a phase failed: the few calls that record what exists get their own short budget. */
const RECORDING_BUDGET_MS = 15_000;

/**
 * XenAPI contention is per host: a few lifecycle operations at a time on each, whatever --parallel says. VMs not
 * yet placed (new, halted) share one wider queue: the pool master spreads their starts itself.
 */
const UNPLACED = "unplaced";
const perHost = new KeyedLimiter((key) => (key === UNPLACED ? 32 : 8));

type Provider = Required<Pick<dynamic.ResourceProvider, "check" | "diff" | "create" | "read" | "update" | "delete">> &
  Pick<dynamic.ResourceProvider, "configure">;

/** Storage-manager features per SR type, read once per client (SM records do not change while a pool runs). */
const smFeatures = new WeakMap<XenApiClient, Promise<Map<string, Set<string>>>>();
function srFeaturesOf(client: XenApiClient): SrFeatures {
  return async (srType) => {
    let all = smFeatures.get(client);
    if (!all) {
      all = xenFacade(client)
        .SM.get_all_records()
        .then(
          (sms) => {
            const out = new Map<string, Set<string>>();
            for (const sm of Object.values(sms))
              out.set(String(sm.type), new Set(Object.keys((sm.features as Record<string, unknown>) ?? {})));
            return out;
          },
          // A pool that does not answer SM records: assume no optional capability (the safe side).
          () => new Map<string, Set<string>>(),
        );
      smFeatures.set(client, all);
    }
    return (await all).get(srType) ?? new Set();
  };
}

/**
 * The VM as it is now, read through the inventory cache brought up to date first: free when this process wrote
 * nothing since the last look, else one event.inject shared with every concurrent look.
 */
async function outputs(conn: Connections, ref: string, desired: Desired): Promise<VmState> {
  const client = conn.clientFor(desired.url);
  const inventory = await conn.inventoryFor(desired.url);
  return clean(await observe(cached(inventory, client), ref, desired, srFeaturesOf(client)));
}

/** Removes undefined values so the engine stores exactly what the planner compares. */
function clean<T extends object>(o: T): T {
  return JSON.parse(JSON.stringify(o)) as T;
}

async function waitForIp(client: XenApiClient, ref: string, deadline: PhaseDeadline, name: string): Promise<void> {
  for (let delay = 200; ; delay = Math.min(delay * 2, 5000)) {
    const vm = await record(client, "VM", ref);
    if (!isNullRef(vm.guest_metrics)) {
      const gm = await record(client, "VM_guest_metrics", vm.guest_metrics as string);
      if (Object.entries(map(gm, "networks")).some(([k, v]) => /\/ip$/.test(k) && v && !v.startsWith("169.254.")))
        return;
    }
    await deadline.sleep(delay, `${name} reported an IP address (waitForIp)`);
  }
}

/** Brings an existing VM (fresh clone, resumed attempt or adopted) to the desired state. */
async function reconcile(
  conn: Connections,
  ref: string,
  news: VmInputs,
  deadline: PhaseDeadline,
  allowRestart: boolean,
  creating = false,
  /** The snapshot last reverted to, from the state (not observable on the VM); a create has reverted to nothing. */
  revertedTo: string | undefined = creating ? news.revertTo : undefined,
) {
  const client = conn.clientFor(news.url);
  const inventory = await conn.inventoryFor(news.url);
  const run = runFor({ client, inventory, deadline, ref, news });
  // Async steps need no re-read: the event batch that reports a task's end holds what it changed.
  const read = cached(inventory, client);
  const vm = await read("VM", ref);
  const untaggedDisks: string[] = [];
  if (vm.is_a_template === true) {
    // A clone of a template is a template until provisioned (VM.provision creates its disks).
    await run.xen.VM.provision(ref);
    const provisioned = await read("VM", ref);
    for (const vbdRef of refs(provisioned, "VBDs")) {
      const vbd = await read("VBD", vbdRef);
      if (!isNullRef(vbd.VDI) && news.ownershipKey) untaggedDisks.push(vbd.VDI as string);
    }
  }
  // Observed before the new disks are tagged: the tag says who may destroy them, which the plan does not use.
  const actual = { ...(await outputs(conn, ref, news)), revertTo: revertedTo };
  for (const vdi of untaggedDisks)
    await run.xen.VDI.add_to_other_config(vdi, OWNER_KEY, news.ownershipKey!).catch(() => undefined);
  let plan = planVm(actual, { ...news, allowRestart }, { creating });
  if (plan.blocked) throw new ProviderError(plan.blocked, { path: news.nameLabel, code: "BLOCKED" });
  const revertAt = plan.steps.findIndex((st) => st.kind === "revert");
  if (revertAt >= 0) {
    // The revert changes what the rest is planned from: the VM as the snapshot left it.
    await execute({ client, inventory, deadline, ref, news }, plan.steps.slice(0, revertAt + 1));
    const reverted = await outputs(conn, ref, news);
    plan = planVm({ ...reverted, revertTo: news.revertTo }, { ...news, allowRestart });
    if (plan.blocked) throw new ProviderError(plan.blocked, { path: news.nameLabel, code: "BLOCKED" });
  }
  await perHost.run(actual.residentOn || UNPLACED, () =>
    execute({ client, inventory, deadline, ref, news }, plan.steps),
  );
  // An install from CD reports no address until the installed system runs (finishInstall waits then).
  if (news.waitForIp && news.powerState === "Running" && !(creating && installsFromCd(news)))
    await waitForIp(client, ref, deadline, news.nameLabel);
}

function installsFromCd(news: VmInputs): boolean {
  return news.cdrom?.ejectAfterInstall === true && news.cdrom.iso !== "" && news.powerState !== "Halted";
}

/**
 * Makes the VM from its source under a name derived from the ownership key, tags it as an unfinished create of
 * this instance, then gives it its name: a retried create finds it by the tag, or by that name if the answer to
 * the clone itself was lost.
 */
async function createFromSource(
  client: XenApiClient,
  inventory: Inventory,
  news: VmInputs,
  owner: string,
  deadline: PhaseDeadline,
) {
  const xen = runFor({ client, deadline, ref: "", news }).xen;
  const ref = await makeFromSource(client, inventory, news, owner ? cloneName(owner) : news.nameLabel, deadline);
  try {
    if (owner) {
      // One call for both tags: nobody else knows this VM yet, and the clone's other_config is in the inventory
      // (the batch that reported the clone's end).
      const cloned = await cached(inventory, client)("VM", ref);
      await xen.VM.set_other_config(ref, { ...map(cloned, "other_config"), [CREATING_KEY]: owner, [OWNER_KEY]: owner });
    }
  } catch (e) {
    // Tagging failed: remove the fresh clone rather than leave it behind.
    await xenFacade(client)
      .VM.destroy(ref)
      .catch(() => undefined);
    throw e;
  }
  if (owner) await xen.VM.set_name_label(ref, news.nameLabel);
  return ref;
}

/**
 * An install from CD (`cdrom.ejectAfterInstall`): the VM booted the installer, which powers the VM off when it is
 * done; then the ISO is ejected and the VM started from its disk. Progress is said while it waits.
 */
async function finishInstall(conn: Connections, ref: string, news: VmInputs, deadline: PhaseDeadline) {
  const client = conn.clientFor(news.url);
  const inventory = await conn.inventoryFor(news.url);
  const started = Date.now();
  say(`xen:Vm ${news.nameLabel}: installing from ${news.cdrom!.iso}; waiting for the installer to power the VM off`);
  for (let delay = 250, told = started; ; delay = Math.min(delay * 2, 5000)) {
    await inventory.refresh({ othersToo: true });
    const vm = inventory.get("VM", ref) as unknown as Rec | undefined;
    if (vm && str(vm, "power_state") === "Halted") break;
    if (Date.now() - told >= 30_000) {
      told = Date.now();
      say(`xen:Vm ${news.nameLabel}: still installing (${Math.round((told - started) / 1000)} s)`);
    }
    await deadline.sleep(delay, `the installer on ${news.nameLabel} finished (cdrom.ejectAfterInstall)`);
  }
  say(
    `xen:Vm ${news.nameLabel}: installed in ${Math.round((Date.now() - started) / 1000)} s; ejecting ${news.cdrom!.iso}`,
  );
  const plan: VmStep[] = [{ kind: "setCdrom", iso: "" }];
  if (news.powerState === "Running")
    plan.push({ kind: "power", from: "Halted", to: "Running", ops: [{ op: "start", paused: false }] });
  await execute({ client, inventory, deadline, ref, news }, plan);
  if (news.waitForIp && news.powerState === "Running") await waitForIp(client, ref, deadline, news.nameLabel);
}

/**
 * The create is over (done, or recorded in the state by a partial failure): the VM is no longer resumable. The
 * tag is looked for in the inventory as it stands: the observation that planned the changes came after the tag
 * was set, and nothing but this removes it.
 */
async function markFinished(conn: Connections, url: string | undefined, ref: string, budgetMs: number) {
  const client = conn.clientFor(url);
  const inventory = await conn.inventoryFor(url, { refresh: false });
  const vm = await cached(inventory, client)("VM", ref);
  if (CREATING_KEY in map(vm, "other_config"))
    await xenFacade(client, { deadlineMs: budgetMs }).VM.remove_from_other_config(ref, CREATING_KEY);
}

/** State written by a partial create or an older version may lack fields: fill them, keys included. */
function asState(olds: Record<string, unknown>): VmState {
  const s = olds as Partial<VmState>;
  const networks = s.networks ?? [];
  const keys = nicKeys(networks);
  return {
    ...(s as VmState),
    disks: (s.disks ?? []).map((d, i) => ({ ...d, name: d.name ?? diskKey(d, i) })),
    networks: networks.map((n, i) => ({ ...n, name: n.name ?? keys[i]! })),
    // States written before `source` name it `template`.
    source: s.source ?? s.template!,
    cloneMode: s.cloneMode ?? "fast",
    cloudInitChangePolicy: s.cloudInitChangePolicy ?? "restart",
    snapshotBeforeChange: s.snapshotBeforeChange ?? false,
    snapshotsKept: s.snapshotsKept ?? 3,
    tags: s.tags ?? [],
    otherConfig: s.otherConfig ?? {},
    // The schema's defaults: a state without them (an import) has them as they would be.
    allowRestart: s.allowRestart ?? false,
    waitForIp: s.waitForIp ?? false,
    diskUuids: s.diskUuids ?? [],
    ipAddresses: s.ipAddresses ?? [],
  };
}

/** What a failed create/update records: the VM as observed (or the inputs), under a short budget of its own. */
async function recordedProps(conn: Connections, ref: string, news: VmInputs, uuid: string) {
  let timer: NodeJS.Timeout | undefined;
  const observed = await Promise.race([
    outputs(conn, ref, news),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timeout")), RECORDING_BUDGET_MS);
    }),
  ])
    .catch(() => ({ ...news, uuid }))
    .finally(() => clearTimeout(timer));
  return { ...observed, ...pick(news) };
}

/**
 * An anti-affinity group keeps its members apart only where the pool places them: an `affinityHost` that puts this
 * VM beside another member is said in preview (the pool does not refuse it).
 */
async function groupWarnings(conn: Connections, id: string, news: VmInputs): Promise<string[]> {
  try {
    const inventory = await conn.inventoryFor(news.url);
    const named = (r: Rec, name: string) => r.uuid === name || r.name_label === name;
    const group = [...inventory.all("VM_group")].find(([, g]) => named(g as unknown as Rec, news.group!));
    if (!group || (group[1] as unknown as Rec).placement !== "anti_affinity") return [];
    const host = [...inventory.all("host")].find(([, h]) => named(h as unknown as Rec, news.affinityHost!));
    if (!host) return [];
    const lines: string[] = [];
    for (const member of refs(group[1] as unknown as Rec, "VMs")) {
      const rec = inventory.get("VM", member) as unknown as Rec | undefined;
      if (!rec || rec.uuid === id) continue;
      if (rec.affinity === host[0] || rec.resident_on === host[0])
        lines.push(
          `warning: xen:Vm ${news.nameLabel}: affinityHost ${news.affinityHost} puts it on the host of ${rec.name_label}, another member of anti-affinity group ${news.group}`,
        );
    }
    return lines;
  } catch {
    return []; // a warning never fails a preview
  }
}

/** The Vm provider over the connections of `ctx` (built by configure() from the stack config). */
export function vmProvider(ctx: ProviderContext): Provider {
  return {
    async configure(req) {
      ctx.configure(req.config);
    },

    async check(_olds, news) {
      const result = checkInputs(vmInputSchema, news, VM_OUTPUT_KEYS, {
        memory: 1024 ** 3,
        vcpus: 1,
        template: "(known at apply time)",
        source: "(known at apply time)",
      });
      if (result.failures.length > 0) return { failures: result.failures };
      const { group, affinityHost, nameLabel } = (result.inputs ?? {}) as Partial<VmInputs>;
      if (typeof group === "string" && typeof affinityHost === "string" && !isUnknownInput(group)) {
        const key = `${news.url ?? ""} ${group}`;
        const pinned = ctx.pinnedMembers.get(key) ?? new Map<string, string>();
        const other = pinned.get(affinityHost);
        if (other !== undefined && other !== nameLabel)
          say(
            `warning: xen:Vm ${nameLabel}: affinityHost ${affinityHost} is also ${other}'s, and both are in group ${group}: the group's anti-affinity cannot keep them apart`,
          );
        pinned.set(affinityHost, String(nameLabel));
        ctx.pinnedMembers.set(key, pinned);
      }
      // A template known only at apply time is the source known then.
      if (result.inputs && news.source === undefined && isUnknownInput(news.template))
        result.inputs.source = news.template;
      return { inputs: result.inputs };
    },

    async diff(id, olds, news) {
      const old = asState(olds);
      const inputs = inputsOf<VmInputs>(news);
      // An imported VM was never tagged: taking on the key of its resource is not a change to it.
      if (old.imported === true && old.ownershipKey === undefined) old.ownershipKey = inputs.ownershipKey;
      const plan = planVm(old, inputs);
      if (plan.blocked) throw new ProviderError(plan.blocked, { path: `xen:Vm ${(news.nameLabel as string) ?? ""}` });
      for (const line of describePlan(String(news.nameLabel ?? olds.nameLabel), plan)) say(line);
      if (inputs.group !== undefined && inputs.affinityHost !== undefined && !isUnknownInput(inputs.group))
        for (const line of await groupWarnings(ctx.connections, id, inputs)) say(line);
      return {
        changes: plan.changed.length > 0,
        replaces: plan.replaces,
        deleteBeforeReplace: plan.replaces.includes("adopt"),
      };
    },

    async create(inputs) {
      const news = inputsOf<VmInputs>(inputs);
      const conn = ctx.connections;
      const client = conn.clientFor(news.url);
      const deadline = phaseDeadline(news, "create", DEFAULT_TIMEOUT_MS);
      const owner = news.ownershipKey ?? "";
      let ref: string | undefined;
      if (news.adopt) {
        ref = await client.getByUuid("VM", news.adopt);
        say(`xen:Vm ${news.nameLabel}: adopting existing VM ${news.adopt}`);
        if (owner) {
          const xen = xenFacade(client);
          await xen.VM.remove_from_other_config(ref, OWNER_KEY);
          await xen.VM.add_to_other_config(ref, OWNER_KEY, owner);
        }
      }
      // An unfinished create is left by an earlier process (one `pulumi up` per stack at a time): this process's
      // inventory was read from the pool after that one ended, so it shows the VM.
      const inventory = await conn.inventoryFor(news.url);
      if (!ref) {
        ref = findUnfinishedCreate(inventory, owner);
        if (ref)
          say(`xen:Vm ${news.nameLabel}: resuming an unfinished create of this resource (VM tagged ${CREATING_KEY})`);
      }
      const fresh = ref === undefined;
      const vmRef = ref ?? (await createFromSource(client, inventory, news, owner, deadline));
      const uuid = (await cached(inventory, client)("VM", vmRef)).uuid;
      try {
        await reconcile(conn, vmRef, news, deadline, news.adopt ? news.allowRestart : true, fresh);
        if (fresh && installsFromCd(news)) await finishInstall(conn, vmRef, news, deadline);
        // The outputs leave the creation tag out, so they are read first: the last task already covered them.
        const outs = await outputs(conn, vmRef, news);
        await markFinished(conn, news.url, vmRef, Math.max(deadline.remainingMs(), RECORDING_BUDGET_MS));
        return { id: uuid, outs };
      } catch (e) {
        // The VM exists: record it (the next `up` updates it instead of duplicating it) and mark the create over,
        // so that a later replacement never takes it for its own unfinished create.
        const props = await recordedProps(conn, vmRef, news, uuid);
        await markFinished(conn, news.url, vmRef, RECORDING_BUDGET_MS).catch(() => undefined);
        throw partialFailure(uuid, props, inputs.__provider, e);
      }
    },

    async read(id, props) {
      // `pulumi import` reads with no state at all: the VM is then described as it is, its template recorded
      // (never a reason to replace it) and marked imported.
      const importing = !props || Object.keys(props).filter((k) => k !== "__provider").length === 0;
      const olds = asState((props ?? {}) as Record<string, unknown>);
      // Refresh reads from the inventory cache (one get_all_records per class, then events), not per-VM calls.
      const inventory = await ctx.connections.inventoryFor(olds.url);
      const found = inventory.byUuid("VM", id);
      if (!found) return {}; // deleted out of band: the engine drops it, the next `up` recreates it
      const client = ctx.connections.clientFor(olds.url);
      const outs = clean(await observe(cached(inventory, client), found.ref, olds, srFeaturesOf(client)));
      if (importing) {
        const recorded = map(found.record as unknown as Rec, "other_config").base_template_name;
        // The program written from an import names it `template` (one of template and source, as check wants),
        // and leaves out what is only about making a VM.
        Object.assign(outs, { template: recorded || UNKNOWN_TEMPLATE, imported: true });
        const generated = outs as Partial<VmState>;
        delete generated.source;
        delete generated.cloneMode;
        delete generated.cloudInitChangePolicy;
        delete generated.snapshotBeforeChange;
        delete generated.snapshotsKept;
      }
      return readResult(id, outs, VM_OUTPUT_KEYS);
    },

    async update(id, olds, newsRaw) {
      const news = inputsOf<VmInputs>(newsRaw);
      const conn = ctx.connections;
      const client = conn.clientFor(news.url);
      const deadline = phaseDeadline(news, "update", DEFAULT_TIMEOUT_MS);
      const ref = (await conn.inventoryFor(news.url)).byUuid("VM", id)?.ref ?? (await client.getByUuid("VM", id));
      let outs: VmState;
      try {
        await reconcile(conn, ref, news, deadline, news.allowRestart, false, (olds as Partial<VmState>).revertTo);
        outs = await outputs(conn, ref, news);
        await markFinished(conn, news.url, ref, Math.max(deadline.remainingMs(), RECORDING_BUDGET_MS));
      } catch (e) {
        throw partialFailure(id, await recordedProps(conn, ref, news, id), newsRaw.__provider, e);
      }
      // Bookkeeping the observation cannot see again.
      return { outs: olds.imported === true ? { ...outs, imported: true } : outs };
    },

    async delete(id, props) {
      const olds = asState(props as Record<string, unknown>);
      const conn = ctx.connections;
      const client = conn.clientFor(olds.url);
      // The inventory holds what this process did (a failed update may have left the VM in any power state) and
      // what earlier ones did; a shutdown of a VM someone halted meanwhile counts as done.
      const inventory = await conn.inventoryFor(olds.url);
      const ref = inventory.byUuid("VM", id)?.ref;
      if (!ref) return;
      const deadline = phaseDeadline(olds, "delete", DEFAULT_TIMEOUT_MS);
      const run = runFor({ client, inventory, deadline, ref, news: olds as unknown as VmInputs });
      const read = cached(inventory, client);
      try {
        const vm = await read("VM", ref);
        const guarded = Object.keys(map(vm, "blocked_operations")).filter((k) =>
          ["destroy", ...(str(vm, "power_state") === "Halted" ? [] : ["clean_shutdown", "hard_shutdown"])].includes(k),
        );
        if (guarded.length > 0)
          throw new ProviderError(
            `the VM is protected (blocked_operations ${guarded.join(", ")}): set protect: { destroy: false, shutdown: false } on it and run pulumi up, then destroy it. Nothing was changed`,
            { path: `xen:Vm ${olds.nameLabel}`, code: "PROTECTED" },
          );
        const vdis: string[] = [];
        for (const vbdRef of refs(vm, "VBDs")) {
          const vbd = await read("VBD", vbdRef);
          if (isNullRef(vbd.VDI)) continue;
          const vdi = await read("VDI", vbd.VDI as string);
          // Only disks this stack created: never shared or template disks, nor those of an adopted VM, nor those
          // marked keepOnRemove (they outlive the VM, detached).
          if (createdByStack(run, vdi) && map(vdi, "other_config")[KEEP_KEY] !== "true" && vdi.sharable !== true)
            vdis.push(vbd.VDI as string);
        }
        for (const op of haltForDelete(str(vm, "power_state") as PowerState, shutdownPolicy(olds, olds)))
          await powerOp(run, op);
        // The snapshots snapshotBeforeChange took go with the VM; others (xen.Snapshot, by hand) are not ours.
        for (const snap of refs(vm, "snapshots")) {
          const rec = await read("VM", snap).catch(() => undefined);
          if (rec && map(rec, "other_config")[AUTO_SNAPSHOT_KEY] === vm.uuid) await destroySnapshot(run, snap);
        }
        await run.xen.VM.destroy(ref);
        for (const vdi of vdis) {
          await run.xen.VDI.destroy(vdi).catch((e: unknown) => {
            if (!isGone(e)) throw e;
          });
        }
      } catch (e) {
        if (isGone(e)) return;
        throw e;
      }
    },
  };
}

/** The state-only inputs are kept as given (they are not observable on the VM). */
function pick(news: VmInputs): Partial<VmInputs> {
  const { template, source, cloneMode, url, allowRestart, waitForIp, timeouts, shutdownTimeout, ownershipKey, adopt } =
    news;
  const { cloudInit, cloudInitChangePolicy, revertTo, snapshotBeforeChange, snapshotsKept } = news;
  return clean({
    revertTo,
    snapshotBeforeChange,
    snapshotsKept,
    template,
    source,
    cloneMode,
    cloudInit,
    cloudInitChangePolicy,
    url,
    allowRestart,
    waitForIp,
    timeouts,
    shutdownTimeout,
    ownershipKey,
    adopt,
  });
}

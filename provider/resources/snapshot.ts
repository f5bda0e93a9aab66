/**
 * The Snapshot resource provider: VM.snapshot (disks) or VM.checkpoint (disks and memory) of a VM. A snapshot is a
 * point in time: any change but its name and description takes a new one. Deleting it destroys the snapshot and
 * its snapshot disks, never the VM's own. A Vm reverts to it with `revertTo: snapshot.uuid`.
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { ProviderContext } from "../connection";
import { planByKeys } from "../plan/simple";
import { checkInputs, snapshotInputSchema, type SnapshotInputs } from "../schema";
import { xenFacade } from "../xenapi";
import { OWNER_KEY, inputsOf, isGone, readResult, record, say, str, type Rec } from "./common";
import { phaseDeadline } from "./deadline";
import { ProviderError } from "./errors";
import { destroySnapshot } from "./vm/execute-protection";

export const SNAPSHOT_OUTPUT_KEYS = ["uuid", "snapshotTime"] as const;
const INPUT_KEYS = ["vm", "nameLabel", "description", "checkpoint", "url"];
const REPLACE_KEYS = ["vm", "checkpoint", "url"];
const PHASE_MS = { create: 30 * 60_000, update: 5 * 60_000, delete: 10 * 60_000 };

type SnapshotState = SnapshotInputs & { uuid: string; snapshotTime: string };

function observe(snap: Rec, desired: SnapshotInputs): SnapshotState {
  return {
    ...desired,
    nameLabel: snap.name_label ?? "",
    description: str(snap, "name_description"),
    uuid: snap.uuid,
    snapshotTime: String(snap.snapshot_time ?? ""),
  };
}

export function snapshotProvider(ctx: ProviderContext): dynamic.ResourceProvider {
  return {
    async configure(req) {
      ctx.configure(req.config);
    },
    async check(_olds, news) {
      const r = checkInputs(snapshotInputSchema, news, SNAPSHOT_OUTPUT_KEYS);
      return r.failures.length > 0 ? { failures: r.failures } : { inputs: r.inputs };
    },
    async diff(_id, olds, news) {
      const plan = planByKeys(olds, news, INPUT_KEYS, REPLACE_KEYS);
      if (plan.changed.length > 0)
        say(
          `xen:Snapshot ${String(news.nameLabel)}: ${plan.replaces.length ? "replace (a snapshot is a point in time: a new one is taken)" : "update in place"}: ${plan.changed.join(", ")}`,
        );
      return { changes: plan.changed.length > 0, replaces: plan.replaces };
    },
    async create(inputs) {
      const news = inputsOf<SnapshotInputs>(inputs);
      const client = ctx.connections.clientFor(news.url);
      const xen = xenFacade(phaseDeadline({}, "create", PHASE_MS).bound(client));
      let vm: string;
      try {
        vm = await xen.VM.get_by_uuid(news.vm);
      } catch (e) {
        throw new ProviderError(`no VM with uuid ${news.vm}`, { path: "vm", code: "NOT_FOUND", cause: e });
      }
      const snap = news.checkpoint
        ? await xen.VM.checkpoint(vm, news.nameLabel)
        : await xen.VM.snapshot(vm, news.nameLabel);
      // The snapshot carries its VM's other_config, the VM's owner tag included: it is this resource's now.
      await xen.VM.remove_from_other_config(snap, OWNER_KEY);
      await xen.VM.add_to_other_config(snap, OWNER_KEY, news.ownershipKey ?? "");
      if (news.description) await xen.VM.set_name_description(snap, news.description);
      say(`xen:Snapshot ${news.nameLabel}: ${news.checkpoint ? "checkpoint (disks and memory)" : "snapshot"} taken`);
      const outs = observe(await record(client, "VM", snap), news);
      return { id: outs.uuid, outs };
    },
    async read(id, props) {
      const olds = props as SnapshotState;
      const inventory = await ctx.connections.inventoryFor(olds.url);
      const found = inventory.byUuid("VM", id);
      if (!found) return {};
      return readResult(id, observe(found.record as unknown as Rec, olds), SNAPSHOT_OUTPUT_KEYS);
    },
    async update(id, _olds, newsRaw) {
      const news = inputsOf<SnapshotInputs>(newsRaw);
      const client = ctx.connections.clientFor(news.url);
      const xen = xenFacade(phaseDeadline({}, "update", PHASE_MS).bound(client));
      const ref = await client.getByUuid("VM", id);
      await xen.VM.set_name_label(ref, news.nameLabel);
      await xen.VM.set_name_description(ref, news.description);
      return { outs: observe(await record(client, "VM", ref), news) };
    },
    async delete(id, props) {
      const olds = props as SnapshotState;
      const client = ctx.connections.clientFor(olds.url);
      const bound = phaseDeadline({}, "delete", PHASE_MS).bound(client);
      try {
        const ref = await client.getByUuid("VM", id);
        await destroySnapshot({ xen: xenFacade(bound), read: (cls, r) => record(bound, cls, r) }, ref);
      } catch (e) {
        if (isGone(e)) return;
        throw e;
      }
    },
  };
}

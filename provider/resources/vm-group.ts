/**
 * The VmGroup resource provider: a XenAPI VM_group, whose placement (`anti-affinity`) the pool applies when it
 * places a member (start, migration, evacuation, HA restart), best effort. VMs join it with their `group` input.
 * The placement policy is fixed at creation in XenAPI, so changing it makes a new group.
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { ProviderContext } from "../connection";
import { planByKeys } from "../plan/simple";
import { checkInputs, vmGroupInputSchema, type VmGroupInputs } from "../schema";
import { xenFacade } from "../xenapi";
import { inputsOf, isGone, readResult, record, refs, say, str, type Rec } from "./common";
import { phaseDeadline } from "./deadline";

export const VM_GROUP_OUTPUT_KEYS = ["uuid", "memberUuids"] as const;
const INPUT_KEYS = ["nameLabel", "description", "placement", "url"];
const REPLACE_KEYS = ["placement", "url"];
const PHASE_MS = { create: 60_000, update: 60_000, delete: 60_000 };
/** The wire values of the placement policy (the program says `anti-affinity`, as people write it). */
const WIRE_PLACEMENT = { "anti-affinity": "anti_affinity", normal: "normal" } as const;

type VmGroupState = VmGroupInputs & { uuid: string; memberUuids: string[] };

async function observe(
  read: (cls: "VM" | "VM_group", ref: string) => Promise<Rec>,
  ref: string,
  desired: VmGroupInputs,
) {
  const g = await read("VM_group", ref);
  const memberUuids: string[] = [];
  for (const vm of refs(g, "VMs")) memberUuids.push((await read("VM", vm)).uuid);
  return {
    ...desired,
    nameLabel: g.name_label ?? "",
    description: str(g, "name_description"),
    placement: str(g, "placement") === "anti_affinity" ? "anti-affinity" : "normal",
    uuid: g.uuid,
    memberUuids: memberUuids.sort(),
  } as VmGroupState;
}

export function vmGroupProvider(ctx: ProviderContext): dynamic.ResourceProvider {
  return {
    async configure(req) {
      ctx.configure(req.config);
    },
    async check(_olds, news) {
      const r = checkInputs(vmGroupInputSchema, news, VM_GROUP_OUTPUT_KEYS);
      return r.failures.length > 0 ? { failures: r.failures } : { inputs: r.inputs };
    },
    async diff(_id, olds, news) {
      const plan = planByKeys(olds, news, INPUT_KEYS, REPLACE_KEYS);
      if (plan.changed.length > 0)
        say(
          `xen:VmGroup ${String(news.nameLabel)}: ${plan.replaces.length ? "replace (XenAPI fixes a group's placement when it is created)" : "update in place"}: ${plan.changed.join(", ")}`,
        );
      return { changes: plan.changed.length > 0, replaces: plan.replaces };
    },
    async create(inputs) {
      const news = inputsOf<VmGroupInputs>(inputs);
      const client = ctx.connections.clientFor(news.url);
      const xen = xenFacade(phaseDeadline({}, "create", PHASE_MS).bound(client));
      const ref = await xen.VM_group.create({
        name_label: news.nameLabel,
        name_description: news.description,
        placement: WIRE_PLACEMENT[news.placement],
      });
      const outs = await observe((cls, r) => record(client, cls, r), ref, news);
      return { id: outs.uuid, outs };
    },
    async read(id, props) {
      const olds = props as VmGroupState;
      const client = ctx.connections.clientFor(olds.url);
      const inventory = await ctx.connections.inventoryFor(olds.url);
      const found = inventory.byUuid("VM_group", id);
      if (!found) return {};
      const read = async (cls: "VM" | "VM_group", ref: string) =>
        (inventory.get(cls, ref) as unknown as Rec | undefined) ?? record(client, cls, ref);
      return readResult(id, await observe(read, found.ref, olds), VM_GROUP_OUTPUT_KEYS);
    },
    async update(id, _olds, newsRaw) {
      const news = inputsOf<VmGroupInputs>(newsRaw);
      const client = ctx.connections.clientFor(news.url);
      const xen = xenFacade(phaseDeadline({}, "update", PHASE_MS).bound(client));
      const ref = await xen.VM_group.get_by_uuid(id);
      await xen.VM_group.set_name_label(ref, news.nameLabel);
      await xen.VM_group.set_name_description(ref, news.description);
      return { outs: await observe((cls, r) => record(client, cls, r), ref, news) };
    },
    async delete(id, props) {
      const olds = props as VmGroupState;
      const client = ctx.connections.clientFor(olds.url);
      const xen = xenFacade(phaseDeadline({}, "delete", PHASE_MS).bound(client));
      try {
        await xen.VM_group.destroy(await xen.VM_group.get_by_uuid(id));
      } catch (e) {
        if (isGone(e)) return;
        throw e;
      }
    },
  };
}

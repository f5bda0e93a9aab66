/**
 * The Template resource provider: a VM template made from a base template (default `Other install media`) with a
 * disk image (`image`, a VDI such as a xen.Image's) as its boot disk, so that a pool can be seeded from code and
 * VMs made from it (`source`). A template is what future VMs are cloned from: any change but its name or
 * description makes a new one (VMs already made from it are not affected). Deleting it leaves the image's VDI.
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { ProviderContext } from "../connection";
import { planByKeys } from "../plan/simple";
import { checkInputs, templateInputSchema, type TemplateInputs } from "../schema";
import { xenFacade, type XenApiClient } from "../xenapi";
import { OWNER_KEY, inputsOf, isGone, map, readResult, record, resolveRef, say, type Rec } from "./common";
import { phaseDeadline } from "./deadline";

export const TEMPLATE_OUTPUT_KEYS = ["uuid"] as const;
const INPUT_KEYS = ["nameLabel", "description", "base", "image", "vcpus", "memory", "firmware", "bootOrder", "url"];
const REPLACE_KEYS = ["base", "image", "vcpus", "memory", "firmware", "bootOrder", "url"];
const PHASE_MS = { create: 10 * 60_000, update: 5 * 60_000, delete: 5 * 60_000 };

type TemplateState = TemplateInputs & { uuid: string };

async function build(client: XenApiClient, news: TemplateInputs): Promise<string> {
  const deadline = phaseDeadline({}, "create", PHASE_MS);
  const xen = xenFacade(deadline.bound(client));
  const isTemplate = (r: Rec) => r.is_a_template === true && r.is_a_snapshot !== true;
  const base = await resolveRef(client, "VM", news.base, "base", isTemplate);
  const ref = await xen.VM.clone(base, news.nameLabel);
  try {
    const rec = await record(client, "VM", ref);
    const other = { ...map(rec, "other_config") };
    // The image is the disk: nothing is to be provisioned, and this is not one of the pool's own templates.
    delete other.disks;
    delete other.default_template;
    other[OWNER_KEY] = news.ownershipKey ?? "";
    await xen.VM.set_other_config(ref, other);
    await xen.VM.set_name_description(ref, news.description);
    if (news.memory !== undefined)
      await xen.VM.set_memory_limits(ref, news.memory, news.memory, news.memory, news.memory);
    if (news.vcpus !== undefined) {
      const max = Number(rec.VCPUs_max ?? 1);
      if (news.vcpus > max) await xen.VM.set_VCPUs_max(ref, news.vcpus);
      await xen.VM.set_VCPUs_at_startup(ref, news.vcpus);
      if (news.vcpus < max) await xen.VM.set_VCPUs_max(ref, news.vcpus);
    }
    if (news.firmware !== undefined || news.bootOrder !== undefined) {
      const boot = { ...map(rec, "HVM_boot_params") };
      if (news.firmware !== undefined) boot.firmware = news.firmware;
      if (news.bootOrder !== undefined) boot.order = news.bootOrder;
      await xen.VM.set_HVM_boot_params(ref, boot);
    }
    if (news.image !== undefined) {
      const vdi = await xen.VDI.get_by_uuid(news.image);
      await xen.VBD.create({
        VM: ref,
        VDI: vdi,
        userdevice: "0",
        bootable: true,
        mode: "RW",
        type: "Disk",
        unpluggable: false,
        empty: false,
        other_config: {},
        qos_algorithm_type: "",
        qos_algorithm_params: {},
      });
    }
    return ref;
  } catch (e) {
    await xenFacade(client)
      .VM.destroy(ref)
      .catch(() => undefined);
    throw e;
  }
}

function observe(vm: Rec, desired: TemplateInputs): TemplateState {
  return {
    ...desired,
    nameLabel: vm.name_label ?? "",
    description: typeof vm.name_description === "string" ? vm.name_description : "",
    uuid: vm.uuid,
  };
}

export function templateProvider(ctx: ProviderContext): dynamic.ResourceProvider {
  return {
    async configure(req) {
      ctx.configure(req.config);
    },
    async check(_olds, news) {
      const r = checkInputs(templateInputSchema, news, TEMPLATE_OUTPUT_KEYS);
      return r.failures.length > 0 ? { failures: r.failures } : { inputs: r.inputs };
    },
    async diff(_id, olds, news) {
      const plan = planByKeys(olds, news, INPUT_KEYS, REPLACE_KEYS);
      if (plan.changed.length > 0)
        say(
          `xen:Template ${String(news.nameLabel)}: ${plan.replaces.length ? `replace (${plan.replaces.join(", ")}: a template is what future VMs are cloned from; VMs made from it are not affected)` : "update in place"}: ${plan.changed.join(", ")}`,
        );
      return { changes: plan.changed.length > 0, replaces: plan.replaces };
    },
    async create(inputs) {
      const news = inputsOf<TemplateInputs>(inputs);
      const client = ctx.connections.clientFor(news.url);
      const ref = await build(client, news);
      const outs = observe(await record(client, "VM", ref), news);
      return { id: outs.uuid, outs };
    },
    async read(id, props) {
      const olds = props as TemplateState;
      const inventory = await ctx.connections.inventoryFor(olds.url);
      const found = inventory.byUuid("VM", id);
      if (!found) return {};
      return readResult(id, observe(found.record as unknown as Rec, olds), TEMPLATE_OUTPUT_KEYS);
    },
    async update(id, _olds, newsRaw) {
      const news = inputsOf<TemplateInputs>(newsRaw);
      const client = ctx.connections.clientFor(news.url);
      const xen = xenFacade(phaseDeadline({}, "update", PHASE_MS).bound(client));
      const ref = await client.getByUuid("VM", id);
      await xen.VM.set_name_label(ref, news.nameLabel);
      await xen.VM.set_name_description(ref, news.description);
      return { outs: observe(await record(client, "VM", ref), news) };
    },
    async delete(id, props) {
      const olds = props as TemplateState;
      const client = ctx.connections.clientFor(olds.url);
      const xen = xenFacade(phaseDeadline({}, "delete", PHASE_MS).bound(client));
      try {
        const ref = await client.getByUuid("VM", id);
        // VM.destroy removes the template and its VBDs; the image's VDI stays (the Image resource owns it).
        await xen.VM.destroy(ref);
        say(`xen:Template ${olds.nameLabel}: destroyed (its image is kept)`);
      } catch (e) {
        if (isGone(e)) return;
        throw e;
      }
    },
  };
}

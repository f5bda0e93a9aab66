/**
 * The Image resource provider: a disk image from a file on the machine running `pulumi`, imported into a new VDI
 * through xapi's `/import_raw_vdi` handler. A changed file (its SHA-256) is a new image: replaced, never written
 * over a VDI that templates or VMs may be using. Deleting it destroys the VDI only if this stack made it.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { ProviderContext } from "../connection";
import { planByKeys } from "../plan/simple";
import { checkInputs, imageInputSchema, type ImageInputs } from "../schema";
import { formatSize } from "../units";
import { xenFacade } from "../xenapi";
import { cached, inputsOf, isGone, map, num, OWNER_KEY, readResult, resolveRef, say, type Rec } from "./common";
import { phaseDeadline } from "./deadline";
import { ProviderError } from "./errors";

export const IMAGE_OUTPUT_KEYS = ["uuid", "virtualSize", "srUuid"] as const;
const INPUT_KEYS = ["nameLabel", "description", "sha256", "sr", "size", "url", "file", "timeouts"] as const;
/** What makes another image: its content, where it lives, how large it is, which pool. */
const REPLACE_KEYS = ["sha256", "sr", "size", "url"] as const;
/** other_config key on the VDI: the SHA-256 of the image it was imported from. */
export const IMAGE_SHA_KEY = "pulumi-xen.image-sha256";
const MiB = 1024 * 1024;
const DEFAULT_PHASE_MS = { create: 30 * 60_000, update: 5 * 60_000, delete: 5 * 60_000 };

type ImageState = ImageInputs & { uuid: string; virtualSize: number; srUuid: string };

function observe(vdi: Rec, sr: Rec, desired: ImageInputs): ImageState {
  return {
    ...desired,
    nameLabel: vdi.name_label ?? "",
    description: typeof vdi.name_description === "string" ? vdi.name_description : "",
    uuid: vdi.uuid,
    virtualSize: num(vdi, "virtual_size"),
    srUuid: sr.uuid,
    ...(map(vdi, "other_config")[IMAGE_SHA_KEY] ? { sha256: map(vdi, "other_config")[IMAGE_SHA_KEY] } : {}),
  };
}

export function imageProvider(ctx: ProviderContext): dynamic.ResourceProvider {
  return {
    async configure(req) {
      ctx.configure(req.config);
    },
    async check(_olds, news) {
      const r = checkInputs(imageInputSchema, news, IMAGE_OUTPUT_KEYS);
      if (r.failures.length > 0 || !r.inputs) return { failures: r.failures };
      const file = r.inputs.file;
      if (typeof file !== "string") return { inputs: r.inputs };
      let stat: fs.Stats;
      try {
        stat = fs.statSync(file);
      } catch {
        return { failures: [{ property: "file", reason: `no such file: ${file}` }] };
      }
      if (!stat.isFile()) return { failures: [{ property: "file", reason: `not a file: ${file}` }] };
      const size = r.inputs.size as number | undefined;
      if (size !== undefined && size < stat.size)
        return {
          failures: [
            { property: "size", reason: `${formatSize(size)} is smaller than the image (${formatSize(stat.size)})` },
          ],
        };
      const sha256 = createHash("sha256").update(fs.readFileSync(file)).digest("hex");
      return { inputs: { ...r.inputs, sha256 } };
    },
    async diff(_id, olds, news) {
      const plan = planByKeys(olds, news, INPUT_KEYS, REPLACE_KEYS);
      if (plan.changed.length > 0)
        say(
          `xen:Image ${String(news.nameLabel)}: ${plan.replaces.length ? `replace (${plan.replaces.includes("sha256") ? "the file's content changed: a new image is imported" : plan.replaces.join(", ")})` : "update in place"}: ${plan.changed.join(", ")}`,
        );
      return { changes: plan.changed.length > 0, replaces: plan.replaces, deleteBeforeReplace: false };
    },
    async create(inputs) {
      const news = inputsOf<ImageInputs>(inputs);
      const conn = ctx.connections;
      const client = conn.clientFor(news.url);
      const inventory = await conn.inventoryFor(news.url);
      const deadline = phaseDeadline(news, "create", DEFAULT_PHASE_MS);
      const xen = xenFacade(deadline.bound(client));
      const bytes = fs.readFileSync(news.file);
      let sr: string;
      if (news.sr !== undefined) sr = await resolveRef(client, "SR", news.sr, "sr", undefined, inventory);
      else {
        const pools = await xen.pool.get_all();
        sr = await xen.pool.get_default_SR(pools[0]!);
      }
      const virtualSize = news.size ?? Math.max(MiB, Math.ceil(bytes.length / MiB) * MiB);
      const vdi = await xen.VDI.create({
        name_label: news.nameLabel,
        name_description: news.description,
        SR: sr,
        virtual_size: virtualSize,
        type: "user",
        sharable: false,
        read_only: false,
        other_config: { [OWNER_KEY]: news.ownershipKey ?? "", [IMAGE_SHA_KEY]: news.sha256 ?? "" },
        xenstore_data: {},
        sm_config: {},
        tags: [],
      });
      const started = Date.now();
      say(`xen:Image ${news.nameLabel}: importing ${formatSize(bytes.length)} from ${news.file}`);
      try {
        await client.importRawVdi(vdi, bytes, { deadlineMs: deadline.remainingMs() });
      } catch (e) {
        // Nothing half-written is left behind: the VDI is this create's own.
        await xenFacade(client)
          .VDI.destroy(vdi)
          .catch(() => undefined);
        throw e;
      }
      say(`xen:Image ${news.nameLabel}: imported in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const read = cached(inventory, client);
      await inventory.refresh();
      const rec = await read("VDI", vdi);
      const outs = observe(rec, await read("SR", rec.SR as string), news);
      return { id: outs.uuid, outs };
    },
    async read(id, props) {
      const olds = props as ImageState;
      const inventory = await ctx.connections.inventoryFor(olds.url);
      const found = inventory.byUuid("VDI", id);
      if (!found) return {};
      const read = cached(inventory, ctx.connections.clientFor(olds.url));
      const vdi = found.record as unknown as Rec;
      return readResult(id, observe(vdi, await read("SR", vdi.SR as string), olds), IMAGE_OUTPUT_KEYS);
    },
    async update(id, olds, newsRaw) {
      const news = inputsOf<ImageInputs>(newsRaw);
      const client = ctx.connections.clientFor(news.url);
      const xen = xenFacade(phaseDeadline(news, "update", DEFAULT_PHASE_MS).bound(client));
      const ref = await client.getByUuid("VDI", id);
      if (olds.nameLabel !== news.nameLabel) await xen.VDI.set_name_label(ref, news.nameLabel);
      if (olds.description !== news.description) await xen.VDI.set_name_description(ref, news.description);
      const rec = (await client.getRecord("VDI", ref)) as unknown as Rec;
      const sr = (await client.getRecord("SR", rec.SR as string)) as unknown as Rec;
      return { outs: observe(rec, sr, news) };
    },
    async delete(id, props) {
      const olds = props as ImageState;
      const client = ctx.connections.clientFor(olds.url);
      const xen = xenFacade(phaseDeadline(olds, "delete", DEFAULT_PHASE_MS).bound(client));
      try {
        const ref = await client.getByUuid("VDI", id);
        const rec = (await client.getRecord("VDI", ref)) as unknown as Rec;
        if (olds.ownershipKey && map(rec, "other_config")[OWNER_KEY] !== olds.ownershipKey) {
          say(`xen:Image ${olds.nameLabel}: VDI ${id} was not made by this stack; left in place`);
          return;
        }
        await xen.VDI.destroy(ref);
      } catch (e) {
        if (isGone(e)) return;
        if (e instanceof Error && /VDI_IN_USE/.test(e.message))
          throw new ProviderError(
            `VDI ${id} is in use (a template or VM still has it attached): delete or change those first`,
            { path: `xen:Image ${olds.nameLabel}`, cause: e },
          );
        throw e;
      }
    },
  };
}

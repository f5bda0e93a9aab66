/** The Pool resource provider: adopts the pool at the URL, manages its names, default SR, HA; delete releases it. */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { ProviderContext } from "../connection";
import { POOL_INPUT_KEYS, POOL_REPLACE_KEYS, planByKeys } from "../plan/simple";
import { checkInputs, poolInputSchema, type PoolInputs } from "../schema";
import { xenFacade, type XenApiClient } from "../xenapi";
import { PhaseDeadline, phaseDeadline } from "./deadline";
import { ProviderError } from "./errors";
import {
  cached,
  direct,
  inputsOf,
  isNullRef,
  map,
  num,
  readResult,
  record,
  refs,
  resolveRef,
  sameForm,
  say,
  str,
  type Reader,
} from "./common";

export const POOL_OUTPUT_KEYS = ["uuid", "masterUuid", "hostUuids"] as const;
export type PoolState = PoolInputs & { uuid: string; masterUuid: string; hostUuids: string[] };

async function poolRef(client: XenApiClient): Promise<string> {
  const pools = await xenFacade(client).pool.get_all();
  if (pools.length !== 1)
    throw new ProviderError(`expected exactly one pool object at ${client.url}, found ${pools.length}`, {
      path: "url",
    });
  return pools[0]!;
}

/** The pool as it is: `read` and `hosts` from the inventory on refresh, from xapi after a change. */
async function observe(read: Reader, hosts: string[], ref: string, desired: PoolInputs): Promise<PoolState> {
  const pool = await read("pool", ref);
  const hostUuids: string[] = [];
  for (const h of hosts) hostUuids.push((await read("host", h)).uuid);
  const otherConfig: Record<string, string> = {};
  for (const [k, v] of Object.entries(map(pool, "other_config"))) if (k in desired.otherConfig) otherConfig[k] = v;
  let defaultSr: string | undefined;
  if (desired.defaultSr !== undefined && !isNullRef(pool.default_SR))
    defaultSr = sameForm(desired.defaultSr, await read("SR", pool.default_SR as string));
  const ha = desired.ha
    ? JSON.parse(
        JSON.stringify({
          enabled: pool.ha_enabled === true,
          hostFailuresToTolerate:
            desired.ha.hostFailuresToTolerate !== undefined ? num(pool, "ha_host_failures_to_tolerate") : undefined,
          heartbeatSr: desired.ha.heartbeatSr,
        }),
      )
    : undefined;
  return JSON.parse(
    JSON.stringify({
      ...desired,
      nameLabel: pool.name_label ?? "",
      description: str(pool, "name_description"),
      defaultSr,
      ha,
      tags: [...refs(pool, "tags")].sort(),
      otherConfig,
      uuid: pool.uuid,
      masterUuid: (await read("host", pool.master as string)).uuid,
      hostUuids: hostUuids.sort(),
    }),
  ) as PoolState;
}

async function apply(
  client: XenApiClient,
  ref: string,
  news: PoolInputs,
  olds: Partial<PoolInputs> | undefined,
  deadline: PhaseDeadline,
) {
  const bounded = deadline.bound(client);
  const xen = xenFacade(bounded);
  const pool = await record(bounded, "pool", ref);
  if (pool.name_label !== news.nameLabel) await xen.pool.set_name_label(ref, news.nameLabel);
  if (str(pool, "name_description") !== news.description) await xen.pool.set_name_description(ref, news.description);
  if (news.defaultSr !== undefined) {
    const sr = await resolveRef(client, "SR", news.defaultSr, "defaultSr");
    if (pool.default_SR !== sr) await xen.pool.set_default_SR(ref, sr);
  }
  await xen.pool.set_tags(ref, news.tags);
  const current = map(pool, "other_config");
  for (const k of Object.keys(olds?.otherConfig ?? {}))
    if (!(k in news.otherConfig)) await xen.pool.remove_from_other_config(ref, k);
  for (const [k, v] of Object.entries(news.otherConfig)) {
    if (current[k] === v) continue;
    if (k in current) await xen.pool.remove_from_other_config(ref, k);
    await xen.pool.add_to_other_config(ref, k, v);
  }
  if (news.ha) {
    const enabled = pool.ha_enabled === true;
    if (news.ha.enabled && !enabled) {
      const srName = news.ha.heartbeatSr;
      let sr: string;
      if (srName !== undefined) sr = await resolveRef(client, "SR", srName, "ha.heartbeatSr");
      else {
        sr = (await record(bounded, "pool", ref)).default_SR as string;
        if (isNullRef(sr))
          throw new ProviderError("give ha.heartbeatSr (a shared SR) or set the pool's defaultSr", {
            path: "ha.enabled",
          });
      }
      say(`xen:Pool ${news.nameLabel}: enabling HA`);
      await xen.pool.enable_ha([sr], {});
    } else if (!news.ha.enabled && enabled) {
      say(`xen:Pool ${news.nameLabel}: disabling HA`);
      await xen.pool.disable_ha();
    }
    if (news.ha.enabled && news.ha.hostFailuresToTolerate !== undefined) {
      const now = num(await record(bounded, "pool", ref), "ha_host_failures_to_tolerate");
      if (now !== news.ha.hostFailuresToTolerate)
        await xen.pool.set_ha_host_failures_to_tolerate(ref, news.ha.hostFailuresToTolerate);
    }
  }
}

/** Per phase unless `timeouts` says otherwise: enabling HA, for one, is bounded as a whole. */
const DEFAULT_PHASE_MS = { create: 120_000, update: 120_000, delete: 120_000 };

/** The Pool provider over the connections of `ctx` (built by configure() from the stack config). */
export function poolProvider(ctx: ProviderContext): dynamic.ResourceProvider {
  const clientFor = (url?: string) => ctx.connections.clientFor(url);
  return {
    async configure(req) {
      ctx.configure(req.config);
    },
    async check(_olds, news) {
      const r = checkInputs(poolInputSchema, news, POOL_OUTPUT_KEYS);
      return r.failures.length > 0 ? { failures: r.failures } : { inputs: r.inputs };
    },
    async diff(_id, olds, news) {
      const plan = planByKeys(olds, news, POOL_INPUT_KEYS, POOL_REPLACE_KEYS);
      if (plan.changed.length > 0)
        say(
          `xen:Pool ${String(news.nameLabel)}: ${plan.replaces.length ? "replace (another pool)" : "update in place"}: ${plan.changed.join(", ")}`,
        );
      return { changes: plan.changed.length > 0, replaces: plan.replaces };
    },
    async create(inputs) {
      const news = inputsOf<PoolInputs>(inputs);
      const client = clientFor(news.url);
      const ref = await poolRef(client);
      await apply(client, ref, news, undefined, phaseDeadline(news, "create", DEFAULT_PHASE_MS));
      const outs = await observe(direct(client), await xenFacade(client).host.get_all(), ref, news);
      return { id: outs.uuid, outs };
    },
    async read(id, props) {
      const olds = props as PoolState;
      const client = clientFor(olds.url);
      // Refresh reads from the pool's inventory, as the Vm provider does.
      const inventory = await ctx.connections.inventoryFor(olds.url);
      const pools = [...inventory.all("pool").keys()];
      const ref = pools.length === 1 ? pools[0]! : await poolRef(client);
      const outs = await observe(cached(inventory, client), [...inventory.all("host").keys()], ref, olds);
      if (outs.uuid !== id) return {}; // the URL now answers for another pool
      return readResult(id, outs, POOL_OUTPUT_KEYS);
    },
    async update(_id, olds, newsRaw) {
      const news = inputsOf<PoolInputs>(newsRaw);
      const client = clientFor(news.url);
      const ref = await poolRef(client);
      await apply(client, ref, news, olds as PoolState, phaseDeadline(news, "update", DEFAULT_PHASE_MS));
      return { outs: await observe(direct(client), await xenFacade(client).host.get_all(), ref, news) };
    },
    async delete(_id, props) {
      // Releasing a pool never ejects or destroys hosts: the pool simply leaves the stack.
      say(`xen:Pool ${String(props.nameLabel)}: released (hosts and VMs untouched)`);
    },
  };
}

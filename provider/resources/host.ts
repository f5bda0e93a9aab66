/**
 * The Host resource provider: joins the host at `address` to the pool (pool.join on that host), drives
 * enabled/maintenance (disable + evacuate, with the VMs that prevent it and why), and ejects only when asked.
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { Connections, ProviderContext } from "../connection";
import { HOST_INPUT_KEYS, HOST_REPLACE_KEYS, planByKeys } from "../plan/simple";
import { checkInputs, hostInputSchema, type HostInputs } from "../schema";
import { formatSize } from "../units";
import type { FacadeClient } from "../xenapi";
import { isXenApiError, xenFacade } from "../xenapi";
import { PhaseDeadline, phaseDeadline } from "./deadline";
import { ProviderError } from "./errors";
import { cached, direct, inputsOf, isGone, map, num, readResult, record, refs, say, str, type Reader } from "./common";

export const HOST_OUTPUT_KEYS = [
  "uuid",
  "hvmCapable",
  "cpuCount",
  "memoryTotal",
  "memoryFree",
  "residentVmUuids",
] as const;
export type HostState = HostInputs & {
  uuid: string;
  hvmCapable: boolean;
  cpuCount: number;
  memoryTotal: number;
  memoryFree: number;
  residentVmUuids: string[];
};

/** Per phase unless `timeouts` says otherwise: a join, an evacuation or an eject is bounded as a whole. */
const DEFAULT_PHASE_MS = { create: 120_000, update: 120_000, delete: 120_000 };

async function findByAddress(client: FacadeClient, address: string): Promise<string | undefined> {
  for (const [ref, h] of await client.getAllRecords("host")) {
    const rec = h as unknown as Record<string, unknown>;
    if (rec.address === address || rec.hostname === address) return ref;
  }
  return undefined;
}

async function join(
  conn: Connections,
  poolClient: FacadeClient,
  address: string,
  url: string | undefined,
  deadline: PhaseDeadline,
): Promise<string> {
  const settings = conn.resolve(url);
  const pools = await xenFacade(poolClient).pool.get_all();
  const master = await record(poolClient, "host", (await record(poolClient, "pool", pools[0]!)).master as string);
  const joining = conn.clientForHost(address, url);
  try {
    say(`xen:Host ${address}: joining pool of ${str(master, "address")}`);
    // pool.join runs on the joining host and takes the master's address and credentials. It is the one call made
    // around the facade (which sends it as Async.pool.join), because it must be synchronous: once joined, the
    // host's own task list belongs to the pool and its task cannot be watched.
    await joining.call("pool.join", [str(master, "address"), settings.username, settings.password], {
      timeoutMs: deadline.check("pool.join"),
      deadlineMs: deadline.check("pool.join"),
    });
  } finally {
    await joining.close().catch(() => undefined);
  }
  for (;;) {
    const ref = await findByAddress(poolClient, address);
    if (ref) return ref;
    await deadline.sleep(500, `host ${address}, which joined, appeared in the pool`);
  }
}

async function enterMaintenance(client: FacadeClient, ref: string, name: string) {
  const blockers = await xenFacade(client).host.get_vms_which_prevent_evacuation(ref);
  const entries = Object.entries(blockers);
  if (entries.length > 0) {
    const lines: string[] = [];
    for (const [vmRef, error] of entries) {
      const [code, ...params] = error as string[];
      const vm = await record(client, "VM", vmRef).catch(() => ({ name_label: vmRef, uuid: "" }));
      lines.push(`${vm.name_label} (${vm.uuid}): ${code}${params.length ? ` [${params.join(", ")}]` : ""}`);
    }
    throw new ProviderError(`host ${name} cannot be evacuated; these VMs prevent it:\n  ${lines.join("\n  ")}`, {
      path: "maintenance",
      code: "HOST_EVACUATION_BLOCKED",
    });
  }
  say(`xen:Host ${name}: entering maintenance (disable, evacuate)`);
  await xenFacade(client).host.disable(ref);
  try {
    await xenFacade(client).host.evacuate(ref);
  } catch (e) {
    if (isXenApiError(e)) say(`xen:Host ${name}: evacuation failed; the host stays disabled`);
    throw e;
  }
  for (const line of await groupsSharingHosts(client)) say(`xen:Host ${name}: ${line}`);
}

/**
 * The pool places anti-affinity members apart where capacity allows, and otherwise beside each other: after an
 * evacuation, say which members now share a host.
 */
async function groupsSharingHosts(client: FacadeClient): Promise<string[]> {
  const xen = xenFacade(client);
  const lines: string[] = [];
  // The client hands get_all_records of the classes it reads back as a Map.
  const all: unknown = await xen.VM_group.get_all_records().catch(() => new Map());
  const groups = all instanceof Map ? [...all.values()] : Object.values(all as Record<string, unknown>);
  for (const g of groups as Array<Record<string, unknown>>) {
    if (g.placement !== "anti_affinity") continue;
    const byHost = new Map<string, string[]>();
    const before = lines.length;
    for (const vmRef of (g.VMs as string[] | undefined) ?? []) {
      const vm = await record(client, "VM", vmRef).catch(() => undefined);
      if (!vm || vm.power_state !== "Running") continue;
      const host = String(vm.resident_on);
      byHost.set(host, [...(byHost.get(host) ?? []), vm.name_label ?? vm.uuid]);
    }
    for (const [host, names] of byHost) {
      if (names.length < 2) continue;
      const h = await record(client, "host", host).catch(() => ({ name_label: host }));
      lines.push(
        `anti-affinity group ${String(g.name_label)}: ${names.join(", ")} share ${h.name_label} (no other host had room)`,
      );
    }
    if (byHost.size > 0 && lines.length === before)
      lines.push(`anti-affinity group ${String(g.name_label)}: members kept on different hosts`);
  }
  return lines;
}

async function apply(client: FacadeClient, ref: string, news: HostInputs) {
  const host = await record(client, "host", ref);
  if (news.nameLabel !== undefined && host.name_label !== news.nameLabel)
    await xenFacade(client).host.set_name_label(ref, news.nameLabel);
  const tags = [...refs(host, "tags")].sort();
  if (JSON.stringify(tags) !== JSON.stringify([...news.tags].sort()))
    await xenFacade(client).host.set_tags(ref, news.tags);
  const enabled = host.enabled === true;
  const name = news.nameLabel ?? host.name_label ?? news.address;
  if (news.maintenance) {
    const resident = await nonControlVms((cls, r) => record(client, cls, r), ref);
    if (enabled || resident.length > 0) await enterMaintenance(client, ref, name);
  } else if (news.enabled && !enabled) {
    say(`xen:Host ${name}: enabling`);
    await xenFacade(client).host.enable(ref);
  } else if (!news.enabled && enabled) {
    say(`xen:Host ${name}: disabling (running VMs keep running)`);
    await xenFacade(client).host.disable(ref);
  }
}

async function nonControlVms(read: Reader, ref: string): Promise<string[]> {
  const host = await read("host", ref);
  const uuids: string[] = [];
  for (const vmRef of refs(host, "resident_VMs")) {
    const vm = await read("VM", vmRef);
    if (vm.is_control_domain !== true) uuids.push(vm.uuid);
  }
  return uuids.sort();
}

/** The host as it is, read through `read` (the inventory on refresh); only the free memory is asked of xapi. */
async function observe(client: FacadeClient, read: Reader, ref: string, desired: HostInputs): Promise<HostState> {
  const host = await read("host", ref);
  const metrics = await read("host_metrics", host.metrics as string);
  const enabled = host.enabled === true;
  const residentVmUuids = await nonControlVms(read, ref);
  return JSON.parse(
    JSON.stringify({
      ...desired,
      nameLabel: desired.nameLabel !== undefined ? host.name_label : undefined,
      tags: [...refs(host, "tags")].sort(),
      // Maintenance is observed as: disabled with nothing left on it.
      maintenance: desired.maintenance ? !enabled && residentVmUuids.length === 0 : false,
      enabled: desired.maintenance ? desired.enabled : enabled,
      uuid: host.uuid,
      hvmCapable: refs(host, "capabilities").some((c) => c.includes("hvm")),
      cpuCount: Number(map(host, "cpu_info").cpu_count ?? 0),
      memoryTotal: num(metrics, "memory_total"),
      memoryFree: Number(await xenFacade(client).host.compute_free_memory(ref)),
      residentVmUuids,
    }),
  ) as HostState;
}

/** The Host provider over the connections of `ctx` (built by configure() from the stack config). */
export function hostProvider(ctx: ProviderContext): dynamic.ResourceProvider {
  const clientFor = (url?: string) => ctx.connections.clientFor(url);
  return {
    async configure(req) {
      ctx.configure(req.config);
    },
    async check(_olds, news) {
      const r = checkInputs(hostInputSchema, news, HOST_OUTPUT_KEYS);
      return r.failures.length > 0 ? { failures: r.failures } : { inputs: r.inputs };
    },
    async diff(_id, olds, news) {
      const plan = planByKeys(olds, news, HOST_INPUT_KEYS, HOST_REPLACE_KEYS);
      if (plan.changed.length > 0) {
        const what = plan.replaces.length
          ? "replace (another host)"
          : news.maintenance !== olds.maintenance
            ? news.maintenance
              ? "enter maintenance (disable + live evacuation)"
              : "leave maintenance (enable)"
            : "update in place";
        say(`xen:Host ${String(news.address)}: ${what}: ${plan.changed.join(", ")}`);
      }
      return { changes: plan.changed.length > 0, replaces: plan.replaces };
    },
    async create(inputs) {
      const news = inputsOf<HostInputs>(inputs);
      const deadline = phaseDeadline(news, "create", DEFAULT_PHASE_MS);
      const client = deadline.bound(clientFor(news.url));
      const ref =
        (await findByAddress(client, news.address)) ??
        (await join(ctx.connections, client, news.address, news.url, deadline));
      await apply(client, ref, news);
      const outs = await observe(client, direct(client), ref, news);
      return { id: outs.uuid, outs };
    },
    async read(id, props) {
      const olds = props as HostState;
      const client = clientFor(olds.url);
      // Refresh reads from the pool's inventory, as the Vm provider does.
      const inventory = await ctx.connections.inventoryFor(olds.url);
      const ref = inventory.byUuid("host", id)?.ref;
      if (!ref) return {}; // ejected out of band
      return readResult(id, await observe(client, cached(inventory, client), ref, olds), HOST_OUTPUT_KEYS);
    },
    async update(id, _olds, newsRaw) {
      const news = inputsOf<HostInputs>(newsRaw);
      const ref = await clientFor(news.url).getByUuid("host", id);
      const client = phaseDeadline(news, "update", DEFAULT_PHASE_MS).bound(clientFor(news.url));
      await apply(client, ref, news);
      return { outs: await observe(client, direct(client), ref, news) };
    },
    async delete(id, props) {
      const olds = props as HostState;
      if (!olds.ejectOnDelete) {
        say(`xen:Host ${olds.address}: left in the pool (set ejectOnDelete: true to eject it on delete)`);
        return;
      }
      const client = phaseDeadline(olds, "delete", DEFAULT_PHASE_MS).bound(clientFor(olds.url));
      try {
        const ref = await clientFor(olds.url).getByUuid("host", id);
        say(`xen:Host ${olds.address}: ejecting from the pool (${formatSize(olds.memoryTotal)} leaves the pool)`);
        await xenFacade(client).pool.eject(ref);
      } catch (e) {
        if (isGone(e)) return;
        throw e;
      }
    },
  };
}

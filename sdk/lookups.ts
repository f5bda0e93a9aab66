/**
 * Lookups run in the program (dynamic providers cannot serve invokes): one XenAPI session per program run,
 * configured like the provider (stack config xen:*, overridden by XEN_* environment variables).
 */
import * as pulumi from "@pulumi/pulumi";
import { Connections, settingsFrom } from "../provider/connection";
import { xenFacade, type XenApiClient } from "../provider/xenapi";

export interface LookupArgs {
  /** name_label of the object (exactly one must match), or give `uuid`. */
  nameLabel?: string;
  uuid?: string;
  /** Another pool's master URL; default xen:url / XEN_URL. */
  url?: string;
}

/** The program's own connections, built on first use from the stack config. */
let connections: Connections | undefined;
const closing = new Set<XenApiClient>();

function client(url?: string): XenApiClient {
  connections ??= new Connections(settingsFrom({ get: (key: string) => pulumi.runtime.getConfig(key) }));
  const c = connections.clientFor(url);
  if (!closing.has(c)) {
    closing.add(c);
    process.once("beforeExit", () => void c.close().catch(() => undefined));
  }
  return c;
}

async function lookup(
  cls: "VM" | "host" | "network" | "SR",
  what: string,
  args: LookupArgs,
  filter: (r: Record<string, unknown>) => boolean,
) {
  const c = client(args.url);
  if (args.uuid) {
    const ref = await c.getByUuid(cls, args.uuid);
    return { ref, rec: (await c.getRecord(cls, ref)) as unknown as Record<string, unknown> };
  }
  if (!args.nameLabel) throw new Error(`${what}: give nameLabel or uuid`);
  const found: Array<{ ref: string; rec: Record<string, unknown> }> = [];
  const named: string[] = await xenFacade(c)[cls].get_by_name_label(args.nameLabel);
  for (const ref of named) {
    const rec = (await c.getRecord(cls, ref)) as unknown as Record<string, unknown>;
    if (filter(rec)) found.push({ ref, rec });
  }
  if (found.length !== 1)
    throw new Error(
      `${what}: ${found.length === 0 ? "nothing" : `${found.length} objects`} named "${args.nameLabel}" at ${c.url}`,
    );
  return found[0]!;
}

export interface TemplateInfo {
  uuid: string;
  nameLabel: string;
  domainType: string;
  /** Whether guests from it report PV drivers (clean shutdown, live vCPU changes). */
  hasPvDrivers: boolean;
}

export async function getTemplate(args: LookupArgs): Promise<TemplateInfo> {
  const { rec } = await lookup("VM", "getTemplate", args, (r) => r.is_a_template === true);
  const oc = (rec.other_config ?? {}) as Record<string, string>;
  return {
    uuid: String(rec.uuid),
    nameLabel: String(rec.name_label),
    domainType: String(rec.domain_type ?? ""),
    hasPvDrivers: oc["pv-drivers"] !== "false",
  };
}

export interface HostInfo {
  uuid: string;
  nameLabel: string;
  address: string;
  enabled: boolean;
  hvmCapable: boolean;
  cpuCount: number;
}

export async function getHost(args: LookupArgs & { address?: string }): Promise<HostInfo> {
  let found;
  if (args.address) {
    const c = client(args.url);
    const all = await c.getAllRecords("host");
    const match = [...all].find(([, h]) => (h as unknown as Record<string, unknown>).address === args.address);
    if (!match) throw new Error(`getHost: no host with address ${args.address} in the pool at ${c.url}`);
    found = { rec: match[1] as unknown as Record<string, unknown> };
  } else found = await lookup("host", "getHost", args, () => true);
  const rec = found.rec;
  return {
    uuid: String(rec.uuid),
    nameLabel: String(rec.name_label),
    address: String(rec.address),
    enabled: rec.enabled === true,
    hvmCapable: ((rec.capabilities ?? []) as string[]).some((c) => c.includes("hvm")),
    cpuCount: Number(((rec.cpu_info ?? {}) as Record<string, string>).cpu_count ?? 0),
  };
}

export interface NetworkInfo {
  uuid: string;
  nameLabel: string;
  bridge: string;
}

export async function getNetwork(args: LookupArgs): Promise<NetworkInfo> {
  const { rec } = await lookup("network", "getNetwork", args, () => true);
  return { uuid: String(rec.uuid), nameLabel: String(rec.name_label), bridge: String(rec.bridge ?? "") };
}

export interface SrInfo {
  uuid: string;
  nameLabel: string;
  type: string;
  shared: boolean;
  physicalSize: number;
  physicalUtilisation: number;
}

export async function getSr(args: LookupArgs): Promise<SrInfo> {
  const { rec } = await lookup("SR", "getSr", args, () => true);
  return {
    uuid: String(rec.uuid),
    nameLabel: String(rec.name_label),
    type: String(rec.type ?? ""),
    shared: rec.shared === true,
    physicalSize: Number(rec.physical_size ?? 0),
    physicalUtilisation: Number(rec.physical_utilisation ?? 0),
  };
}

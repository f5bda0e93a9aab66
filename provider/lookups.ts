/**
 * Lookups of pool objects by name_label or UUID: what the SDK's getTemplate/getHost/getNetwork/getSr run in the
 * program, and what the native provider answers to Invoke. Reads only.
 */
import { xenFacade, type XenApiClient } from "./xenapi";

export interface LookupArgs {
  /** name_label of the object (exactly one must match), or give `uuid`. */
  nameLabel?: string;
  /** UUID of the object (instead of nameLabel). */
  uuid?: string;
  /** Another pool's master URL; default xen:url / XEN_URL. */
  url?: string;
}

/** getHost may also find the host by its management address. */
export interface HostLookupArgs extends LookupArgs {
  /** Management address of the host (instead of nameLabel or uuid). */
  address?: string;
}

async function lookup(
  c: XenApiClient,
  cls: "VM" | "host" | "network" | "SR",
  what: string,
  args: LookupArgs,
  filter: (r: Record<string, unknown>) => boolean,
) {
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

/** A VM template. */
export interface TemplateInfo {
  /** The template's UUID. */
  uuid: string;
  /** The template's name_label. */
  nameLabel: string;
  /** The domain type VMs from it run as (`hvm`, `pv`, `pvh`...). */
  domainType: string;
  /** Whether guests from it report PV drivers (clean shutdown, live vCPU changes). */
  hasPvDrivers: boolean;
}

export async function getTemplate(c: XenApiClient, args: LookupArgs): Promise<TemplateInfo> {
  const { rec } = await lookup(c, "VM", "getTemplate", args, (r) => r.is_a_template === true);
  const oc = (rec.other_config ?? {}) as Record<string, string>;
  return {
    uuid: String(rec.uuid),
    nameLabel: String(rec.name_label),
    domainType: String(rec.domain_type ?? ""),
    hasPvDrivers: oc["pv-drivers"] !== "false",
  };
}

/** A host of the pool. */
export interface HostInfo {
  /** The host's UUID. */
  uuid: string;
  /** The host's name_label. */
  nameLabel: string;
  /** The host's management address. */
  address: string;
  /** Whether the host takes new VMs (false when disabled or in maintenance). */
  enabled: boolean;
  /** Whether the host can run HVM guests. */
  hvmCapable: boolean;
  /** Physical CPUs of the host. */
  cpuCount: number;
}

export async function getHost(c: XenApiClient, args: HostLookupArgs): Promise<HostInfo> {
  let found;
  if (args.address) {
    const all = await c.getAllRecords("host");
    const match = [...all].find(([, h]) => (h as unknown as Record<string, unknown>).address === args.address);
    if (!match) throw new Error(`getHost: no host with address ${args.address} in the pool at ${c.url}`);
    found = { rec: match[1] as unknown as Record<string, unknown> };
  } else found = await lookup(c, "host", "getHost", args, () => true);
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

/** A network of the pool. */
export interface NetworkInfo {
  /** The network's UUID. */
  uuid: string;
  /** The network's name_label. */
  nameLabel: string;
  /** The bridge the network is on (e.g. xenbr0). */
  bridge: string;
}

export async function getNetwork(c: XenApiClient, args: LookupArgs): Promise<NetworkInfo> {
  const { rec } = await lookup(c, "network", "getNetwork", args, () => true);
  return { uuid: String(rec.uuid), nameLabel: String(rec.name_label), bridge: String(rec.bridge ?? "") };
}

/** A storage repository. */
export interface SrInfo {
  /** The SR's UUID. */
  uuid: string;
  /** The SR's name_label. */
  nameLabel: string;
  /** The SR type (`nfs`, `ext`, `lvm`, `iso`...). */
  type: string;
  /** Whether every host of the pool sees it (needed for live migration and HA). */
  shared: boolean;
  /** Size in bytes. */
  physicalSize: number;
  /** Bytes used. */
  physicalUtilisation: number;
}

export async function getSr(c: XenApiClient, args: LookupArgs): Promise<SrInfo> {
  const { rec } = await lookup(c, "SR", "getSr", args, () => true);
  return {
    uuid: String(rec.uuid),
    nameLabel: String(rec.name_label),
    type: String(rec.type ?? ""),
    shared: rec.shared === true,
    physicalSize: Number(rec.physical_size ?? 0),
    physicalUtilisation: Number(rec.physical_utilisation ?? 0),
  };
}

/**
 * What cloud-init in a booting guest makes of a NoCloud drive: an ISO 9660 volume labelled `cidata` (either
 * case) holding `meta-data`, `user-data` and, optionally, `network-config` at its root (cloud-init's
 * DataSourceNoCloud). Pure: the image's bytes in, the hostname and static addresses the guest ends up with out.
 */
import { parseDocument } from "yaml";
import { IsoFormatError, fileBytes, findFile, hasVolumeLabel, isIso9660, readIso } from "./iso9660";

export const NOCLOUD_LABEL = "cidata";

/** One interface's static configuration: how the guest finds the NIC, and its addresses (no prefix length). */
export interface StaticInterface {
  /** interface name in the config (`eth0`, `enX0`, a v2 id); its trailing number is the VIF device */
  name?: string;
  /** lower-case MAC the config matches on, when it gives one */
  mac?: string;
  ipv4: string[];
  ipv6: string[];
  /** the interface also asks DHCP for an IPv4 address */
  dhcp4: boolean;
}

export interface NoCloudSeed {
  instanceId: string;
  /** the system hostname cloud-init sets (short, unless `prefer_fqdn_over_hostname`); undefined: left alone */
  hostname?: string;
  /** the DNS domain from the fqdn, when there is one */
  domain?: string;
  /** static interface configuration from `network-config` (v1 or v2); undefined when the drive has none */
  interfaces?: StaticInterface[];
}

/** True when the bytes are an ISO 9660 image whose volume label is `cidata`. */
export function isNoCloudDrive(data: Buffer): boolean {
  if (!isIso9660(data)) return false;
  try {
    return hasVolumeLabel(readIso(data), NOCLOUD_LABEL);
  } catch (e) {
    if (e instanceof IsoFormatError) return false;
    throw e;
  }
}

/**
 * Reads a NoCloud seed, or undefined when the drive is not one or lacks `meta-data` (without which cloud-init
 * does not take the datasource).
 */
export function readNoCloud(data: Buffer): NoCloudSeed | undefined {
  if (!isIso9660(data)) return undefined;
  let text: (name: string) => string | undefined;
  try {
    const vol = readIso(data);
    if (!hasVolumeLabel(vol, NOCLOUD_LABEL)) return undefined;
    text = (name) => {
      const f = findFile(vol, name);
      return f ? fileBytes(data, f).toString("utf8") : undefined;
    };
  } catch (e) {
    if (e instanceof IsoFormatError) return undefined;
    throw e;
  }
  const metaText = text("meta-data");
  if (metaText === undefined) return undefined;
  const meta = asMap(yaml(metaText));
  const userText = text("user-data") ?? "";
  // Only a #cloud-config part sets the hostname; scripts, MIME archives and the like are left aside.
  const user = /^#cloud-config\b/.test(userText.trimStart()) ? asMap(yaml(userText)) : {};
  const netText = text("network-config");
  const seed: NoCloudSeed = { instanceId: str(meta["instance-id"]) ?? "iid-datasource-nocloud" };
  Object.assign(seed, hostnameOf(user, meta));
  if (netText !== undefined) {
    const interfaces = networkConfig(yaml(netText));
    if (interfaces) seed.interfaces = interfaces;
  }
  return seed;
}

/** YAML as cloud-init reads it (PyYAML safe_load: YAML 1.1); unreadable text reads as nothing. */
function yaml(text: string): unknown {
  const doc = parseDocument(text, { version: "1.1", prettyErrors: false });
  if (doc.errors.length > 0) return undefined;
  return doc.toJS({ maxAliasCount: 100 }) as unknown;
}

type Fields = Record<string, unknown>;

function asMap(v: unknown): Fields {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Fields) : {};
}

function str(v: unknown): string | undefined {
  if (typeof v === "string") return v.trim() || undefined;
  if (typeof v === "number") return String(v);
  return undefined;
}

/**
 * cloud-init's get_hostname_fqdn: `fqdn` first, then a dotted `hostname`, else `hostname` with the datasource's
 * `local-hostname` for the fqdn; `preserve_hostname` leaves the system's own name.
 */
function hostnameOf(user: Fields, meta: Fields): { hostname?: string; domain?: string } {
  if (user.preserve_hostname === true) return {};
  const cfgFqdn = str(user.fqdn);
  const cfgHost = str(user.hostname);
  const local = str(meta["local-hostname"]) ?? str(meta.hostname);
  let hostname: string | undefined;
  let fqdn: string | undefined;
  if (cfgFqdn) {
    fqdn = cfgFqdn;
    hostname = cfgHost ?? cfgFqdn.split(".")[0];
  } else if (cfgHost && cfgHost.indexOf(".") > 0) {
    fqdn = cfgHost;
    hostname = cfgHost.slice(0, cfgHost.indexOf("."));
  } else {
    fqdn = local;
    hostname = cfgHost ?? local?.split(".")[0];
  }
  if (!hostname) return {};
  if (user.prefer_fqdn_over_hostname === true && fqdn) hostname = fqdn;
  const short = hostname.split(".")[0]!;
  const domain = fqdn && fqdn.startsWith(`${short}.`) ? fqdn.slice(short.length + 1) : undefined;
  return domain ? { hostname: short, domain } : { hostname };
}

/** Network config v1 (`config:` list) or v2 (`ethernets:`), bare or under a `network:` key. */
function networkConfig(v: unknown): StaticInterface[] | undefined {
  let root = asMap(v);
  if (root.network && typeof root.network === "object") root = asMap(root.network);
  if (Number(root.version) === 1 && Array.isArray(root.config)) return v1(root.config);
  if (Number(root.version) === 2) return v2(asMap(root.ethernets));
  return undefined;
}

function v1(config: unknown[]): StaticInterface[] {
  const out: StaticInterface[] = [];
  for (const item of config.map(asMap)) {
    if (item.type !== "physical") continue;
    const iface = emptyInterface(str(item.name), str(item.mac_address));
    for (const subnet of Array.isArray(item.subnets) ? item.subnets.map(asMap) : []) {
      const type = str(subnet.type) ?? "";
      if (type === "dhcp" || type === "dhcp4") iface.dhcp4 = true;
      if (type !== "static" && type !== "static6") continue;
      const address = str(subnet.address);
      if (address) addAddress(iface, address);
      for (const extra of Array.isArray(subnet.addresses) ? subnet.addresses : []) {
        const a = str(extra);
        if (a) addAddress(iface, a);
      }
    }
    out.push(iface);
  }
  return out;
}

function v2(ethernets: Fields): StaticInterface[] {
  const out: StaticInterface[] = [];
  for (const [id, raw] of Object.entries(ethernets)) {
    const eth = asMap(raw);
    const match = asMap(eth.match);
    const name = str(eth["set-name"]) ?? str(match.name) ?? id;
    const iface = emptyInterface(name, str(match.macaddress));
    iface.dhcp4 = eth.dhcp4 === true;
    for (const a of Array.isArray(eth.addresses) ? eth.addresses : []) {
      // An address is a string, or a map of one address to its options (lifetime, label).
      const text = str(a) ?? Object.keys(asMap(a))[0];
      if (text) addAddress(iface, text);
    }
    out.push(iface);
  }
  return out;
}

function emptyInterface(name: string | undefined, mac: string | undefined): StaticInterface {
  return {
    ...(name ? { name } : {}),
    ...(mac ? { mac: mac.toLowerCase() } : {}),
    ipv4: [],
    ipv6: [],
    dhcp4: false,
  };
}

function addAddress(iface: StaticInterface, cidr: string): void {
  const address = cidr.split("/")[0]!.trim();
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) iface.ipv4.push(address);
  else if (address.includes(":")) iface.ipv6.push(address);
}

/** The VIF device an interface name stands for: its trailing number (eth0, ens3 -> 3, enX0). */
export function interfaceDevice(name: string | undefined): string | undefined {
  const m = /(\d+)$/.exec(name ?? "");
  return m ? String(Number(m[1])) : undefined;
}

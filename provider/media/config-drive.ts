/**
 * A cloud-init NoCloud config drive: an ISO 9660 image labelled `cidata` holding `user-data`, `meta-data` and,
 * when given, `network-config` (cloud-init's NoCloud datasource reads it at boot). Pure: the same inputs give the
 * same bytes.
 */
import { createHash } from "node:crypto";
import { buildIso } from "./iso9660";

export const CONFIG_DRIVE_LABEL = "cidata";

export interface CloudInit {
  userData: string;
  metaData?: string | undefined;
  networkConfig?: string | undefined;
}

/**
 * Without `metaData`, the meta-data names the instance after the content (so that a changed config is applied at
 * the next boot: cloud-init runs its per-instance modules again for a new instance-id) and the host after the VM.
 */
export function defaultMetaData(config: CloudInit, hostname: string): string {
  const id = createHash("sha256")
    .update(JSON.stringify([config.userData, config.networkConfig ?? ""]))
    .digest("hex")
    .slice(0, 16);
  return `instance-id: pulumi-xen-${id}\nlocal-hostname: ${hostname}\n`;
}

/** A host name cloud-init accepts from the VM's name: letters, digits and dashes, at most 63. */
export function hostnameOf(nameLabel: string): string {
  const h = nameLabel
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
  return h || "localhost";
}

export function configDriveImage(config: CloudInit, hostname: string): Buffer {
  const files = [
    { name: "user-data", content: Buffer.from(config.userData) },
    { name: "meta-data", content: Buffer.from(config.metaData ?? defaultMetaData(config, hostname)) },
  ];
  if (config.networkConfig !== undefined)
    files.push({ name: "network-config", content: Buffer.from(config.networkConfig) });
  return buildIso(CONFIG_DRIVE_LABEL, files);
}

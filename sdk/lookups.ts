/**
 * Lookups run in the program (dynamic providers cannot serve invokes): one XenAPI session per program run,
 * configured like the provider (stack config xen:*, overridden by XEN_* environment variables). The lookups
 * themselves are the provider's (provider/lookups.ts), which the native provider also serves as functions.
 */
import * as pulumi from "@pulumi/pulumi";
import { Connections, settingsFrom } from "../provider/connection";
import * as lookups from "../provider/lookups";
import type { XenApiClient } from "../provider/xenapi";

export type { LookupArgs, HostLookupArgs, TemplateInfo, HostInfo, NetworkInfo, SrInfo } from "../provider/lookups";

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

/** A template by name_label or UUID. */
export const getTemplate = (args: lookups.LookupArgs) => lookups.getTemplate(client(args.url), args);
/** A host by name_label, UUID or management address. */
export const getHost = (args: lookups.HostLookupArgs) => lookups.getHost(client(args.url), args);
/** A network by name_label or UUID. */
export const getNetwork = (args: lookups.LookupArgs) => lookups.getNetwork(client(args.url), args);
/** An SR by name_label or UUID. */
export const getSr = (args: lookups.LookupArgs) => lookups.getSr(client(args.url), args);

/**
 * The native provider's behaviour, independent of gRPC: the same Pool, Host and Vm providers the dynamic
 * resources use (one implementation, two front doors), addressed by resource token, with the provider's own
 * configuration (xen:url, xen:username, xen:password...) given by the engine instead of read from the stack.
 *
 * Values arrive as plain JavaScript with the engine's markers: unknowns (preview) as UNKNOWN, secrets (only in
 * CheckConfig, before the engine knows this provider takes none) as the secret signature object.
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { CONFIG_KEYS, ProviderContext, settingsFrom } from "../connection";
import * as lookups from "../lookups";
import { hostProvider } from "../resources/host";
import { poolProvider } from "../resources/pool";
import { imageProvider } from "../resources/image";
import { templateProvider } from "../resources/template";
import { vmGroupProvider } from "../resources/vm-group";
import { applianceProvider } from "../resources/appliance";
import { snapshotProvider } from "../resources/snapshot";
import { vmProvider } from "../resources/vm";
import { PACKAGE, RESOURCES, resourceOfUrn, type ResourceName } from "./tokens";

/** The functions Invoke serves (`xen:index:getTemplate`...): the lookups the TypeScript SDK runs in the program. */
const FUNCTIONS = {
  getTemplate: lookups.getTemplate,
  getHost: lookups.getHost,
  getNetwork: lookups.getNetwork,
  getSr: lookups.getSr,
} as const;

/** The engine's marker of a secret value in a struct (sdk/go/common/resource/sig). */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export function isSecret(v: unknown): v is { value: unknown } {
  return !!v && typeof v === "object" && (v as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE;
}

export function secret(value: unknown): Record<string, unknown> {
  return { [SECRET_SIG]: SECRET_VALUE, value };
}

/** The value with every secret marker removed. */
export function reveal(v: unknown): unknown {
  if (isSecret(v)) return reveal(v.value);
  if (Array.isArray(v)) return v.map(reveal);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)]));
  return v;
}

const SECRET_CONFIG = new Set<string>(["password"]);

export interface CheckFailure {
  property: string;
  reason: string;
}

export class XenPlugin {
  private readonly context = new ProviderContext();
  private readonly providers: Record<ResourceName, dynamic.ResourceProvider> = {
    Pool: poolProvider(this.context),
    Host: hostProvider(this.context),
    Vm: vmProvider(this.context),
    Image: imageProvider(this.context),
    Template: templateProvider(this.context),
    VmGroup: vmGroupProvider(this.context),
    Appliance: applianceProvider(this.context),
    Snapshot: snapshotProvider(this.context),
  };

  /** Validates the provider's configuration. The password is kept secret whether or not it was given as one. */
  checkConfig(news: Record<string, unknown>): { inputs: Record<string, unknown>; failures: CheckFailure[] } {
    const failures: CheckFailure[] = [];
    const inputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(news)) {
      if (k === "version" || k.startsWith("__")) {
        inputs[k] = v;
        continue;
      }
      if (!(CONFIG_KEYS as readonly string[]).includes(k)) {
        failures.push({ property: k, reason: `unknown setting; the settings are ${CONFIG_KEYS.join(", ")}` });
        continue;
      }
      const plain = reveal(v);
      if (
        k === "insecure"
          ? typeof plain !== "boolean" && plain !== "true" && plain !== "false"
          : typeof plain !== "string"
      )
        failures.push({ property: k, reason: k === "insecure" ? "must be true or false" : "must be a string" });
      inputs[k] = SECRET_CONFIG.has(k) && !isSecret(v) ? secret(v) : v;
    }
    try {
      if (failures.length === 0) settingsFrom(this.configSource(inputs));
    } catch (e) {
      failures.push({ property: "timeout", reason: (e as Error).message });
    }
    return { inputs, failures };
  }

  /** The connection settings for every call that follows (XEN_* environment variables still win). */
  configure(args: Record<string, unknown>): void {
    this.context.configure(this.configSource(args));
  }

  private configSource(args: Record<string, unknown>) {
    return {
      get: (key: string) => {
        const v = reveal(args[key.replace(/^xen:/, "")]);
        return v === undefined || v === null ? undefined : String(v);
      },
    };
  }

  private provider(urn: string): dynamic.ResourceProvider {
    const name = resourceOfUrn(urn);
    if (!name) throw new Error(`unknown resource type in ${urn}: this provider serves ${RESOURCES.join(", ")}`);
    return this.providers[name];
  }

  /**
   * Checks a resource's inputs. The ownership key (what a retried create finds its VM by) is the one in the state
   * when there is one, so that a resource moved here from the dynamic provider keeps its identity; else the URN.
   */
  async check(urn: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
    const withKey = resourceOfUrn(urn) === "Vm" ? { ...news, ownershipKey: olds.ownershipKey ?? urn } : news;
    const result = await this.provider(urn).check!(olds, withKey);
    return { inputs: result.inputs ?? withKey, failures: [...(result.failures ?? [])] };
  }

  diff(id: string, urn: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
    return this.provider(urn).diff!(id, olds, news);
  }

  create(urn: string, inputs: Record<string, unknown>) {
    return this.provider(urn).create(inputs);
  }

  /** Refresh, and import when `props` is empty: the result's inputs are what the program must say for no diff. */
  read(id: string, urn: string, props: Record<string, unknown>) {
    return this.provider(urn).read!(id, props);
  }

  update(id: string, urn: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
    return this.provider(urn).update!(id, olds, news);
  }

  async delete(id: string, urn: string, props: Record<string, unknown>): Promise<void> {
    await this.provider(urn).delete!(id, props);
  }

  /** A lookup; a failure (nothing or several objects match) is a failure of the call, said with the name. */
  async invoke(tok: string, args: Record<string, unknown>): Promise<{ outputs?: unknown; failures: CheckFailure[] }> {
    const name = tok.startsWith(`${PACKAGE}:index:`) ? tok.slice(PACKAGE.length + 7) : "";
    const fn = (FUNCTIONS as Record<string, (c: never, a: never) => Promise<unknown>>)[name];
    if (!fn) throw new Error(`unknown function ${tok}: this provider serves ${Object.keys(FUNCTIONS).join(", ")}`);
    const plain = reveal(args) as lookups.HostLookupArgs;
    const client = this.context.connections.clientFor(plain.url);
    try {
      return { outputs: await fn(client as never, plain as never), failures: [] };
    } catch (e) {
      return {
        failures: [{ property: plain.nameLabel !== undefined ? "nameLabel" : "uuid", reason: (e as Error).message }],
      };
    }
  }

  close(): Promise<void> {
    return this.context.close();
  }
}

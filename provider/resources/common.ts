/** Helpers shared by the Pool, Host and Vm resource providers: lookups by name or UUID, ownership, errors. */
import type { Inventory, XenApiClient, XenClass } from "../xenapi";
import { isXenApiError, xenFacade } from "../xenapi";
import { ProviderError } from "./errors";

/** other_config key that marks what a stack created, so a retried create adopts instead of duplicating. */
export const OWNER_KEY = "pulumi-xen.owner";
export const NULL_REF = "OpaqueRef:NULL";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID_RE.test(s);
export const isNullRef = (r: unknown): boolean => r === null || r === undefined || r === "" || r === NULL_REF;

/** Checked inputs as the provider methods receive them, without the engine's `__provider` key. */
export function inputsOf<T>(news: Record<string, unknown>): T {
  const { __provider: _provider, ...rest } = news;
  return rest as unknown as T;
}

/** The loosely typed view of a record used here; the client validates the fields it relies on. */
export type Rec = Record<string, unknown> & { uuid: string; name_label?: string };

export const str = (r: Rec, k: string): string => (typeof r[k] === "string" ? (r[k] as string) : "");
export const num = (r: Rec, k: string): number => Number(r[k] ?? 0);
export const refs = (r: Rec, k: string): string[] => (Array.isArray(r[k]) ? (r[k] as string[]) : []);
export const map = (r: Rec, k: string): Record<string, string> =>
  r[k] && typeof r[k] === "object" ? (r[k] as Record<string, string>) : {};

export async function record(client: Pick<XenApiClient, "getRecord">, cls: XenClass, ref: string): Promise<Rec> {
  return (await client.getRecord(cls, ref)) as unknown as Rec;
}

/** Reads one record: straight from the pool, or from the inventory cache. */
export type Reader = (cls: XenClass, ref: string) => Promise<Rec>;

/** Straight from the pool. */
export const direct =
  (client: Pick<XenApiClient, "getRecord">): Reader =>
  (cls, ref) =>
    record(client, cls, ref);

/** From the cache, falling back to a direct read for anything the cache has not seen. */
export const cached =
  (inventory: Inventory, client: XenApiClient): Reader =>
  async (cls, ref) =>
    (inventory.get(cls, ref) as unknown as Rec | undefined) ?? record(client, cls, ref);

/** Finds one object by UUID or name_label; says clearly when there is none or more than one. */
/** The classes whose objects a program names (by name_label or UUID). */
export type NamedClass = "VM" | "host" | "SR" | "network";

export async function resolveRef(
  client: XenApiClient,
  cls: NamedClass,
  nameOrUuid: string,
  what: string,
  filter: (r: Rec) => boolean = () => true,
  /** Names rarely change: answer from this inventory when it knows exactly one match. */
  inventory?: Inventory,
): Promise<string> {
  if (inventory) {
    const matches = [...inventory.all(cls)].filter(([, r]) => {
      const rec = r as unknown as Rec;
      return (isUuid(nameOrUuid) ? rec.uuid === nameOrUuid : rec.name_label === nameOrUuid) && filter(rec);
    });
    if (matches.length === 1) return matches[0]![0];
  }
  if (isUuid(nameOrUuid)) {
    try {
      return await client.getByUuid(cls, nameOrUuid);
    } catch (e) {
      if (isXenApiError(e, "UUID_INVALID"))
        throw new ProviderError(`no ${cls} with UUID ${nameOrUuid}`, { path: what, code: "NOT_FOUND", cause: e });
      throw e;
    }
  }
  const refsFound: string[] = await xenFacade(client)[cls].get_by_name_label(nameOrUuid);
  const matches: string[] = [];
  for (const ref of refsFound) if (filter(await record(client, cls, ref))) matches.push(ref);
  if (matches.length === 0)
    throw new ProviderError(`no ${cls} named "${nameOrUuid}"`, { path: what, code: "NOT_FOUND" });
  if (matches.length > 1) {
    throw new ProviderError(`${matches.length} ${cls} objects are named "${nameOrUuid}"; name it by UUID instead`, {
      path: what,
      code: "AMBIGUOUS",
    });
  }
  return matches[0]!;
}

/** Reports an object the way the user named it: by UUID if they used a UUID, else by name_label. */
export function sameForm(userValue: string | undefined, r: Rec): string {
  return userValue !== undefined && isUuid(userValue) ? r.uuid : (r.name_label ?? r.uuid);
}

/**
 * The engine records a resource that was partly created when create/update throws an error carrying `id` and
 * `properties` (the dynamic provider host forwards them as ErrorResourceInitFailed); the next `up` then updates
 * it instead of creating a second one. `properties` must carry `__provider` or later reads cannot run.
 */
export function partialFailure(
  id: string,
  properties: Record<string, unknown>,
  provider: unknown,
  cause: unknown,
): Error & { id: string; properties: Record<string, unknown>; reasons: string[] } {
  const message = cause instanceof Error ? cause.message : String(cause);
  const err = new Error(message) as Error & { id: string; properties: Record<string, unknown>; reasons: string[] };
  err.id = id;
  err.properties = { ...properties, __provider: provider };
  err.reasons = [message];
  return err;
}

/** The ref of the object with this UUID, or undefined when it no longer exists. */
export async function refOrGone(client: XenApiClient, cls: XenClass, uuid: string): Promise<string | undefined> {
  try {
    return await client.getByUuid(cls, uuid);
  } catch (e) {
    if (isGone(e)) return undefined;
    throw e;
  }
}

/** A refresh result: the observed outputs, and the inputs realigned to them (ReadResult.inputs). */
export function readResult(id: string, outs: object, outputKeys: readonly string[]) {
  const props: Record<string, unknown> = { ...outs };
  const inputs: Record<string, unknown> = { ...outs };
  for (const k of outputKeys) delete inputs[k];
  return { id, props, inputs };
}

/** "Already gone" is success for deletes. */
export function isGone(e: unknown): boolean {
  return isXenApiError(e, "HANDLE_INVALID") || isXenApiError(e, "UUID_INVALID");
}

/** Runs `fn` with at most `limit` concurrent runs per key (per-host throttling inside the provider process). */
export class KeyedLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();
  constructor(private readonly limitFor: (key: string) => number) {}

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    while ((this.active.get(key) ?? 0) >= this.limitFor(key)) {
      await new Promise<void>((resolve) => this.waiting.set(key, [...(this.waiting.get(key) ?? []), resolve]));
    }
    this.active.set(key, (this.active.get(key) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      this.active.set(key, (this.active.get(key) ?? 1) - 1);
      const next = this.waiting.get(key)?.shift();
      next?.();
    }
  }
}

/** Provider diagnostics reach the user through the engine (stderr of the provider process). */
export function say(line: string): void {
  console.log(line);
}

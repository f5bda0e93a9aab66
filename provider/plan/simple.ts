/** Planners for Pool and Host: which inputs changed and which of them force a replacement. Pure. */
import { sameValue } from "./vm";

export interface SimplePlan {
  changed: string[];
  replaces: string[];
}

export function planByKeys(
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
  inputKeys: readonly string[],
  replaceKeys: readonly string[],
): SimplePlan {
  const changed = inputKeys.filter((k) => !sameValue(olds[k], news[k]));
  return { changed, replaces: changed.filter((k) => replaceKeys.includes(k)) };
}

export const POOL_INPUT_KEYS = [
  "nameLabel",
  "description",
  "defaultSr",
  "ha",
  "tags",
  "otherConfig",
  "timeouts",
  "url",
] as const;
export const POOL_REPLACE_KEYS = ["url"] as const;
export const HOST_INPUT_KEYS = [
  "address",
  "enabled",
  "maintenance",
  "nameLabel",
  "tags",
  "ejectOnDelete",
  "timeouts",
  "url",
] as const;
export const HOST_REPLACE_KEYS = ["address", "url"] as const;

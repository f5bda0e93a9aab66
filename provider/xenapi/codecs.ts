/**
 * The codecs records are read with. Wire quirks are normalised: ints may arrive as decimal strings (XML-RPC
 * heritage, and xapi accepts both), datetimes as `YYYYMMDDTHH:MM:SSZ`, `OpaqueRef:NULL` stands for "no object"
 * and becomes `null`.
 */
import { z } from "zod";
import { ENUMS } from "../../xenapi-model/classes";

export const NULL_REF = "OpaqueRef:NULL";

declare const refBrand: unique symbol;
/** An object reference of class C (`OpaqueRef:...`). Not a stable id: use `uuid` to remember objects. */
export type Ref<C extends string = string> = string & { readonly [refBrand]: C };

/** Marks a plain string as a ref of class C (no check beyond the type). */
export function asRef<C extends string>(_cls: C, ref: string): Ref<C> {
  return ref as Ref<C>;
}

// ---- scalar codecs -------------------------------------------------------------------------------------------

/** int: JSON number or decimal string -> number. */
export const xInt = z.union([
  z.number().refine(Number.isFinite, "expected a finite number"),
  z
    .string()
    .regex(/^\s*-?\d+\s*$/, "expected an integer")
    .transform((s) => Number(s.trim())),
]);

/** float: JSON number or numeric string -> number. */
export const xFloat = z.union([
  z.number(),
  z
    .string()
    .regex(/^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/, "expected a number")
    .transform((s) => Number(s.trim())),
]);

/** bool: JSON boolean, or "true"/"false"/"1"/"0". */
export const xBool = z.union([
  z.boolean(),
  z.enum(["true", "false", "1", "0"]).transform((s) => s === "true" || s === "1"),
]);

/** Parses XenAPI datetimes: `20240101T13:20:11Z`, with `±hh:mm`, with dashes, or without zone (UTC). */
export function parseXenDateTime(s: string): Date | undefined {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  const tz = !zone || zone === "Z" ? "Z" : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const date = new Date(`${y}-${mo}-${d}T${h}:${mi}:${sec}${frac ?? ""}${tz}`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export const xDateTime = z.union([
  z.date(),
  z.string().transform((s, ctx) => {
    const d = parseXenDateTime(s);
    if (d === undefined) {
      ctx.issues.push({ code: "custom", message: `invalid XenAPI datetime '${s}'`, input: s });
      return z.NEVER;
    }
    return d;
  }),
]);

/** A ref field: `OpaqueRef:NULL` (or "") -> null. */
export function xRef<C extends string>(_cls: C) {
  return z.string().transform((s): Ref<C> | null => (s === NULL_REF || s === "" ? null : (s as Ref<C>)));
}

/** A set of refs; null refs are dropped. */
export function xRefSet<C extends string>(_cls: C) {
  return z.array(z.string()).transform((a) => a.filter((s) => s !== NULL_REF && s !== "") as Ref<C>[]);
}

/** (string -> string) map; non-string values from sloppy encoders are stringified. */
export const xStrMap = z.record(
  z.string(),
  z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v)),
);

export const xStrSet = z.array(z.string());

/**
 * An enum we display but do not branch on: known values are typed, values from newer hosts pass through.
 * (Strict enums - power_state, task status - use z.enum and fail loudly instead.)
 */
export function looseEnum<const T extends readonly string[]>(_values: T) {
  return z.string().transform((s) => s as T[number] | (string & {}));
}

/** A set whose items are a loose enum. */
export function looseEnumSet<const T extends readonly string[]>(values: T) {
  return z.array(looseEnum(values));
}

// ---- enums ---------------------------------------------------------------------------------------------------

/** `{ A: "A", ... }` from a datamodel enum's values. */
function enumObject<const T extends readonly string[]>(values: T): { readonly [K in T[number]]: K } {
  return Object.fromEntries(values.map((v) => [v, v])) as { readonly [K in T[number]]: K };
}

export const VmPowerState = enumObject(ENUMS.vm_power_state);
export type VmPowerState = (typeof VmPowerState)[keyof typeof VmPowerState];

export const TaskStatus = enumObject(ENUMS.task_status_type);
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

export const DOMAIN_TYPES = ENUMS.domain_type;
export const VM_OPERATIONS = ENUMS.vm_operations;
export const HOST_OPERATIONS = ENUMS.host_allowed_operations;
export const VBD_MODES = ENUMS.vbd_mode;
export const VBD_TYPES = ENUMS.vbd_type;
export const VDI_TYPES = ENUMS.vdi_type;
export const IP_CONFIGURATION_MODES = ENUMS.ip_configuration_mode;
export const VIF_LOCKING_MODES = ENUMS.vif_locking_mode;

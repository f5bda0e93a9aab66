/**
 * The records we read: XenAPI field names as on the wire, each schema generated (record-schemas.ts, by
 * scripts/gen-records.ts) from the datamodel's field types and the fields we rely on (record-fields.ts). Unknown
 * fields pass through (a newer host adds fields). The codecs that normalise wire quirks are in codecs.ts.
 */
import { z } from "zod";
import { RECORD_CLASSES, type RecordClass } from "../../xenapi-model/classes";

/** The XenAPI classes this client reads, with their datamodel (wire) names: every modelled record class but
 * session, SM and VTPM (a VM's `VTPMs` refs are all the client needs of those). */
const UNREAD = ["session", "SM", "VTPM"] as const;
export const XEN_CLASSES = RECORD_CLASSES.filter(
  (c): c is Exclude<RecordClass, (typeof UNREAD)[number]> => !(UNREAD as readonly string[]).includes(c),
);
export type XenClass = (typeof XEN_CLASSES)[number];

/** Event classes are lowercase on the wire (`vm`, `vm_metrics`); this maps them back. */
export function xenClassFromWire(name: string): XenClass | undefined {
  const lower = name.toLowerCase();
  return XEN_CLASSES.find((c) => c.toLowerCase() === lower);
}

// ---- records -------------------------------------------------------------------------------------------------

export * from "./codecs";
export * from "./record-schemas";
import {
  HostMetricsRecordSchema,
  HostRecordSchema,
  MessageRecordSchema,
  NetworkRecordSchema,
  PbdRecordSchema,
  PifRecordSchema,
  PoolRecordSchema,
  SrRecordSchema,
  TaskRecordSchema,
  VbdRecordSchema,
  VdiRecordSchema,
  VifRecordSchema,
  VmGuestMetricsRecordSchema,
  VmMetricsRecordSchema,
  VmRecordSchema,
  VmGroupRecordSchema,
  VmApplianceRecordSchema,
} from "./record-schemas";

/** Schema per class. */
export const RECORD_SCHEMAS = {
  pool: PoolRecordSchema,
  host: HostRecordSchema,
  host_metrics: HostMetricsRecordSchema,
  VM: VmRecordSchema,
  VM_metrics: VmMetricsRecordSchema,
  VM_guest_metrics: VmGuestMetricsRecordSchema,
  VBD: VbdRecordSchema,
  VDI: VdiRecordSchema,
  SR: SrRecordSchema,
  PBD: PbdRecordSchema,
  network: NetworkRecordSchema,
  VIF: VifRecordSchema,
  PIF: PifRecordSchema,
  task: TaskRecordSchema,
  message: MessageRecordSchema,
  VM_group: VmGroupRecordSchema,
  VM_appliance: VmApplianceRecordSchema,
} as const satisfies Record<XenClass, z.ZodType>;

export type PoolRecord = z.output<typeof PoolRecordSchema>;
export type HostRecord = z.output<typeof HostRecordSchema>;
export type HostMetricsRecord = z.output<typeof HostMetricsRecordSchema>;
export type VmRecord = z.output<typeof VmRecordSchema>;
export type VmMetricsRecord = z.output<typeof VmMetricsRecordSchema>;
export type VmGuestMetricsRecord = z.output<typeof VmGuestMetricsRecordSchema>;
export type VbdRecord = z.output<typeof VbdRecordSchema>;
export type VdiRecord = z.output<typeof VdiRecordSchema>;
export type SrRecord = z.output<typeof SrRecordSchema>;
export type PbdRecord = z.output<typeof PbdRecordSchema>;
export type NetworkRecord = z.output<typeof NetworkRecordSchema>;
export type VifRecord = z.output<typeof VifRecordSchema>;
export type PifRecord = z.output<typeof PifRecordSchema>;
export type TaskRecord = z.output<typeof TaskRecordSchema>;
export type MessageRecord = z.output<typeof MessageRecordSchema>;

/** The parsed record type of class C. */
export type XenRecord<C extends XenClass> = z.output<(typeof RECORD_SCHEMAS)[C]>;

/** Human-readable summary of a zod failure: `power_state: Invalid option ...; memory_static_max: expected ...`. */
export function describeIssues(error: z.ZodError, max = 5): string {
  const parts = error.issues.slice(0, max).map((i) => `${i.path.map(String).join(".") || "(record)"}: ${i.message}`);
  const more = error.issues.length > max ? `; and ${error.issues.length - max} more` : "";
  return parts.join("; ") + more;
}

/** Parses one record of class C; returns the zod result (no throw). */
export function parseRecord<C extends XenClass>(
  cls: C,
  raw: unknown,
): { success: true; data: XenRecord<C> } | { success: false; error: z.ZodError } {
  const schema = RECORD_SCHEMAS[cls] as unknown as z.ZodType<XenRecord<C>>;
  const r = schema.safeParse(raw);
  return r.success ? { success: true, data: r.data } : { success: false, error: r.error };
}

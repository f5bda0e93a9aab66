/**
 * zod schemas for the records we read. XenAPI field names are kept as they are on the wire. Unknown fields pass
 * through (a newer host adds fields); fields we rely on are required and typed. Wire quirks are normalised: ints may
 * arrive as decimal strings (XML-RPC heritage, and xapi accepts both), datetimes as `YYYYMMDDTHH:MM:SSZ`,
 * `OpaqueRef:NULL` stands for "no object" and becomes `null`.
 */
import { z } from "zod";
import { ENUMS, RECORD_CLASSES, type RecordClass } from "../../xenapi-model/classes";

/** The XenAPI classes this client reads, with their datamodel (wire) names: every modelled record class but
 * session and SM. */
export const XEN_CLASSES = RECORD_CLASSES.filter(
  (c): c is Exclude<RecordClass, "session" | "SM"> => c !== "session" && c !== "SM",
);
export type XenClass = (typeof XEN_CLASSES)[number];

/** Event classes are lowercase on the wire (`vm`, `vm_metrics`); this maps them back. */
export function xenClassFromWire(name: string): XenClass | undefined {
  const lower = name.toLowerCase();
  return XEN_CLASSES.find((c) => c.toLowerCase() === lower);
}

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
function looseEnumSet<const T extends readonly string[]>(values: T) {
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

const optStrMap = xStrMap.default({});
const optStrSet = xStrSet.default([]);

// ---- records -------------------------------------------------------------------------------------------------

export const PoolRecordSchema = z.looseObject({
  uuid: z.string(),
  name_label: z.string(),
  name_description: z.string().default(""),
  master: xRef("host"),
  default_SR: xRef("SR").default(null),
  suspend_image_SR: xRef("SR").default(null),
  ha_enabled: xBool.default(false),
  ha_host_failures_to_tolerate: xInt.default(0),
  ha_allow_overcommit: xBool.default(false),
  ha_overcommitted: xBool.default(false),
  ha_plan_exists_for: xInt.default(0),
  ha_statefiles: optStrSet,
  ha_configuration: optStrMap,
  other_config: optStrMap,
  tags: optStrSet,
  restrictions: optStrMap,
  cpu_info: optStrMap,
  allowed_operations: optStrSet,
  current_operations: optStrMap,
});

export const HostRecordSchema = z.looseObject({
  uuid: z.string(),
  name_label: z.string(),
  name_description: z.string().default(""),
  hostname: z.string().default(""),
  address: z.string(),
  enabled: xBool,
  API_version_major: xInt.optional(),
  API_version_minor: xInt.optional(),
  API_version_vendor: z.string().optional(),
  software_version: optStrMap,
  capabilities: optStrSet,
  cpu_info: optStrMap,
  metrics: xRef("host_metrics"),
  resident_VMs: xRefSet("VM").default([]),
  control_domain: xRef("VM").default(null),
  memory_overhead: xInt.default(0),
  PIFs: xRefSet("PIF").default([]),
  PBDs: xRefSet("PBD").default([]),
  host_CPUs: xRefSet("host_cpu").default([]),
  suspend_image_sr: xRef("SR").default(null),
  crash_dump_sr: xRef("SR").default(null),
  other_config: optStrMap,
  tags: optStrSet,
  allowed_operations: looseEnumSet(HOST_OPERATIONS).default([]),
  current_operations: optStrMap,
});

export const HostMetricsRecordSchema = z.looseObject({
  uuid: z.string(),
  memory_total: xInt,
  // Marked removed in the docs but still written by xapi (monitor_mem.ml); absent on some hosts.
  memory_free: xInt.optional(),
  live: xBool,
  last_updated: xDateTime.optional(),
  other_config: optStrMap,
});

export const VmRecordSchema = z.looseObject({
  uuid: z.string(),
  name_label: z.string(),
  name_description: z.string().default(""),
  power_state: z.enum(ENUMS.vm_power_state),
  is_a_template: xBool,
  is_default_template: xBool.default(false),
  is_a_snapshot: xBool.default(false),
  is_control_domain: xBool,
  snapshot_of: xRef("VM").default(null),
  resident_on: xRef("host"),
  scheduled_to_be_resident_on: xRef("host").default(null),
  affinity: xRef("host").default(null),
  domid: xInt.default(-1),
  memory_static_min: xInt,
  memory_static_max: xInt,
  memory_dynamic_min: xInt,
  memory_dynamic_max: xInt,
  memory_target: xInt.optional(),
  memory_overhead: xInt.default(0),
  VCPUs_max: xInt,
  VCPUs_at_startup: xInt,
  VCPUs_params: optStrMap,
  domain_type: looseEnum(DOMAIN_TYPES).default("unspecified"),
  HVM_boot_policy: z.string().default(""),
  HVM_boot_params: optStrMap,
  PV_bootloader: z.string().default(""),
  PV_kernel: z.string().default(""),
  PV_ramdisk: z.string().default(""),
  PV_args: z.string().default(""),
  PV_bootloader_args: z.string().default(""),
  platform: optStrMap,
  other_config: xStrMap,
  tags: optStrSet,
  xenstore_data: optStrMap,
  VBDs: xRefSet("VBD"),
  VIFs: xRefSet("VIF"),
  metrics: xRef("VM_metrics").default(null),
  guest_metrics: xRef("VM_guest_metrics").default(null),
  suspend_VDI: xRef("VDI").default(null),
  suspend_SR: xRef("SR").default(null),
  allowed_operations: looseEnumSet(VM_OPERATIONS).default([]),
  current_operations: optStrMap,
  blocked_operations: optStrMap,
  ha_restart_priority: z.string().default(""),
  ha_always_run: xBool.default(false),
  order: xInt.default(0),
  start_delay: xInt.default(0),
  shutdown_delay: xInt.default(0),
  user_version: xInt.default(1),
  actions_after_shutdown: z.string().default("destroy"),
  actions_after_reboot: z.string().default("restart"),
  actions_after_crash: z.string().default("restart"),
  recommendations: z.string().default(""),
});

export const VmMetricsRecordSchema = z.looseObject({
  uuid: z.string(),
  memory_actual: xInt.default(0),
  VCPUs_number: xInt.default(0),
  start_time: xDateTime.optional(),
  install_time: xDateTime.optional(),
  hvm: xBool.default(false),
  current_domain_type: looseEnum(DOMAIN_TYPES).default("unspecified"),
  nomigrate: xBool.default(false),
  nested_virt: xBool.default(false),
  other_config: optStrMap,
});

export const VmGuestMetricsRecordSchema = z.looseObject({
  uuid: z.string(),
  os_version: optStrMap,
  PV_drivers_version: optStrMap,
  PV_drivers_detected: xBool.default(false),
  networks: optStrMap,
  other: optStrMap,
  live: xBool.default(false),
  last_updated: xDateTime.optional(),
  other_config: optStrMap,
});

export const VbdRecordSchema = z.looseObject({
  uuid: z.string(),
  VM: xRef("VM"),
  VDI: xRef("VDI"),
  userdevice: z.string(),
  device: z.string().default(""),
  bootable: xBool,
  mode: looseEnum(VBD_MODES),
  type: looseEnum(VBD_TYPES),
  empty: xBool,
  unpluggable: xBool.default(true),
  currently_attached: xBool,
  other_config: optStrMap,
  allowed_operations: optStrSet,
  current_operations: optStrMap,
});

export const VdiRecordSchema = z.looseObject({
  uuid: z.string(),
  name_label: z.string(),
  name_description: z.string().default(""),
  SR: xRef("SR"),
  VBDs: xRefSet("VBD").default([]),
  virtual_size: xInt,
  physical_utilisation: xInt.default(0),
  type: looseEnum(VDI_TYPES),
  sharable: xBool.default(false),
  read_only: xBool.default(false),
  managed: xBool.default(true),
  missing: xBool.default(false),
  is_a_snapshot: xBool.default(false),
  snapshot_of: xRef("VDI").default(null),
  on_boot: looseEnum(ENUMS.on_boot).default("persist"),
  other_config: optStrMap,
  sm_config: optStrMap,
  tags: optStrSet,
  allowed_operations: optStrSet,
  current_operations: optStrMap,
});

export const SrRecordSchema = z.looseObject({
  uuid: z.string(),
  name_label: z.string(),
  name_description: z.string().default(""),
  type: z.string(),
  content_type: z.string().default(""),
  shared: xBool,
  physical_size: xInt,
  physical_utilisation: xInt,
  virtual_allocation: xInt.default(0),
  VDIs: xRefSet("VDI").default([]),
  PBDs: xRefSet("PBD").default([]),
  other_config: optStrMap,
  sm_config: optStrMap,
  tags: optStrSet,
  allowed_operations: optStrSet,
  current_operations: optStrMap,
});

export const PbdRecordSchema = z.looseObject({
  uuid: z.string(),
  host: xRef("host"),
  SR: xRef("SR"),
  // device_config may hold storage credentials; the logger redacts password-like keys.
  device_config: optStrMap,
  currently_attached: xBool,
  other_config: optStrMap,
});

export const NetworkRecordSchema = z.looseObject({
  uuid: z.string(),
  name_label: z.string(),
  name_description: z.string().default(""),
  bridge: z.string().default(""),
  MTU: xInt.default(1500),
  managed: xBool.default(true),
  PIFs: xRefSet("PIF").default([]),
  VIFs: xRefSet("VIF").default([]),
  other_config: optStrMap,
  tags: optStrSet,
  allowed_operations: optStrSet,
  current_operations: optStrMap,
});

export const VifRecordSchema = z.looseObject({
  uuid: z.string(),
  VM: xRef("VM"),
  network: xRef("network"),
  device: z.string(),
  MAC: z.string(),
  MAC_autogenerated: xBool.default(false),
  MTU: xInt.default(1500),
  currently_attached: xBool,
  locking_mode: looseEnum(VIF_LOCKING_MODES).default("network_default"),
  other_config: optStrMap,
  allowed_operations: optStrSet,
  current_operations: optStrMap,
});

export const PifRecordSchema = z.looseObject({
  uuid: z.string(),
  host: xRef("host"),
  network: xRef("network"),
  device: z.string(),
  MAC: z.string().default(""),
  MTU: xInt.default(1500),
  VLAN: xInt.default(-1),
  physical: xBool.default(false),
  management: xBool.default(false),
  currently_attached: xBool,
  IP: z.string().default(""),
  netmask: z.string().default(""),
  gateway: z.string().default(""),
  ip_configuration_mode: looseEnum(IP_CONFIGURATION_MODES).default("None"),
  other_config: optStrMap,
});

export const TaskRecordSchema = z.looseObject({
  uuid: z.string(),
  name_label: z.string().default(""),
  name_description: z.string().default(""),
  status: z.enum(ENUMS.task_status_type),
  progress: xFloat.default(0),
  result: z.string().default(""),
  type: z.string().default(""),
  error_info: xStrSet.default([]),
  created: xDateTime.optional(),
  finished: xDateTime.optional(),
  resident_on: xRef("host").default(null),
  subtask_of: xRef("task").default(null),
  other_config: optStrMap,
  allowed_operations: optStrSet,
});

export const MessageRecordSchema = z.looseObject({
  uuid: z.string(),
  name: z.string(),
  priority: xInt,
  cls: z.string(),
  obj_uuid: z.string(),
  timestamp: xDateTime,
  body: z.string().default(""),
});

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

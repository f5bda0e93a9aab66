/**
 * Class tables: fields from xapi's datamodel (generated), behaviour flags here. They drive the implicit messages
 * (get_/set_/add_to_/remove_from_/add_/remove_), record defaults, type checks of setters, back-references
 * and the generated coverage list. Types: string | int | float | bool | datetime | ref:<Class> |
 * set:<elem> | map | enum:<name>.
 */

import { ENUMS, FIELDS, type EnumName, type RecordClass } from "../../xenapi-model/classes";

export { ENUMS, type EnumName };

export type FieldType = string;
export interface FieldDef {
  name: string;
  type: FieldType;
  rw: boolean;
  /** the datamodel's default, when it gives one */
  default?: unknown;
}
export interface ClassDef {
  name: string;
  fields: FieldDef[];
  byName: Map<string, FieldDef>;
  /** explicit `create(record)` and `destroy(self)` exist in XenAPI for this class */
  create: boolean;
  destroy: boolean;
  /** objects of this class appear in event.from */
  events: boolean;
}

/** A datamodel type (`VM ref`, `string set`, `(string -> int) map`, `enum vdi_type`) in the simulator's syntax. */
export function simType(t: string): FieldType {
  if (t.endsWith(" map")) return "map";
  if (t.endsWith(" set")) return `set:${simType(t.slice(0, -4))}`;
  if (t.endsWith(" ref")) return `ref:${t.slice(0, -4)}`;
  if (t.endsWith(" record")) return `record:${t.slice(0, -7)}`;
  if (t.startsWith("enum ")) return `enum:${t.slice(5)}`;
  return t;
}

/** A class's fields come from the datamodel (xenapi-model/classes.ts); only the behaviour flags are ours. */
function cls(name: RecordClass, opts: { create?: boolean; destroy?: boolean; events?: boolean }): ClassDef {
  const fields = FIELDS[name].map((f): FieldDef => {
    const def: FieldDef = { name: f.name, type: simType(f.type), rw: f.qualifier === "RW" };
    if (f.default !== undefined) def.default = f.default;
    return def;
  });
  return {
    name,
    fields,
    byName: new Map(fields.map((f) => [f.name, f])),
    create: opts.create ?? false,
    destroy: opts.destroy ?? false,
    events: opts.events ?? true,
  };
}

export const CLASSES: Record<string, ClassDef> = {
  session: cls("session", { events: false }),
  pool: cls("pool", {}),
  host: cls("host", { destroy: true }),
  host_metrics: cls("host_metrics", {}),
  VM: cls("VM", { create: true, destroy: true }),
  VM_metrics: cls("VM_metrics", {}),
  VM_guest_metrics: cls("VM_guest_metrics", {}),
  SR: cls("SR", { destroy: true }),
  SM: cls("SM", {}),
  PBD: cls("PBD", { create: true, destroy: true }),
  VDI: cls("VDI", { create: true, destroy: true }),
  VBD: cls("VBD", { create: true, destroy: true }),
  network: cls("network", { create: true, destroy: true }),
  VIF: cls("VIF", { create: true, destroy: true }),
  PIF: cls("PIF", {}),
  task: cls("task", { create: true, destroy: true }),
  message: cls("message", { destroy: true }),
  // VTPM.create takes (VM, is_unique), not a record, and VTPM.destroy has rules: both are explicit (vtpm.ts).
  VTPM: cls("VTPM", {}),
  // VM_appliance.create/destroy and VM_group.create/destroy have rules of their own (appliance.ts, vm-group.ts).
  VM_appliance: cls("VM_appliance", {}),
  VM_group: cls("VM_group", {}),
};

/** Datamodel names of classes whose refs we store, keyed by lower case (event class names are lower case). */
export const CLASS_BY_LOWER = new Map(Object.keys(CLASSES).map((c) => [c.toLowerCase(), c]));

/** Two-way links kept consistent by the store: the child's ref field and the parent's set field. */
export const RELATIONS: { child: string; field: string; parent: string; set: string }[] = [
  { child: "VBD", field: "VM", parent: "VM", set: "VBDs" },
  { child: "VBD", field: "VDI", parent: "VDI", set: "VBDs" },
  { child: "VIF", field: "VM", parent: "VM", set: "VIFs" },
  { child: "VIF", field: "network", parent: "network", set: "VIFs" },
  { child: "PIF", field: "host", parent: "host", set: "PIFs" },
  { child: "PIF", field: "network", parent: "network", set: "PIFs" },
  { child: "PBD", field: "host", parent: "host", set: "PBDs" },
  { child: "PBD", field: "SR", parent: "SR", set: "PBDs" },
  { child: "VDI", field: "SR", parent: "SR", set: "VDIs" },
  { child: "VM", field: "resident_on", parent: "host", set: "resident_VMs" },
  { child: "task", field: "subtask_of", parent: "task", set: "subtasks" },
  { child: "VM", field: "snapshot_of", parent: "VM", set: "snapshots" },
  { child: "VDI", field: "snapshot_of", parent: "VDI", set: "snapshots" },
  { child: "VM", field: "parent", parent: "VM", set: "children" },
  { child: "VTPM", field: "VM", parent: "VM", set: "VTPMs" },
  { child: "VM", field: "appliance", parent: "VM_appliance", set: "VMs" },
];

/**
 * Two-way many-to-many links kept consistent by the store, as xapi's database keeps its set-to-set relations
 * (datamodel.ml: VM.groups and VM_group.VMs): each side's set holds the other's refs.
 */
export const SET_RELATIONS: { a: string; aSet: string; b: string; bSet: string }[] = [
  { a: "VM", aSet: "groups", b: "VM_group", bSet: "VMs" },
];

export function defaultFor(type: FieldType): unknown {
  if (type === "string") return "";
  if (type === "int" || type === "float") return 0;
  if (type === "bool") return false;
  if (type === "datetime") return "19700101T00:00:00Z";
  if (type.startsWith("ref:")) return "OpaqueRef:NULL";
  if (type.startsWith("set:")) return [];
  if (type === "map") return {};
  if (type.startsWith("enum:")) return (ENUMS[type.slice(5) as EnumName] as readonly string[])[0];
  return "";
}

export function defaultRecord(cls: string): Record<string, unknown> {
  const def = CLASSES[cls];
  if (!def) throw new Error(`unknown class ${cls}`);
  const rec: Record<string, unknown> = {};
  for (const f of def.fields) rec[f.name] = f.default === undefined ? defaultFor(f.type) : structuredClone(f.default);
  return rec;
}

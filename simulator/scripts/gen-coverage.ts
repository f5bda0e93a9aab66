/**
 * Writes simulator/COVERAGE.md from the datamodel's message table and the method registry: every message of the
 * modelled classes, whether the simulator serves it, its parameters and minimum role, whether it has an Async
 * form, and the known divergences.
 * Run: node -r ts-node/register/transpile-only simulator/scripts/gen-coverage.ts
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { OTHER_CLASSES, XENAPI_CLASSES } from "../../xenapi-model/classes";
import { MESSAGES } from "../../xenapi-model/messages";
import { CLASSES } from "../models/schema";
import { buildRegistry } from "../sim";

export const DIVERGENCES = [
  "Conflicting concurrent VM operations fail fast with `OTHER_OPERATION_IN_PROGRESS` instead of xapi's retry with backoff for up to 2 h.",
  "Placement is deterministic: within a category (affinity, definite, probable, possible) the host with the most free memory wins (ties by name); xapi picks biased-randomly. VM groups, vGPU, SR-IOV and WLB are not modelled; `coordinator_bias` is stored but ignored.",
  "Memory overhead of a VM is a fixed formula (static_max/512 + 256 KiB per vCPU + 1-2 MiB, rounded up to MiB), not xapi's shadow-memory computation. Dynamic memory control is always licensed.",
  "The HA planner is a greedy bin-packer (worst case = the hosts carrying the most protected memory fail); `HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN` is raised by `pool.set_ha_host_failures_to_tolerate`, `host.disable`, starting a protected VM and `VM.set_ha_restart_priority`, not by migrations or memory changes.",
  "HA restarts run synchronously when a host is crashed through the control plane; statefile and heartbeat mechanics are not simulated. Without HA, a crashed host's VMs stay Running (stale `resident_on`) until the host recovers, when they become Halted.",
  "A crashed host's management address drops every connection (the control plane stays available on it).",
  "`pool.join` moves the joining host's objects (including its sessions and halted VMs) into the master's pool at once; default templates of the joining host are dropped and networks merge by `name_label`. `pool.eject` recreates the host as a fresh standalone pool from the inventory, keeping its uuid. Ejecting the master gives `INTERNAL_ERROR [Cannot_eject_master]`.",
  'Homogeneity on join compares CPU vendor (`HOSTS_NOT_HOMOGENEOUS ["CPUs differ"]`), product version, API version and DB schema only.',
  "`VM.snapshot`/`checkpoint`/`revert` are modelled simply (copy-on-write disk copies; revert drops the VM's current disks and halts it first; `ignore_vdis` is ignored). `export`/`import`, `migrate_send`, consoles, vTPM, PCI/vGPU/VUSB, bonds/VLANs/tunnels, SR.create/introduce, subjects/roles management and external auth are not implemented (`MESSAGE_METHOD_UNKNOWN`).",
  "Guest agent: PV-driver templates report `VM_guest_metrics` (networks `<device>/ip` from the network's inventory range, features in `other`) after `guest_agent` ms × time scale; HVM guests without tools get no guest metrics until tools are installed through `POST /control/vms/<uuid>/install-tools`.",
  "Users and roles come from the inventory; `session.change_password` is refused. Sessions persist across restarts (xapi keeps them only in memory).",
  "Type errors in arguments give `FIELD_TYPE_ERROR [param]`; an invalid enum value gives `INVALID_VALUE [field, value]`.",
  "`event.from` tokens use one generation counter for both halves (`%020d,%020d`); deletions older than the last ~10 000 are forgotten (no `EVENTS_LOST`). Legacy `event.register/next/unregister` are served; `event.next` blocks for at most 60 s.",
  "Task garbage collection keeps the newest 1 000 finished tasks once more than 2 000 exist; messages are capped at 10 000 per pool (oldest 1 000 dropped).",
  "`VDI.pool_migrate` keeps the VDI uuid but returns a new ref. It refuses a VDI that no VBD links to a Running VM with `VDI_NEEDS_VM_FOR_MIGRATE [vdi]`; xapi itself raises that only for a VDI without VBDs and moves a halted VM's disk by an offline migrate_send.",
  "SM records exist per pool for the inventory's SR types only; their `features` gate `VDI.resize` (`VDI_RESIZE`) and `VDI.resize_online` (`VDI_RESIZE_ONLINE`) with `SR_OPERATION_NOT_SUPPORTED [sr]`, other operations are not checked against them and `SR.allowed_operations` does not follow them. `VDI.resize_online` is served although the datamodel marks it removed since inverness.",
  "Disk data is an opaque content string per VDI (control plane `/control/vdis/<uuid>/content`); `VDI.copy` with a `base_vdi` copies the whole content, not block differences.",
  "Storage is thick-provisioned for accounting (`physical_utilisation` grows by `virtual_size`), except clones which are copy-on-write.",
  "Arity follows the datamodel: exactly the listed parameters, or at least the mandatory ones where trailing parameters are versioned (`?`). For those, `MESSAGE_PARAMETER_COUNT_MISMATCH` reports the full count and more parameters than listed are refused, where xapi (gen_server.ml) reports the mandatory count and ignores extras; an `Async.` call's error names the method with its prefix, where xapi drops it.",
  "Fields the datamodel marks removed (`host_metrics.memory_free`, `VM_metrics.VCPUs_utilisation`, `VIF.metrics`, ...) are kept in records, as xapi keeps their database columns.",
];

/** How calls travel and the wire-level choices, one line each. */
export const WIRE = [
  "Transport: XML-RPC on every POST path except `/jsonrpc*` (longest-prefix match, like xapi's Http_svr); `GET /rrd_updates` serves rrdtool xport XML, or JSON with `json=true`, values synthetic and without history; `sr_uuid` ignored.",
  "event.from / event.register: any class name accepted; an unknown class gives no events; only a malformed subscription gives EVENT_SUBSCRIPTION_PARSE_FAILURE.",
  "session: no get_all, get_all_records or get_all_records_where (MESSAGE_METHOD_UNKNOWN); get_all_subject_identifiers lists live sessions' sids only.",
  "XML-RPC: values typed by datamodel type (`<double>`, `<dateTime.iso8601>`, `<boolean>`, int untyped); map values typed by their JS value (divergence).",
  "get_all_records_where: xapi's db_filter grammar and precedence, `__` column names and `_ref`; also accepts API names (divergence); a missing column is INTERNAL_ERROR.",
  "system.listMethods: as xapi's (gen_server.ml), the sync wire name of every message of every datamodel class, served or not, with the hidden `get_all_where` and `get_all_records_where`; no `Async.` forms, no `system.*`. Sorted; xapi keeps datamodel order. Internal messages the published datamodel omits are not listed.",
];

/** The COVERAGE.md text: every datamodel message of the modelled classes, served by the registry or not. */
export function renderCoverage(): string {
  const reg = buildRegistry();
  const all = Object.entries(MESSAGES);
  const served = all.filter(([n]) => reg.get(n)).length;
  const lines: string[] = [
    "# XenAPI coverage of the simulator",
    "",
    "Generated by `simulator/scripts/gen-coverage.ts` from the datamodel's message table (`xenapi-model/messages.ts`) and the method registry; do not edit by hand.",
    "",
    "## Known divergences from real XenAPI",
    "",
    ...DIVERGENCES.map((d) => `- ${d}`),
    "",
    "## Wire and transport",
    "",
    ...WIRE.map((d) => `- ${d}`),
    "",
    "## Classes not modelled",
    "",
    `Their getters answer as for a class with no objects: \`get_all\`, \`get_all_where\` and \`get_by_name_label\` give \`[]\`, \`get_all_records\` and \`get_all_records_where\` give \`{}\`, \`get_record\` and the field getters \`HANDLE_INVALID\`, \`get_by_uuid\` \`UUID_INVALID\`; their other messages answer \`MESSAGE_METHOD_UNKNOWN\`. ${OTHER_CLASSES.map((c) => `\`${c}\``).join(", ")}.`,
    "",
    "## Methods",
    "",
    `${served} of the datamodel's ${all.length} messages of the modelled classes are served (${[...reg.methods.values()].filter((m) => m.async).length} with an \`Async.\` form); the others answer \`MESSAGE_METHOD_UNKNOWN\`. Parameters and roles are the datamodel's; \`?\` marks a versioned trailing parameter. Implicit field accessors are listed per class below the explicit methods.`,
    "",
  ];
  for (const cls of [...XENAPI_CLASSES, "system"].sort((a, b) => a.localeCompare(b))) {
    const names = [...new Set([...all.map(([n]) => n), ...reg.methods.keys()])]
      .filter((n) => n.startsWith(`${cls}.`))
      .sort((a, b) => a.localeCompare(b));
    lines.push(`### ${cls}`, "");
    const def = CLASSES[cls];
    if (def) lines.push(`Fields: ${def.fields.map((f) => `\`${f.name}\`${f.rw ? " (RW)" : ""}`).join(", ")}.`, "");
    lines.push("| method | params after session | min. role | Async | note |", "|---|---|---|---|---|");
    const row = (n: string) => {
      const d = reg.get(n);
      const spec = MESSAGES[n];
      const params = (
        d?.params ??
        spec?.params.map(([name, , ...x]) => ({ name, ...(x.length ? { default: x[0] } : {}) })) ??
        []
      )
        .map((p) => `${p.name}${"default" in p ? "?" : ""}`)
        .join(", ");
      const role = !(d?.session ?? spec?.session) ? "(no session)" : (d?.role ?? spec?.role);
      const note = d
        ? (d.note ?? (spec?.state === "removed" ? "removed in the datamodel, still served" : ""))
        : "not modelled";
      return `| \`${n}\` | ${params} | ${role} | ${d?.async ? "yes" : ""} | ${note} |`;
    };
    const implicit = (n: string) => MESSAGES[n]?.implicit ?? reg.get(n)?.implicit ?? false;
    for (const n of names.filter((x) => !implicit(x))) lines.push(row(n));
    for (const n of names.filter(implicit)) lines.push(row(n));
    lines.push("");
  }
  return lines.join("\n");
}

export const COVERAGE_PATH = path.join(__dirname, "..", "COVERAGE.md");

if (require.main === module) fs.writeFileSync(COVERAGE_PATH, renderCoverage());

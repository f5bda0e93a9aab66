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
  "Placement is deterministic: within a category (affinity, definite, probable, possible) the host with the most free memory wins (ties by name); xapi picks biased-randomly. Anti-affinity VM groups rank the hosts first, as xapi does; vGPU, SR-IOV and WLB are not modelled; `coordinator_bias` is stored but ignored. Evacuation and HA restart plans bin-pack biggest VM first onto the host with the most free memory, as xapi's Binpack, but pass over a host the VM cannot boot on where xapi requires every VM to suit every target; ties between equally loaded hosts go by name, not by ref.",
  "Memory overhead of a VM is a fixed formula (static_max/512 + 256 KiB per vCPU + 1-2 MiB, rounded up to MiB), not xapi's shadow-memory computation. Dynamic memory control is always licensed.",
  "The HA planner is a greedy bin-packer (worst case = the hosts carrying the most protected memory fail); `HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN` is raised by `pool.set_ha_host_failures_to_tolerate`, `host.disable`, starting a protected VM and `VM.set_ha_restart_priority`, not by migrations or memory changes.",
  "HA restarts run synchronously when a host is crashed through the control plane (no `start_delay`, no VM_STARTED messages); statefile and heartbeat mechanics are not simulated. Without HA, a crashed host's VMs stay Running (stale `resident_on`) until the host recovers, when they become Halted.",
  "A crashed host's management address drops every connection (the control plane stays available on it).",
  "`pool.join` moves the joining host's objects (including its sessions and halted VMs) into the master's pool at once; default templates of the joining host are dropped and networks merge by `name_label`. `pool.eject` recreates the host as a fresh standalone pool from the inventory, keeping its uuid. Ejecting the master gives `INTERNAL_ERROR [Cannot_eject_master]`.",
  'Homogeneity on join compares CPU vendor (`HOSTS_NOT_HOMOGENEOUS ["CPUs differ"]`), product version, API version and DB schema only.',
  "`VM.snapshot`/`checkpoint`/`revert` copy disks copy-on-write and never try `VDI.revert`; a checkpoint does not suspend and resume the running VM (its domain id stays); `snapshot_metadata` stays empty (the simulator keeps the VM's fields with the snapshot itself). `export`/`import`, `migrate_send`, consoles, PCI/vGPU/VUSB, bonds/VLANs/tunnels, SR.create/introduce, subjects/roles management and external auth are not implemented (`MESSAGE_METHOD_UNKNOWN`).",
  "VM groups and appliances: the VM_groups and VM_appliance_start licence features are always on. The anti-affinity alert is re-evaluated whenever a member VM changes, where xapi does it on power-state changes, migrations and `VM.set_groups`. `VM_appliance` recovery (`recover`, `assert_can_be_recovered`, `get_SRs_required_for_recovery`) is not implemented.",
  'Firmware and vTPMs: `VM.start` checks and rewrites what xapi does (firmware, `device-model`, `secureboot` "auto"; a BIOS VM with a vTPM is `NOT_IMPLEMENTED`), but a start that then fails leaves `platform` as it was, where xapi has already written it. Secure Boot follows XCP-ng\'s varstored: `secureboot` "true" without pool certificates starts the VM, which stops in its firmware (message `VM_SECURE_BOOT_FAILED`, no guest agent). `NVRAM` is not written at boot and `secureboot_certificates_state` stays `ok`; `platform:vtpm=true` does not create a vTPM at start; vTPM contents are not kept (`VTPM.get_contents`/`set_contents` are local-root only and not served).',
  "Guest agent: PV-driver templates report `VM_guest_metrics` (networks `<device>/ip` from the network's inventory range, features in `other`) after `guest_agent` ms × time scale; HVM guests without tools get no guest metrics until tools are installed through `POST /control/vms/<uuid>/install-tools`.",
  "Inside the guest (models/boot.ts): an HVM VM with media in a CD drive or a system installed on its first disk boots by `HVM_boot_params.order` (`c`, `d`, `n`; no PXE server answers); an installer image boots when the first disk holds no system, writes its system there after `install` ms × time scale and powers the VM off (`actions_after_shutdown`); with a system on the disk the installer hands over to the disk. A VM without CD media and without an installed system keeps its template's guest. An install under way does not survive a simulator restart. Boot messages are on the control plane (`GET /control/vms/<uuid>/console`), in memory only.",
  "cloud-init: at every boot from disk the first CD drive holding imported bytes that form an ISO 9660 volume labelled `cidata` is read (`meta-data`, `#cloud-config` `user-data`, network config v1/v2); the agent reports the hostname in `VM_guest_metrics.netbios_name` (`host_name`, with the fqdn's domain) and static addresses in `networks`, a NIC the network config does not list getting none. Network config is applied again only for a new `instance-id`. `netbios_name` is served although xenapi.json predates it (datamodel.ml, prototyped in 24.28.0).",
  "Every pool has a shared `ISO library` SR (type `iso`, SM ISOSR) whose images are simulated (an installer of a known system, or a data disc; no bytes). `pool.join` lets a joiner whose only shared SR is its own seeded library through and drops that library (as xapi does the Tools SR); xapi refuses a joiner with any other shared SR. `VBD.insert` does not check HA agility.",
  "Users and roles come from the inventory; `session.change_password` is refused. Sessions persist across restarts (xapi keeps them only in memory).",
  "Type errors in arguments give `FIELD_TYPE_ERROR [param]`; an invalid enum value gives `INVALID_VALUE [field, value]`.",
  "`event.from` tokens use one generation counter for both halves (`%020d,%020d`); deletions older than the last ~10 000 are forgotten (no `EVENTS_LOST`). Legacy `event.register/next/unregister` are served; `event.next` blocks for at most 60 s.",
  "Task garbage collection keeps the newest 1 000 finished tasks once more than 2 000 exist; messages are capped at 10 000 per pool (oldest 1 000 dropped).",
  "`VDI.pool_migrate` keeps the VDI uuid but returns a new ref. It refuses a VDI that no VBD links to a Running VM with `VDI_NEEDS_VM_FOR_MIGRATE [vdi]`; xapi itself raises that only for a VDI without VBDs and moves a halted VM's disk by an offline migrate_send.",
  "SM records exist per pool for the inventory's SR types only; their `features` gate `VDI.resize` (`VDI_RESIZE`) and `VDI.resize_online` (`VDI_RESIZE_ONLINE`) with `SR_OPERATION_NOT_SUPPORTED [sr]`, other operations are not checked against them and `SR.allowed_operations` does not follow them. `VDI.resize_online` is served although the datamodel marks it removed since inverness.",
  "Disk data is an opaque content string per VDI (control plane `/control/vdis/<uuid>/content`), or the bytes written by `PUT /import_raw_vdi` (kept in the simulator's state, at most 256 MiB per disk; beyond, the import fails as a device error); an installed system is known to the simulator, not written as bytes. `VDI.copy` with a `base_vdi` copies the whole data, not block differences.",
  "`PUT /import_raw_vdi` and `GET /export_raw_vdi` take no simulated time and carry raw images only: `vhd`, `tar` and `qcow2` are refused as an unknown format (HTTP 404, the task fails `INTERNAL_ERROR [Unknown format <f>]`). An image larger than the disk fails the task with `VDI_IO_ERROR` before anything is written (xapi writes what fits first). Export ignores `base`. A redirect to the host that has the SR plugged keeps the simulator's scheme and port.",
  "Storage is thick-provisioned for accounting (`physical_utilisation` grows by `virtual_size`), except clones which are copy-on-write (an import grows a clone's `physical_utilisation` to the bytes written).",
  "Arity follows the datamodel: exactly the listed parameters, or at least the mandatory ones where trailing parameters are versioned (`?`). For those, `MESSAGE_PARAMETER_COUNT_MISMATCH` reports the full count and more parameters than listed are refused, where xapi (gen_server.ml) reports the mandatory count and ignores extras; an `Async.` call's error names the method with its prefix, where xapi drops it.",
  "Fields the datamodel marks removed (`host_metrics.memory_free`, `VM_metrics.VCPUs_utilisation`, `VIF.metrics`, ...) are kept in records, as xapi keeps their database columns.",
];

/** How calls travel and the wire-level choices, one line each. */
export const WIRE = [
  "`PUT /import_raw_vdi?session_id=&vdi=&format=raw[&task_id=][&chunked]` and `GET /export_raw_vdi?session_id=&vdi=&format=raw[&task_id=]` (server/raw-vdi.ts): session in cookie or query, or HTTP basic credentials; 401 without valid credentials, 403 below vm-admin (the `task_id` task fails `RBAC_PERMISSION_DENIED`), 500 for an unknown `vdi`, 302 to a host with the SR plugged, 404 for an unknown format or HTTP chunked encoding; once the transfer starts the reply is 200 with a `task-id` header and failures (`VDI_READONLY`, `SR_BACKEND_FAILURE_46` for a disk in use on another host, `VDI_IO_ERROR` for an image larger than the disk) are the task's.",
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

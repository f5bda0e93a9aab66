/**
 * Declarative class tables: one line per field (`name:type[:rw]`). They drive the implicit messages
 * (get_/set_/add_to_/remove_from_/add_/remove_), record defaults, type checks of setters, back-references
 * and the generated coverage list. Types: string | int | float | bool | datetime | ref:<Class> |
 * set:<elem> | map | enum:<name>.
 */

export const ENUMS = {
  vm_power_state: ["Halted", "Paused", "Running", "Suspended"],
  domain_type: ["hvm", "pv", "pvh", "pv_in_pvh", "unspecified"],
  on_normal_exit: ["destroy", "restart"],
  on_crash_behaviour: [
    "destroy",
    "coredump_and_destroy",
    "restart",
    "coredump_and_restart",
    "preserve",
    "rename_restart",
  ],
  on_softreboot_behavior: ["soft_reboot", "destroy", "restart", "preserve"],
  task_status_type: ["pending", "success", "failure", "cancelling", "cancelled"],
  vdi_type: [
    "system",
    "user",
    "ephemeral",
    "suspend",
    "crashdump",
    "ha_statefile",
    "metadata",
    "redo_log",
    "rrd",
    "pvs_cache",
    "cbt_metadata",
  ],
  vbd_mode: ["RO", "RW"],
  vbd_type: ["CD", "Disk", "Floppy"],
  on_boot: ["reset", "persist"],
  vif_locking_mode: ["network_default", "locked", "unlocked", "disabled"],
  network_default_locking_mode: ["unlocked", "disabled"],
  ip_configuration_mode: ["None", "DHCP", "Static"],
  cls: ["VM", "Host", "SR", "Pool", "VMPP", "VMSS", "PVS_proxy", "VDI", "Certificate"],
  tristate_type: ["yes", "no", "unspecified"],
} as const;
export type EnumName = keyof typeof ENUMS;

export type FieldType = string;
export interface FieldDef {
  name: string;
  type: FieldType;
  rw: boolean;
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

function cls(name: string, opts: { create?: boolean; destroy?: boolean; events?: boolean }, lines: string): ClassDef {
  const fields = lines
    .trim()
    .split(/\s+/)
    .map((l) => {
      const rw = l.endsWith(":rw");
      const body = rw ? l.slice(0, -3) : l;
      const i = body.indexOf(":");
      return { name: body.slice(0, i), type: body.slice(i + 1), rw };
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

const NAME = "name_label:string:rw name_description:string:rw";
const OPS = "allowed_operations:set:string current_operations:map";

export const CLASSES: Record<string, ClassDef> = {
  session: cls(
    "session",
    { events: false },
    `uuid:string this_host:ref:host this_user:ref:user last_active:datetime pool:bool other_config:map:rw
     is_local_superuser:bool subject:ref:subject validation_time:datetime auth_user_sid:string auth_user_name:string
     rbac_permissions:set:string tasks:set:ref:task parent:ref:session originator:string client_certificate:bool`,
  ),
  pool: cls(
    "pool",
    {},
    `uuid:string ${NAME} master:ref:host default_SR:ref:SR:rw suspend_image_SR:ref:SR:rw crash_dump_SR:ref:SR:rw
     other_config:map:rw ha_enabled:bool ha_configuration:map ha_statefiles:set:string ha_host_failures_to_tolerate:int
     ha_plan_exists_for:int ha_allow_overcommit:bool:rw ha_overcommitted:bool blobs:map tags:set:string:rw
     gui_config:map:rw health_check_config:map:rw wlb_url:string wlb_username:string wlb_enabled:bool:rw
     wlb_verify_cert:bool:rw redo_log_enabled:bool redo_log_vdi:ref:VDI vswitch_controller:string restrictions:map
     metadata_VDIs:set:ref:VDI ha_cluster_stack:string ${OPS} guest_agent_config:map cpu_info:map
     policy_no_vendor_device:bool:rw live_patching_disabled:bool:rw igmp_snooping_enabled:bool
     is_psr_pending:bool tls_verification_enabled:bool coordinator_bias:bool:rw`,
  ),
  host: cls(
    "host",
    { destroy: true },
    `uuid:string ${NAME} memory_overhead:int ${OPS} API_version_major:int API_version_minor:int
     API_version_vendor:string API_version_vendor_implementation:map enabled:bool software_version:map
     other_config:map:rw capabilities:set:string cpu_configuration:map sched_policy:string
     supported_bootloaders:set:string resident_VMs:set:ref:VM logging:map:rw PIFs:set:ref:PIF
     suspend_image_sr:ref:SR:rw crash_dump_sr:ref:SR:rw crashdumps:set:ref:host_crashdump patches:set:ref:host_patch
     updates:set:ref:pool_update PBDs:set:ref:PBD host_CPUs:set:ref:host_cpu cpu_info:map hostname:string:rw
     address:string:rw metrics:ref:host_metrics license_params:map ha_statefiles:set:string
     ha_network_peers:set:string blobs:map tags:set:string:rw external_auth_type:string
     external_auth_service_name:string external_auth_configuration:map edition:string license_server:map:rw
     bios_strings:map power_on_mode:string power_on_config:map local_cache_sr:ref:SR chipset_info:map
     PCIs:set:ref:PCI PGPUs:set:ref:PGPU ssl_legacy:bool guest_VCPUs_params:map:rw display:string
     virtual_hardware_platform_versions:set:int control_domain:ref:VM iscsi_iqn:string multipathing:bool
     uefi_certificates:string certificates:set:ref:Certificate editions:set:string tls_verification_enabled:bool
     last_software_update:datetime https_only:bool`,
  ),
  host_metrics: cls(
    "host_metrics",
    {},
    `uuid:string memory_total:int memory_free:int live:bool last_updated:datetime other_config:map:rw`,
  ),
  VM: cls(
    "VM",
    { create: true, destroy: true },
    `uuid:string ${OPS} ${NAME} power_state:enum:vm_power_state user_version:int:rw is_a_template:bool
     is_default_template:bool suspend_VDI:ref:VDI resident_on:ref:host scheduled_to_be_resident_on:ref:host
     affinity:ref:host:rw memory_overhead:int memory_target:int memory_static_max:int memory_dynamic_max:int
     memory_dynamic_min:int memory_static_min:int VCPUs_params:map:rw VCPUs_max:int VCPUs_at_startup:int
     actions_after_softreboot:enum:on_softreboot_behavior:rw actions_after_shutdown:enum:on_normal_exit:rw
     actions_after_reboot:enum:on_normal_exit:rw actions_after_crash:enum:on_crash_behaviour:rw
     consoles:set:ref:console VIFs:set:ref:VIF VBDs:set:ref:VBD VUSBs:set:ref:VUSB crash_dumps:set:ref:crashdump
     VTPMs:set:ref:VTPM PV_bootloader:string:rw PV_kernel:string:rw PV_ramdisk:string:rw PV_args:string:rw
     PV_bootloader_args:string:rw PV_legacy_args:string:rw HVM_boot_policy:string:rw HVM_boot_params:map:rw
     HVM_shadow_multiplier:float platform:map:rw PCI_bus:string:rw other_config:map:rw domid:int domarch:string
     last_boot_CPU_flags:map is_control_domain:bool metrics:ref:VM_metrics guest_metrics:ref:VM_guest_metrics
     last_booted_record:string recommendations:string:rw xenstore_data:map:rw ha_always_run:bool
     ha_restart_priority:string is_a_snapshot:bool snapshot_of:ref:VM snapshots:set:ref:VM snapshot_time:datetime
     transportable_snapshot_id:string blobs:map tags:set:string:rw blocked_operations:map:rw snapshot_info:map
     snapshot_metadata:string parent:ref:VM children:set:ref:VM bios_strings:map protection_policy:ref:VMPP
     is_snapshot_from_vmpp:bool snapshot_schedule:ref:VMSS is_vmss_snapshot:bool appliance:ref:VM_appliance
     start_delay:int shutdown_delay:int order:int VGPUs:set:ref:VGPU attached_PCIs:set:ref:PCI suspend_SR:ref:SR:rw
     version:int generation_id:string hardware_platform_version:int:rw has_vendor_device:bool requires_reboot:bool
     reference_label:string domain_type:enum:domain_type NVRAM:map pending_guidances:set:string`,
  ),
  VM_metrics: cls(
    "VM_metrics",
    {},
    `uuid:string memory_actual:int VCPUs_number:int VCPUs_utilisation:map VCPUs_CPU:map VCPUs_params:map
     VCPUs_flags:map state:set:string start_time:datetime install_time:datetime last_updated:datetime
     other_config:map:rw hvm:bool nested_virt:bool nomigrate:bool current_domain_type:enum:domain_type`,
  ),
  VM_guest_metrics: cls(
    "VM_guest_metrics",
    {},
    `uuid:string os_version:map netbios_name:map PV_drivers_version:map PV_drivers_up_to_date:bool memory:map
     disks:map networks:map other:map last_updated:datetime other_config:map:rw live:bool
     can_use_hotplug_vbd:enum:tristate_type can_use_hotplug_vif:enum:tristate_type PV_drivers_detected:bool`,
  ),
  SR: cls(
    "SR",
    { destroy: true },
    `uuid:string ${NAME} ${OPS} VDIs:set:ref:VDI PBDs:set:ref:PBD virtual_allocation:int physical_utilisation:int
     physical_size:int type:string content_type:string shared:bool other_config:map:rw tags:set:string:rw
     sm_config:map:rw blobs:map local_cache_enabled:bool introduced_by:ref:DR_task clustered:bool is_tools_sr:bool`,
  ),
  SM: cls(
    "SM",
    {},
    `uuid:string name_label:string name_description:string type:string vendor:string copyright:string
     version:string required_api_version:string configuration:map capabilities:set:string features:map
     other_config:map:rw driver_filename:string required_cluster_stack:set:string`,
  ),
  PBD: cls(
    "PBD",
    { create: true, destroy: true },
    `uuid:string host:ref:host SR:ref:SR device_config:map currently_attached:bool other_config:map:rw`,
  ),
  VDI: cls(
    "VDI",
    { create: true, destroy: true },
    `uuid:string ${NAME} ${OPS} SR:ref:SR VBDs:set:ref:VBD crash_dumps:set:ref:crashdump virtual_size:int
     physical_utilisation:int type:enum:vdi_type sharable:bool read_only:bool other_config:map:rw storage_lock:bool
     location:string managed:bool missing:bool parent:ref:VDI xenstore_data:map:rw sm_config:map:rw
     is_a_snapshot:bool snapshot_of:ref:VDI snapshots:set:ref:VDI snapshot_time:datetime tags:set:string:rw
     allow_caching:bool on_boot:enum:on_boot metadata_of_pool:ref:pool metadata_latest:bool is_tools_iso:bool
     cbt_enabled:bool`,
  ),
  VBD: cls(
    "VBD",
    { create: true, destroy: true },
    `uuid:string ${OPS} VM:ref:VM VDI:ref:VDI device:string userdevice:string:rw bootable:bool:rw
     mode:enum:vbd_mode:rw type:enum:vbd_type:rw unpluggable:bool:rw storage_lock:bool empty:bool
     other_config:map:rw currently_attached:bool status_code:int status_detail:string runtime_properties:map
     qos_algorithm_type:string:rw qos_algorithm_params:map:rw qos_supported_algorithms:set:string
     metrics:ref:VBD_metrics`,
  ),
  network: cls(
    "network",
    { create: true, destroy: true },
    `uuid:string ${NAME} ${OPS} VIFs:set:ref:VIF PIFs:set:ref:PIF MTU:int:rw other_config:map:rw bridge:string
     managed:bool blobs:map tags:set:string:rw default_locking_mode:enum:network_default_locking_mode
     assigned_ips:map purpose:set:string`,
  ),
  VIF: cls(
    "VIF",
    { create: true, destroy: true },
    `uuid:string ${OPS} device:string network:ref:network VM:ref:VM MAC:string MTU:int other_config:map:rw
     currently_attached:bool status_code:int status_detail:string runtime_properties:map
     qos_algorithm_type:string:rw qos_algorithm_params:map:rw qos_supported_algorithms:set:string
     metrics:ref:VIF_metrics MAC_autogenerated:bool locking_mode:enum:vif_locking_mode ipv4_allowed:set:string
     ipv6_allowed:set:string ipv4_configuration_mode:string ipv4_addresses:set:string ipv4_gateway:string
     ipv6_configuration_mode:string ipv6_addresses:set:string ipv6_gateway:string`,
  ),
  PIF: cls(
    "PIF",
    {},
    `uuid:string device:string network:ref:network host:ref:host MAC:string MTU:int VLAN:int metrics:ref:PIF_metrics
     physical:bool currently_attached:bool ip_configuration_mode:enum:ip_configuration_mode IP:string
     netmask:string gateway:string DNS:string bond_slave_of:ref:Bond bond_master_of:set:ref:Bond
     VLAN_master_of:ref:VLAN VLAN_slave_of:set:ref:VLAN management:bool other_config:map:rw
     disallow_unplug:bool:rw ipv6_configuration_mode:string IPv6:set:string ipv6_gateway:string
     primary_address_type:string managed:bool properties:map capabilities:set:string igmp_snooping_status:string`,
  ),
  task: cls(
    "task",
    { create: true, destroy: true },
    `uuid:string ${NAME} ${OPS} created:datetime finished:datetime status:enum:task_status_type resident_on:ref:host
     progress:float type:string result:string error_info:set:string other_config:map:rw subtask_of:ref:task
     subtasks:set:ref:task backtrace:string`,
  ),
  message: cls(
    "message",
    { destroy: true },
    `uuid:string name:string priority:int cls:enum:cls obj_uuid:string timestamp:datetime body:string`,
  ),
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
];

export function defaultFor(type: FieldType): unknown {
  if (type === "string") return "";
  if (type === "int" || type === "float") return 0;
  if (type === "bool") return false;
  if (type === "datetime") return "19700101T00:00:00Z";
  if (type.startsWith("ref:")) return "OpaqueRef:NULL";
  if (type.startsWith("set:")) return [];
  if (type === "map") return {};
  if (type.startsWith("enum:")) return ENUMS[type.slice(5) as EnumName][0];
  return "";
}

export function defaultRecord(cls: string): Record<string, unknown> {
  const def = CLASSES[cls];
  if (!def) throw new Error(`unknown class ${cls}`);
  const rec: Record<string, unknown> = {};
  for (const f of def.fields) rec[f.name] = defaultFor(f.type);
  return rec;
}

import { NULL_REF } from "../ids";
import { Inventory, InventoryHost } from "../inventory/types";
import { MiB, vmMemoryOverhead } from "../rules/placement";
import { Engine } from "./engine";
import { planPlacements } from "../rules/placement";
import { Ctx } from "./engine";
import { SIMULATED_UEFI_CERTIFICATES } from "./methods/firmware";
import { cloneVm, newVm, provisionVm } from "./methods/vm";
import { seedIsoLibrary } from "./iso-library";
import { defaultRecord } from "./schema";
import { LOCAL_SR_TYPE, ensureSmRecords } from "./sm";

const GiB = 1024 * MiB;

export function hostAddress(h: InventoryHost, index: number): string {
  return h.address ?? `127.42.0.${index + 1}`;
}

function softwareVersion(inv: Inventory, name: string): Record<string, string> {
  return {
    product_version: "8.3.0",
    product_version_text: "8.3",
    product_version_text_short: "8.3",
    platform_name: "XCP",
    platform_version: "3.4.0",
    product_brand: "XCP-ng",
    build_number: "cloud",
    hostname: name,
    date: "2024-10-01",
    dbv: "0.0.1",
    xapi: "24.19",
    xapi_build: "24.19.2",
    xen: "4.17.4-3",
    linux: "4.19.0+1",
    xencenter_min: "2.21",
    xencenter_max: "2.21",
    network_backend: "openvswitch",
    db_schema: "5.780",
    ...(inv.software ?? {}),
  };
}

/** A fresh install: the host is the master of its own pool, with its local SR, networks and templates. */
export function seedStandaloneHost(e: Engine, inv: Inventory, index: number, keep: { hostUuid?: string } = {}): string {
  const h = inv.hosts[index]!;
  const address = hostAddress(h, index);
  const poolRef = e.ids.ref();
  e.db.create("pool", poolRef, poolRef, { ...defaultRecord("pool"), ...defaultPool(inv, h), uuid: e.ids.uuid() });
  const metrics = e.create("host_metrics", poolRef, {
    memory_total: h.memoryGiB * GiB,
    memory_free: h.memoryGiB * GiB,
    live: true,
    last_updated: e.now(),
  });
  const hvmCaps = ["hvm-3.0-x86_32", "hvm-3.0-x86_32p", "hvm-3.0-x86_64"];
  const flags = `fpu de tsc msr pae mce cx8 apic sep mca cmov pat clflush mmx fxsr sse sse2 ht syscall nx lm${h.hvm ? (h.cpuVendor === "AuthenticAMD" ? " svm" : " vmx") : ""} sse3 ssse3 cx16 sse4_1 sse4_2 popcnt aes hypervisor`;
  const host = e.create(
    "host",
    poolRef,
    {
      ...(keep.hostUuid ? { uuid: keep.hostUuid } : {}),
      name_label: h.name,
      name_description: "Default install",
      hostname: h.name,
      address,
      enabled: true,
      memory_overhead: 128 * MiB,
      allowed_operations: [
        "provision",
        "evacuate",
        "shutdown",
        "reboot",
        "vm_start",
        "vm_resume",
        "vm_migrate",
        "apply_updates",
      ],
      API_version_major: 2,
      API_version_minor: 21,
      API_version_vendor: "XenSource",
      software_version: softwareVersion(inv, h.name),
      capabilities: ["xen-3.0-x86_64", "xen-3.0-x86_32p", ...(h.hvm ? hvmCaps : [])],
      cpu_info: {
        cpu_count: String(h.cpus),
        socket_count: String(h.sockets ?? 1),
        threads_per_core: "1",
        nr_nodes: "1",
        vendor: h.cpuVendor,
        speed: "2400.000",
        modelname: h.cpuModel ?? `${h.cpuVendor} CPU`,
        family: "6",
        model: "106",
        stepping: "6",
        flags,
        features_pv: "1fc9cbf5-f6f83203-2991cbf5-00000123-00000007-00000000-00000000-00000000-00001000-8c000000",
        features_hvm: h.hvm
          ? "1fcbfbff-f7fa3223-2d93fbff-00000523-00000007-00000000-00000000-00000000-00001000-9c000000"
          : "",
      },
      sched_policy: "credit",
      supported_bootloaders: ["pygrub", "eliloader"],
      metrics,
      edition: "xcp-ng",
      license_params: { sku_type: "free", expiry: "30000101T00:00:00Z" },
      bios_strings: { "bios-vendor": "Xen", "system-manufacturer": "Simulated" },
      virtual_hardware_platform_versions: [0, 1, 2],
      external_auth_type: "",
      power_on_mode: "",
      iscsi_iqn: `iqn.2024-01.org.xcp-ng:${h.name}`,
      last_software_update: e.now(),
      tls_verification_enabled: true,
    },
    { index, nextDomid: 1 },
  );
  // dom0
  const dom0Mem = (h.dom0MemoryMiB ?? 2048) * MiB;
  const dom0Vcpus = Math.min(h.cpus, 8);
  const dom0 = newVm(e, poolRef, {
    name_label: `Control domain on host: ${h.name}`,
    name_description: "The domain which manages physical devices and manages other domains",
    is_control_domain: true,
    power_state: "Running",
    resident_on: host,
    domid: 0,
    memory_static_min: dom0Mem,
    memory_static_max: dom0Mem,
    memory_dynamic_min: dom0Mem,
    memory_dynamic_max: dom0Mem,
    VCPUs_max: dom0Vcpus,
    VCPUs_at_startup: dom0Vcpus,
    domain_type: "pv",
    memory_overhead: vmMemoryOverhead(dom0Mem, dom0Vcpus, false),
  });
  e.db.update(e.db.get("VM", dom0).metrics as string, {
    memory_actual: dom0Mem,
    VCPUs_number: dom0Vcpus,
    current_domain_type: "pv",
    state: ["running"],
    start_time: e.now(),
  });
  e.db.set(host, "control_domain", dom0);
  // local SR
  const local = e.create("SR", poolRef, {
    name_label: "Local storage",
    name_description: `Local storage on ${h.name}`,
    type: LOCAL_SR_TYPE,
    content_type: "user",
    shared: false,
    physical_size: (h.localSrGiB ?? 500) * GiB,
    other_config: { "i18n-key": "local-storage" },
    sm_config: { devserial: `scsi-sim-${h.name}` },
    allowed_operations: [
      "vdi_create",
      "vdi_destroy",
      "vdi_resize",
      "vdi_clone",
      "vdi_snapshot",
      "scan",
      "plug",
      "unplug",
    ],
  });
  e.create("PBD", poolRef, { host, SR: local, device_config: { device: "/dev/sda3" }, currently_attached: true });
  let defaultSr = local;
  for (const s of inv.srs ?? []) {
    if (s.host !== h.name) continue;
    const sr = e.create("SR", poolRef, {
      name_label: s.name,
      name_description: `${s.type.toUpperCase()} SR`,
      type: s.type,
      content_type: s.contentType ?? "user",
      shared: s.shared,
      physical_size: s.sizeGiB * GiB,
      allowed_operations: [
        "vdi_create",
        "vdi_destroy",
        "vdi_resize",
        "vdi_clone",
        "vdi_snapshot",
        "vdi_mirror",
        "scan",
        "plug",
        "unplug",
      ],
    });
    e.create("PBD", poolRef, {
      host,
      SR: sr,
      device_config: { server: "10.0.0.250", serverpath: `/export/${s.name}` },
      currently_attached: true,
    });
    if (s.shared) defaultSr = sr;
  }
  e.db.update(host, { suspend_image_sr: local, crash_dump_sr: local });
  // networks and PIFs
  inv.networks.forEach((n, i) => {
    const net = e.create("network", poolRef, {
      name_label: n.name,
      name_description: `${n.cidr}`,
      bridge: n.bridge,
      MTU: n.MTU ?? 1500,
      managed: true,
      default_locking_mode: "unlocked",
      allowed_operations: [],
    });
    e.create("PIF", poolRef, {
      device: n.device ?? `eth${i}`,
      network: net,
      host,
      MAC: e.ids.mac(),
      MTU: n.MTU ?? 1500,
      VLAN: -1,
      physical: true,
      currently_attached: true,
      management: n.management === true,
      ip_configuration_mode: n.management ? "Static" : "None",
      IP: n.management ? address : "",
      netmask: n.management ? "255.255.255.0" : "",
      managed: true,
      primary_address_type: "IPv4",
      ipv6_configuration_mode: "None",
    });
  });
  // templates
  for (const t of inv.templates) {
    const mem = t.memoryMiB * MiB;
    const disks = t.disks
      .map(
        (d, i) =>
          `<disk device="${i}" size="${d.size}" sr="${d.sr ?? ""}" bootable="${d.bootable === true}" type="${d.type ?? "system"}"/>`,
      )
      .join("");
    newVm(
      e,
      poolRef,
      {
        name_label: t.name,
        name_description: t.description ?? "",
        is_a_template: true,
        is_default_template: true,
        memory_static_min: Math.min(mem, 512 * MiB),
        memory_static_max: mem,
        memory_dynamic_min: mem,
        memory_dynamic_max: mem,
        VCPUs_max: t.vcpusMax ?? t.vcpus,
        VCPUs_at_startup: t.vcpus,
        domain_type: t.domainType,
        HVM_boot_policy: t.domainType === "pv" ? "" : "BIOS order",
        HVM_boot_params: t.domainType === "pv" ? {} : { order: t.bootOrder ?? "cdn", firmware: t.firmware ?? "bios" },
        PV_bootloader: t.PV_bootloader ?? "",
        platform:
          t.domainType === "pv"
            ? { ...(t.platform ?? {}) }
            : {
                acpi: "1",
                apic: "true",
                pae: "true",
                nx: "true",
                viridian: "false",
                secureboot: t.firmware === "uefi" ? "auto" : "false",
                ...(t.platform ?? {}),
              },
        other_config: { default_template: "true", disks: `<provision>${disks}</provision>`, ...(t.otherConfig ?? {}) },
        recommendations: `<restrictions><restriction field="memory-static-max" max="1649267441664"/><restriction field="vcpus-max" max="32"/></restrictions>`,
      },
      { pvDrivers: t.pvDrivers, agent: t.pvDrivers, features: t.features ?? [], os: t.os ?? {} },
    );
  }
  // Storage drivers last: the ids drawn for the objects above do not depend on how many drivers there are.
  ensureSmRecords(e, poolRef, inv);
  seedIsoLibrary(e, poolRef, host, inv);
  e.db.update(poolRef, {
    master: host,
    default_SR: defaultSr,
    suspend_image_SR: defaultSr,
    crash_dump_SR: defaultSr,
    cpu_info: { cpu_count: String(h.cpus), socket_count: String(h.sockets ?? 1), vendor: h.cpuVendor },
  });
  e.refreshHostMemory(poolRef);
  return host;
}

function defaultPool(inv: Inventory, h: InventoryHost): Record<string, unknown> {
  return {
    name_label: "",
    name_description: "",
    master: NULL_REF,
    default_SR: NULL_REF,
    suspend_image_SR: NULL_REF,
    crash_dump_SR: NULL_REF,
    other_config: { memory_ratio_hvm: "0.25", memory_ratio_pv: "0.25" },
    ha_enabled: false,
    ha_configuration: {},
    ha_statefiles: [],
    ha_host_failures_to_tolerate: 0,
    ha_plan_exists_for: 0,
    ha_allow_overcommit: false,
    ha_overcommitted: false,
    blobs: {},
    tags: [],
    gui_config: {},
    health_check_config: {},
    wlb_url: "",
    wlb_username: "",
    wlb_enabled: false,
    wlb_verify_cert: false,
    redo_log_enabled: false,
    redo_log_vdi: NULL_REF,
    vswitch_controller: "",
    restrictions: {
      restrict_dmc: "false",
      restrict_ha: "false",
      restrict_pool_size: "false",
      restrict_live_migration: "false",
      restrict_vtpm: "false",
    },
    metadata_VDIs: [],
    ha_cluster_stack: "xhad",
    allowed_operations: ["ha_enable", "designate_new_master"],
    current_operations: {},
    guest_agent_config: {},
    cpu_info: {},
    policy_no_vendor_device: false,
    live_patching_disabled: false,
    igmp_snooping_enabled: false,
    is_psr_pending: false,
    tls_verification_enabled: true,
    coordinator_bias: true,
    uefi_certificates: (h.uefiCertificates ?? inv.uefiCertificates ?? true) ? SIMULATED_UEFI_CERTIFICATES : "",
    custom_uefi_certificates: "",
  };
}

/** Loads the whole datacenter: every inventory host as a standalone pool, then the inventory's VMs. */
export function seedDatacenter(e: Engine, inv: Inventory): void {
  e.inventory = inv;
  e.tx(() => {
    const hosts = inv.hosts.map((_, i) => seedStandaloneHost(e, inv, i));
    for (const spec of inv.vms ?? []) {
      const idx = spec.host ? inv.hosts.findIndex((h) => h.name === spec.host) : 0;
      if (idx < 0) throw new Error(`inventory VM ${spec.name}: unknown host ${spec.host}`);
      const host = hosts[idx]!;
      const pool = e.db.poolOf(host)!;
      const ctx: Ctx = { session: NULL_REF, pool, host, user: "root", role: "pool-admin" };
      const tpl = e.db.all("VM", pool).find(([, v]) => v.name_label === spec.template && v.is_a_template === true)?.[0];
      if (!tpl) throw new Error(`inventory VM ${spec.name}: unknown template ${spec.template}`);
      const net = e.db.all("network", pool).find(([, n]) => n.name_label === (spec.network ?? "VM Network"))?.[0];
      const count = spec.count ?? 1;
      const toStart: string[] = [];
      for (let i = 1; i <= count; i++) {
        const vm = cloneVm(e, ctx, tpl, count > 1 ? `${spec.name}-${i}` : spec.name, { full: false });
        provisionVm(e, ctx, vm);
        if (net)
          e.create("VIF", pool, {
            VM: vm,
            network: net,
            device: "0",
            MAC: e.ids.mac(),
            MAC_autogenerated: true,
            MTU: 1500,
            locking_mode: "network_default",
          });
        if (spec.powerState === "Running") toStart.push(vm);
      }
      // One placement plan for the batch (memory accounted as it goes) instead of a pool scan per VM.
      const plan = planPlacements(
        toStart.map((vm) => e.placementVm(vm)),
        e.poolHosts(pool),
      );
      const failed = [...plan.failed.keys()][0];
      if (failed)
        throw new Error(`inventory VM ${e.db.get("VM", failed).name_label}: ${plan.failed.get(failed)!.message}`);
      for (const vm of toStart) e.bootVm(vm, plan.placed.get(vm)!, false, false);
    }
    for (const pool of new Set(hosts.map((h) => e.db.poolOf(h)!))) e.refreshHostMemory(pool);
  });
}

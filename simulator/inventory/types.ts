/** The declarative datacenter the simulator boots from (`--inventory FILE`). */
export interface InventoryHost {
  name: string;
  /** management address; default 127.42.0.<n> for host n (1-based) */
  address?: string;
  cpus: number;
  sockets?: number;
  memoryGiB: number;
  cpuVendor: string;
  cpuModel?: string;
  /** hardware-assisted virtualisation (VT-x/AMD-V): adds "hvm-*" capabilities */
  hvm: boolean;
  /** local SR size; a local SR named "Local storage" is created on every host */
  localSrGiB?: number;
  dom0MemoryMiB?: number;
  /** this host's pool starts with UEFI Secure Boot certificates; default: the inventory's `uefiCertificates` */
  uefiCertificates?: boolean;
}

export interface InventorySr {
  name: string;
  type: string;
  shared: boolean;
  sizeGiB: number;
  /** host whose pool starts with this SR attached (shared SRs: a PBD per pool member) */
  host: string;
  contentType?: string;
}

export interface InventoryNetwork {
  name: string;
  /** IPv4 range guests on this network get addresses from, e.g. "10.20.0.0/24" */
  cidr: string;
  bridge: string;
  /** the PIF on this network is the management interface */
  management?: boolean;
  device?: string;
  MTU?: number;
}

export interface InventoryDisk {
  size: number;
  /** which SR: "" = pool default SR */
  sr?: string;
  bootable?: boolean;
  type?: string;
}

export interface InventoryTemplate {
  name: string;
  description?: string;
  domainType: "hvm" | "pv" | "pvh";
  memoryMiB: number;
  vcpus: number;
  vcpusMax?: number;
  /** the guest reports PV drivers once booted */
  pvDrivers: boolean;
  /** guest feature flags reported by the agent (VM_guest_metrics.other) */
  features?: string[];
  os?: Record<string, string>;
  disks: InventoryDisk[];
  platform?: Record<string, string>;
  /**
   * HVM boot firmware (`HVM_boot_params["firmware"]`), default "bios". As in XenServer's templates
   * (guest-templates-json base-hvmlinux / base-linux-uefi), "uefi" comes with `platform["secureboot"]` "auto"
   * and "bios" with "false"; `platform` may override it.
   */
  firmware?: "bios" | "uefi";
  otherConfig?: Record<string, string>;
  PV_bootloader?: string;
  /** HVM firmware boot order (`HVM_boot_params["order"]`): `c` disk, `d` CD, `n` network; default "cdn" */
  bootOrder?: string;
}

/** An image of the pool's ISO library (a read-only VDI named after the file). */
export interface InventoryIso {
  /** file name, which is the VDI's name_label */
  name: string;
  sizeBytes: number;
  /** what the installer on a bootable image installs; absent: a data disc, which firmware does not boot */
  installs?: {
    /** VM_guest_metrics.os_version of the installed system */
    os: Record<string, string>;
    /** the installed kernel has PV drivers */
    pvDrivers: boolean;
    /** the installed system runs a guest agent (default: as pvDrivers) */
    agent?: boolean;
    /** feature flags its agent reports */
    features?: string[];
    /** the smallest boot disk the installer accepts (default 1 GiB) */
    minDiskGiB?: number;
  };
}

export interface InventoryUser {
  name: string;
  password: string;
  role: string;
}

/** VMs present at start-up (installed from a template, as `xe vm-install` would), e.g. for benchmarks. */
export interface InventoryVm {
  /** name_label; with `count` > 1 the names get a numeric suffix (`web-1`, `web-2`, ...) */
  name: string;
  template: string;
  /** pool of this host (its master's pool once joined); default: the first host */
  host?: string;
  count?: number;
  powerState?: "Halted" | "Running";
  /** network for a VIF on device 0 (default "VM Network" when it exists) */
  network?: string;
}

export interface Inventory {
  hosts: InventoryHost[];
  srs?: InventorySr[];
  networks: InventoryNetwork[];
  templates: InventoryTemplate[];
  users?: InventoryUser[];
  vms?: InventoryVm[];
  software?: Record<string, string>;
  /**
   * Per SR type, the storage driver's `SM.features` (name -> version), replacing the built-in set; e.g.
   * `{"ext": {"VDI_CREATE": 1, "VDI_RESIZE": 1, "VDI_RESIZE_ONLINE": 1}}` lets local disks grow online.
   */
  smFeatures?: Record<string, Record<string, number>>;
  /** the images of every pool's ISO library (default: Debian, Ubuntu and Windows installers and guest-tools.iso) */
  isos?: InventoryIso[];
  /**
   * Whether the pools start with UEFI Secure Boot certificates (`pool.uefi_certificates`), default true. false
   * models a pool where none were installed: a VM with `platform["secureboot"]` "auto" then boots without Secure
   * Boot, and one with "true" starts but stops in its firmware (message `VM_SECURE_BOOT_FAILED`, no guest agent).
   * A host's own `uefiCertificates` overrides this for its pool.
   */
  uefiCertificates?: boolean;
}

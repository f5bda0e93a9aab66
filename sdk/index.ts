/**
 * pulumi-xen: Xen pools, hosts and VMs as Pulumi resources.
 *
 * Connection: stack config `xen:url`, `xen:username`, `xen:password` (secret), `xen:caCert` / `xen:insecure`;
 * the environment variables XEN_URL, XEN_USERNAME, XEN_PASSWORD, XEN_CA_CERT, XEN_INSECURE override them.
 */
export { Pool, type PoolArgs, type PoolHaArgs } from "./pool";
export { Host, type HostArgs } from "./host";
export { Image, type ImageArgs } from "./image";
export { Template, type TemplateArgs } from "./template";
export { VmGroup, type VmGroupArgs } from "./vm-group";
export { Appliance, type ApplianceArgs, type ApplianceMemberArgs } from "./appliance";
export { Snapshot, type SnapshotArgs } from "./snapshot";
export {
  Vm,
  type VmArgs,
  type VmDiskArgs,
  type VmNetworkArgs,
  type VmCdromArgs,
  type VmCloudInitArgs,
  type VmProtectArgs,
  type TimeoutsArgs,
  type PowerState,
  type Size,
  type Duration,
} from "./vm";
export {
  getTemplate,
  getHost,
  getNetwork,
  getSr,
  type LookupArgs,
  type TemplateInfo,
  type HostInfo,
  type NetworkInfo,
  type SrInfo,
} from "./lookups";

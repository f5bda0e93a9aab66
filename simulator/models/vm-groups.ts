import { NULL_REF } from "../ids";
import type { AntiAffinity } from "../rules/placement";
import type { Engine } from "./engine";

/**
 * VM groups as xapi keeps them (xapi_vm_group_helpers.ml, xapi_vm_helpers.ml): a VM's anti-affinity group for
 * placement, and the pool alert raised while every running VM of such a group is on one host.
 */

/** api_messages.ml all_running_vms_in_anti_affinity_grp_on_single_host (priority 3). */
export const ANTI_AFFINITY_ALERT = "ALL_RUNNING_VMS_IN_ANTI_AFFINITY_GRP_ON_SINGLE_HOST";

/** The VM's first anti-affinity group (vm_has_anti_affinity), if it is in one. */
export function antiAffinityGroup(e: Engine, vmRef: string): string | undefined {
  const vm = e.db.get("VM", vmRef);
  return (vm.groups as string[]).find((g) => e.db.maybe("VM_group", g)?.placement === "anti_affinity");
}

/** How many of the group's VMs each host runs or is about to (host_to_vm_count_map). */
export function groupCounts(e: Engine, group: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of e.db.get("VM_group", group).VMs as string[]) {
    const vm = e.db.maybe("VM", v);
    if (!vm) continue;
    // A migrating VM counts where it is going; a paused one does not count.
    const sched = vm.scheduled_to_be_resident_on as string;
    const host =
      sched !== NULL_REF
        ? sched
        : vm.power_state === "Running" && vm.resident_on !== NULL_REF
          ? (vm.resident_on as string)
          : undefined;
    if (host) counts[host] = (counts[host] ?? 0) + 1;
  }
  return counts;
}

/** The placement view's anti-affinity part: `{}` for a VM in no anti-affinity group. */
export function antiAffinityOf(e: Engine, vmRef: string): { antiAffinity?: AntiAffinity } {
  const group = antiAffinityGroup(e, vmRef);
  return group ? { antiAffinity: { group, counts: groupCounts(e, group) } } : {};
}

/** check_breach_on_vm_anti_affinity_rules: the host every running VM of the group is on, when two or more are. */
function breachHost(e: Engine, group: string): string | undefined {
  const hosts: string[] = [];
  for (const v of e.db.get("VM_group", group).VMs as string[]) {
    const vm = e.db.maybe("VM", v);
    if (vm && vm.power_state === "Running" && vm.resident_on !== NULL_REF) hosts.push(vm.resident_on as string);
  }
  if (hosts.length < 2) return undefined;
  return hosts.every((h) => h === hosts[0]) ? hosts[0] : undefined;
}

function bodyField(body: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(body)?.[1];
}

/** The pool's anti-affinity alerts naming the group (by uuid, as the alert body does). */
function alertsOf(e: Engine, pool: string, groupUuid: string): [string, Record<string, unknown>][] {
  return e.db
    .all("message", pool)
    .filter(([, m]) => m.name === ANTI_AFFINITY_ALERT && bodyField(String(m.body), "VM_group") === groupUuid);
}

/**
 * update_vm_anti_affinity_alert_for_group: a breach without an alert raises one (class Pool, the pool's uuid, a
 * body naming the group and the host); no breach clears the group's alerts; a breach on another host replaces them.
 */
export function updateGroupAlerts(e: Engine, group: string): void {
  const g = e.db.maybe("VM_group", group);
  if (!g || g.placement !== "anti_affinity") return;
  const pool = e.db.poolOf(group)!;
  const alerts = alertsOf(e, pool, g.uuid as string);
  const host = breachHost(e, group);
  if (!host) {
    for (const [m] of alerts) e.db.destroy(m);
    return;
  }
  const hostUuid = e.db.get("host", host).uuid as string;
  if (alerts.some(([, m]) => bodyField(String(m.body), "host") === hostUuid)) return;
  for (const [m] of alerts) e.db.destroy(m);
  const body =
    `<body><message>Breach on VM anti-affinity rules</message><VM_group>${String(g.uuid)}</VM_group>` +
    `<host>${hostUuid}</host></body>`;
  e.message(pool, ANTI_AFFINITY_ALERT, 3, "Pool", e.poolRecord(pool).uuid as string, body);
}

/** remove_vm_anti_affinity_alert: VM_group.destroy takes the group's alerts with it. */
export function removeGroupAlerts(e: Engine, group: string): void {
  const g = e.db.get("VM_group", group);
  if (g.placement !== "anti_affinity") return;
  for (const [m] of alertsOf(e, e.db.poolOf(group)!, g.uuid as string)) e.db.destroy(m);
}

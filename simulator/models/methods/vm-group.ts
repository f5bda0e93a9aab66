import { fail } from "../../errors";
import { Rec } from "../db";
import { removeGroupAlerts } from "../vm-groups";
import { Registry, p } from "./registry";
import { pickFields } from "./storage";

/** VM groups (xapi_vm_group.ml, xapi_vm.ml set_groups); placement and alerts are in models/vm-groups.ts. */
export function registerVmGroup(reg: Registry): void {
  reg.add({
    name: "VM_group.create",
    async: true,
    params: p("args:record:VM_group"),
    result: "VM_group",
    run: (e, ctx, [args]) =>
      e.create("VM_group", ctx.pool, {
        placement: "normal",
        ...pickFields(e, ctx, "VM_group", args as Rec, ["name_label", "name_description", "placement"]),
      }),
  });
  reg.add({
    name: "VM_group.destroy",
    async: true,
    params: p("self:ref:VM_group"),
    run: (e, _ctx, [group]) => {
      // message_forwarding.ml: the group's alerts go first; xapi_vm_group.ml: then every member leaves it.
      removeGroupAlerts(e, group as string);
      for (const vm of [...(e.db.get("VM_group", group as string).VMs as string[])]) {
        const groups = e.db.get("VM", vm).groups as string[];
        e.db.set(
          vm,
          "groups",
          groups.filter((g) => g !== group),
        );
      }
      e.db.destroy(group as string);
      return "";
    },
  });
  reg.add({
    name: "VM.set_groups",
    async: true,
    params: p("self:ref:VM", "value:set:ref:VM_group"),
    run: (e, ctx, [vm, value]) => {
      const r = e.db.get("VM", vm as string, ctx.pool);
      if (r.is_control_domain === true || r.is_a_template === true || r.is_a_snapshot === true)
        throw fail("OPERATION_NOT_ALLOWED", "Control domains, templates, and snapshots cannot be added to VM groups.");
      // xapi counts the list as given: the same group twice is two groups.
      if ((value as string[]).length > 1) throw fail("TOO_MANY_GROUPS");
      e.db.set(vm as string, "groups", value);
      return "";
    },
  });
}

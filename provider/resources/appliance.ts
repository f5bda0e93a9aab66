/**
 * The Appliance resource provider: a XenAPI VM_appliance whose members start in ascending `order` (waiting each
 * one's `startDelay`) and stop in the reverse order (waiting `shutdownDelay`), when `powerState` asks for it. The
 * members' own Vm resources leave their power to it. Deleting it releases the members (they keep running).
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import type { ProviderContext } from "../connection";
import { planByKeys } from "../plan/simple";
import { applianceInputSchema, checkInputs, type ApplianceInputs } from "../schema";
import { xenFacade, type XenApiClient } from "../xenapi";
import { NULL_REF, inputsOf, isGone, isNullRef, readResult, record, refs, say, str } from "./common";
import { phaseDeadline, type PhaseDeadline } from "./deadline";
import { ProviderError } from "./errors";

export const APPLIANCE_OUTPUT_KEYS = ["uuid", "memberPowerStates"] as const;
const INPUT_KEYS = ["nameLabel", "description", "members", "powerState", "url", "timeouts"];
const DEFAULT_PHASE_MS = { create: 30 * 60_000, update: 30 * 60_000, delete: 15 * 60_000 };

type ApplianceState = ApplianceInputs & { uuid: string; memberPowerStates: Record<string, string> };

async function observe(client: XenApiClient, ref: string, desired: ApplianceInputs): Promise<ApplianceState> {
  const app = await record(client, "VM_appliance", ref);
  const memberPowerStates: Record<string, string> = {};
  const members: ApplianceInputs["members"] = [];
  for (const vmRef of refs(app, "VMs")) {
    const vm = await record(client, "VM", vmRef);
    memberPowerStates[vm.uuid] = str(vm, "power_state");
    members.push({
      vm: vm.uuid,
      order: Number(vm.order ?? 0),
      startDelay: Number(vm.start_delay ?? 0) * 1000,
      shutdownDelay: Number(vm.shutdown_delay ?? 0) * 1000,
    });
  }
  // In the program's order; a member added by hand comes last.
  const at = (uuid: string) => {
    const i = desired.members.findIndex((m) => m.vm === uuid);
    return i < 0 ? desired.members.length : i;
  };
  members.sort((a, b) => at(a.vm) - at(b.vm));
  const states = new Set(Object.values(memberPowerStates));
  const powerState =
    desired.powerState === undefined
      ? undefined
      : states.size === 1 && (states.has("Running") || states.has("Halted"))
        ? ([...states][0] as "Running" | "Halted")
        : states.size === 0
          ? desired.powerState
          : ("Mixed" as never);
  return JSON.parse(
    JSON.stringify({
      ...desired,
      nameLabel: app.name_label ?? "",
      description: str(app, "name_description"),
      members,
      powerState,
      uuid: app.uuid,
      memberPowerStates,
    }),
  ) as ApplianceState;
}

async function apply(client: XenApiClient, ref: string, news: ApplianceInputs, deadline: PhaseDeadline) {
  const xen = xenFacade(deadline.bound(client));
  const app = await record(client, "VM_appliance", ref);
  if (app.name_label !== news.nameLabel) await xen.VM_appliance.set_name_label(ref, news.nameLabel);
  if (str(app, "name_description") !== news.description)
    await xen.VM_appliance.set_name_description(ref, news.description);
  const wanted = new Set<string>();
  for (const [i, m] of news.members.entries()) {
    let vm: string;
    try {
      vm = await xen.VM.get_by_uuid(m.vm);
    } catch (e) {
      throw new ProviderError(`no VM with uuid ${m.vm}`, { path: `members[${i}].vm`, code: "NOT_FOUND", cause: e });
    }
    wanted.add(vm);
    const rec = await record(client, "VM", vm);
    if (rec.appliance !== ref) await xen.VM.set_appliance(vm, ref);
    if (Number(rec.order ?? 0) !== m.order) await xen.VM.set_order(vm, m.order);
    const start = Math.round(m.startDelay / 1000);
    const stop = Math.round(m.shutdownDelay / 1000);
    if (Number(rec.start_delay ?? 0) !== start) await xen.VM.set_start_delay(vm, start);
    if (Number(rec.shutdown_delay ?? 0) !== stop) await xen.VM.set_shutdown_delay(vm, stop);
  }
  for (const vm of refs(app, "VMs")) if (!wanted.has(vm)) await xen.VM.set_appliance(vm, NULL_REF);
  if (news.powerState === undefined || news.members.length === 0) return;
  const states: string[] = [];
  for (const vm of wanted) states.push(str(await record(client, "VM", vm), "power_state"));
  if (news.powerState === "Running" && states.some((s) => s !== "Running")) {
    say(`xen:Appliance ${news.nameLabel}: starting ${wanted.size} VMs in order (VM_appliance.start)`);
    await xen.VM_appliance.start(ref, false);
  } else if (news.powerState === "Halted" && states.some((s) => s !== "Halted")) {
    say(
      `xen:Appliance ${news.nameLabel}: shutting down ${wanted.size} VMs in reverse order (VM_appliance.clean_shutdown)`,
    );
    await xen.VM_appliance.clean_shutdown(ref);
  }
}

export function applianceProvider(ctx: ProviderContext): dynamic.ResourceProvider {
  return {
    async configure(req) {
      ctx.configure(req.config);
    },
    async check(_olds, news) {
      const r = checkInputs(applianceInputSchema, news, APPLIANCE_OUTPUT_KEYS);
      return r.failures.length > 0 ? { failures: r.failures } : { inputs: r.inputs };
    },
    async diff(_id, olds, news) {
      const plan = planByKeys(olds, news, INPUT_KEYS, ["url"]);
      if (plan.changed.length > 0) {
        const power =
          plan.changed.includes("powerState") && news.powerState !== undefined
            ? news.powerState === "Running"
              ? "; members start in ascending order, each followed by its startDelay"
              : "; members stop in descending order, each followed by its shutdownDelay"
            : "";
        say(`xen:Appliance ${String(news.nameLabel)}: update in place: ${plan.changed.join(", ")}${power}`);
      }
      return { changes: plan.changed.length > 0, replaces: plan.replaces };
    },
    async create(inputs) {
      const news = inputsOf<ApplianceInputs>(inputs);
      const client = ctx.connections.clientFor(news.url);
      const deadline = phaseDeadline(news, "create", DEFAULT_PHASE_MS);
      const ref = await xenFacade(deadline.bound(client)).VM_appliance.create({
        name_label: news.nameLabel,
        name_description: news.description,
      });
      await apply(client, ref, news, deadline);
      const outs = await observe(client, ref, news);
      return { id: outs.uuid, outs };
    },
    async read(id, props) {
      const olds = props as ApplianceState;
      const client = ctx.connections.clientFor(olds.url);
      let ref: string;
      try {
        ref = await client.getByUuid("VM_appliance", id);
      } catch (e) {
        if (isGone(e)) return {};
        throw e;
      }
      return readResult(id, await observe(client, ref, olds), APPLIANCE_OUTPUT_KEYS);
    },
    async update(id, _olds, newsRaw) {
      const news = inputsOf<ApplianceInputs>(newsRaw);
      const client = ctx.connections.clientFor(news.url);
      const ref = await client.getByUuid("VM_appliance", id);
      await apply(client, ref, news, phaseDeadline(news, "update", DEFAULT_PHASE_MS));
      return { outs: await observe(client, ref, news) };
    },
    async delete(id, props) {
      const olds = props as ApplianceState;
      const client = ctx.connections.clientFor(olds.url);
      const xen = xenFacade(phaseDeadline(olds, "delete", DEFAULT_PHASE_MS).bound(client));
      try {
        const ref = await client.getByUuid("VM_appliance", id);
        for (const vm of refs(await record(client, "VM_appliance", ref), "VMs"))
          if (!isNullRef(vm)) await xen.VM.set_appliance(vm, NULL_REF);
        await xen.VM_appliance.destroy(ref);
        say(`xen:Appliance ${olds.nameLabel}: destroyed; its VMs are released as they are`);
      } catch (e) {
        if (isGone(e)) return;
        throw e;
      }
    },
  };
}

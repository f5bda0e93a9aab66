/**
 * VM appliances over the wire (xapi_vm_appliance.ml): members start in ascending `order` and stop in descending
 * `order`, each order once the previous one's VMs have started (or stopped) and waited out their `start_delay` /
 * `shutdown_delay`. What proves it is in the event stream: each member's VM_metrics.start_time, the Async.VM.*
 * subtasks of the appliance's task (created / finished) and the VM_STARTED / VM_SHUTDOWN messages.
 */
import { RunningSimulator } from "../../../simulator";
import { parseXenDate } from "../../../simulator/clock";
import { call, control, failure, login, newVm, sim, waitTask } from "./helpers";

type Rec = Record<string, unknown>;

/** Seconds since the epoch of a XenAPI datetime (the wire has whole seconds). */
const secs = (d: unknown) => parseXenDate(String(d))! / 1000;

describe("VM_appliance", () => {
  let s: RunningSimulator;
  let u: string;
  let m: string;
  beforeAll(async () => {
    // Realistic time for the delays, none for the VM operations themselves.
    s = await sim({ timeScale: 1 });
    await control(s, "POST", "/durations", {
      "VM.start": 0,
      "VM.start_on": 0,
      "VM.clean_shutdown": 0,
      "VM.hard_shutdown": 0,
      "VM.clone": 0,
      "VM.provision": 0,
      "VM.destroy": 0,
      guest_agent: 0,
    });
    u = s.url;
    m = await login(u);
  });
  afterAll(() => s.close());

  async function appliance(name: string): Promise<string> {
    return call<string>(u, "VM_appliance.create", m, { name_label: name, name_description: "" });
  }

  test("the gate: no VMs, nothing to do, members that cannot be templates or join", async () => {
    const a = await appliance("empty");
    expect(await call(u, "VM_appliance.get_allowed_operations", m, a)).toEqual([]);
    expect(await failure(call(u, "VM_appliance.start", m, a, false))).toEqual([
      "OPERATION_NOT_ALLOWED",
      "Appliance has no VMs.",
    ]);
    const vm = await newVm(u, m, "CentOS 6 (PV)", "lonely");
    await call(u, "VM.set_appliance", m, vm, a);
    expect(await call(u, "VM_appliance.get_VMs", m, a)).toEqual([vm]);
    expect(await call(u, "VM_appliance.get_allowed_operations", m, a)).toEqual(["start"]);
    expect(await failure(call(u, "VM_appliance.clean_shutdown", m, a))).toEqual([
      "OPERATION_NOT_ALLOWED",
      "There are no running VMs in this appliance.",
    ]);
    expect(await failure(call(u, "VM_appliance.hard_shutdown", m, a))).toEqual([
      "OPERATION_NOT_ALLOWED",
      "All VMs in this appliance are halted.",
    ]);
    expect(await failure(call(u, "VM.set_is_a_template", m, vm, true))).toEqual(["VM_IS_PART_OF_AN_APPLIANCE", vm, a]);
    const [tpl] = await call<string[]>(u, "VM.get_by_name_label", m, "CentOS 6 (PV)");
    expect(await failure(call(u, "VM.set_appliance", m, tpl, a))).toEqual([
      "OPERATION_NOT_ALLOWED",
      "Control domains, templates and snapshots cannot be assigned to appliances.",
    ]);
    for (const [f, v] of [
      ["order", -1],
      ["start_delay", -5],
      ["shutdown_delay", -1],
    ] as const)
      expect(await failure(call(u, `VM.set_${f}`, m, vm, v))).toEqual([
        "INVALID_VALUE",
        `${f} must be non-negative`,
        String(v),
      ]);
    await call(u, "VM.set_appliance", m, vm, "OpaqueRef:NULL");
    expect(await call(u, "VM_appliance.get_VMs", m, a)).toEqual([]);
    // destroy leaves its former members' `appliance` dangling, as xapi's does.
    await call(u, "VM.set_appliance", m, vm, a);
    await call(u, "VM_appliance.destroy", m, a);
    expect(await call(u, "VM.get_appliance", m, vm)).toBe(a);
    await call(u, "VM.set_is_a_template", m, vm, true);
  });

  test("start in ascending order, each order after the previous one's start_delay; stop in descending order after shutdown_delay", async () => {
    const a = await appliance("three-tier");
    // db (order 0, start_delay 2 s), app (order 1, start_delay 1 s), web (order 2); stop: web (1 s), app (2 s), db.
    const tiers = [
      ["db", 0, 2, 0],
      ["app", 1, 1, 2],
      ["web", 2, 0, 1],
    ] as const;
    const vm: Record<string, string> = {};
    for (const [name, order, start, stop] of tiers) {
      vm[name] = await newVm(u, m, "CentOS 6 (PV)", name);
      await call(u, "VM.set_appliance", m, vm[name], a);
      await call(u, "VM.set_order", m, vm[name], order);
      await call(u, "VM.set_start_delay", m, vm[name], start);
      await call(u, "VM.set_shutdown_delay", m, vm[name], stop);
    }
    const token = (await call<{ token: string }>(u, "event.from", m, ["*"], "", 0)).token;

    const task = await call<string>(u, "Async.VM_appliance.start", m, a, false);
    expect(await call(u, "VM_appliance.get_current_operations", m, a)).toEqual({ [task]: "start" });
    expect(await call(u, "VM_appliance.get_allowed_operations", m, a)).toEqual([]);
    expect(await failure(call(u, "VM_appliance.start", m, a, false))).toEqual([
      "OTHER_OPERATION_IN_PROGRESS",
      "VM_appliance",
      a,
      "start",
      task,
    ]);
    expect((await waitTask(u, m, task, 15000)).status).toBe("success");
    expect(await call(u, "VM_appliance.get_allowed_operations", m, a)).toEqual([
      "clean_shutdown",
      "hard_shutdown",
      "shutdown",
    ]);

    // Everything a client watching event.from saw: the members' metrics, the subtasks, the messages.
    const { events } = await call<{ events: { class: string; ref: string; snapshot?: Rec }[] }>(
      u,
      "event.from",
      m,
      ["vm_metrics", "task", "message"],
      token,
      0,
    );
    const of = (cls: string) => events.filter((x) => x.class === cls && x.snapshot);
    const uuidOf: Record<string, string> = {};
    const metricsOf: Record<string, string> = {};
    for (const [n, ref] of Object.entries(vm)) {
      uuidOf[n] = await call<string>(u, "VM.get_uuid", m, ref);
      metricsOf[n] = await call<string>(u, "VM.get_metrics", m, ref);
    }
    const startTime = (n: string) => secs(of("vm_metrics").find((x) => x.ref === metricsOf[n])!.snapshot!.start_time);
    expect(startTime("app") - startTime("db")).toBeGreaterThanOrEqual(2);
    expect(startTime("web") - startTime("app")).toBeGreaterThanOrEqual(1);

    // VM_STARTED comes once the VM has waited out its start_delay (message_forwarding.ml, after the operation).
    const started = of("message").filter((x) => x.snapshot!.name === "VM_STARTED");
    const startedAt = (n: string) => secs(started.find((x) => x.snapshot!.obj_uuid === uuidOf[n])!.snapshot!.timestamp);
    expect(startedAt("db") - startTime("db")).toBeGreaterThanOrEqual(2);
    expect(startTime("app")).toBeGreaterThanOrEqual(startedAt("db"));

    // One Async.VM.start subtask per member: each spans its VM's start and start_delay, the next order's begins after.
    const subtasks = of("task")
      .map((x) => x.snapshot!)
      .filter((t) => t.subtask_of === task)
      .sort((x, y) => secs(x.created) - secs(y.created));
    expect(subtasks.map((t) => [t.name_label, t.status])).toEqual([
      ["Async.VM.start", "success"],
      ["Async.VM.start", "success"],
      ["Async.VM.start", "success"],
    ]);
    const [dbTask, appTask, webTask] = subtasks as [Rec, Rec, Rec];
    expect(secs(dbTask.finished) - secs(dbTask.created)).toBeGreaterThanOrEqual(2);
    expect(secs(appTask.created)).toBeGreaterThanOrEqual(secs(dbTask.finished));
    expect(secs(appTask.finished) - secs(appTask.created)).toBeGreaterThanOrEqual(1);
    expect(secs(webTask.created)).toBeGreaterThanOrEqual(secs(appTask.finished));

    const token2 = (await call<{ token: string }>(u, "event.from", m, ["*"], "", 0)).token;
    await call(u, "VM_appliance.clean_shutdown", m, a);
    for (const ref of Object.values(vm)) expect(await call(u, "VM.get_power_state", m, ref)).toBe("Halted");
    const after = await call<{ events: { snapshot?: Rec }[] }>(u, "event.from", m, ["message"], token2, 0);
    const down = after.events.map((x) => x.snapshot!).filter((x) => x?.name === "VM_SHUTDOWN");
    const downAt = (n: string) => secs(down.find((x) => x.obj_uuid === uuidOf[n])!.timestamp);
    // web stops first and waits 1 s, then app and its 2 s, then db.
    expect(downAt("app") - downAt("web")).toBeGreaterThanOrEqual(2);
    expect(downAt("db") - downAt("app")).toBeGreaterThanOrEqual(0);
    expect(downAt("db")).toBeGreaterThanOrEqual(downAt("web") + 2);
    expect(await call(u, "VM_appliance.get_allowed_operations", m, a)).toEqual(["start"]);
  }, 30000);

  test("VM.start waits out start_delay once, VM.start_on twice (xapi_vm.ml start, then its forwarder)", async () => {
    const vm = await newVm(u, m, "CentOS 6 (PV)", "delayed");
    await call(u, "VM.set_start_delay", m, vm, 1);
    const [host] = await call<string[]>(u, "host.get_all", m);
    const uuid = await call<string>(u, "VM.get_uuid", m, vm);
    const startedAt = async () => {
      const msgs = Object.values(await call<Record<string, Rec>>(u, "message.get_all_records", m));
      return Math.max(
        ...msgs.filter((x) => x.name === "VM_STARTED" && x.obj_uuid === uuid).map((x) => secs(x.timestamp)),
      );
    };
    const since = async () =>
      secs(await call(u, "VM_metrics.get_start_time", m, await call<string>(u, "VM.get_metrics", m, vm)));
    await call(u, "VM.start", m, vm, false, false);
    expect((await startedAt()) - (await since())).toBeGreaterThanOrEqual(1);
    await call(u, "VM.hard_shutdown", m, vm);
    await call(u, "VM.start_on", m, vm, host, false, false);
    expect((await startedAt()) - (await since())).toBeGreaterThanOrEqual(2);
    await call(u, "VM.hard_shutdown", m, vm);
  }, 10000);

  test("a member that will not start: the others do, and OPERATION_PARTIALLY_FAILED names it", async () => {
    const a = await appliance("partial");
    const ok = await newVm(u, m, "CentOS 6 (PV)", "ok");
    const stuck = await newVm(u, m, "CentOS 6 (PV)", "stuck");
    for (const x of [ok, stuck]) await call(u, "VM.set_appliance", m, x, a);
    await call(u, "VM.add_to_blocked_operations", m, stuck, "start", "maintenance window");
    expect(await failure(call(u, "VM_appliance.start", m, a, false))).toEqual([
      "OPERATION_PARTIALLY_FAILED",
      "VM_appliance.start",
      stuck,
    ]);
    expect(await call(u, "VM.get_power_state", m, ok)).toBe("Running");
    expect(await call(u, "VM_appliance.get_current_operations", m, a)).toEqual({});
    // A paused start aims at every member that is not Paused: the running one fails it (VM_BAD_POWER_STATE).
    await call(u, "VM.remove_from_blocked_operations", m, stuck, "start");
    expect(await failure(call(u, "VM_appliance.start", m, a, true))).toEqual([
      "OPERATION_PARTIALLY_FAILED",
      "VM_appliance.start",
      ok,
    ]);
    expect(await call(u, "VM.get_power_state", m, stuck)).toBe("Paused");
    expect(await call(u, "VM.get_power_state", m, ok)).toBe("Running");
    await call(u, "VM_appliance.hard_shutdown", m, a);
    expect(await call(u, "VM.get_power_state", m, stuck)).toBe("Halted");
  });
});

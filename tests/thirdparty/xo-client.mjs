/* global process, console, setTimeout, clearTimeout */
/**
 * Drives Xen Orchestra's XenAPI connector (npm `xen-api`, ESM only) against a XenAPI endpoint and prints one
 * JSON report on stdout. Spawned by xo-xen-api.test.ts, because ts-jest loads CommonJS and cannot import it.
 *
 *   node tests/thirdparty/xo-client.mjs <url> <json-rpc|xml-rpc> <password> <template name label>
 */
import { Xapi } from "xen-api";

const [url, transport, password, template] = process.argv.slice(2);
const warnings = [];
for (const level of ["warn", "error"]) {
  console[level] = (...args) => warnings.push(`${level}: ${args.map(String).join(" ")}`);
}

function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function until(ms, what, test) {
  const end = Date.now() + ms;
  for (;;) {
    const v = test();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const report = { transport, warnings };
const xapi = new Xapi({ url, auth: { user: "root", password }, transport, allowUnauthorized: true, debounce: 20 });
try {
  await within(10000, "connect", xapi.connect());
  await within(10000, "objects sync", xapi.objectsFetched);
  const all = Object.values(xapi.objects.all);
  report.types = [...new Set(all.map((o) => o.$type))].sort();
  // the classes it watches: every `<class>.get_all_records` in system.listMethods (index.mjs _sessionOpen)
  report.watched = [...xapi._types].sort();
  report.objects = all.length;
  const tpl = all.find((o) => o.$type === "VM" && o.is_a_template && o.name_label === template);
  if (!tpl) throw new Error(`template ${template} not in the synced objects`);

  const added = new Set();
  const updated = new Set();
  xapi.objects.on("add", (objects) => Object.values(objects).forEach((o) => added.add(o.$ref)));
  xapi.objects.on("update", (objects) => Object.values(objects).forEach((o) => updated.add(o.$ref)));

  const name = `xo-clone-${transport}`;
  const ref = await within(10000, "callAsync VM.clone", xapi.callAsync("VM.clone", tpl.$ref, name));
  report.cloneRef = ref;
  const vm = await until(10000, "the clone in the objects", () => xapi.getObjectByRef(ref, undefined));
  report.clone = { name_label: vm.name_label, is_a_template: vm.is_a_template, addEvent: added.has(ref) };

  await xapi.call("VM.set_name_description", ref, "changed by xen-api");
  await until(
    10000,
    "the description change event",
    () => xapi.getObjectByRef(ref).name_description === "changed by xen-api",
  );
  report.updateEvent = updated.has(ref);
  report.watchEventsError = xapi.watchEventsError === undefined ? null : String(xapi.watchEventsError);
} catch (error) {
  report.error = String(error?.stack ?? error);
} finally {
  await within(5000, "disconnect", xapi.disconnect()).catch(() => undefined);
  process.stdout.write(JSON.stringify(report) + "\n");
  process.exit(0);
}

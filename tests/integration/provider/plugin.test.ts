/**
 * The native provider's gRPC surface, called as the engine calls it (a gRPC client over loopback) against the
 * simulator: GetSchema, CheckConfig, Configure, Check, Diff, Create, Read (refresh and import), Update, Delete;
 * the password stays a secret and never comes back in any response.
 */
import * as grpc from "@grpc/grpc-js";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as plugproto from "@pulumi/pulumi/proto/plugin_pb";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import { SECRET_SIG, XenPlugin, secret } from "../../../provider/plugin/plugin";
import schemaJson from "../../../provider/plugin/schema.json";
import { serve } from "../../../provider/plugin/server";
import { XenApiClient } from "../../../provider/xenapi";
import { startSimulator, type RunningSimulator } from "../../../simulator";

const PASSWORD = "plugin-grpc-root-pw-31c7";
const URN = "urn:pulumi:dev::proj::xen:index:Vm::web";

let sim: RunningSimulator;
let plugin: XenPlugin;
let server: grpc.Server;
let client: provrpc.ResourceProviderClient;
let xen: XenApiClient;
const responses: string[] = [];

/** One unary call, its response also kept (as JSON) for the check that no response carries the password. */
function rpc<Res>(method: unknown, req: unknown): Promise<Res> {
  const call = method as (req: unknown, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown;
  return new Promise((resolve, reject) =>
    call.call(client, req, (err, res) => {
      if (err) return reject(err);
      responses.push(JSON.stringify((res as { toObject(): unknown }).toObject()));
      resolve(res);
    }),
  );
}
const struct = (o: Record<string, unknown>) =>
  structproto.Struct.fromJavaScript(o as Record<string, structproto.JavaScriptValue>);
const plain = (s: structproto.Struct | undefined) => (s?.toJavaScript() ?? {}) as Record<string, unknown>;

beforeAll(async () => {
  sim = await startSimulator({ port: 0, http: true, timeScale: 0, failedLoginDelayMs: 0, rootPassword: PASSWORD });
  xen = new XenApiClient({ url: sim.url, username: "root", password: PASSWORD });
  plugin = new XenPlugin();
  const out = jest.spyOn(process.stdout, "write").mockImplementation(() => true);
  server = await serve(plugin, { version: schemaJson.version, schema: () => JSON.stringify(schemaJson) });
  const port = String(out.mock.calls[0]![0]).trim();
  out.mockRestore();
  client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  server?.forceShutdown();
  await plugin?.close();
  await xen?.close();
  await sim?.close();
});

test("GetSchema and GetPluginInfo describe the package", async () => {
  const req = new provproto.GetSchemaRequest();
  const res = await rpc<provproto.GetSchemaResponse>(client.getSchema, req);
  const schema = JSON.parse(res.getSchema()) as { name: string; resources: Record<string, unknown> };
  expect(schema.name).toBe("xen");
  expect(Object.keys(schema.resources).sort()).toEqual([
    "xen:index:Appliance",
    "xen:index:Host",
    "xen:index:Image",
    "xen:index:Pool",
    "xen:index:Snapshot",
    "xen:index:Template",
    "xen:index:Vm",
    "xen:index:VmGroup",
  ]);
  const info = await rpc<plugproto.PluginInfo>(client.getPluginInfo, new emptyproto.Empty());
  expect(info.getVersion()).toBe(schemaJson.version);
});

test("CheckConfig keeps the password secret, even one given in clear, and names unknown settings", async () => {
  const req = new provproto.CheckRequest();
  req.setNews(struct({ url: sim.url, password: PASSWORD, pasword: "typo" }));
  const res = await rpc<provproto.CheckResponse>(client.checkConfig, req);
  expect(res.getFailuresList().map((f) => [f.getProperty(), f.getReason()])).toEqual([
    ["pasword", expect.stringContaining("unknown setting")],
  ]);
  expect(plain(res.getInputs()).password).toEqual(secret(PASSWORD));
  const ok = new provproto.CheckRequest();
  ok.setNews(struct({ url: sim.url, password: secret(PASSWORD) }));
  const checked = await rpc<provproto.CheckResponse>(client.checkConfig, ok);
  expect(checked.getFailuresList()).toEqual([]);
  expect(plain(checked.getInputs()).password).toEqual({ [SECRET_SIG]: expect.any(String), value: PASSWORD });
});

test("Configure, then a VM's whole life: Check, Diff, Create, Read, Update, Read as import, Delete", async () => {
  const conf = new provproto.ConfigureRequest();
  conf.setArgs(struct({ url: sim.url, username: "root", password: PASSWORD }));
  const configured = await rpc<provproto.ConfigureResponse>(client.configure, conf);
  expect(configured.getAcceptsecrets()).toBe(false);

  const check = new provproto.CheckRequest();
  check.setUrn(URN);
  check.setOlds(struct({}));
  check.setNews(struct({ template: "Debian Bookworm 12", nameLabel: "grpc-web", vcpus: 1, memory: "1GiB" }));
  const checked = await rpc<provproto.CheckResponse>(client.check, check);
  expect(checked.getFailuresList()).toEqual([]);
  const inputs = plain(checked.getInputs());
  expect(inputs).toMatchObject({ memory: 1024 ** 3, powerState: "Running", ownershipKey: URN });

  const bad = new provproto.CheckRequest();
  bad.setUrn(URN);
  bad.setOlds(struct({}));
  bad.setNews(struct({ template: "Debian Bookworm 12", nameLabel: "x", vcpus: 0, memory: "1GiB" }));
  const failed = await rpc<provproto.CheckResponse>(client.check, bad);
  expect(failed.getFailuresList().map((f) => f.getProperty())).toEqual(["vcpus"]);

  const create = new provproto.CreateRequest();
  create.setUrn(URN);
  create.setProperties(struct(inputs));
  const created = await rpc<provproto.CreateResponse>(client.create, create);
  const id = created.getId();
  const outs = plain(created.getProperties());
  expect(outs).toMatchObject({ uuid: id, powerState: "Running", nameLabel: "grpc-web" });
  expect((await xen.getRecord("VM", await xen.getByUuid("VM", id))).power_state).toBe("Running");

  const diff = new provproto.DiffRequest();
  diff.setId(id);
  diff.setUrn(URN);
  diff.setOlds(struct(outs));
  diff.setNews(struct({ ...inputs, memory: 2 * 1024 ** 3, maxMemory: 2 * 1024 ** 3 }));
  // A change that needs a restart is refused at preview unless allowed, and the error says what to do.
  await expect(rpc<provproto.DiffResponse>(client.diff, diff)).rejects.toMatchObject({
    details: expect.stringContaining("allowRestart"),
  });
  diff.setNews(struct({ ...inputs, memory: 2 * 1024 ** 3, maxMemory: 2 * 1024 ** 3, allowRestart: true }));
  const diffed = await rpc<provproto.DiffResponse>(client.diff, diff);
  expect(diffed.getChanges()).toBe(provproto.DiffResponse.DiffChanges.DIFF_SOME);
  expect(diffed.getReplacesList()).toEqual([]);

  const update = new provproto.UpdateRequest();
  update.setId(id);
  update.setUrn(URN);
  update.setOlds(struct(outs));
  update.setNews(struct({ ...inputs, memory: 1.5 * 1024 ** 3, maxMemory: 1024 ** 3 * 1.5, allowRestart: true }));
  const updated = plain((await rpc<provproto.UpdateResponse>(client.update, update)).getProperties());
  expect(updated).toMatchObject({ uuid: id, memory: 1.5 * 1024 ** 3 });

  const read = new provproto.ReadRequest();
  read.setId(id);
  read.setUrn(URN);
  read.setProperties(struct(updated));
  const refreshed = await rpc<provproto.ReadResponse>(client.read, read);
  expect(refreshed.getId()).toBe(id);
  expect(plain(refreshed.getProperties())).toMatchObject({ memory: 1.5 * 1024 ** 3 });

  // Import: no state at all. The inputs describe the VM; its template is recorded, and it is marked imported.
  const imp = new provproto.ReadRequest();
  imp.setId(id);
  imp.setUrn(URN);
  imp.setProperties(struct({}));
  const imported = await rpc<provproto.ReadResponse>(client.read, imp);
  // The template is xapi's other_config.base_template_name, which VM.clone of a template records.
  expect(plain(imported.getInputs())).toMatchObject({
    nameLabel: "grpc-web",
    template: "Debian Bookworm 12",
    vcpus: 1,
  });
  expect(plain(imported.getInputs())).not.toHaveProperty("uuid");
  expect(plain(imported.getProperties())).toMatchObject({ uuid: id, imported: true });

  const del = new provproto.DeleteRequest();
  del.setId(id);
  del.setUrn(URN);
  del.setProperties(struct(updated));
  await rpc<emptyproto.Empty>(client.delete, del);
  await expect(xen.getByUuid("VM", id)).rejects.toMatchObject({ code: "UUID_INVALID" });

  // A read of a VM that is gone answers no id: the engine drops the resource.
  const gone = await rpc<provproto.ReadResponse>(client.read, read);
  expect(gone.getId()).toBe("");
});

test("Invoke serves the lookups; one that matches nothing is a failure that names it", async () => {
  const req = new provproto.InvokeRequest();
  req.setTok("xen:index:getTemplate");
  req.setArgs(struct({ nameLabel: "Debian Bookworm 12" }));
  const res = await rpc<provproto.InvokeResponse>(client.invoke, req);
  expect(res.getFailuresList()).toEqual([]);
  expect(plain(res.getReturn())).toMatchObject({ nameLabel: "Debian Bookworm 12", uuid: expect.any(String) });
  const host = new provproto.InvokeRequest();
  host.setTok("xen:index:getHost");
  host.setArgs(struct({ address: "127.42.0.1" }));
  expect(plain((await rpc<provproto.InvokeResponse>(client.invoke, host)).getReturn())).toMatchObject({
    address: "127.42.0.1",
    enabled: true,
  });
  const none = new provproto.InvokeRequest();
  none.setTok("xen:index:getNetwork");
  none.setArgs(struct({ nameLabel: "no such network" }));
  const failed = await rpc<provproto.InvokeResponse>(client.invoke, none);
  expect(failed.getFailuresList().map((f) => [f.getProperty(), f.getReason()])).toEqual([
    ["nameLabel", expect.stringContaining('nothing named "no such network"')],
  ]);
});

test("an unknown resource type is an error that names what the provider serves", async () => {
  const check = new provproto.CheckRequest();
  check.setUrn("urn:pulumi:dev::proj::xen:index:Nope::x");
  check.setOlds(struct({}));
  check.setNews(struct({}));
  await expect(rpc<provproto.CheckResponse>(client.check, check)).rejects.toMatchObject({
    details: expect.stringContaining("Pool, Host, Vm"),
  });
});

test("no response carried the password", () => {
  expect(responses.length).toBeGreaterThan(5);
  // CheckConfig answers it wrapped as a secret for the engine to encrypt; nothing else ever holds it.
  const outside = responses.filter((r) => !r.includes(SECRET_SIG));
  for (const r of outside) expect(r).not.toContain(PASSWORD);
});

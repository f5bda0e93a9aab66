/**
 * The gRPC front door of the native provider (`pulumi-resource-xen`): the engine's ResourceProvider service,
 * mapped onto {@link XenPlugin}. Only translation lives here: structs to plain values and back, results to
 * responses, errors to gRPC statuses (a partly created resource as ErrorResourceInitFailed, so the engine records
 * it instead of losing it).
 */
import * as grpc from "@grpc/grpc-js";
import * as anyproto from "google-protobuf/google/protobuf/any_pb";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as plugproto from "@pulumi/pulumi/proto/plugin_pb";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import * as statusproto from "@pulumi/pulumi/proto/status_pb";
import type { CheckFailure, XenPlugin } from "./plugin";

type Callback<T> = (
  err: grpc.ServiceError | grpc.StatusObject | null,
  value?: T | null,
  trailer?: grpc.Metadata,
) => void;
type Call<Req> = { request: Req };

const toPlain = (s: structproto.Struct | undefined): Record<string, unknown> =>
  (s?.toJavaScript() ?? {}) as Record<string, unknown>;
const toStruct = (o: unknown): structproto.Struct =>
  structproto.Struct.fromJavaScript(JSON.parse(JSON.stringify(o ?? {})) as Record<string, structproto.JavaScriptValue>);

function failuresOf(list: CheckFailure[]): provproto.CheckFailure[] {
  return list.map((f) => {
    const out = new provproto.CheckFailure();
    out.setProperty(f.property);
    out.setReason(f.reason);
    return out;
  });
}

/** An error as the engine understands it; one that carries `id` and `properties` is a resource that exists. */
function statusOf(e: unknown): grpc.StatusObject {
  const err = e as Error & { id?: string; properties?: Record<string, unknown>; reasons?: string[] };
  const metadata = new grpc.Metadata();
  if (err.id) {
    const detail = new provproto.ErrorResourceInitFailed();
    detail.setId(err.id);
    const { __provider: _ignored, ...properties } = err.properties ?? {};
    detail.setProperties(toStruct(properties));
    detail.setReasonsList(err.reasons ?? [err.message]);
    const any = new anyproto.Any();
    any.pack(detail.serializeBinary(), "pulumirpc.ErrorResourceInitFailed");
    const status = new statusproto.Status();
    status.setCode(grpc.status.UNKNOWN);
    status.setMessage(err.message);
    status.addDetails(any);
    metadata.add("grpc-status-details-bin", Buffer.from(status.serializeBinary()));
  }
  return { code: grpc.status.UNKNOWN, details: err.message ?? String(e), metadata };
}

/** Runs `fn` and answers the call with its value or its error. */
function answer<T>(callback: Callback<T>, fn: () => Promise<T> | T): void {
  Promise.resolve()
    .then(fn)
    .then(
      (v) => callback(null, v),
      (e: unknown) => {
        const status = statusOf(e);
        callback(status, null, status.metadata);
      },
    );
}

/** The service implementation: one method per RPC of pulumirpc.ResourceProvider that this provider serves. */
export function resourceProviderService(plugin: XenPlugin, opts: { version: string; schema: () => string }) {
  const unimplemented = (name: string) => (_call: unknown, callback: Callback<unknown>) =>
    callback({ code: grpc.status.UNIMPLEMENTED, details: `${name} is not implemented`, metadata: new grpc.Metadata() });
  return {
    getPluginInfo: (_call: Call<emptyproto.Empty>, callback: Callback<plugproto.PluginInfo>) => {
      const info = new plugproto.PluginInfo();
      info.setVersion(opts.version);
      callback(null, info);
    },
    getSchema: (call: Call<provproto.GetSchemaRequest>, callback: Callback<provproto.GetSchemaResponse>) =>
      answer(callback, () => {
        if (call.request.getVersion() !== 0) throw new Error(`unsupported schema version ${call.request.getVersion()}`);
        const resp = new provproto.GetSchemaResponse();
        resp.setSchema(opts.schema());
        return resp;
      }),
    checkConfig: (call: Call<provproto.CheckRequest>, callback: Callback<provproto.CheckResponse>) =>
      answer(callback, () => {
        const { inputs, failures } = plugin.checkConfig(toPlain(call.request.getNews()));
        const resp = new provproto.CheckResponse();
        resp.setInputs(toStruct(inputs));
        resp.setFailuresList(failuresOf(failures));
        return resp;
      }),
    diffConfig: (call: Call<provproto.DiffRequest>, callback: Callback<provproto.DiffResponse>) =>
      answer(callback, () => {
        // A connection change re-targets the provider; it never replaces the resources it manages.
        const olds = JSON.stringify(toPlain(call.request.getOlds()));
        const news = JSON.stringify(toPlain(call.request.getNews()));
        const resp = new provproto.DiffResponse();
        resp.setChanges(
          olds === news ? provproto.DiffResponse.DiffChanges.DIFF_NONE : provproto.DiffResponse.DiffChanges.DIFF_SOME,
        );
        return resp;
      }),
    configure: (call: Call<provproto.ConfigureRequest>, callback: Callback<provproto.ConfigureResponse>) =>
      answer(callback, () => {
        const args = toPlain(call.request.getArgs());
        // Default providers are configured from the stack's `xen:` variables.
        for (const [k, v] of call.request.getVariablesMap().entries()) {
          const key = String(k).replace(/^xen:(config:)?/, "");
          if (args[key] === undefined) args[key] = v;
        }
        plugin.configure(args);
        const resp = new provproto.ConfigureResponse();
        // Secrets come in revealed; the engine marks as secret any output whose input was one.
        resp.setAcceptsecrets(false);
        resp.setSupportspreview(false);
        resp.setAcceptresources(false);
        resp.setAcceptoutputs(false);
        return resp;
      }),
    check: (call: Call<provproto.CheckRequest>, callback: Callback<provproto.CheckResponse>) =>
      answer(callback, async () => {
        const req = call.request;
        const result = await plugin.check(req.getUrn(), toPlain(req.getOlds()), toPlain(req.getNews()));
        const resp = new provproto.CheckResponse();
        resp.setInputs(toStruct(result.inputs));
        resp.setFailuresList(failuresOf(result.failures));
        return resp;
      }),
    diff: (call: Call<provproto.DiffRequest>, callback: Callback<provproto.DiffResponse>) =>
      answer(callback, async () => {
        const req = call.request;
        const result = await plugin.diff(req.getId(), req.getUrn(), toPlain(req.getOlds()), toPlain(req.getNews()));
        const resp = new provproto.DiffResponse();
        resp.setChanges(
          result.changes === true
            ? provproto.DiffResponse.DiffChanges.DIFF_SOME
            : result.changes === false
              ? provproto.DiffResponse.DiffChanges.DIFF_NONE
              : provproto.DiffResponse.DiffChanges.DIFF_UNKNOWN,
        );
        resp.setReplacesList(result.replaces ?? []);
        resp.setDeletebeforereplace(result.deleteBeforeReplace === true);
        return resp;
      }),
    create: (call: Call<provproto.CreateRequest>, callback: Callback<provproto.CreateResponse>) =>
      answer(callback, async () => {
        const result = await plugin.create(call.request.getUrn(), toPlain(call.request.getProperties()));
        const resp = new provproto.CreateResponse();
        resp.setId(result.id);
        resp.setProperties(toStruct(result.outs));
        return resp;
      }),
    read: (call: Call<provproto.ReadRequest>, callback: Callback<provproto.ReadResponse>) =>
      answer(callback, async () => {
        const req = call.request;
        const result = await plugin.read(req.getId(), req.getUrn(), toPlain(req.getProperties()));
        const resp = new provproto.ReadResponse();
        // No id: the object is gone; the engine drops the resource.
        resp.setId(result.id ?? "");
        resp.setProperties(toStruct(result.props));
        if (result.inputs !== undefined) resp.setInputs(toStruct(result.inputs));
        return resp;
      }),
    update: (call: Call<provproto.UpdateRequest>, callback: Callback<provproto.UpdateResponse>) =>
      answer(callback, async () => {
        const req = call.request;
        const result = await plugin.update(req.getId(), req.getUrn(), toPlain(req.getOlds()), toPlain(req.getNews()));
        const resp = new provproto.UpdateResponse();
        resp.setProperties(toStruct(result.outs));
        return resp;
      }),
    delete: (call: Call<provproto.DeleteRequest>, callback: Callback<emptyproto.Empty>) =>
      answer(callback, async () => {
        const req = call.request;
        await plugin.delete(req.getId(), req.getUrn(), toPlain(req.getProperties()));
        return new emptyproto.Empty();
      }),
    cancel: (_call: unknown, callback: Callback<emptyproto.Empty>) =>
      answer(callback, async () => {
        await plugin.close();
        return new emptyproto.Empty();
      }),
    attach: (_call: unknown, callback: Callback<emptyproto.Empty>) => callback(null, new emptyproto.Empty()),
    invoke: (call: Call<provproto.InvokeRequest>, callback: Callback<provproto.InvokeResponse>) =>
      answer(callback, async () => {
        const result = await plugin.invoke(call.request.getTok(), toPlain(call.request.getArgs()));
        const resp = new provproto.InvokeResponse();
        if (result.outputs !== undefined) resp.setReturn(toStruct(result.outputs));
        resp.setFailuresList(failuresOf(result.failures));
        return resp;
      }),
    call: unimplemented("Call"),
    construct: unimplemented("Construct"),
    parameterize: unimplemented("Parameterize"),
    getMapping: unimplemented("GetMapping"),
    getMappings: unimplemented("GetMappings"),
    handshake: unimplemented("Handshake"),
  };
}

/** Serves the provider on a loopback port and prints the port, as the engine expects of a plugin. */
export async function serve(plugin: XenPlugin, opts: { version: string; schema: () => string }): Promise<grpc.Server> {
  const server = new grpc.Server({ "grpc.max_receive_message_length": 400 * 1024 * 1024 });
  server.addService(
    provrpc.ResourceProviderService,
    resourceProviderService(plugin, opts) as unknown as grpc.UntypedServiceImplementation,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  process.stdout.write(`${port}\n`);
  return server;
}

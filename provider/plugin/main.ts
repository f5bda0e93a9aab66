/**
 * `pulumi-resource-xen`: the native provider plugin. The engine starts it, reads the port it prints and talks
 * gRPC to it. Logs go to stderr (stdout carries only the port).
 */
import { XenPlugin } from "./plugin";
import schemaJson from "./schema.json";
import { serve } from "./server";

async function main(): Promise<void> {
  const plugin = new XenPlugin();
  const schema = JSON.stringify(schemaJson);
  const version = schemaJson.version;
  const server = await serve(plugin, { version, schema: () => schema });
  const stop = () => {
    server.forceShutdown();
    void plugin.close().finally(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`pulumi-resource-xen: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});

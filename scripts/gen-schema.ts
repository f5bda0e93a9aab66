/**
 * Generates the Pulumi package schema of the native provider (provider/plugin/schema.json) from the facts that
 * already exist, so that nothing is written twice:
 *   - types, defaults, enums and required inputs: the zod input schemas (provider/schema.ts);
 *   - which properties are outputs: the providers' *_OUTPUT_KEYS;
 *   - every description: the doc comments of the SDK's Args interfaces and resource classes (sdk/*.ts).
 * A property without a description is an error: the schema documents every input and output.
 *
 *   node -r ts-node/register/transpile-only scripts/gen-schema.ts [--check]
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { z } from "zod";
import { CONFIG_KEYS } from "../provider/connection";
import {
  hostInputSchema,
  imageInputSchema,
  poolInputSchema,
  templateInputSchema,
  vmInputSchema,
  vmGroupInputSchema,
  applianceInputSchema,
  snapshotInputSchema,
} from "../provider/schema";
import { VM_GROUP_OUTPUT_KEYS } from "../provider/resources/vm-group";
import { APPLIANCE_OUTPUT_KEYS } from "../provider/resources/appliance";
import { SNAPSHOT_OUTPUT_KEYS } from "../provider/resources/snapshot";
import { IMAGE_OUTPUT_KEYS } from "../provider/resources/image";
import { TEMPLATE_OUTPUT_KEYS } from "../provider/resources/template";
import { HOST_OUTPUT_KEYS } from "../provider/resources/host";
import { POOL_OUTPUT_KEYS } from "../provider/resources/pool";
import { VM_OUTPUT_KEYS } from "../provider/resources/vm";
import { PACKAGE, RESOURCES, token } from "../provider/plugin/tokens";

const ROOT = path.join(__dirname, "..");
const OUT = path.join(ROOT, "provider", "plugin", "schema.json");

type Json = Record<string, unknown>;

/**
 * Doc comments of the SDK's interfaces and classes and of the lookups' (`Name.property` -> text, `Name` -> text),
 * and the lookups' property types (`Name.property` -> `string` | `number` | `boolean`).
 */
const propertyTypes = new Map<string, string>();
const interfaceBases = new Map<string, string[]>();

function sdkDocs(): Map<string, string> {
  const docs = new Map<string, string>();
  for (const file of [
    "sdk/vm.ts",
    "sdk/pool.ts",
    "sdk/host.ts",
    "sdk/image.ts",
    "sdk/vm-group.ts",
    "sdk/appliance.ts",
    "sdk/snapshot.ts",
    "sdk/template.ts",
    "provider/lookups.ts",
  ]) {
    const full = path.join(ROOT, file);
    const src = ts.createSourceFile(full, fs.readFileSync(full, "utf8"), ts.ScriptTarget.ES2022, true);
    const docOf = (node: ts.Node): string | undefined => {
      const jsdoc = (node as { jsDoc?: ts.JSDoc[] }).jsDoc;
      const text = jsdoc?.map((d) => (typeof d.comment === "string" ? d.comment : "")).join("\n");
      return text ? text.replace(/\s*\n\s*/g, " ").trim() : undefined;
    };
    src.forEachChild((node) => {
      if (!ts.isInterfaceDeclaration(node) && !ts.isClassDeclaration(node)) return;
      const owner = node.name?.text;
      if (!owner) return;
      const own = docOf(node);
      if (own) docs.set(owner, own);
      if (ts.isInterfaceDeclaration(node))
        interfaceBases.set(
          owner,
          (node.heritageClauses ?? []).flatMap((h) => h.types.map((t) => t.expression.getText())),
        );
      for (const member of node.members) {
        if (!member.name || !ts.isIdentifier(member.name)) continue;
        const text = docOf(member);
        if (text) docs.set(`${owner}.${member.name.text}`, text);
        if (ts.isPropertySignature(member) && member.type)
          propertyTypes.set(`${owner}.${member.name.text}`, member.type.getText());
      }
    });
  }
  return docs;
}

interface Ctx {
  docs: Map<string, string>;
  types: Record<string, Json>;
  missing: string[];
}

function describe(ctx: Ctx, owners: string[], prop: string, where: string): string {
  for (const o of owners) {
    const d = ctx.docs.get(`${o}.${prop}`);
    if (d) return d;
  }
  ctx.missing.push(`${where}.${prop}`);
  return "";
}

/** A JSON-schema property (zod's input view) as a Pulumi schema type spec; objects in arrays become named types. */
function typeSpec(ctx: Ctx, js: Json, typeName: string, docOwners: string[]): Json {
  const type = js.type;
  if (Array.isArray(type)) return { oneOf: type.map((t) => ({ type: t === "integer" ? "integer" : t })) };
  if (type === "array") {
    const items = js.items as Json;
    if (items.type === "object" && items.properties) {
      objectType(ctx, items, typeName, docOwners);
      return { type: "array", items: { $ref: `#/types/${token(typeName)}` } };
    }
    return { type: "array", items: typeSpec(ctx, items, typeName, docOwners) };
  }
  if (type === "object") {
    if (js.properties) {
      objectType(ctx, js, typeName, docOwners);
      return { $ref: `#/types/${token(typeName)}` };
    }
    const extra = js.additionalProperties as Json | undefined;
    return { type: "object", additionalProperties: extra && extra.type ? { type: extra.type } : { type: "string" } };
  }
  if (type === "string" || type === "integer" || type === "number" || type === "boolean") return { type };
  return { $ref: "pulumi.json#/Any" };
}

function properties(ctx: Ctx, js: Json, docOwners: string[], where: string, typePrefix: string) {
  const out: Record<string, Json> = {};
  for (const [name, raw] of Object.entries((js.properties ?? {}) as Record<string, Json>)) {
    const nested = SHARED_TYPES[name] ?? `${typePrefix}${name[0]!.toUpperCase()}${name.slice(1).replace(/s$/, "")}`;
    const spec: Json = { ...typeSpec(ctx, raw, nested, [`${nested}Args`, ...docOwners]) };
    let description = describe(ctx, docOwners, name, where);
    if (Array.isArray(raw.enum)) description += ` One of: ${raw.enum.map((v) => JSON.stringify(v)).join(", ")}.`;
    spec.description = description.trim();
    if (raw.default !== undefined && typeof raw.default !== "object") spec.default = raw.default;
    out[name] = spec;
  }
  return out;
}

function objectType(ctx: Ctx, js: Json, typeName: string, docOwners: string[]): void {
  const key = token(typeName);
  if (ctx.types[key]) return;
  ctx.types[key] = {
    type: "object",
    description: ctx.docs.get(`${typeName}Args`) ?? ctx.docs.get(docOwners[0] ?? "") ?? `${typeName}.`,
    properties: properties(ctx, js, docOwners, typeName, typeName),
    required: ((js.required ?? []) as string[]).slice().sort(),
  };
}

/** Object inputs every resource shares: one type in the schema. */
const SHARED_TYPES: Record<string, string> = { timeouts: "Timeouts" };

/** The provider-side keys that are not inputs users give. */
const INTERNAL_INPUTS = new Set(["ownershipKey"]);

function inputJson(schema: z.ZodType): Json {
  const js = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Json;
  const props = { ...((js.properties ?? {}) as Record<string, Json>) };
  for (const k of INTERNAL_INPUTS) delete props[k];
  return {
    ...js,
    properties: props,
    required: ((js.required ?? []) as string[]).filter((k) => !INTERNAL_INPUTS.has(k)),
  };
}

/** Output types: what the providers' observations hold (the SDK classes declare them). */
const OUTPUT_TYPES: Record<string, Json> = {
  uuid: { type: "string" },
  pvDrivers: { type: "boolean" },
  residentOn: { type: "string" },
  domainType: { type: "string" },
  ipAddresses: { type: "array", items: { type: "string" } },
  actualMemory: { type: "integer" },
  actualVcpus: { type: "integer" },
  diskUuids: { type: "array", items: { type: "string" } },
  onlineResizable: { type: "array", items: { type: "string" } },
  memoryStaticMin: { type: "integer" },
  imported: { type: "boolean" },
  cloudInitDigest: { type: "string" },
  hasCdDrive: { type: "boolean" },
  virtualSize: { type: "integer" },
  srUuid: { type: "string" },
  memberUuids: { type: "array", items: { type: "string" } },
  memberPowerStates: { type: "object", additionalProperties: { type: "string" } },
  snapshotTime: { type: "string" },
  inAppliance: { type: "boolean" },
  masterUuid: { type: "string" },
  hostUuids: { type: "array", items: { type: "string" } },
  hvmCapable: { type: "boolean" },
  cpuCount: { type: "integer" },
  memoryTotal: { type: "integer" },
  memoryFree: { type: "integer" },
  residentVmUuids: { type: "array", items: { type: "string" } },
};

/** Descriptions of outputs the SDK classes leave undocumented because they are the provider's bookkeeping. */
const BOOKKEEPING: Record<string, string> = {
  pvDrivers: "Whether the guest reports PV drivers (clean shutdown, live vCPU and device changes need them).",
  onlineResizable: "Keys of the disks whose SR can grow them while attached (VDI_RESIZE_ONLINE).",
  memoryStaticMin: "The VM's static memory minimum in bytes, as xapi reports it.",
  imported:
    "True when the VM was brought in by `pulumi import`: its template is recorded, never a reason to replace it.",
};

function resource(ctx: Ctx, name: string, schema: z.ZodType, outputKeys: readonly string[]): Json {
  const js = inputJson(schema);
  const owners = [`${name}Args`, name];
  const inputProperties = properties(ctx, js, owners, `${name}Args`, name);
  const outputs: Record<string, Json> = {};
  for (const k of outputKeys) {
    const text = ctx.docs.get(`${name}.${k}`) ?? BOOKKEEPING[k];
    if (!text) ctx.missing.push(`${name}.${k} (output)`);
    outputs[k] = { ...OUTPUT_TYPES[k], description: text ?? "" };
  }
  return {
    description: ctx.docs.get(name) ?? "",
    inputProperties,
    requiredInputs: ((js.required ?? []) as string[]).slice().sort(),
    properties: { ...inputProperties, ...outputs },
    required: [...outputKeys].sort(),
  };
}

const CONNECTION: Record<string, Json> = {
  url: { type: "string", description: "Pool master URL, e.g. https://10.0.0.1 (XEN_URL wins)." },
  username: { type: "string", description: "XenAPI user; default root (XEN_USERNAME wins)." },
  password: { type: "string", secret: true, description: "XenAPI password (XEN_PASSWORD wins); kept secret." },
  caCert: { type: "string", description: "PEM bundle, inline or a path, to verify the pool's certificate." },
  fingerprint: { type: "string", description: "SHA-256 fingerprint(s) of the pool's certificate to pin." },
  insecure: { type: "boolean", description: "Skip certificate verification (test pools only)." },
  timeout: { type: "string", description: "Per-call HTTP timeout, e.g. 30s; long operations run as tasks." },
};

/** The lookups, served by the native provider's Invoke: `function token -> [args interface, result interface]`. */
export const FUNCTIONS: Record<string, [string, string]> = {
  getTemplate: ["LookupArgs", "TemplateInfo"],
  getHost: ["HostLookupArgs", "HostInfo"],
  getNetwork: ["LookupArgs", "NetworkInfo"],
  getSr: ["LookupArgs", "SrInfo"],
};

/** The properties of an interface of the lookups (its own and those it extends), as schema properties. */
function interfaceProperties(ctx: Ctx, name: string): { properties: Record<string, Json>; required: string[] } {
  const properties: Record<string, Json> = {};
  const required: string[] = [];
  for (const base of interfaceBases.get(name) ?? []) {
    const inherited = interfaceProperties(ctx, base);
    Object.assign(properties, inherited.properties);
    required.push(...inherited.required);
  }
  for (const [key, type] of propertyTypes) {
    const [owner, prop] = key.split(".") as [string, string];
    if (owner !== name) continue;
    const description = describe(ctx, [name], prop, name);
    properties[prop] = { type: type === "number" ? "number" : type === "boolean" ? "boolean" : "string", description };
    if (name.endsWith("Info")) required.push(prop);
  }
  return { properties, required: required.sort() };
}

function functions(ctx: Ctx): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [fn, [args, result]] of Object.entries(FUNCTIONS)) {
    out[token(fn)] = {
      description: ctx.docs.get(result) ?? "",
      inputs: { type: "object", ...interfaceProperties(ctx, args) },
      outputs: { type: "object", ...interfaceProperties(ctx, result) },
    };
  }
  return out;
}

export function buildSchema(): Json {
  const ctx: Ctx = { docs: sdkDocs(), types: {}, missing: [] };
  const resources: Record<string, Json> = {
    [token("Pool")]: resource(ctx, "Pool", poolInputSchema, POOL_OUTPUT_KEYS),
    [token("Host")]: resource(ctx, "Host", hostInputSchema, HOST_OUTPUT_KEYS),
    [token("Vm")]: resource(ctx, "Vm", vmInputSchema, VM_OUTPUT_KEYS),
    [token("Image")]: resource(ctx, "Image", imageInputSchema, IMAGE_OUTPUT_KEYS),
    [token("Template")]: resource(ctx, "Template", templateInputSchema, TEMPLATE_OUTPUT_KEYS),
    [token("VmGroup")]: resource(ctx, "VmGroup", vmGroupInputSchema, VM_GROUP_OUTPUT_KEYS),
    [token("Appliance")]: resource(ctx, "Appliance", applianceInputSchema, APPLIANCE_OUTPUT_KEYS),
    [token("Snapshot")]: resource(ctx, "Snapshot", snapshotInputSchema, SNAPSHOT_OUTPUT_KEYS),
  };
  const fns = functions(ctx);
  if (Object.keys(CONNECTION).join() !== CONFIG_KEYS.join())
    throw new Error(`the schema's configuration differs from CONFIG_KEYS in provider/connection.ts`);
  if (ctx.missing.length > 0)
    throw new Error(`no description for: ${ctx.missing.join(", ")} (document them in sdk/*.ts)`);
  if (Object.keys(resources).sort().join() !== RESOURCES.map(token).sort().join())
    throw new Error("the schema's resources differ from provider/plugin/tokens.ts");
  const types = Object.fromEntries(Object.entries(ctx.types).sort(([a], [b]) => a.localeCompare(b)));
  return {
    name: PACKAGE,
    displayName: "Xen",
    version: "0.1.0",
    description: "Xen-family pools (XenServer / XCP-ng): pools, hosts and VMs, kept at their declared shape.",
    keywords: ["pulumi", "xen", "xenserver", "xcp-ng", "category/infrastructure"],
    license: "Apache-2.0",
    // The generated SDKs carry their own version and module files (sdk-gen/).
    meta: { supportPack: true },
    config: { variables: CONNECTION },
    provider: { description: "A connection to one pool.", inputProperties: CONNECTION },
    types,
    resources,
    functions: fns,
    language: {
      nodejs: { packageName: "@pulumi-xen/xen", dependencies: { "@pulumi/pulumi": "^3.0.0" } },
      python: { packageName: "pulumi_xen" },
      go: { importBasePath: "github.com/pulumi-xen/pulumi-xen/sdk-gen/go/xen" },
      csharp: { rootNamespace: "PulumiXen", packageReferences: { Pulumi: "3.*" } },
    },
  };
}

if (require.main === module) {
  const text = `${JSON.stringify(buildSchema(), null, 2)}\n`;
  if (process.argv.includes("--check")) {
    const now = fs.existsSync(OUT) ? fs.readFileSync(OUT, "utf8") : "";
    if (now !== text) {
      process.stderr.write(`${path.relative(ROOT, OUT)} is out of date: run npm run gen:schema\n`);
      process.exit(1);
    }
  } else fs.writeFileSync(OUT, text);
}

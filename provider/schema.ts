/**
 * Input validation for `check()`: zod schemas per resource, normalised values (sizes in bytes, durations in ms,
 * defaults applied) and failures that name the property path and the rule. Pure: no network, no clock.
 */
import { ENUMS } from "../xenapi-model/classes";
import { z } from "zod";
import { formatSize, parseDuration, parseSize } from "./units";

/** The engine's placeholder for values not known during preview (sdk/nodejs/runtime/rpc.ts). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export interface CheckFailure {
  property: string;
  reason: string;
}

const size = z.union([z.number(), z.string()]).transform((value, ctx) => {
  try {
    return parseSize(value);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});

const name = z.string().min(1, "must not be empty").max(255, "must be at most 255 characters");
const tags = z.array(z.string().min(1, "tags must not be empty")).optional();
const otherConfig = z.record(z.string(), z.string()).optional();
const url = z
  .string()
  .regex(/^https?:\/\/[^\s/]+/, "must be a URL such as https://10.0.0.1")
  .optional();
/** A XenAPI object named by UUID or by name_label. */
const objectName = z.string().min(1, "must name an object by name_label or UUID");

/** The datamodel's vm_power_state values. */
export const POWER_STATES = ENUMS.vm_power_state;
export type PowerState = (typeof POWER_STATES)[number];
export const HA_RESTART_PRIORITIES = ["restart", "best-effort", ""] as const;

/** A device key: the stable identity of a disk or NIC entry, kept on the VDI/VIF (never its list position). */
const deviceName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "must be 1-63 letters, digits, '.', '_' or '-' (a stable key)");

const diskSchema = z
  .object({
    name: deviceName.optional(),
    size: size.optional(),
    vdi: z.string().uuid("must be the UUID of an existing VDI").optional(),
    sr: objectName.optional(),
    nameLabel: name.optional(),
    keepOnRemove: z.boolean().optional(),
  })
  .strict();

const networkSchema = z.object({
  name: deviceName.optional(),
  network: objectName,
  mac: z
    .string()
    .regex(/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/, "must be a MAC address such as 02:00:00:aa:bb:cc")
    .transform((m) => m.toLowerCase())
    .optional(),
});

/** The ways a VM is made from its source. */
export const CLONE_MODES = ["fast", "full"] as const;
export const FIRMWARES = ["bios", "uefi"] as const;
/** What a change of `cloudInit` does to a VM that exists (the guest reads its config drive at boot only). */
export const CLOUD_INIT_CHANGE_POLICIES = ["restart", "replace", "ignore"] as const;

/** HVM_boot_params order: c disk, d CD, n network. */
const bootOrder = z
  .string()
  .regex(/^(?!.*(.).*\1)[cdn]{1,3}$/, 'must be letters c (disk), d (CD), n (network), each once, e.g. "dc"');

const cloudInitSchema = z
  .object({
    userData: z.string().min(1, "must not be empty (a #cloud-config document or a script)"),
    metaData: z.string().optional(),
    networkConfig: z.string().optional(),
    sr: objectName.optional(),
  })
  .strict();

const cdromSchema = z
  .object({
    iso: z.string().default(""),
    ejectAfterInstall: z.boolean().default(false),
  })
  .strict();

/** What `protect` guards, and the XenAPI operations (blocked_operations keys) each one blocks. */
export const PROTECTED_OPERATIONS = {
  destroy: ["destroy"],
  shutdown: ["clean_shutdown", "hard_shutdown", "shutdown", "clean_reboot", "hard_reboot", "suspend"],
  migrate: ["pool_migrate", "migrate_send"],
} as const;

const protectSchema = z
  .object({ destroy: z.boolean().optional(), shutdown: z.boolean().optional(), migrate: z.boolean().optional() })
  .strict();

export const timeoutsSchema = z
  .object({ create: duration.optional(), update: duration.optional(), delete: duration.optional() })
  .strict();
export type Timeouts = z.output<typeof timeoutsSchema>;

export const vmInputSchema = z
  .object({
    template: objectName.optional(),
    source: objectName.optional(),
    cloneMode: z.enum(CLONE_MODES).default("fast"),
    nameLabel: name,
    description: z.string().default(""),
    vcpus: z.number().int("must be a whole number").min(1, "must be at least 1"),
    maxVcpus: z.number().int("must be a whole number").min(1, "must be at least 1").optional(),
    memory: size,
    maxMemory: size.optional(),
    disks: z.array(diskSchema).default([]),
    networks: z.array(networkSchema).default([]),
    powerState: z.enum(POWER_STATES).default("Running"),
    affinityHost: objectName.optional(),
    firmware: z.enum(FIRMWARES).optional(),
    secureBoot: z.boolean().optional(),
    vtpm: z.boolean().optional(),
    bootOrder: bootOrder.optional(),
    cdrom: cdromSchema.optional(),
    cloudInit: cloudInitSchema.optional(),
    cloudInitChangePolicy: z.enum(CLOUD_INIT_CHANGE_POLICIES).default("restart"),
    haRestartPriority: z.enum(HA_RESTART_PRIORITIES).default(""),
    group: objectName.optional(),
    protect: protectSchema.optional(),
    revertTo: z.string().uuid("must be the UUID of a snapshot of this VM (a xen.Snapshot's uuid)").optional(),
    snapshotBeforeChange: z.boolean().default(false),
    snapshotsKept: z.number().int("must be a whole number").min(1, "must be at least 1").default(3),
    tags: tags.default([]),
    otherConfig: otherConfig.default({}),
    allowRestart: z.boolean().default(false),
    waitForIp: z.boolean().default(false),
    adopt: z.string().uuid("must be the UUID of an existing VM").optional(),
    timeouts: timeoutsSchema.optional(),
    shutdownTimeout: duration.optional(),
    url,
    ownershipKey: z.string().optional(),
  })
  .strict()
  .superRefine((vm, ctx) => {
    if (vm.maxVcpus !== undefined && vm.vcpus > vm.maxVcpus) {
      ctx.addIssue({ code: "custom", path: ["vcpus"], message: `vcpus ${vm.vcpus} exceeds maxVcpus ${vm.maxVcpus}` });
    }
    if (vm.maxMemory !== undefined && vm.memory > vm.maxMemory) {
      ctx.addIssue({
        code: "custom",
        path: ["memory"],
        message: `memory ${formatSize(vm.memory)} exceeds maxMemory ${formatSize(vm.maxMemory)}`,
      });
    }
    if (vm.memory < 64 * 1024 ** 2) {
      ctx.addIssue({ code: "custom", path: ["memory"], message: `memory ${formatSize(vm.memory)} is below 64 MiB` });
    }
    vm.disks.forEach((d, i) => {
      if (d.size === undefined && d.vdi === undefined)
        ctx.addIssue({
          code: "custom",
          path: ["disks", i, "size"],
          message: "is required (or vdi, to attach an existing disk)",
        });
      if (d.size !== undefined && d.size <= 0)
        ctx.addIssue({ code: "custom", path: ["disks", i, "size"], message: "must be greater than 0" });
      if (d.vdi !== undefined && (d.keepOnRemove === false || d.nameLabel !== undefined || d.sr !== undefined))
        ctx.addIssue({
          code: "custom",
          path: ["disks", i, "vdi"],
          message:
            "an attached existing disk is used as it is: it is never destroyed, renamed or moved (drop keepOnRemove: false, nameLabel and sr)",
        });
    });
    // Both may be present when they agree: checked inputs carry both (source is derived from template).
    if (vm.template === undefined && vm.source === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["source"],
        message: "is required: a template, an existing VM or a snapshot (or give template)",
      });
    if (vm.template !== undefined && vm.source !== undefined && vm.template !== vm.source)
      ctx.addIssue({
        code: "custom",
        path: ["template"],
        message: `names "${vm.template}" but source names "${vm.source}": give one of them`,
      });
    if (vm.secureBoot === true && vm.firmware !== "uefi")
      ctx.addIssue({ code: "custom", path: ["secureBoot"], message: 'needs firmware: "uefi"' });
    if (vm.vtpm === true && vm.firmware !== "uefi")
      ctx.addIssue({ code: "custom", path: ["vtpm"], message: 'a vTPM needs firmware: "uefi"' });
    duplicateNames(vm.disks, "disks", ctx);
    duplicateNames(vm.networks, "networks", ctx);
  })
  // Tags are a set in XenAPI: kept sorted so that their order in the program is not a change.
  .transform((vm) => ({
    ...vm,
    // One field names what the VM is made from; `template` is how older programs say it.
    source: (vm.source ?? vm.template)!,
    maxVcpus: vm.maxVcpus ?? vm.vcpus,
    maxMemory: vm.maxMemory ?? vm.memory,
    tags: [...vm.tags].sort(),
  }));

/** Device names are keys: two entries with one name would be one device. */
function duplicateNames(list: Array<{ name?: string | undefined }>, field: string, ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  list.forEach((d, i) => {
    if (d.name === undefined) return;
    const first = seen.get(d.name);
    if (first !== undefined)
      ctx.addIssue({
        code: "custom",
        path: [field, i, "name"],
        message: `"${d.name}" is already the name of ${field}[${first}]; each entry needs its own name`,
      });
    else seen.set(d.name, i);
  });
}

export type VmInputs = z.output<typeof vmInputSchema>;
export type VmDisk = VmInputs["disks"][number];
export type VmNetwork = VmInputs["networks"][number];

export const poolInputSchema = z
  .object({
    nameLabel: name,
    description: z.string().default(""),
    defaultSr: objectName.optional(),
    ha: z
      .object({
        enabled: z.boolean(),
        hostFailuresToTolerate: z.number().int().min(0, "must be 0 or more").optional(),
        heartbeatSr: objectName.optional(),
      })
      .strict()
      .optional(),
    tags: tags.default([]),
    otherConfig: otherConfig.default({}),
    timeouts: timeoutsSchema.optional(),
    url,
  })
  .strict()
  .transform((pool) => ({ ...pool, tags: [...pool.tags].sort() }));
export type PoolInputs = z.output<typeof poolInputSchema>;

export const hostInputSchema = z
  .object({
    address: z.string().min(1, "must be the host's management address"),
    enabled: z.boolean().default(true),
    maintenance: z.boolean().default(false),
    nameLabel: name.optional(),
    tags: tags.default([]),
    ejectOnDelete: z.boolean().default(false),
    timeouts: timeoutsSchema.optional(),
    url,
  })
  .strict()
  .transform((host) => ({ ...host, tags: [...host.tags].sort() }));
export type HostInputs = z.output<typeof hostInputSchema>;

function containsUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (value && typeof value === "object") return Object.values(value).some(containsUnknown);
  return false;
}

/** Renders a zod path the way users write it: `disks[1].size`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (out, key) => (typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    "",
  );
}

/**
 * Validates `news` against `schema`. Properties whose value is (or contains) an unknown preview value are not
 * validated and pass through unchanged, so previews of programs with computed inputs work.
 */
export function checkInputs<S extends z.ZodType>(
  schema: S,
  news: Record<string, unknown>,
  outputKeys: readonly string[],
  placeholders: Record<string, unknown> = {},
): { inputs?: Record<string, unknown>; failures: CheckFailure[] } {
  const raw: Record<string, unknown> = {};
  // Output placeholders the SDK declares and the engine's own key are not inputs.
  for (const [k, v] of Object.entries(news))
    if (k !== "__provider" && !outputKeys.includes(k) && v !== undefined) raw[k] = v;
  const unknownKeys = Object.keys(raw).filter((k) => containsUnknown(raw[k]));
  const candidate: Record<string, unknown> = { ...raw };
  // Stand-ins that satisfy the schema for unknown values; the originals are restored below.
  for (const k of unknownKeys) {
    if (k in placeholders) candidate[k] = placeholders[k];
    else delete candidate[k];
  }
  const result = schema.safeParse(candidate);
  if (!result.success) {
    const failures = result.error.issues
      .filter((issue) => !unknownKeys.includes(String(issue.path[0])))
      .map((issue) => ({ property: formatPath(issue.path) || "(inputs)", reason: issue.message }));
    if (failures.length > 0) return { failures };
    return { inputs: raw, failures: [] };
  }
  const inputs = { ...(result.data as Record<string, unknown>) };
  for (const k of unknownKeys) inputs[k] = raw[k];
  return { inputs, failures: [] };
}

export const imageInputSchema = z
  .object({
    nameLabel: name,
    description: z.string().default(""),
    /** Path of a raw disk image on the machine running `pulumi`. */
    file: z.string().min(1, "must be the path of a raw disk image"),
    sr: objectName.optional(),
    size: size.optional(),
    /** The image's SHA-256, filled in by check() from `file`: a new content is a new image. */
    sha256: z.string().optional(),
    timeouts: timeoutsSchema.optional(),
    url,
    ownershipKey: z.string().optional(),
  })
  .strict();
export type ImageInputs = z.output<typeof imageInputSchema>;

export const templateInputSchema = z
  .object({
    nameLabel: name,
    description: z.string().default(""),
    base: objectName.default("Other install media"),
    image: z.string().uuid("must be the UUID of a VDI (a xen.Image's uuid)").optional(),
    vcpus: z.number().int("must be a whole number").min(1, "must be at least 1").optional(),
    memory: size.optional(),
    firmware: z.enum(FIRMWARES).optional(),
    bootOrder: bootOrder.optional(),
    url,
    ownershipKey: z.string().optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.memory !== undefined && t.memory < 64 * 1024 ** 2)
      ctx.addIssue({ code: "custom", path: ["memory"], message: `memory ${formatSize(t.memory)} is below 64 MiB` });
  });
export type TemplateInputs = z.output<typeof templateInputSchema>;

export const VM_GROUP_PLACEMENTS = ["anti-affinity", "normal"] as const;

export const vmGroupInputSchema = z
  .object({
    nameLabel: name,
    description: z.string().default(""),
    placement: z.enum(VM_GROUP_PLACEMENTS).default("anti-affinity"),
    url,
    ownershipKey: z.string().optional(),
  })
  .strict();
export type VmGroupInputs = z.output<typeof vmGroupInputSchema>;

const applianceMemberSchema = z
  .object({
    vm: z.string().min(1, "must be the UUID of a VM (a xen.Vm's uuid)"),
    order: z.number().int("must be a whole number").min(0, "must be 0 or more").default(0),
    startDelay: duration.default(0),
    shutdownDelay: duration.default(0),
  })
  .strict();

export const applianceInputSchema = z
  .object({
    nameLabel: name,
    description: z.string().default(""),
    members: z.array(applianceMemberSchema).default([]),
    powerState: z.enum(["Running", "Halted"]).optional(),
    timeouts: timeoutsSchema.optional(),
    url,
    ownershipKey: z.string().optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    const seen = new Map<string, number>();
    a.members.forEach((m, i) => {
      const first = seen.get(m.vm);
      if (first !== undefined)
        ctx.addIssue({ code: "custom", path: ["members", i, "vm"], message: `is already members[${first}]` });
      else seen.set(m.vm, i);
    });
  });
export type ApplianceInputs = z.output<typeof applianceInputSchema>;

export const snapshotInputSchema = z
  .object({
    vm: z.string().uuid("must be the UUID of a VM (a xen.Vm's uuid)"),
    nameLabel: name,
    description: z.string().default(""),
    checkpoint: z.boolean().default(false),
    url,
    ownershipKey: z.string().optional(),
  })
  .strict();
export type SnapshotInputs = z.output<typeof snapshotInputSchema>;

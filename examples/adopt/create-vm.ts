/**
 * Creates a VM out of band, the way an administrator would by hand (`xe vm-install` + `xe vif-create` +
 * `xe vm-start`): VM.clone of a template, VM.provision, a VIF, VM.start. Prints its UUID and the shape to
 * declare in the adopting program.
 *
 *   XEN_URL=... XEN_PASSWORD=... node -r ts-node/register/transpile-only examples/adopt/create-vm.ts [name]
 *
 * Connection from the same variables the provider reads: XEN_URL, XEN_USERNAME (default root), XEN_PASSWORD,
 * XEN_CA_CERT (PEM text or path) or XEN_INSECURE=true.
 */
import * as fs from "node:fs";
import { XenApiClient } from "../../provider/xenapi";

export interface OutOfBandVm {
  uuid: string;
  nameLabel: string;
  description: string;
  vcpus: number;
  maxVcpus: number;
  memory: number;
  maxMemory: number;
  diskSizes: number[];
  networks: string[];
}

export interface CreateVmOptions {
  nameLabel?: string;
  description?: string;
  template?: string;
  network?: string;
}

type Rec = Record<string, unknown>;

async function byName(client: XenApiClient, cls: "VM" | "network", name: string, what: string): Promise<string> {
  const refs = await client.call<string[]>(`${cls}.get_by_name_label`, [name]);
  const found: string[] = [];
  for (const ref of refs) {
    const rec = (await client.getRecord(cls, ref)) as unknown as Rec;
    if (cls !== "VM" || rec.is_a_template === true) found.push(ref);
  }
  if (found.length !== 1) throw new Error(`${found.length === 0 ? "no" : found.length} ${what} named "${name}"`);
  return found[0]!;
}

/** Installs and starts a VM without pulumi-xen; returns what the adopting program has to declare. */
export async function createVmOutOfBand(client: XenApiClient, opts: CreateVmOptions = {}): Promise<OutOfBandVm> {
  const nameLabel = opts.nameLabel ?? "legacy-app";
  const description = opts.description ?? "Installed by hand before pulumi-xen";
  const template = await byName(client, "VM", opts.template ?? "Debian Bookworm 12", "templates");
  const network = await byName(client, "network", opts.network ?? "VM Network", "networks");

  const vm = await client.callAsync("VM.clone", [template, nameLabel]);
  await client.call("VM.set_name_description", [vm, description]);
  await client.callAsync("VM.provision", [vm]); // creates the disks from the template on the default SR
  await client.call("VIF.create", [
    {
      VM: vm,
      network,
      device: "0",
      MAC: "",
      MTU: 1500,
      other_config: {},
      qos_algorithm_type: "",
      qos_algorithm_params: {},
    },
  ]);
  await client.callAsync("VM.start", [vm, false, false]);

  const rec = (await client.getRecord("VM", vm)) as unknown as Rec;
  const diskSizes: number[] = [];
  for (const vbdRef of rec.VBDs as string[]) {
    const vbd = (await client.getRecord("VBD", vbdRef)) as unknown as Rec;
    if (vbd.type !== "Disk") continue;
    const vdi = (await client.getRecord("VDI", vbd.VDI as string)) as unknown as Rec;
    diskSizes.push(Number(vdi.virtual_size));
  }
  return {
    uuid: String(rec.uuid),
    nameLabel,
    description,
    vcpus: Number(rec.VCPUs_at_startup),
    maxVcpus: Number(rec.VCPUs_max),
    memory: Number(rec.memory_dynamic_max),
    maxMemory: Number(rec.memory_static_max),
    diskSizes,
    networks: [opts.network ?? "VM Network"],
  };
}

async function main(): Promise<void> {
  const url = process.env.XEN_URL;
  const password = process.env.XEN_PASSWORD;
  if (!url || !password) throw new Error("set XEN_URL and XEN_PASSWORD (and XEN_CA_CERT or XEN_INSECURE=true)");
  const ca = process.env.XEN_CA_CERT;
  const client = new XenApiClient({
    url,
    username: process.env.XEN_USERNAME ?? "root",
    password,
    ...(ca ? { caCert: ca.includes("-----BEGIN") ? ca : fs.readFileSync(ca, "utf8") } : {}),
    ...(process.env.XEN_INSECURE === "true" ? { insecure: true } : {}),
  });
  try {
    const vm = await createVmOutOfBand(client, { ...(process.argv[2] ? { nameLabel: process.argv[2] } : {}) });
    const GiB = 1024 ** 3;
    console.log(`created and started VM "${vm.nameLabel}" ${vm.uuid}`);
    console.log(
      `  vcpus ${vm.vcpus} (max ${vm.maxVcpus}), memory ${vm.memory / GiB} GiB (max ${vm.maxMemory / GiB} GiB),` +
        ` disks ${vm.diskSizes.map((s) => `${s / GiB} GiB`).join(", ")}, networks ${vm.networks.join(", ")}`,
    );
    console.log(`next: pulumi config set adopt:vmUuid ${vm.uuid} && pulumi up`);
  } finally {
    await client.close().catch(() => undefined);
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}

/**
 * The peer: the official XenServer Terraform provider driven by OpenTofu, built from
 * ../shared/peers/terraform-provider-xenserver by its build script into ~/.cache/pulumi-xen/peer; the
 * configurations the peer suite applies and the `tofu` runs it times.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT, log } from "./util";

export const PEER_SOURCE = path.resolve(REPO_ROOT, "..", "shared", "peers", "terraform-provider-xenserver");
export const PEER_DIR = path.join(os.homedir(), ".cache", "pulumi-xen", "peer");
/** The provider version the build script puts in its filesystem mirror (and the configurations require). */
export const PEER_PROVIDER_VERSION = "0.2.2";

const mirrored = (dir: string) =>
  path.join(
    dir,
    "mirror",
    "registry.opentofu.org",
    "xenserver",
    "xenserver",
    PEER_PROVIDER_VERSION,
    "linux_amd64",
    `terraform-provider-xenserver_v${PEER_PROVIDER_VERSION}`,
  );

/** Whether OpenTofu, its CLI configuration and the mirrored provider are in `dir`. */
export function peerBuilt(dir = PEER_DIR): boolean {
  return [path.join(dir, "tofu"), path.join(dir, "tofurc"), mirrored(dir)].every((f) => fs.existsSync(f));
}

/** Builds the peer with the shared build script unless it is there (about 6 min cold, ~600 MB of Go modules). */
export async function ensurePeer(dir = PEER_DIR): Promise<void> {
  if (peerBuilt(dir)) return;
  const script = path.join(PEER_SOURCE, "build.sh");
  if (!fs.existsSync(script)) throw new Error(`the peer is not built in ${dir} and ${script} does not exist`);
  // The provider's go.mod replaces the XenServer Go SDK with ./goSDK, which is not on the module proxy.
  const sdk = path.join(PEER_SOURCE, "src", "goSDK");
  if (!fs.existsSync(sdk)) throw new Error(`the peer is not built in ${dir} and cannot be: ${sdk} is missing`);
  log(`the peer is not built in ${dir}: building it with ${script} (about 6 min cold; output below)`);
  const t0 = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const p = spawn("bash", [script, dir], { stdio: ["ignore", 2, 2] });
    p.on("error", reject);
    p.on("exit", resolve);
  });
  if (code !== 0 || !peerBuilt(dir)) throw new Error(`building the peer failed (bash ${script} ${dir}: exit ${code})`);
  log(`peer built in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

export interface TofuRun {
  ms: number;
  code: number;
  output: string;
}

/**
 * One `tofu` command in `workDir`, timed from spawn to exit. Offline: the CLI configuration's filesystem mirror
 * instead of a registry, no version check. `okCodes`: exit codes that are not a failure (plan's 2 = changes).
 */
export async function tofu(workDir: string, args: string[], okCodes: number[] = [0], dir = PEER_DIR): Promise<TofuRun> {
  const env = {
    ...process.env,
    TF_CLI_CONFIG_FILE: path.join(dir, "tofurc"),
    TF_IN_AUTOMATION: "1",
    TF_INPUT: "0",
    CHECKPOINT_DISABLE: "1",
  };
  const t0 = performance.now();
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve, reject) => {
    const p = spawn(path.join(dir, "tofu"), [...args, "-no-color"], { cwd: workDir, env, stdio: "pipe" });
    const chunks: Buffer[] = [];
    p.stdout.on("data", (c: Buffer) => chunks.push(c));
    p.stderr.on("data", (c: Buffer) => chunks.push(c));
    p.on("error", reject);
    p.on("close", (c) => resolve({ code: c ?? -1, output: Buffer.concat(chunks).toString("utf8") }));
  });
  const ms = performance.now() - t0;
  if (!okCodes.includes(code)) throw new Error(`tofu ${args.join(" ")} exited ${code}:\n${output.slice(-4000)}`);
  return { ms, code, output };
}

export const GiB = 1024 ** 3;

/** The shape both tools create, in the peer's terms: one NIC on `network`, memory from `var.mem_gib`. */
export interface PeerShape {
  n: number;
  template: string;
  vcpus: number;
  network: string;
}

/** N xenserver_vm from the template, one NIC, static_mem_max = var.mem_gib GiB (dynamic min/max follow it). */
export function peerConfig(url: string, password: string, s: PeerShape): string {
  return `terraform {
  required_providers {
    xenserver = {
      source  = "xenserver/xenserver"
      version = "${PEER_PROVIDER_VERSION}"
    }
  }
}

provider "xenserver" {
  host     = ${JSON.stringify(url)}
  username = "root"
  password = ${JSON.stringify(password)}
}

variable "mem_gib" {
  type = number
}

data "xenserver_network" "vmnet" {
  name_label = ${JSON.stringify(s.network)}
}

resource "xenserver_vm" "vm" {
  count          = ${s.n}
  name_label     = "bench-vm-\${count.index}"
  template_name  = ${JSON.stringify(s.template)}
  static_mem_max = var.mem_gib * ${GiB}
  vcpus          = ${s.vcpus}
  network_interface = [
    {
      device       = "0"
      network_uuid = data.xenserver_network.vmnet.data_items[0].uuid
    },
  ]
}
`;
}

/** OpenTofu's own floor: N terraform_data (built in, no provider) holding the same inputs as the VMs. */
export function floorConfig(s: PeerShape): string {
  return `variable "mem_gib" {
  type = number
}

resource "terraform_data" "vm" {
  count = ${s.n}
  input = {
    name_label     = "bench-vm-\${count.index}"
    template_name  = ${JSON.stringify(s.template)}
    static_mem_max = var.mem_gib * ${GiB}
    vcpus          = ${s.vcpus}
    network        = ${JSON.stringify(s.network)}
  }
}
`;
}

/** A fresh working directory holding `main.tf`. */
export function peerWorkDir(mainTf: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-xen-bench-peer-"));
  fs.writeFileSync(path.join(dir, "main.tf"), mainTf);
  return dir;
}

/** "Resources: 3 added, 0 changed, 1 destroyed." of an apply or destroy. */
export function applySummary(output: string): { added: number; changed: number; destroyed: number } {
  const m = /Resources: (\d+) added, (\d+) changed, (\d+) destroyed/.exec(output);
  if (m) return { added: Number(m[1]), changed: Number(m[2]), destroyed: Number(m[3]) };
  const d = /Resources: (\d+) destroyed/.exec(output);
  if (d) return { added: 0, changed: 0, destroyed: Number(d[1]) };
  throw new Error(`no resource summary in:\n${output.slice(-2000)}`);
}

/**
 * Guest provisioning changes of one VM: firmware, Secure Boot, vTPM, boot order, the CD drive and the cloud-init
 * config drive. Pure. Each change is classified as XenAPI and the guest allow it:
 * - firmware: a guest's boot loader is installed for one firmware, so another firmware is another VM (replace);
 * - Secure Boot and the vTPM are read when the domain is built (VTPM.create needs a halted VM): restart;
 * - the boot order is read at the next boot: set in place;
 * - an ISO is inserted or ejected live; a CD drive is added while halted (HVM guests cannot hot-plug one);
 * - cloud-init is read by the guest at boot: `cloudInitChangePolicy` says whether a change restarts the VM with a
 *   new drive, replaces the VM, or is recorded and not applied. It is never silently dropped.
 */
import { createHash } from "node:crypto";
import type { VmInputs } from "../schema";
import type { Disruption } from "./vm";

export type GuestStep =
  | { kind: "setBootParams"; firmware?: string; order?: string }
  | { kind: "setSecureBoot"; value: boolean }
  | { kind: "addVtpm" }
  | { kind: "removeVtpm" }
  /** Puts `iso` in the CD drive ("" ejects), adding the drive first when the VM has none. */
  | { kind: "setCdrom"; iso: string }
  /** Writes a new config drive and swaps it in (remove: takes the drive away). */
  | { kind: "writeConfigDrive"; remove: boolean };

/** What the planner needs of the VM as observed. */
export interface ObservedGuest {
  firmware?: string | undefined;
  secureBoot?: boolean | undefined;
  vtpm?: boolean | undefined;
  bootOrder?: string | undefined;
  cdrom?: { iso: string; ejectAfterInstall: boolean } | undefined;
  /** Whether the VM has a CD drive (a VBD of type CD that is not the config drive). */
  hasCdDrive?: boolean | undefined;
  /** The digest written on the VM's config drive ("" without one). */
  cloudInitDigest?: string | undefined;
  /** cloudInit as last applied or recorded (state). */
  cloudInit?: VmInputs["cloudInit"];
}

export interface GuestPlan {
  changed: string[];
  replaces: string[];
  steps: GuestStep[];
  whileHalted: GuestStep[];
  restartWhy: string[];
  levels: Disruption[];
  reasons: string[];
}

/** The digest of a cloud-init config (what the config drive's VDI carries). The VM's name is not part of it. */
export function cloudInitDigest(config: NonNullable<VmInputs["cloudInit"]>): string {
  return createHash("sha256")
    .update(JSON.stringify([config.userData, config.metaData ?? null, config.networkConfig ?? null]))
    .digest("hex")
    .slice(0, 32);
}

type GuestInputs = Pick<
  VmInputs,
  "firmware" | "secureBoot" | "vtpm" | "bootOrder" | "cdrom" | "cloudInit" | "cloudInitChangePolicy"
>;

/**
 * `creating`: the VM was just made from its source and has never booted, so its firmware is still a setting
 * (set to what the program says) rather than what its guest was installed for.
 */
export function planGuest(old: ObservedGuest, news: GuestInputs, live: boolean, creating = false): GuestPlan {
  const plan: GuestPlan = {
    changed: [],
    replaces: [],
    steps: [],
    whileHalted: [],
    restartWhy: [],
    levels: [],
    reasons: [],
  };
  /** A change read when the domain is built: now if halted, else with a restart. */
  const atBoot = (step: GuestStep, why: string, reason: string) => {
    if (live) {
      plan.whileHalted.push(step);
      plan.restartWhy.push(why);
      plan.levels.push("restart");
    } else {
      plan.steps.push(step);
      plan.levels.push("none");
      plan.reasons.push(reason);
    }
  };

  const oldFirmware = old.firmware ?? "bios";
  if (news.firmware !== undefined && news.firmware !== oldFirmware && !creating) {
    plan.changed.push("firmware");
    plan.replaces.push("firmware");
    plan.reasons.push(
      `firmware ${oldFirmware} -> ${news.firmware}: the guest's boot loader is installed for its firmware, so the VM is replaced`,
    );
    return plan;
  }

  const boot: { firmware?: string; order?: string } = {};
  if (news.bootOrder !== undefined && news.bootOrder !== old.bootOrder) {
    plan.changed.push("bootOrder");
    boot.order = news.bootOrder;
    plan.reasons.push(`bootOrder ${old.bootOrder || "(none)"} -> ${news.bootOrder}: read at the next boot`);
  }
  if (news.firmware !== undefined && news.firmware !== oldFirmware) {
    plan.changed.push("firmware");
    boot.firmware = news.firmware;
    plan.reasons.push(`firmware ${oldFirmware} -> ${news.firmware} (a new VM, before its first boot)`);
  }
  if (boot.order !== undefined || boot.firmware !== undefined) {
    plan.steps.push({ kind: "setBootParams", ...boot });
    plan.levels.push("none");
  }

  if (news.secureBoot !== undefined && news.secureBoot !== (old.secureBoot ?? false)) {
    plan.changed.push("secureBoot");
    const what = `secureBoot ${old.secureBoot ?? false} -> ${news.secureBoot}`;
    atBoot(
      { kind: "setSecureBoot", value: news.secureBoot },
      `${what}: UEFI reads it when the VM boots`,
      `${what} (read at the next boot)`,
    );
  }

  if (news.vtpm !== undefined && news.vtpm !== (old.vtpm ?? false)) {
    plan.changed.push("vtpm");
    if (news.vtpm)
      atBoot(
        { kind: "addVtpm" },
        "vtpm added: a vTPM is created while the VM is halted",
        "a vTPM is added (VTPM.create)",
      );
    else
      atBoot(
        { kind: "removeVtpm" },
        "vtpm removed: the vTPM is destroyed while the VM is halted, with what it sealed (BitLocker keys)",
        "the vTPM is destroyed, with what it sealed (BitLocker keys)",
      );
  }

  planCdrom(old, news, live, creating, plan);
  planCloudInit(old, news, live, plan);
  return plan;
}

function planCdrom(old: ObservedGuest, news: GuestInputs, live: boolean, creating: boolean, plan: GuestPlan): void {
  if (news.cdrom === undefined) return;
  const want = news.cdrom.iso;
  const have = old.cdrom?.iso ?? "";
  // After an install the ISO was ejected on purpose: an empty drive is what the program asked for.
  const installed = news.cdrom.ejectAfterInstall && have === "" && !creating;
  if (want === have || installed) {
    if (old.cdrom?.ejectAfterInstall !== news.cdrom.ejectAfterInstall && old.cdrom !== undefined)
      plan.changed.push("cdrom");
    return;
  }
  plan.changed.push("cdrom");
  const step: GuestStep = { kind: "setCdrom", iso: want };
  const what = want === "" ? `ISO ${have} ejected` : have === "" ? `ISO ${want} inserted` : `ISO ${have} -> ${want}`;
  if (live && old.hasCdDrive !== true && want !== "") {
    plan.whileHalted.push(step);
    plan.restartWhy.push(`cdrom: ${what}: the VM has no CD drive and an HVM guest cannot hot-plug one`);
    plan.levels.push("restart");
    return;
  }
  plan.steps.push(step);
  plan.levels.push(live ? "live" : "none");
  plan.reasons.push(`cdrom: ${what}${live ? " live" : ""}`);
}

function planCloudInit(old: ObservedGuest, news: GuestInputs, live: boolean, plan: GuestPlan): void {
  const have = old.cloudInitDigest ?? "";
  if (news.cloudInit === undefined) {
    if (have === "") return;
    plan.changed.push("cloudInit");
    plan.steps.push({ kind: "writeConfigDrive", remove: true });
    plan.levels.push(live ? "live" : "none");
    plan.reasons.push("cloudInit removed: the config drive is ejected and destroyed (the guest keeps what it applied)");
    return;
  }
  const want = cloudInitDigest(news.cloudInit);
  if (want === have) return;
  const step: GuestStep = { kind: "writeConfigDrive", remove: false };
  if (have === "" && !live) {
    plan.changed.push("cloudInit");
    plan.steps.push(step);
    plan.levels.push("none");
    plan.reasons.push("cloudInit: a config drive (cidata) is written and attached; the guest reads it at boot");
    return;
  }
  const policy = news.cloudInitChangePolicy;
  switch (policy) {
    case "replace":
      plan.changed.push("cloudInit");
      plan.replaces.push("cloudInit");
      plan.reasons.push(
        "cloudInit changed and cloudInitChangePolicy is replace: a new VM is made from the source with the new config",
      );
      return;
    case "restart":
      plan.changed.push("cloudInit");
      if (live) {
        plan.whileHalted.push(step);
        plan.restartWhy.push(
          "cloudInit changed: the guest reads its config drive at boot, so the VM restarts with a new one (cloudInitChangePolicy: restart)",
        );
        plan.levels.push("restart");
      } else {
        plan.steps.push(step);
        plan.levels.push("none");
        plan.reasons.push("cloudInit changed: a new config drive is attached; the guest reads it at the next boot");
      }
      return;
    case "ignore":
      // Recorded in the state so that it is said once, never applied.
      if (JSON.stringify(old.cloudInit ?? null) !== JSON.stringify(news.cloudInit)) {
        plan.changed.push("cloudInit");
        plan.levels.push("none");
        plan.reasons.push(
          "cloudInit changed, not applied (cloudInitChangePolicy: ignore): the VM keeps the config drive it has; set restart or replace to apply it",
        );
      }
      return;
  }
}

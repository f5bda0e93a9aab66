/**
 * Power transitions as XenAPI allows them, for every pair of the four power states. Pure: the executor only makes
 * the calls named here, in order. A clean shutdown carries the time after which it falls back to a hard one.
 */
import type { PowerState } from "../schema";

export type PowerOp =
  | { op: "start"; paused: boolean; on?: string }
  | { op: "clean_shutdown"; hardAfterMs: number }
  | { op: "hard_shutdown" }
  | { op: "suspend" }
  | { op: "resume"; paused: boolean }
  | { op: "pause" }
  | { op: "unpause" };

/** Default wait for a clean shutdown before the hard one (xe and the anchors wait a few minutes). */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 3 * 60_000;

export interface ShutdownPolicy {
  /** Whether the guest can shut down cleanly (PV drivers or a PV kernel); without them it is powered off. */
  clean: boolean;
  hardAfterMs: number;
}

export function shutdownOps(policy: ShutdownPolicy): PowerOp[] {
  return policy.clean ? [{ op: "clean_shutdown", hardAfterMs: policy.hardAfterMs }] : [{ op: "hard_shutdown" }];
}

/**
 * The calls that take a VM from one power state to another. Halting a Suspended VM discards its suspend image and
 * halting a Paused one powers it off (XenAPI offers only hard_shutdown there); reaching Suspended from Halted boots
 * the VM first, since only a running domain can be suspended.
 */
export function powerPath(from: PowerState, to: PowerState, shutdown: ShutdownPolicy): PowerOp[] {
  if (from === to) return [];
  switch (`${from}->${to}`) {
    case "Halted->Running":
      return [{ op: "start", paused: false }];
    case "Halted->Paused":
      return [{ op: "start", paused: true }];
    case "Halted->Suspended":
      return [{ op: "start", paused: false }, { op: "suspend" }];
    case "Running->Halted":
      return shutdownOps(shutdown);
    case "Running->Suspended":
      return [{ op: "suspend" }];
    case "Running->Paused":
      return [{ op: "pause" }];
    case "Paused->Running":
      return [{ op: "unpause" }];
    case "Paused->Halted":
    case "Suspended->Halted":
      return [{ op: "hard_shutdown" }];
    case "Paused->Suspended":
      return [{ op: "unpause" }, { op: "suspend" }];
    case "Suspended->Running":
      return [{ op: "resume", paused: false }];
    case "Suspended->Paused":
      return [{ op: "resume", paused: true }];
  }
  throw new Error(`no power transition ${from} -> ${to}`);
}

/** What a delete runs first: whatever brings the VM to Halted from where it is. */
export function haltForDelete(from: PowerState, shutdown: ShutdownPolicy): PowerOp[] {
  return powerPath(from, "Halted", shutdown);
}

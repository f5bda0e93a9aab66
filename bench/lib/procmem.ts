/**
 * Peak resident memory of processes we did not start directly (the engine's dynamic-provider process): polls
 * /proc every `intervalMs` for processes whose command line contains `needle` and whose environment contains
 * `envMarker`, and keeps the largest VmHWM (the kernel's peak RSS of the process) seen. A process that peaks
 * after the last poll before it exits is under-reported by that last interval. Linux only.
 */
import * as fs from "node:fs";

export class PeakRss {
  private peak = 0;
  private readonly seen = new Set<number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly needle: string,
    private readonly envMarker: string,
    private readonly intervalMs = 50,
  ) {}

  start(): this {
    this.timer = setInterval(() => this.poll(), this.intervalMs);
    return this;
  }

  /** Stops polling; returns the peak in bytes and how many matching processes were seen. */
  stop(): { bytes: number; processes: number } {
    this.poll();
    if (this.timer) clearInterval(this.timer);
    return { bytes: this.peak, processes: this.seen.size };
  }

  private poll(): void {
    let pids: string[];
    try {
      pids = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d));
    } catch {
      return;
    }
    for (const pid of pids) {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
        if (!cmd.includes(this.needle)) continue;
        if (!fs.readFileSync(`/proc/${pid}/environ`, "utf8").includes(this.envMarker)) continue;
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
        if (!m) continue;
        this.seen.add(Number(pid));
        this.peak = Math.max(this.peak, Number(m[1]) * 1024);
      } catch {
        // gone meanwhile, or not ours to read
      }
    }
  }
}

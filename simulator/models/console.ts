/**
 * A console-like boot log per VM: what its firmware, an installer and the guest would print, oldest first. Kept in
 * memory only, as a console's scrollback is not state: a restart of the simulator starts every log afresh.
 */
export class BootConsole {
  private readonly logs = new Map<string, string[]>();

  /** `maxVms` bounds the logs kept (the VMs that printed least recently go first; destroyed VMs are not tracked). */
  constructor(
    private readonly maxLines = 200,
    private readonly maxVms = 50_000,
  ) {}

  /** Appends a line to the VM's log; the oldest lines go beyond `maxLines`. */
  write(vm: string, line: string): void {
    let log = this.logs.get(vm);
    if (log) this.logs.delete(vm);
    else log = [];
    this.logs.set(vm, log);
    if (this.logs.size > this.maxVms) this.logs.delete(this.logs.keys().next().value!);
    log.push(line);
    if (log.length > this.maxLines) log.splice(0, log.length - this.maxLines);
  }

  /** A copy of the VM's log ([] when nothing was printed). */
  lines(vm: string): string[] {
    return [...(this.logs.get(vm) ?? [])];
  }

  forget(vm: string): void {
    this.logs.delete(vm);
  }
}

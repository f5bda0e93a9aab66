import { execFile } from "node:child_process";
import * as path from "node:path";
import { RunningSimulator } from "../../simulator";
import { sim } from "../integration/simulator/helpers";

/**
 * A third-party client: Xen Orchestra's connector (npm `xen-api` 4.7.6), over both of its transports. It logs
 * in, lists the classes from system.listMethods, syncs every object (get_all_records + event.from), clones a
 * template with callAsync (task watched through events) and sees the clone arrive and change by events.
 * `xen-api` is ESM only, so it runs in a child node process (xo-client.mjs) that prints a JSON report.
 */

interface Report {
  transport: string;
  warnings: string[];
  types?: string[];
  watched?: string[];
  objects?: number;
  cloneRef?: string;
  clone?: { name_label: string; is_a_template: boolean; addEvent: boolean };
  updateEvent?: boolean;
  watchEventsError?: string | null;
  error?: string;
}

const SCRIPT = path.join(__dirname, "xo-client.mjs");
const TEMPLATE = "Debian Bookworm 12";

function runClient(url: string, transport: string): Promise<Report> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [SCRIPT, url, transport, "xen-root-pw", TEMPLATE],
      { timeout: 60000 },
      (err, stdout, stderr) => {
        const line = stdout.trim().split("\n").pop() ?? "";
        try {
          resolve(JSON.parse(line) as Report);
        } catch {
          reject(new Error(`xo-client gave no report (${String(err)}): ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

let s: RunningSimulator;
beforeAll(async () => {
  s = await sim();
});
afterAll(async () => s.close());

describe.each(["json-rpc", "xml-rpc"])("xen-api over %s", (transport) => {
  let report: Report;
  beforeAll(async () => {
    report = await runClient(s.url, transport);
  }, 90000);

  test("completes its objects sync with no warning", () => {
    expect(report.error).toBeUndefined();
    expect(report.warnings).toEqual([]);
    expect(report.watched).toEqual(expect.arrayContaining(["VM", "host", "pool", "task", "SR", "network", "message"]));
    expect(report.watched).not.toContain("session");
    expect(report.types).toEqual(expect.arrayContaining(["VM", "host", "pool", "SR", "network"]));
    expect(report.objects).toBeGreaterThan(20);
  });
  // A clone of a template is a template (xapi), so is_a_template stays true.
  test("callAsync VM.clone returns the clone, which arrives by an event and then changes", () => {
    expect(report.cloneRef).toMatch(/^OpaqueRef:/);
    expect(report.clone).toEqual({ name_label: `xo-clone-${transport}`, is_a_template: true, addEvent: true });
    expect(report.updateEvent).toBe(true);
    expect(report.watchEventsError).toBeNull();
  });
});

/** The results table (markdown) and the chart of cost against N (hand-written SVG). */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT, fmt } from "./util";

export interface Row {
  section: string;
  name: string;
  measured: string;
  baseline: string;
  /** measured / baseline, median over the runs; null when the figure is a count beside a stated minimum */
  ratio: number | null;
  target?: string;
  note?: string;
}

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: { n: number; seconds: number }[];
}

export function machine(): Record<string, string> {
  const cpus = os.cpus();
  const version = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: "utf8" }).trim();
    } catch {
      return "unavailable";
    }
  };
  const sdk = JSON.parse(
    fs.readFileSync(path.join(REPO_ROOT, "node_modules", "@pulumi", "pulumi", "package.json"), "utf8"),
  ) as { version: string };
  return {
    date: new Date().toISOString(),
    cpu: `${cpus[0]?.model ?? "unknown"} x ${cpus.length}`,
    memory: `${fmt(os.totalmem() / 1024 ** 3, 1)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    pulumi: `CLI ${version(path.join(REPO_ROOT, "bin", "pulumi"), ["version"])}, @pulumi/pulumi ${sdk.version}`,
    commit: version("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"]),
    "dist/ (compiled provider and simulator)": distAge(),
  };
}

export function markdown(title: string, rows: Row[], meta: Record<string, string>, notes: string[]): string {
  const out: string[] = [`# ${title}`, ""];
  for (const [k, v] of Object.entries(meta)) out.push(`- **${k}**: ${v}`);
  out.push("");
  let section = "";
  for (const r of rows) {
    if (r.section !== section) {
      section = r.section;
      out.push(
        "",
        `## ${section}`,
        "",
        "| Figure | Measured | Baseline (same run) | Ratio | Target |",
        "|---|---|---|---|---|",
      );
    }
    const ratio = r.ratio === null ? "-" : `**${fmt(r.ratio)}**`;
    const name = r.note ? `${r.name} <br>*${r.note}*` : r.name;
    out.push(`| ${name} | ${r.measured} | ${r.baseline} | ${ratio} | ${r.target ?? ""} |`);
  }
  if (notes.length) out.push("", "## Notes", "", ...notes.map((n) => `- ${n}`));
  return `${out.join("\n")}\n`;
}

/** When dist/ was built, and how many provider/simulator/sdk sources are newer than that build. */
export function distAge(): string {
  const built = (f: string) => fs.statSync(path.join(REPO_ROOT, "dist", f)).mtimeMs;
  let oldest: number;
  try {
    oldest = Math.min(built("provider/index.js"), built("simulator/index.js"), built("sdk/index.js"));
  } catch {
    return "missing (run npm run build)";
  }
  let newer = 0;
  for (const dir of ["provider", "simulator", "sdk"])
    for (const f of fs.readdirSync(path.join(REPO_ROOT, dir), { recursive: true }) as string[])
      if (f.endsWith(".ts") && fs.statSync(path.join(REPO_ROOT, dir, f)).mtimeMs > oldest) newer++;
  return `built ${new Date(oldest).toISOString()}; ${newer} source file(s) changed since`;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A line chart of seconds against N, one line per series, written without any charting library. */
export function svgChart(title: string, series: Series[]): string {
  const W = 720;
  const H = 440;
  const m = { l: 64, r: 200, t: 40, b: 52 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const ns = [...new Set(series.flatMap((s) => s.points.map((p) => p.n)))].sort((a, b) => a - b);
  const maxN = Math.max(1, ...ns);
  const maxY = niceCeil(Math.max(0.001, ...series.flatMap((s) => s.points.map((p) => p.seconds))));
  const x = (n: number) => m.l + (n / maxN) * pw;
  const y = (v: number) => m.t + ph - (v / maxY) * ph;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.l}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (maxY / 5) * i;
    parts.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v, v < 10 ? 1 : 0)}</text>`,
    );
  }
  for (const n of ns)
    parts.push(
      `<line x1="${x(n)}" x2="${x(n)}" y1="${m.t + ph}" y2="${m.t + ph + 5}" stroke="#333"/>`,
      `<text x="${x(n)}" y="${m.t + ph + 18}" text-anchor="middle">${n}</text>`,
    );
  parts.push(
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#333"/>`,
    `<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/>`,
    `<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">N (resources in the stack)</text>`,
    `<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">wall time, s (median)</text>`,
  );
  series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a.n - b.n);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : "";
    parts.push(
      `<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((p) => `${x(p.n).toFixed(1)},${y(p.seconds).toFixed(1)}`).join(" ")}"/>`,
      ...pts.map((p) => `<circle cx="${x(p.n).toFixed(1)}" cy="${y(p.seconds).toFixed(1)}" r="3" fill="${s.color}"/>`),
      `<line x1="${m.l + pw + 16}" x2="${m.l + pw + 40}" y1="${m.t + 10 + i * 20}" y2="${m.t + 10 + i * 20}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${m.l + pw + 46}" y="${m.t + 14 + i * 20}">${esc(s.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= v) return k * p;
  return 10 * p;
}

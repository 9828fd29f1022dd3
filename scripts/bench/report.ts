// What every benchmark report shares: the machine line, and replacing one "## " section of
// docs/BENCHMARKS.md while keeping the others (each benchmark owns its section).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";

export const benchmarksPath = join(import.meta.dir, "..", "..", "docs", "BENCHMARKS.md");

export function machineLine(): string {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpus()[0]?.model ?? "unknown CPU";
  const nproc = Bun.spawnSync(["nproc"], { stderr: "ignore" }).stdout.toString().trim() || String(cpus().length);
  return `${nproc} CPUs (nproc), ${model}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${process.platform}-${process.arch}, Bun ${Bun.version}`;
}

/** The section of `doc` that starts with the `heading` line, up to the next "## " heading. */
export function findSection(doc: string, heading: string): { start: number; end: number } | null {
  const start = doc.indexOf(`\n${heading}\n`);
  if (start < 0) return null;
  const next = doc.indexOf("\n## ", start + 1);
  return { start: start + 1, end: next < 0 ? doc.length : next + 1 };
}

/** Replaces the section whose heading is `text`'s first line (or appends it) in BENCHMARKS.md. */
export function writeBenchmarkSection(text: string): void {
  const heading = text.slice(0, text.indexOf("\n"));
  const current = existsSync(benchmarksPath) ? readFileSync(benchmarksPath, "utf8") : "# Benchmarks\n";
  const section = `${text.trimEnd()}\n`;
  const found = findSection(current, heading);
  const next = found ? `${current.slice(0, found.start)}${section}${found.end < current.length ? `\n${current.slice(found.end)}` : ""}` : `${current.trimEnd()}\n\n${section}`;
  writeFileSync(benchmarksPath, next);
}

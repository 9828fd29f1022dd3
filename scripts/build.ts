// Builds single-file executables: dist/goferbroke for this machine and
// dist/goferbroke-<os>-<arch>[.exe] for every supported target. The version and the commit are
// embedded (see src/cli/version.ts); the build options are in scripts/build-flags.ts.
//   bun run build                 all targets
//   bun run build -- --host-only  just dist/goferbroke
//   bun run build -- --targets linux-arm64,windows-x64   just those (names as in TARGETS)
import { parseArgs } from "node:util";
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { SHIPPED_BUILD_FLAGS } from "./build-flags.ts";
import { TARGETS, targetsNamed } from "./build-targets.ts";

const { values } = parseArgs({ options: { "host-only": { type: "boolean", default: false }, targets: { type: "string" } }, strict: true });
const chosen = values.targets === undefined ? TARGETS : targetsNamed(values.targets);
const root = join(import.meta.dir, "..");
const dist = join(root, "dist");
mkdirSync(dist, { recursive: true });

const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: root, stderr: "ignore" });
const commit = git.exitCode === 0 ? git.stdout.toString().trim() : "unknown";

async function compile(outfile: string, bunTarget?: string): Promise<void> {
  const args = ["build", "--compile", ...SHIPPED_BUILD_FLAGS, `--define=GOFERBROKE_COMMIT=${JSON.stringify(commit)}`];
  if (bunTarget) args.push(`--target=${bunTarget}`);
  args.push(join(root, "src/cli/main.ts"), "--outfile", outfile);
  const child = Bun.spawn([process.execPath, ...args], { stdout: "pipe", stderr: "pipe" });
  const [code, errors] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  if (code !== 0) throw new Error(`building ${outfile} failed (exit ${code}): ${errors.trim()}`);
  console.log(`${outfile.padEnd(48)} ${(statSync(outfile).size / 1024 / 1024).toFixed(1)} MiB`);
}

if (values.targets === undefined) await compile(join(dist, "goferbroke"));
if (!values["host-only"]) {
  for (const target of chosen) {
    await compile(join(dist, `goferbroke-${target.name}${"suffix" in target ? target.suffix : ""}`), target.bunTarget);
  }
}

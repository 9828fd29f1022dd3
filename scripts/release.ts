// Release artefacts: builds every target (scripts/build.ts), packs each executable with the
// README and LICENSE, and writes SHA256SUMS beside them in dist/release/:
//   goferbroke-<version>-<target>.tar.gz   Linux and macOS (the executable keeps its x bit)
//   goferbroke-<version>-<target>.zip      Windows
//   SHA256SUMS                             `sha256sum -c SHA256SUMS` checks them
//   bun run release                          every target
//   bun run release -- --targets linux-x64,windows-x64
//   bun run release -- --no-build            pack the executables already in dist/
import { parseArgs } from "node:util";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { TARGETS, targetsNamed } from "./build-targets.ts";
import { tarGz, zip } from "./release-archive.ts";

const { values } = parseArgs({ options: { targets: { type: "string" }, "no-build": { type: "boolean", default: false } }, strict: true });
const root = join(import.meta.dir, "..");
const dist = join(root, "dist");
const out = join(dist, "release");
const targets = values.targets === undefined ? [...TARGETS] : targetsNamed(values.targets);

if (!values["no-build"]) {
  const build = Bun.spawn([process.execPath, join(import.meta.dir, "build.ts"), "--targets", targets.map((target) => target.name).join(",")], { stdout: "inherit", stderr: "inherit" });
  if ((await build.exited) !== 0) process.exit(1);
}

// The commit's time, so that packing the same commit twice gives the same bytes.
const git = Bun.spawnSync(["git", "log", "-1", "--format=%ct"], { cwd: root, stderr: "ignore" });
const mtime = git.exitCode === 0 ? Number(git.stdout.toString().trim()) : Math.floor(Date.now() / 1000);
const docs = ["README.md", "LICENSE"].map((name) => ({ name, data: new Uint8Array(readFileSync(join(root, name))), mode: 0o644 }));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const sums: string[] = [];
for (const target of targets) {
  const suffix = "suffix" in target ? target.suffix : "";
  const executable = join(dist, `goferbroke-${target.name}${suffix}`);
  if (!existsSync(executable)) {
    console.error(`${executable} is missing: build it first (bun run build -- --targets ${target.name})`);
    process.exit(1);
  }
  const folder = `goferbroke-${packageJson.version}-${target.name}`;
  const entries = [{ name: `${folder}/goferbroke${suffix}`, data: new Uint8Array(readFileSync(executable)), mode: 0o755 }, ...docs.map((doc) => ({ ...doc, name: `${folder}/${doc.name}` }))];
  const windows = suffix === ".exe";
  const file = `${folder}${windows ? ".zip" : ".tar.gz"}`;
  const bytes = windows ? zip(entries, mtime) : tarGz(entries, mtime);
  writeFileSync(join(out, file), bytes);
  const digest = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
  sums.push(`${digest}  ${file}`);
  console.log(`${join("dist", "release", file).padEnd(64)} ${(statSync(join(out, file)).size / 1024 / 1024).toFixed(1)} MiB`);
}
writeFileSync(join(out, "SHA256SUMS"), `${sums.join("\n")}\n`);
console.log(`${join("dist", "release", "SHA256SUMS").padEnd(64)} ${sums.length} artefacts`);

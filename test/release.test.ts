// `bun run release` for two targets: the x64 baseline builds (no AVX2) for Linux and Windows.
// The archives are read back with the system's own tar and unzip, not with the code that wrote
// them; SHA256SUMS is checked with sha256sum; the Linux executable is unpacked and run.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { repoRoot } from "./support/node-processes.ts";

// Two cross-compiled builds and two ~110 MiB archives at gzip level 9.
setDefaultTimeout(240_000);

const releaseDir = join(repoRoot, "dist", "release");
const unpackDir = mkdtempSync(join(tmpdir(), "goferbroke-release-"));
const version = packageJson.version;
const linuxFolder = `goferbroke-${version}-linux-x64-baseline`;
const windowsFolder = `goferbroke-${version}-windows-x64-baseline`;
afterAll(() => rmSync(unpackDir, { recursive: true, force: true }));

function run(command: string[], cwd = releaseDir): { exitCode: number; stdout: string; stderr: string } {
  const child = Bun.spawnSync(command, { cwd, stdout: "pipe", stderr: "pipe", timeout: 120_000 });
  return { exitCode: child.exitCode ?? -1, stdout: child.stdout.toString(), stderr: child.stderr.toString() };
}

const hasTool = (tool: string) => Bun.which(tool) !== null;

describe("bun run release", () => {
  beforeAll(() => {
    const release = run([process.execPath, join(repoRoot, "scripts", "release.ts"), "--targets", "linux-x64-baseline,windows-x64-baseline"], repoRoot);
    if (release.exitCode !== 0) throw new Error(`release failed (exit ${release.exitCode}): ${release.stderr}`);
  });

  test("SHA256SUMS lists both artefacts with the digests of their bytes", () => {
    const lines = readFileSync(join(releaseDir, "SHA256SUMS"), "utf8").trimEnd().split("\n");
    expect(lines.map((line) => line.split("  ")[1])).toEqual([`${linuxFolder}.tar.gz`, `${windowsFolder}.zip`]);
    for (const line of lines) {
      const [digest, file] = line.split("  ");
      expect(new Bun.CryptoHasher("sha256").update(readFileSync(join(releaseDir, file!))).digest("hex")).toBe(digest!);
    }
    if (hasTool("sha256sum")) expect(run(["sha256sum", "-c", "SHA256SUMS"]).exitCode).toBe(0);
    else console.log("sha256sum is not installed: checked the digests in the test only");
  });

  test("the Linux archive keeps the executable's x bit, and what it unpacks runs", () => {
    const listing = run(["tar", "-tvzf", `${linuxFolder}.tar.gz`]);
    expect(listing.exitCode).toBe(0);
    const modes = Object.fromEntries(listing.stdout.trimEnd().split("\n").map((row) => [row.split(/\s+/).at(-1)!, row.split(/\s+/)[0]!]));
    expect(modes).toEqual({ [`${linuxFolder}/goferbroke`]: "-rwxr-xr-x", [`${linuxFolder}/README.md`]: "-rw-r--r--", [`${linuxFolder}/LICENSE`]: "-rw-r--r--" });
    expect(run(["tar", "-xzf", join(releaseDir, `${linuxFolder}.tar.gz`)], unpackDir).exitCode).toBe(0);
    const versionLine = run([join(unpackDir, linuxFolder, "goferbroke"), "--version"], unpackDir);
    expect(versionLine.exitCode).toBe(0);
    expect(versionLine.stdout).toStartWith(`goferbroke ${version} (commit `);
    expect(readFileSync(join(unpackDir, linuxFolder, "LICENSE"), "utf8")).toBe(readFileSync(join(repoRoot, "LICENSE"), "utf8"));
  });

  test("the Windows zip holds goferbroke.exe, a PE executable, and passes unzip's own check", () => {
    if (!hasTool("unzip")) {
      console.log("unzip is not installed: skipping the check of the Windows zip with an independent reader");
      return;
    }
    expect(run(["unzip", "-tq", `${windowsFolder}.zip`]).exitCode).toBe(0);
    expect(run(["unzip", "-q", join(releaseDir, `${windowsFolder}.zip`)], unpackDir).exitCode).toBe(0);
    const exe = readFileSync(join(unpackDir, windowsFolder, "goferbroke.exe"));
    expect(exe.toString("latin1", 0, 2)).toBe("MZ");
    expect(exe.equals(readFileSync(join(repoRoot, "dist", "goferbroke-windows-x64-baseline.exe")))).toBe(true);
  });
});

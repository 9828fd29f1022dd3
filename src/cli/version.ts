// The software version and the build's commit. `bun run build` defines GOFERBROKE_COMMIT at
// compile time; from source it is read from git when available.

import packageJson from "../../package.json" with { type: "json" };

declare const GOFERBROKE_COMMIT: string | undefined;

export const VERSION: string = packageJson.version;

export function buildCommit(): string {
  if (typeof GOFERBROKE_COMMIT === "string") return GOFERBROKE_COMMIT;
  try {
    const result = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: import.meta.dir, stderr: "ignore" });
    const commit = result.stdout.toString().trim();
    return result.exitCode === 0 && commit !== "" ? commit : "unknown";
  } catch {
    return "unknown";
  }
}

export function versionLine(): string {
  return `goferbroke ${VERSION} (commit ${buildCommit()}, bun ${Bun.version}, ${process.platform}-${process.arch})`;
}

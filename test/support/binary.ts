// The compiled binary (dist/goferbroke) for tests and benchmarks: built again only when a file a
// build reads is newer than it, so a run after a source change never tests a stale binary.

import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./node-processes.ts";

export const hostBinary = join(repoRoot, "dist", "goferbroke");

/** The newest modification time among the files a build reads. */
function newestSourceMtimeMs(): number {
  let newest = 0;
  const visit = (path: string) => {
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path)) visit(join(path, entry));
    } else {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  for (const path of ["src", "package.json", "scripts/build.ts", "scripts/build-flags.ts", "tsconfig.json"]) visit(join(repoRoot, path));
  return newest;
}

export function isFresh(binary: string): boolean {
  return existsSync(binary) && statSync(binary).mtimeMs > newestSourceMtimeMs();
}

export async function runBuild(args: string[], what: string): Promise<void> {
  const child = Bun.spawn([process.execPath, ...args], { cwd: repoRoot, stdout: "pipe", stderr: "pipe" });
  const finished = await Promise.race([child.exited.then(() => true), Bun.sleep(120_000).then(() => false)]);
  if (!finished) {
    child.kill("SIGKILL");
    await child.exited;
    throw new Error(`building ${what} took more than 120 s`);
  }
  if (child.exitCode !== 0) throw new Error(`building ${what} failed (exit ${child.exitCode}): ${await new Response(child.stderr).text()}`);
}

/** Builds dist/goferbroke (`bun scripts/build.ts --host-only`) when it is missing, stale or `force`d. */
export async function ensureHostBinary(force = false): Promise<void> {
  if (force || !isFresh(hostBinary)) await runBuild([join(repoRoot, "scripts", "build.ts"), "--host-only"], hostBinary);
}


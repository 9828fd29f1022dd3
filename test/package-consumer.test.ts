// The npm package as a TypeScript project gets it: `npm pack` (which builds dist/types), installed
// from the tarball into a scratch project that type-checks with moduleResolution nodenext and
// skipLibCheck off, then runs under Bun. Without the "types" export condition, such a project
// gets TS5097 for every ".ts" import inside node_modules/goferbroke/src.

import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { repoRoot } from "./support/node-processes.ts";

// npm pack type-checks the package's sources, npm install may reach the registry, and the
// consumer's tsc checks bun-types in full: a minute or two on a busy 2-core machine.
setDefaultTimeout(300_000);

const scratch = mkdtempSync(join(tmpdir(), "goferbroke-consumer-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function run(command: string[], cwd: string): Promise<{ exitCode: number; output: string }> {
  const child = Bun.spawn(command, { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false" } });
  const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  return { exitCode, output: `${stdout}${stderr}` };
}

test("the packed tarball type-checks under moduleResolution nodenext and runs under Bun", async () => {
  const packDir = join(scratch, "pack");
  mkdirSync(packDir);
  const pack = await run(["npm", "pack", "--pack-destination", packDir], repoRoot);
  expect(pack.output).toContain("dist/types/index.d.ts");
  expect(pack.exitCode).toBe(0);
  const tarball = join(packDir, readdirSync(packDir).find((file) => file.endsWith(".tgz"))!);

  const project = join(scratch, "project");
  await Bun.write(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify({
    compilerOptions: { target: "ES2022", module: "nodenext", moduleResolution: "nodenext", strict: true, noEmit: true, types: ["bun"], skipLibCheck: false },
    include: ["main.ts"],
  }));
  writeFileSync(join(project, "main.ts"), [
    'import { createNode, OptionsError, type EntryEvent } from "goferbroke";',
    'const node = createNode({ name: "consumer", address: "127.0.0.1:0" });',
    'node.on("entry-added", (event: EntryEvent) => console.log(`event ${event.type} ${event.key}`));',
    "await node.start();",
    'node.set("app", "ready", true);',
    'console.log(`read ${String(node.get(node.name, "app", "ready"))} ${OptionsError.name}`);',
    "await node.stop();",
  ].join("\n"));
  const typescript = packageJson.devDependencies.typescript;
  const bunTypes = packageJson.devDependencies["@types/bun"];
  const install = await run(["npm", "install", "--prefer-offline", tarball, `typescript@${typescript}`, `@types/bun@${bunTypes}`], project);
  expect(install.output).not.toContain("ERR!");
  expect(install.exitCode).toBe(0);

  const tsc = await run([process.execPath, join(project, "node_modules", "typescript", "bin", "tsc"), "-p", project], project);
  expect(tsc.output).toBe("");
  expect(tsc.exitCode).toBe(0);

  const main = await run([process.execPath, join(project, "main.ts")], project);
  expect(main.output).toBe("event entry-added ready\nread true OptionsError\n");
  expect(main.exitCode).toBe(0);
});

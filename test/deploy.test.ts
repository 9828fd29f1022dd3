// deploy/: the Dockerfile and the systemd unit. There is no Docker daemon on these machines, so
// the Dockerfile is parsed and checked instruction by instruction, its health check is run for
// real against a node started with the image's own environment, and `docker build` runs only where
// a daemon answers (skipped with the reason otherwise). The unit goes through systemd-analyze.

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, killAll, repoRoot, runCli, startNodeWithArgs, stopNode, waitHealthy } from "./support/node-processes.ts";

setDefaultTimeout(120_000);

const scratch = mkdtempSync(join(tmpdir(), "goferbroke-deploy-"));
afterAll(async () => {
  await killAll();
  rmSync(scratch, { recursive: true, force: true });
});

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

const KEYWORDS = new Set(["FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"]);

/** Dockerfile instructions, continuation lines joined, comments and parser directives dropped. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = "";
  let startLine = 0;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) return;
    if (pending === "") startLine = index + 1;
    if (line.startsWith("#")) return; // a comment inside a continued instruction
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const whole = pending + line;
    pending = "";
    const match = /^(\S+)\s+(.*)$/s.exec(whole);
    if (!match) throw new Error(`Dockerfile line ${startLine}: "${whole}" has no arguments`);
    instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: startLine });
  });
  if (pending !== "") throw new Error("Dockerfile ends inside a continued line");
  return instructions;
}

/** ENV's KEY=value pairs (values without spaces or quotes, as this Dockerfile writes them). */
function envOf(instructions: readonly Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const instruction of instructions.filter((each) => each.keyword === "ENV")) {
    for (const pair of instruction.args.split(/\s+/)) {
      const [key, ...value] = pair.split("=");
      env[key!] = value.join("=");
    }
  }
  return env;
}

const dockerfile = parseDockerfile(readFileSync(join(repoRoot, "deploy", "Dockerfile"), "utf8"));
const stages: Instruction[][] = [];
for (const instruction of dockerfile) {
  if (instruction.keyword === "FROM") stages.push([]);
  stages.at(-1)?.push(instruction);
}
const finalStage = stages.at(-1)!;
const finalEnv = envOf(finalStage);
const healthcheck = finalStage.find((instruction) => instruction.keyword === "HEALTHCHECK");
const healthCommand: string[] = JSON.parse(healthcheck?.args.replace(/^.*?CMD\s+/s, "") ?? "[]");

describe("deploy/Dockerfile", () => {
  test("is multi-stage: the build stage compiles, the final stage copies only the executable", () => {
    expect(dockerfile[0]!.keyword).toBe("FROM");
    for (const instruction of dockerfile) expect(KEYWORDS.has(instruction.keyword)).toBe(true);
    expect(stages.length).toBe(2);
    expect(stages[0]![0]!.args).toMatch(/ AS build$/i);
    expect(stages[0]!.some((instruction) => instruction.keyword === "RUN" && instruction.args.includes("scripts/build.ts --host-only"))).toBe(true);
    const copies = finalStage.filter((instruction) => instruction.keyword === "COPY");
    expect(copies.map((copy) => copy.args)).toEqual(["--from=build /src/dist/goferbroke /usr/local/bin/goferbroke"]);
  });

  test("every file the build stage copies exists in the repository (the build context)", () => {
    for (const copy of stages[0]!.filter((instruction) => instruction.keyword === "COPY")) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const source of sources) expect(`${source}: ${existsSync(join(repoRoot, source))}`).toBe(`${source}: true`);
    }
  });

  test("runs as a non-root user, exposes the gossip port it listens on, and stops with SIGTERM", () => {
    const user = finalStage.filter((instruction) => instruction.keyword === "USER").at(-1)?.args ?? "root";
    expect(user.split(":")[0]).not.toMatch(/^(root|0)$/);
    const gossipPort = finalEnv.GOFERBROKE_NODE_ADDR!.split(":").at(-1);
    expect(finalStage.find((instruction) => instruction.keyword === "EXPOSE")?.args.split(/\s+/)).toContain(`${gossipPort}/tcp`);
    expect(finalStage.find((instruction) => instruction.keyword === "STOPSIGNAL")?.args).toBe("SIGTERM");
    expect(healthCommand.slice(0, 2)).toEqual(["/usr/local/bin/goferbroke", "health"]);
  });

  test("its health check, run as written against a node started with the image's environment, passes, and fails once the node is gone", async () => {
    const binary = join(repoRoot, "dist", "goferbroke");
    const command = existsSync(binary) ? [binary] : undefined; // the executable when built, else the same CLI from source
    const clientPort = Number(finalEnv.GOFERBROKE_CLIENT_PORT);
    // The image's own ports may be taken on this machine: move them, keep everything else.
    const [nodePort, freeClientPort] = [await freePort(), await freePort()];
    const env = { ...finalEnv, GOFERBROKE_NODE_ADDR: finalEnv.GOFERBROKE_NODE_ADDR!.replace(/:\d+$/, `:${nodePort}`), GOFERBROKE_CLIENT_PORT: String(freeClientPort), GOFERBROKE_NAME: "container" };
    const node = startNodeWithArgs({ name: "container", nodePort, clientPort: freeClientPort, args: [], env, ...(command ? { command } : {}) });
    const check = healthCommand.slice(1).map((arg) => arg.replace(`:${clientPort}`, `:${freeClientPort}`));
    try {
      await waitHealthy(node);
      const healthy = await runCli(check, command ? { command } : {});
      expect(healthy.exitCode).toBe(0);
      expect(await stopNode(node, "SIGTERM")).toBe(0);
      const gone = await runCli(check, command ? { command } : {});
      expect(gone.exitCode).not.toBe(0);
    } finally {
      await stopNode(node, "SIGKILL");
    }
  });

  test("docker build succeeds where a Docker daemon answers", async () => {
    const docker = Bun.which("docker");
    const info = docker ? Bun.spawnSync([docker, "info"], { stdout: "ignore", stderr: "ignore", timeout: 10_000 }) : null;
    if (!docker || info?.exitCode !== 0) {
      console.log(`skipped docker build: ${docker ? "no Docker daemon answers `docker info`" : "docker is not installed"}`);
      return;
    }
    const build = Bun.spawnSync([docker, "build", "-f", "deploy/Dockerfile", "-t", "goferbroke-test", "."], { cwd: repoRoot, stdout: "pipe", stderr: "pipe", timeout: 110_000 });
    expect(build.stderr.toString()).not.toContain("ERROR");
    expect(build.exitCode).toBe(0);
  });
});

describe("deploy/goferbroke.service", () => {
  const unit = readFileSync(join(repoRoot, "deploy", "goferbroke.service"), "utf8");

  test("is hardened and leaves gracefully", () => {
    for (const directive of ["DynamicUser=yes", "ProtectSystem=strict", "Restart=on-failure", "KillSignal=SIGTERM", "NoNewPrivileges=yes"]) {
      expect(unit.split("\n")).toContain(directive);
    }
  });

  test("passes systemd-analyze verify with no warning", () => {
    const analyze = Bun.which("systemd-analyze");
    if (!analyze) {
      console.log("skipped systemd-analyze verify: systemd-analyze is not installed");
      return;
    }
    // verify checks that ExecStart's program exists: point it at one that does on this machine.
    const path = join(scratch, "goferbroke.service");
    writeFileSync(path, unit.replace("ExecStart=/usr/local/bin/goferbroke", `ExecStart=${process.execPath}`));
    const verify = Bun.spawnSync([analyze, "verify", path], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
    expect(verify.stderr.toString()).toBe("");
    expect(verify.exitCode).toBe(0);
  });
});

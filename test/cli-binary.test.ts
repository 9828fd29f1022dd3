// The single-file executables: dist/goferbroke for this machine runs a converging 3-node cluster
// and its own `members` subcommand; the linux-arm64 build runs under qemu-user when it is
// installed. The binaries are run from an empty directory, so they cannot lean on the source tree.
//
// Building takes a few seconds per target, so a binary newer than every source file is reused.

import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, openSync, readSync, closeSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { ensureHostBinary, hostBinary, isFresh, runBuild } from "./support/binary.ts";
import {
  freePort,
  killAll,
  members,
  repoRoot,
  runCli,
  startNodeWithArgs,
  stopNode,
  waitFor,
  waitHealthy,
  type NodeProcess,
} from "./support/node-processes.ts";

// Builds (seconds each) plus Bun under qemu emulation (about a second per start, slow gossip).
setDefaultTimeout(150_000);

const arm64Binary = join(repoRoot, "dist", "goferbroke-linux-arm64");
const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";
const emptyDir = mkdtempSync(join(tmpdir(), "goferbroke-binary-"));

afterAll(async () => {
  await killAll();
  rmSync(emptyDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Building

/** Only the arm64 target: scripts/build.ts builds all seven or the host's, and the rest are not needed here. */
async function ensureArm64Binary(): Promise<void> {
  if (isFresh(arm64Binary)) return;
  const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: repoRoot, stderr: "ignore" });
  const commit = git.exitCode === 0 ? git.stdout.toString().trim() : "unknown";
  // The same options as scripts/build.ts, so this is the binary a release ships.
  await runBuild(
    ["build", "--compile", "--bytecode", "--format=esm", "--minify", `--define=GOFERBROKE_COMMIT=${JSON.stringify(commit)}`, "--target=bun-linux-arm64", join(repoRoot, "src/cli/main.ts"), "--outfile", arm64Binary],
    arm64Binary,
  );
}

/** ELF e_machine of an executable: 62 x86-64, 183 AArch64. */
function elfMachine(path: string): number {
  const header = Buffer.alloc(20);
  const fd = openSync(path, "r");
  try {
    readSync(fd, header, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  if (header.toString("latin1", 0, 4) !== "\x7fELF") throw new Error(`${path} is not an ELF file`);
  return header.readUInt16LE(18);
}

// ---------------------------------------------------------------------------------------------
// Clusters of binaries

/** Starts nodes with the Go flags from an empty directory; the first is the seed. */
async function startBinaryCluster(command: string[], names: readonly string[], gossipIntervalMs: number): Promise<NodeProcess[]> {
  const nodes: NodeProcess[] = [];
  let seedAddress = "";
  for (const name of names) {
    const [nodePort, clientPort] = [await freePort(), await freePort()];
    const role = seedAddress === "" ? ["-mode", "seed"] : ["-mode", "node", "-routes", seedAddress];
    nodes.push(
      startNodeWithArgs({
        name,
        nodePort,
        clientPort,
        command,
        cwd: emptyDir,
        args: ["-name", name, "-nodeAddr", `127.0.0.1:${nodePort}`, "-clientPort", String(clientPort), ...role, `--gossip-interval=${gossipIntervalMs}ms`, "--log-format=json"],
      }),
    );
    if (seedAddress === "") seedAddress = `127.0.0.1:${nodePort}`;
  }
  return nodes;
}

async function waitConverged(nodes: readonly NodeProcess[], timeoutMs: number): Promise<number> {
  const names = nodes.map((node) => node.name);
  await Promise.all(nodes.map((node) => waitHealthy(node, timeoutMs)));
  return await waitFor(`${names.join(", ")} to see each other alive`, async () => {
    const tables = await Promise.all(nodes.map((node) => members(node)));
    return tables.every((rows) => names.every((name) => rows.some((row) => row.name === name && row.state === "alive")));
  }, timeoutMs);
}

/** Rows of the `members` table: name → state. */
function parseMembersTable(stdout: string): Map<string, string> {
  const [header, ...rows] = stdout.trimEnd().split("\n");
  expect(header).toMatch(/^NAME\s+ADDRESS\s+STATE\s+PHI\s+GENERATION\s+HEARTBEAT AGE$/);
  return new Map(rows.map((row) => {
    const [name, , state] = row.split(/\s+/);
    return [name!, state!];
  }));
}

const versionPattern = (platform: string) => new RegExp(`^goferbroke ${packageJson.version.replaceAll(".", "\\.")} \\(commit ([0-9a-f]{7,40}|unknown), bun ${Bun.version.replaceAll(".", "\\.")}, ${platform}\\)\\n$`);

// ---------------------------------------------------------------------------------------------

describe(`the host binary (${process.platform}-${process.arch})`, () => {
  test("builds, or is reused when newer than the sources", async () => {
    await ensureHostBinary();
    expect(existsSync(hostBinary)).toBe(true);
    if (process.platform === "linux") expect(elfMachine(hostBinary)).toBe(process.arch === "arm64" ? 183 : 62);
    const version = await runCli(["--version"], { command: [hostBinary], cwd: emptyDir });
    expect(version.exitCode).toBe(0);
    expect(version.stdout).toMatch(versionPattern(`${process.platform}-${process.arch}`));
    // The commit was embedded at build time: there is no git repository where it runs.
    expect(version.stdout).not.toContain("commit unknown");
  });

  // main.ts loads the node, the client and consola's pretty reporters only on the path that needs
  // them; the bundle must still contain and find each one.
  test("each lazily loaded path works in the bundle: pretty logs, a usage error, an unreachable client port", async () => {
    await ensureHostBinary();
    const [nodePort, clientPort] = [await freePort(), await freePort()];
    const pretty = startNodeWithArgs({ name: "pretty", nodePort, clientPort, command: [hostBinary], cwd: emptyDir, args: ["-name", "pretty", "-nodeAddr", `127.0.0.1:${nodePort}`, "-clientPort", String(clientPort)] });
    try {
      await waitHealthy(pretty);
      await waitFor("the pretty log line", () => pretty.output().includes(`listening on 127.0.0.1:${nodePort}`), 5000);
      expect(pretty.output().trimStart()).not.toStartWith("{");
      expect(await stopNode(pretty, "SIGTERM")).toBe(0);
    } finally {
      await stopNode(pretty, "SIGKILL");
    }
    const usage = await runCli(["-nodeAdr", "127.0.0.1:1"], { command: [hostBinary], cwd: emptyDir });
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toContain("unknown flag -nodeAdr");
    const unreachable = await runCli(["members", "-c", `127.0.0.1:${await freePort()}`], { command: [hostBinary], cwd: emptyDir });
    expect(unreachable.exitCode).toBe(1);
    expect(unreachable.stderr).toContain("cannot reach the node's client port");
  });

  test("runs a 3-node cluster on loopback that converges; its members command lists all three alive", async () => {
    await ensureHostBinary();
    const nodes = await startBinaryCluster([hostBinary], ["bin-1", "bin-2", "bin-3"], 200);
    try {
      const convergedMs = await waitConverged(nodes, 20_000);
      console.log(`host binary: 3 nodes converged ${convergedMs.toFixed(0)} ms after they answered /healthz`);
      const listing = await runCli(["members", "-c", `127.0.0.1:${nodes[2]!.clientPort}`], { command: [hostBinary], cwd: emptyDir });
      expect(listing.exitCode).toBe(0);
      const table = parseMembersTable(listing.stdout);
      expect(Object.fromEntries(table)).toEqual({ "bin-1": "alive", "bin-2": "alive", "bin-3": "alive" });
      // A graceful leave from the binary too.
      expect(await stopNode(nodes[2]!, "SIGTERM")).toBe(0);
      await waitFor("bin-1 to mark bin-3 left", async () => (await members(nodes[0]!)).some((row) => row.name === "bin-3" && row.state === "left"), 10_000);
    } finally {
      await Promise.all(nodes.map((node) => stopNode(node)));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// linux-arm64 under qemu-user. Found, or installed when running as root on a Debian-like system
// (bounded), or skipped with the reason printed.

async function findQemu(): Promise<{ qemu: string | null; reason: string }> {
  const present = () => Bun.which("qemu-aarch64-static") !== null && existsSync(join(ARM64_SYSROOT, "lib"));
  if (present()) return { qemu: Bun.which("qemu-aarch64-static"), reason: "" };
  if (process.platform !== "linux" || process.arch !== "x64") return { qemu: null, reason: `qemu-user emulation is only set up on linux-x64, this is ${process.platform}-${process.arch}` };
  if (process.getuid?.() !== 0 || Bun.which("apt-get") === null) {
    return { qemu: null, reason: `qemu-aarch64-static or ${ARM64_SYSROOT} missing; install qemu-user-static and libc6-arm64-cross (apt-get) to run this test` };
  }
  console.log("installing qemu-user-static and libc6-arm64-cross (at most 150 s)…");
  const install = Bun.spawn(["sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static libc6-arm64-cross"], { stdout: "ignore", stderr: "pipe" });
  const done = await Promise.race([install.exited.then(() => true), Bun.sleep(150_000).then(() => false)]);
  if (!done) {
    install.kill("SIGKILL");
    await install.exited;
    return { qemu: null, reason: "installing qemu-user-static took more than 150 s" };
  }
  if (install.exitCode !== 0 || !present()) {
    return { qemu: null, reason: `installing qemu-user-static failed (exit ${install.exitCode}): ${(await new Response(install.stderr).text()).trim().slice(-300)}` };
  }
  return { qemu: Bun.which("qemu-aarch64-static"), reason: "" };
}

const { qemu, reason: noQemuReason } = await findQemu();
if (qemu === null) console.log(`skipping the linux-arm64 binary tests: ${noQemuReason}`);

describe.skipIf(qemu === null)("the linux-arm64 binary under qemu-aarch64-static", () => {
  const emulated = () => [qemu!, "-L", ARM64_SYSROOT, arm64Binary];

  test("builds for AArch64 and prints its version", async () => {
    await ensureArm64Binary();
    expect(elfMachine(arm64Binary)).toBe(183);
    const version = await runCli(["--version"], { command: emulated(), cwd: emptyDir, timeoutMs: 30_000 });
    expect(version.exitCode).toBe(0);
    expect(version.stdout).toMatch(versionPattern("linux-arm64"));
  });

  test("runs a 2-node loopback cluster", async () => {
    await ensureArm64Binary();
    // Emulation makes everything several times slower: a calmer gossip interval, longer bounds.
    const nodes = await startBinaryCluster(emulated(), ["arm-1", "arm-2"], 500);
    try {
      const convergedMs = await waitConverged(nodes, 60_000);
      console.log(`linux-arm64 under qemu: 2 nodes converged ${convergedMs.toFixed(0)} ms after they answered /healthz`);
      expect(await stopNode(nodes[1]!, "SIGINT", 15_000)).toBe(0);
      await waitFor("arm-1 to mark arm-2 left", async () => (await members(nodes[0]!)).some((row) => row.name === "arm-2" && row.state === "left"), 15_000);
    } finally {
      await Promise.all(nodes.map((node) => stopNode(node, "SIGTERM", 10_000)));
    }
  });
});

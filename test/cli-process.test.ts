// The goferbroke command as a real process (`bun src/cli/main.ts`): every Go flag spelling and its
// --kebab-case form must start a node with that setting (checked through the node's own client
// port), usage and config errors exit 2 naming the culprit, signals leave gracefully, and the
// client subcommands work against a running node. flags.ts is unit-tested in config-flags.test.ts;
// these tests catch what only shows end to end (a flag parsed but never applied, an exit code lost
// on the way out, output on the wrong stream).

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import {
  api,
  freePort,
  killAll,
  members,
  repoRoot,
  runCli,
  spawnCli,
  startNode,
  startNodeWithArgs,
  stopNode,
  waitFor,
  waitForOutput,
  waitHealthy,
  type CliResult,
  type NodeProcess,
} from "./support/node-processes.ts";

// Each test starts one to three processes; a loaded CI machine needs a few seconds per start.
setDefaultTimeout(45_000);

const tempDir = mkdtempSync(join(tmpdir(), "goferbroke-cli-"));
afterAll(async () => {
  await killAll();
  rmSync(tempDir, { recursive: true, force: true });
});

interface SelfInfo {
  name: string;
  clusterName: string;
  address: string;
  clientAddress: string;
}
interface ConfigDocument {
  version: number;
  settings: { clusterName: string; seeds: string[]; clusterNetwork: string; gossipIntervalMs: number; fanout: number; maxGossipBytes: number; phiThreshold: number };
}

const self = async (node: NodeProcess) => (await api<SelfInfo>(node, "GET", "/v1/self")).body;
const clusterConfig = async (node: NodeProcess) => (await api<ConfigDocument>(node, "GET", "/v1/config")).body;

/** Whether something accepts TCP connections on 127.0.0.1:port. */
async function accepts(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

async function waitSeesAlive(node: NodeProcess, names: readonly string[], timeoutMs = 15_000): Promise<void> {
  await waitFor(`${node.name} to see ${names.join(", ")} alive`, async () => {
    const rows = await members(node);
    return names.every((name) => rows.some((row) => row.name === name && row.state === "alive"));
  }, timeoutMs);
}

function writeTemp(name: string, content: string): string {
  const path = join(tempDir, name);
  writeFileSync(path, content);
  return path;
}

/** A usage failure: exit code 2, one message on stderr naming `culprit`, nothing on stdout, and no node left running. */
function expectUsageError(result: CliResult, culprit: string): void {
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toContain(culprit);
  expect(result.stderr).toStartWith("goferbroke: ");
  expect(result.stdout).toBe("");
}

// ---------------------------------------------------------------------------------------------

describe("Go flags and their kebab-case forms start a node with that setting", () => {
  // Go's flag package takes -flag and --flag, `=value` or a separate value; we add --kebab-case.
  const spellings = [
    { style: "Go, single dash", name: "-name", nodeAddr: "-nodeAddr", clientPort: "-clientPort", mode: "-mode", joined: false },
    { style: "Go, double dash with =", name: "--name", nodeAddr: "--nodeAddr", clientPort: "--clientPort", mode: "--mode", joined: true },
    { style: "kebab-case", name: "--name", nodeAddr: "--node-addr", clientPort: "--client-port", mode: "--mode", joined: false },
    { style: "kebab-case with =", name: "--name", nodeAddr: "--node-addr", clientPort: "--client-port", mode: "--mode", joined: true },
  ] as const;

  test.each(spellings)("$style: name, node address, client port and -mode seed", async (spelling) => {
    const [nodePort, clientPort] = [await freePort(), await freePort()];
    const name = `spell-${nodePort}`;
    const flag = (flagName: string, value: string) => (spelling.joined ? [`${flagName}=${value}`] : [flagName, value]);
    const node = startNodeWithArgs({
      name,
      nodePort,
      clientPort,
      args: [
        ...flag(spelling.name, name),
        ...flag(spelling.nodeAddr, `127.0.0.1:${nodePort}`),
        ...flag(spelling.clientPort, String(clientPort)),
        ...flag(spelling.mode, "seed"),
        "--log-format=json",
      ],
    });
    try {
      await waitHealthy(node);
      const info = await self(node);
      expect(info.name).toBe(name);
      expect(info.address).toBe(`127.0.0.1:${nodePort}`);
      expect(info.clientAddress).toBe(`127.0.0.1:${clientPort}`);
      expect(await accepts(nodePort)).toBe(true);
      // A seed lists itself among the seeds (Go requires it); a plain node started alone has none.
      expect((await clusterConfig(node)).settings.seeds).toEqual([`127.0.0.1:${nodePort}`]);
    } finally {
      expect(await stopNode(node)).toBe(0);
    }
  });

  test("-mode node (the default) does not list itself as a seed", async () => {
    const [nodePort, clientPort] = [await freePort(), await freePort()];
    const node = startNodeWithArgs({ name: "plain", nodePort, clientPort, args: ["-mode", "node", "-name", "plain", "-nodeAddr", `127.0.0.1:${nodePort}`, "-clientPort", String(clientPort)] });
    try {
      await waitHealthy(node);
      expect((await clusterConfig(node)).settings.seeds).toEqual([]);
    } finally {
      await stopNode(node);
    }
  });

  // The default, LOCAL, refuses an all-interfaces address (it cannot be advertised); DYNAMIC
  // admits it (the node learns its address from its peers), so starting at all shows the flag applied.
  test.each([["-clusterNetwork", "DYNAMIC"], ["--cluster-network", "dynamic"], ["-clusterNetwork=", "Dynamic"]])(
    "%s %s is applied (all-interfaces address admitted, shown in /v1/config)",
    async (flagName, value) => {
      const [nodePort, clientPort] = [await freePort(), await freePort()];
      const networkArgs = flagName.endsWith("=") ? [`${flagName}${value}`] : [flagName, value];
      const node = startNodeWithArgs({ name: "dyn", nodePort, clientPort, args: ["-name", "dyn", "-nodeAddr", `0.0.0.0:${nodePort}`, "-clientPort", String(clientPort), ...networkArgs] });
      try {
        await waitHealthy(node);
        expect((await clusterConfig(node)).settings.clusterNetwork).toBe("DYNAMIC");
      } finally {
        await stopNode(node);
      }
    },
  );

  test("without -clusterNetwork (LOCAL) the all-interfaces address is refused (exit 2)", async () => {
    expectUsageError(await runCli(["-nodeAddr", `0.0.0.0:${await freePort()}`]), "clusterNetwork LOCAL");
  });

  test.each([["-clusterNetwork", "PRIVATE"], ["--cluster-network", "PUBLIC"]])("%s %s refuses a loopback node address (exit 2)", async (flagName, value) => {
    const result = await runCli(["-nodeAddr", `127.0.0.1:${await freePort()}`, flagName, value]);
    expectUsageError(result, `clusterNetwork ${value}`);
    expect(result.stderr).toContain("127.0.0.1");
  });

  // Two seeds that do not know each other: a node lists both only if it dialled both, so losing
  // either route (a repeated flag overriding instead of adding, a list split wrongly) shows.
  test.each([
    ["repeated", (a: string, b: string) => ["-routes", a, "-routes", b]],
    ["comma-separated", (a: string, b: string) => ["-routes", `${a},${b}`]],
    ["kebab, repeated with =", (a: string, b: string) => [`--routes=${a}`, `--routes=${b}`]],
  ] as const)("-routes %s joins two separate seeds", async (_style, routes) => {
    const seedA = await startNode({ name: "seed-a", flags: ["-mode=seed"] });
    const seedB = await startNode({ name: "seed-b", flags: ["-mode=seed"] });
    const [nodePort, clientPort] = [await freePort(), await freePort()];
    const joiner = startNodeWithArgs({
      name: "joiner",
      nodePort,
      clientPort,
      args: ["-name", "joiner", "-nodeAddr", `127.0.0.1:${nodePort}`, "-clientPort", String(clientPort), "--gossip-interval=200ms", ...routes(seedA.address, seedB.address)],
    });
    try {
      await Promise.all([waitHealthy(seedA), waitHealthy(seedB), waitHealthy(joiner)]);
      await waitSeesAlive(joiner, ["seed-a", "seed-b", "joiner"]);
      await waitSeesAlive(seedA, ["joiner"]);
      await waitSeesAlive(seedB, ["joiner"]);
    } finally {
      await Promise.all([stopNode(joiner), stopNode(seedA), stopNode(seedB)]);
    }
  });

  // examples/config/*.conf are written for the Go defaults (node port 8081, client port 5000);
  // copies on free ports must load unchanged otherwise, Go field names and all.
  test.each([
    ["-nodeConfig", "-clusterConfig"],
    ["--node-config", "--cluster-config"],
  ])("%s and %s load the example .conf files, and a second node joins with them", async (nodeFlag, clusterFlag) => {
    const [port1, client1, port2, client2] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const nodeExample = readFileSync(join(repoRoot, "examples/config/node.conf"), "utf8");
    const clusterExample = readFileSync(join(repoRoot, "examples/config/cluster.conf"), "utf8");
    expect(nodeExample).toContain('Port: "8081"');
    expect(nodeExample).toContain('ClientPort: "5000"');
    expect(clusterExample).toContain('Port: "8081"');
    const clusterFile = writeTemp(`cluster-${port1}.conf`, clusterExample.replaceAll("8081", String(port1)));
    const seedFile = writeTemp(`node-1-${port1}.conf`, nodeExample.replaceAll("8081", String(port1)).replaceAll("5000", String(client1)));
    const joinerFile = writeTemp(
      `node-2-${port2}.conf`,
      nodeExample.replaceAll("8081", String(port2)).replaceAll("5000", String(client2)).replace(/^Name: "node-1"/m, 'Name: "node-2"').replace(/^IsSeed: true/m, "IsSeed: false"),
    );
    const seed = startNodeWithArgs({ name: "node-1", nodePort: port1, clientPort: client1, args: [nodeFlag, seedFile, clusterFlag, clusterFile, "--log-format=json"] });
    const joiner = startNodeWithArgs({ name: "node-2", nodePort: port2, clientPort: client2, args: [`${nodeFlag}=${joinerFile}`, `${clusterFlag}=${clusterFile}`, "--log-format=json"] });
    try {
      await Promise.all([waitHealthy(seed), waitHealthy(joiner)]);
      const info = await self(seed);
      expect(info).toMatchObject({ name: "node-1", clusterName: "default-local-cluster", address: `127.0.0.1:${port1}`, clientAddress: `127.0.0.1:${client1}` });
      expect((await self(joiner)).name).toBe("node-2");
      // The Go names map onto ours: NodeSelectionPerGossipRound → fanout, MaxGossSynAck → maxGossipBytes.
      expect((await clusterConfig(seed)).settings).toMatchObject({
        clusterName: "default-local-cluster",
        seeds: [`localhost:${port1}`],
        clusterNetwork: "LOCAL",
        fanout: 1,
        maxGossipBytes: 1400,
        gossipIntervalMs: 1000,
        phiThreshold: 8,
      });
      // The example's gossip interval is 1 s, so joining takes a few rounds.
      await waitSeesAlive(seed, ["node-1", "node-2"], 20_000);
      await waitSeesAlive(joiner, ["node-1", "node-2"], 20_000);
      // Keys the Go original has and we do not are reported, not fatal.
      expect(seed.output()).toContain("ignored Go key Internal.IsTestMode");
    } finally {
      await Promise.all([stopNode(seed), stopNode(joiner)]);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("usage and config errors exit 2 with a message naming the problem", () => {
  test.each([
    ["an unknown Go-style flag", ["-nodeAdr", "127.0.0.1:7946"], "-nodeAdr"],
    ["an unknown kebab flag", ["--node-adr=127.0.0.1:7946"], "--node-adr"],
    ["an unknown flag among good ones", ["-name", "x", "-bogus", "-nodeAddr", "127.0.0.1:7946"], "-bogus"],
    ["-nodeAddr without its value", ["-nodeAddr"], "-nodeAddr"],
    ["--routes without its value", ["-nodeAddr", "127.0.0.1:7946", "--routes"], "--routes"],
    ["-name followed by another flag", ["-name", "-nodeAddr", "127.0.0.1:7946"], "-name"],
    ["-nodeConfig without its value", ["-nodeConfig"], "-nodeConfig"],
    ["-nodeAddr without a port", ["-nodeAddr", "localhost"], "-nodeAddr"],
    ["--node-addr with a port out of range", ["--node-addr=127.0.0.1:70000"], "--node-addr"],
    ["-routes with a bad item in a list", ["-nodeAddr", "127.0.0.1:7946", "-routes", "127.0.0.1:7947,nonsense"], "-routes"],
    ["-routes with port 0", ["-nodeAddr", "127.0.0.1:7946", "-routes=127.0.0.1:0"], "-routes"],
    ["-clientPort that is not a number", ["-clientPort", "http"], "-clientPort"],
    ["--client-port out of range", ["--client-port", "65536"], "--client-port"],
    ["-mode other than seed or node", ["-mode", "leader"], "-mode"],
    ["-clusterNetwork unknown", ["-clusterNetwork", "MARS"], "-clusterNetwork"],
    ["--log-format unknown", ["--log-format", "xml"], "--log-format"],
  ])("%s", async (_what, args, culprit) => {
    expectUsageError(await runCli(args), culprit);
  });

  test("unknown flags get a suggestion in the spelling the user typed", async () => {
    expect((await runCli(["-nodeAdr", "127.0.0.1:7946"])).stderr).toContain("did you mean -nodeAddr?");
    expect((await runCli(["--node-adr", "127.0.0.1:7946"])).stderr).toContain("did you mean --node-addr?");
  });

  test("unknown commands and wrong argument counts are usage errors too", async () => {
    expectUsageError(await runCli(["membrs"]), "did you mean members?");
    expectUsageError(await runCli(["get", "node-1", "app"]), "get needs <node> <group> <key>");
    expectUsageError(await runCli(["members", "extra"]), "members takes no arguments");
    expectUsageError(await runCli(["keys", "a", "b"]), "keys takes at most one argument");
    expectUsageError(await runCli(["config", "set", "fanout"]), '"fanout" is not key=value');
    expectUsageError(await runCli(["config"]), "command config needs show or set");
    expectUsageError(await runCli(["members", "--type", "json"]), "--type");
    expectUsageError(await runCli(["-nodeAddr", "127.0.0.1:7946", "--client", "127.0.0.1:1"]), "--client");
  });

  // A file that does not parse names file:line:column (the Go original returned what it had parsed).
  test.each([
    ["-nodeConfig", 'Name: "node-1"\nHost: "127.0.0.1\nPort: "8081"\n', "2:17"],
    ["--cluster-config", 'Name = "c"\nCluster {\n  NodeSelectionPerGossipRound = [1, , 2]\n}\n', "3:37"],
    ["-clusterConfig", 'Name = "c"\nCluster {\n  Fanout = 1\n', "4:1"],
  ])("a malformed file given to %s exits 2 with file:line:column", async (flagName, content, position) => {
    const file = writeTemp(`bad-${flagName.replace(/-/g, "")}.conf`, content);
    const result = await runCli(["-nodeAddr", `127.0.0.1:${await freePort()}`, flagName, file]);
    expectUsageError(result, `${file}:${position}:`);
  });

  test("a config file that does not exist exits 2 naming it", async () => {
    const missing = join(tempDir, "no-such.conf");
    expectUsageError(await runCli(["-nodeConfig", missing]), missing);
  });

  test("a config file that sets one option under its Go name and ours exits 2 naming the option", async () => {
    const file = writeTemp("twice.json", JSON.stringify({ Name: "from-go", clusterName: "ours" }));
    const result = await runCli(["-clusterConfig", file, "-nodeAddr", "127.0.0.1:7946"]);
    expectUsageError(result, 'config sets option "clusterName" twice');
  });

  test("a config file with an unknown option exits 2 naming the option and the file", async () => {
    const file = writeTemp("unknown-option.conf", 'Name: "n"\nFanoutt: 3\n');
    const result = await runCli(["-nodeConfig", file, "-nodeAddr", "127.0.0.1:7946"]);
    expectUsageError(result, "Fanoutt");
    expect(result.stderr).toContain(file);
  });
});

describe("GOFERBROKE_JIT_POLICY", () => {
  test.each(["abc", "0", "1.5", "1001", "0x40", "1e1", "-5"])("%s exits 2 naming the variable and the value", async (value) => {
    const result = await runCli(["-nodeAddr", "127.0.0.1:7946"], { env: { GOFERBROKE_JIT_POLICY: value } });
    expectUsageError(result, `invalid option GOFERBROKE_JIT_POLICY: expected an integer from 1 to 1000, got "${value}"`);
  });

  test("a valid policy runs the node, and the variable is not reported unknown", async () => {
    const node = await startNode({ name: "jit-64", env: { GOFERBROKE_JIT_POLICY: "64" } });
    await waitHealthy(node);
    expect((await self(node)).name).toBe("jit-64");
    expect(node.output()).toContain("client port listening");
    expect(node.output()).not.toContain("unknown environment variable");
  });
});

// ---------------------------------------------------------------------------------------------

describe("--version and --help", () => {
  test.each([["--version"], ["-version"], ["-v"]])("%s prints the version and the commit, exit 0", async (flagName) => {
    const result = await runCli([flagName]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
    const match = /^goferbroke (\S+) \(commit ([0-9a-f]{7,40}|unknown), bun (\S+), (\S+)\)\n$/.exec(result.stdout);
    expect(match).not.toBeNull();
    expect(match![1]).toBe(packageJson.version);
    expect(match![3]).toBe(Bun.version);
    expect(match![4]).toBe(`${process.platform}-${process.arch}`);
    // From a git checkout the commit is the short hash of HEAD (others may commit meanwhile, so
    // only its form is checked).
    const git = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: repoRoot, stderr: "ignore" });
    if (git.exitCode === 0) expect(match![2]).not.toBe("unknown");
  });

  test.each([["--help"], ["-h"], ["-help"]])("%s lists the Go flags with their kebab forms, exit 0", async (flagName) => {
    const result = await runCli([flagName]);
    expect(result.exitCode).toBe(0);
    for (const pair of ["-mode, --mode", "-name, --name", "-nodeAddr, --node-addr", "-routes, --routes", "-clusterNetwork, --cluster-network", "-clientPort, --client-port", "-nodeConfig, --node-config", "-clusterConfig, --cluster-config"]) {
      expect(result.stdout).toContain(pair);
    }
  });

  test("help for a subcommand lists the client flags", async () => {
    const result = await runCli(["members", "--help"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("--client, -c host:port");
    expect(result.stdout).not.toContain("-nodeAddr, --node-addr");
  });
});

// ---------------------------------------------------------------------------------------------

describe("signals", () => {
  test.each(["SIGINT", "SIGTERM"] as const)("%s leaves gracefully: exit 0, and the other node marks it left", async (signal) => {
    const seed = await startNode({ name: "stays", flags: ["-mode=seed"] });
    const leaver = await startNode({ name: "leaves", seeds: [`127.0.0.1:${seed.nodePort}`] });
    try {
      await Promise.all([waitHealthy(seed), waitHealthy(leaver)]);
      await waitSeesAlive(seed, ["stays", "leaves"]);
      const started = performance.now();
      // Straight to the bun process: Bun.spawn started it without npx, which would not forward it.
      expect(await stopNode(leaver, signal, 10_000)).toBe(0);
      expect(performance.now() - started).toBeLessThan(5000);
      expect(leaver.output()).toContain(`${signal} received: leaving the cluster`);
      expect(leaver.output()).toContain("node leaves left the cluster");
      // "left" comes only from the leave announcement; failure detection would say suspect or dead.
      await waitFor("the seed to mark the leaver left", async () => (await members(seed)).some((row) => row.name === "leaves" && row.state === "left"), 5000);
    } finally {
      await Promise.all([stopNode(seed), stopNode(leaver)]);
    }
  });

  test("a second signal exits at once, non-zero", async () => {
    const seed = await startNode({ name: "frozen", flags: ["-mode=seed"] });
    const leaver = await startNode({ name: "impatient", seeds: [`127.0.0.1:${seed.nodePort}`] });
    try {
      await Promise.all([waitHealthy(seed), waitHealthy(leaver)]);
      await waitSeesAlive(leaver, ["frozen", "impatient"]);
      // A stopped peer never answers the leaver's FIN, so its graceful leave waits out the
      // transport's close timeout (2 s): long enough to send the second signal in the middle.
      seed.process.kill("SIGSTOP");
      const started = performance.now();
      leaver.process.kill("SIGINT");
      await waitFor("the first SIGINT to be handled", () => leaver.output().includes("SIGINT received"), 5000);
      expect(leaver.process.exitCode).toBeNull();
      leaver.process.kill("SIGINT");
      const exited = await Promise.race([leaver.process.exited.then(() => true), Bun.sleep(1500).then(() => false)]);
      expect(exited).toBe(true);
      expect(performance.now() - started).toBeLessThan(1500);
      expect(leaver.process.exitCode).not.toBe(0);
      expect(leaver.output()).toContain("SIGINT again: exiting without waiting");
    } finally {
      seed.process.kill("SIGCONT");
      await Promise.all([stopNode(seed, "SIGKILL"), stopNode(leaver, "SIGKILL")]);
    }
  });

  test("a node whose port is taken exits 1 with the reason", async () => {
    const holder = await startNode({ name: "holder" });
    try {
      await waitHealthy(holder);
      const result = await runCli(["-name", "squatter", "-nodeAddr", holder.address, "--log-format=json"]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain("node failed");
      expect(result.stderr).toContain(String(holder.nodePort));
    } finally {
      await stopNode(holder);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("subcommands against a running node", () => {
  let seed: NodeProcess;
  let peer: NodeProcess;
  let client: string[];
  let peerClient: string[];

  beforeAll(async () => {
    seed = await startNode({ name: "cmd-seed", flags: ["-mode=seed"] });
    peer = await startNode({ name: "cmd-peer", seeds: [`127.0.0.1:${(seed as NodeProcess).nodePort}`] });
    await Promise.all([waitHealthy(seed), waitHealthy(peer)]);
    await waitSeesAlive(seed, ["cmd-seed", "cmd-peer"]);
    await waitSeesAlive(peer, ["cmd-seed", "cmd-peer"]);
    client = ["-c", `127.0.0.1:${seed.clientPort}`];
    peerClient = ["--client", `127.0.0.1:${peer.clientPort}`];
  });

  /** Runs a subcommand and expects success; returns its stdout. */
  async function ok(...args: string[]): Promise<string> {
    const result = await runCli(args);
    if (result.exitCode !== 0) throw new Error(`goferbroke ${args.join(" ")} exited ${result.exitCode}: ${result.stderr}`);
    expect(result.stderr).toBe("");
    return result.stdout;
  }

  test("members prints a table: name, address, state, phi, generation, heartbeat age", async () => {
    const lines = (await ok("members", ...client)).trimEnd().split("\n");
    expect(lines[0]!.split(/\s{2,}/)).toEqual(["NAME", "ADDRESS", "STATE", "PHI", "GENERATION", "HEARTBEAT AGE"]);
    const truth = await members(seed);
    expect(lines).toHaveLength(1 + truth.length);
    for (const member of truth) {
      const line = lines.find((text) => text.startsWith(`${member.name} `));
      expect(line).toBeDefined();
      const [name, address, state, phi, generation, age] = line!.split(/\s+/);
      expect({ name, address, state, generation }).toEqual({ name: member.name, address: member.address!, state: "alive", generation: String(member.generation) });
      expect(phi).toMatch(/^\d+\.\d\d$/);
      expect(age).toMatch(/^\d+\.\ds$/);
    }
    expect(lines.map((line) => line.split(/\s+/)[0]).sort()).toEqual(["NAME", "cmd-peer", "cmd-seed"]);
  });

  test("set and get a string; the write reaches the other node", async () => {
    expect(await ok("set", "app", "greeting", "hello world", ...client)).toMatch(/^set app\/greeting \(string, version \d+\)\n$/);
    expect(await ok("get", "cmd-seed", "app", "greeting", ...client)).toBe("hello world\n");
    await waitFor("the peer to hold app/greeting", async () => (await runCli(["get", "cmd-seed", "app", "greeting", ...peerClient])).stdout === "hello world\n", 10_000);
  });

  test("set --type int and --type json store typed values (int64 is still accepted for int)", async () => {
    await ok("set", "app", "count", "42", "--type", "int", ...client);
    await ok("set", "--type=json", "app", "doc", '{"a":[1,2],"b":null}', ...client);
    // Values that start with "-" go after `--`, as with any flag parser.
    await ok("set", "--type", "int64", ...client, "--", "app", "negative", "-5");
    const state = (await api<Record<string, Record<string, Record<string, { value: unknown; type: string }>>>>(seed, "GET", "/v1/state")).body;
    expect(state["cmd-seed"]!.app!.count).toMatchObject({ type: "int", value: "42" });
    expect(state["cmd-seed"]!.app!.doc).toMatchObject({ type: "json", value: { a: [1, 2], b: null } });
    expect(state["cmd-seed"]!.app!.negative).toMatchObject({ type: "int", value: "-5" });
    expect(await ok("get", "cmd-seed", "app", "doc", ...client)).toBe('{"a":[1,2],"b":null}\n');
    // A value the type refuses is the node's refusal: exit 1 with its reason, in words.
    const refused = await runCli(["set", "app", "count", "many", "--type", "int", ...client]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toStartWith("goferbroke: ");
    expect(refused.stderr).toContain('"many"');
    expect(refused.stderr).not.toContain("400");
    expect(refused.stderr).not.toContain("/v1/");
    expectUsageError(await runCli(["set", "app", "x", "1", "--type", "int32", ...client]), "--type");
  });

  test("set --ttl expires the entry", async () => {
    await ok("set", "app", "ephemeral", "soon gone", "--ttl", "1s", ...client);
    expect(await ok("get", "cmd-seed", "app", "ephemeral", ...client)).toBe("soon gone\n");
    await waitFor("app/ephemeral to expire", async () => (await runCli(["get", "cmd-seed", "app", "ephemeral", ...client])).exitCode === 1, 6000);
  });

  test("delete removes an entry; getting or deleting it again exits 1", async () => {
    await ok("set", "app", "doomed", "x", ...client);
    expect(await ok("delete", "app", "doomed", ...client)).toBe("deleted app/doomed\n");
    const get = await runCli(["get", "cmd-seed", "app", "doomed", ...client]);
    expect(get.exitCode).toBe(1);
    expect(get.stderr).toBe('goferbroke: node "cmd-seed" has no entry "app"/"doomed"\n');
    expect((await runCli(["delete", "app", "doomed", ...client])).exitCode).toBe(1);
  });

  test("keys lists entries of every node, or of one", async () => {
    await ok("set", "app", "listed", "yes", ...client);
    await ok("set", "app", "elsewhere", "yes", ...peerClient);
    const all = await ok("keys", ...client);
    expect(all).toContain('cmd-seed\tapp/listed\tstring\tv');
    await waitFor("the seed to see the peer's key", async () => (await ok("keys", ...client)).includes("cmd-peer\tapp/elsewhere\tstring"), 10_000);
    const onlyPeer = (await ok("keys", "cmd-peer", ...client)).trimEnd().split("\n");
    expect(onlyPeer.length).toBeGreaterThan(0);
    expect(onlyPeer.every((line) => line.startsWith("cmd-peer\t"))).toBe(true);
  });

  test("config show prints the cluster config; config set changes it cluster-wide", async () => {
    const shown = JSON.parse(await ok("config", "show", ...client)) as ConfigDocument;
    expect(shown).toEqual(await clusterConfig(seed));
    expect(shown.settings.clusterName).toBe("goferbroke");
    const fanout = shown.settings.fanout === 3 ? 2 : 3;
    const updated = JSON.parse(await ok("config", "set", `fanout=${fanout}`, "phiThreshold=9.5", ...client)) as ConfigDocument;
    expect(updated.settings).toMatchObject({ fanout, phiThreshold: 9.5 });
    expect(updated.version).toBeGreaterThan(shown.version);
    await waitFor("the peer to adopt the change", async () => (await clusterConfig(peer)).settings.fanout === fanout, 10_000);
    const refused = await runCli(["config", "set", "fanoutt=2", ...client]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("fanoutt");
  });

  test("watch prints events as JSON lines until it is killed", async () => {
    const watch = spawnCli(["watch", ...client]);
    try {
      // The stream only carries events that happen after it opens: keep writing until one shows.
      let written = 0;
      await waitFor("watch to print an event", async () => {
        if (/\n/.test(watch.stdout())) return true;
        if (watch.process.exitCode !== null) throw new Error(`watch exited ${watch.process.exitCode}: ${watch.output()}`);
        await ok("set", "app", "watched", String(++written), ...client);
        await Bun.sleep(200);
        return /\n/.test(watch.stdout());
      }, 10_000);
      const event = JSON.parse(watch.stdout().split("\n")[0]!) as { type: string; node: string; group?: string; key?: string };
      expect(event).toMatchObject({ node: "cmd-seed", group: "app", key: "watched" });
      expect(["entry-added", "entry-updated"]).toContain(event.type);
      expect(watch.process.exitCode).toBeNull();
    } finally {
      watch.process.kill("SIGTERM");
      await Promise.race([watch.process.exited, Bun.sleep(3000)]);
      if (watch.process.exitCode === null) watch.process.kill("SIGKILL");
    }
  });

  test("--json and --format json print the node's answers as JSON", async () => {
    await ok("set", "app", "as-json", "yes", ...client);
    const membersJson = JSON.parse(await ok("members", "--json", ...client)) as { name: string; state: string }[];
    expect(membersJson.map((member) => member.name).sort()).toEqual(["cmd-peer", "cmd-seed"]);
    expect(JSON.parse(await ok("members", "--format", "json", ...client))).toHaveLength(2);
    expect(JSON.parse(await ok("get", "cmd-seed", "app", "as-json", "--json", ...client))).toEqual({ value: "yes", type: "string", version: expect.any(Number) });
    const keys = JSON.parse(await ok("keys", "cmd-seed", "--json", ...client)) as Record<string, Record<string, Record<string, { value: unknown }>>>;
    expect(Object.keys(keys)).toEqual(["cmd-seed"]);
    expect(keys["cmd-seed"]!.app!["as-json"]!.value).toBe("yes");
    expect(JSON.parse(await ok("config", "show", "--json", ...client))).toEqual(await clusterConfig(seed));
    expect(JSON.parse(await ok("set", "app", "as-json", "again", "--json", ...client))).toEqual({ group: "app", key: "as-json", type: "string", version: expect.any(Number) });
  });

  test("an unreachable client port exits 1 with a clear message", async () => {
    const port = await freePort();
    for (const args of [["members", "-c", `127.0.0.1:${port}`], ["get", "n", "g", "k", "--client", `127.0.0.1:${port}`]]) {
      const result = await runCli(args);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toStartWith(`goferbroke: cannot reach the node's client port at http://127.0.0.1:${port}: connection refused`);
      // How to fix it: the node's flag and this command's.
      expect(result.stderr).toContain("-clientPort");
      expect(result.stderr).toContain("--client host:PORT");
      expect(result.stdout).toBe("");
    }
    // GOFERBROKE_CLIENT is the default for -c.
    const fromEnv = await runCli(["members"], { env: { GOFERBROKE_CLIENT: `127.0.0.1:${port}` } });
    expect(fromEnv.stderr).toContain(`http://127.0.0.1:${port}`);
    expect(fromEnv.exitCode).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------

describe("logging", () => {
  test("--log-format=json writes one JSON object per line with time, level and msg", async () => {
    const node = await startNode({ name: "json-logger" }); // startNode passes --log-format=json
    try {
      await waitHealthy(node);
      const lines = node.output().trimEnd().split("\n");
      expect(lines.length).toBeGreaterThan(2);
      for (const line of lines) {
        const record = JSON.parse(line) as { time: string; level: string; msg: string };
        expect(typeof record.msg).toBe("string");
        expect(["debug", "info", "warn", "error"]).toContain(record.level);
        expect(new Date(record.time).toISOString()).toBe(record.time);
      }
      expect(lines.some((line) => (JSON.parse(line) as { msg: string }).msg.startsWith(`listening on ${node.address}`))).toBe(true);
      // Every line names the node; the client port's start is logged once.
      expect(lines.every((line) => (JSON.parse(line) as { node?: string }).node === "json-logger")).toBe(true);
      expect(lines.filter((line) => (JSON.parse(line) as { msg: string }).msg.includes(`:${node.clientPort}`))).toHaveLength(1);
    } finally {
      await stopNode(node);
    }
  });

  test.each(["pretty", "json"])("--log-format %s writes every line to stderr, none to stdout", async (format) => {
    const [nodePort, clientPort] = [await freePort(), await freePort()];
    const cli = spawnCli(["-name", "streams", "-nodeAddr", `127.0.0.1:${nodePort}`, "-clientPort", String(clientPort), "--log-format", format]);
    try {
      await waitForOutput(cli, new RegExp(`client port listening on http://127\\.0\\.0\\.1:${clientPort}`));
      expect(cli.stderr()).toContain(`listening on 127.0.0.1:${nodePort}`);
      expect(cli.stdout()).toBe("");
      expect(cli.stderr().split(`:${clientPort}`)).toHaveLength(2); // the client port's start, once
    } finally {
      cli.process.kill("SIGTERM");
      await Promise.race([cli.process.exited, Bun.sleep(5000)]);
      if (cli.process.exitCode === null) cli.process.kill("SIGKILL");
    }
  });

  test("--log-format json (separate value) on a node started from flags alone; pretty is the default", async () => {
    const [nodePort, clientPort] = [await freePort(), await freePort()];
    const jsonNode = startNodeWithArgs({ name: "j", nodePort, clientPort, args: ["-nodeAddr", `127.0.0.1:${nodePort}`, "-clientPort", String(clientPort), "--log-format", "json"] });
    const [prettyPort, prettyClient] = [await freePort(), await freePort()];
    const prettyNode = startNodeWithArgs({ name: "p", nodePort: prettyPort, clientPort: prettyClient, args: ["-nodeAddr", `127.0.0.1:${prettyPort}`, "-clientPort", String(prettyClient)] });
    try {
      await Promise.all([waitHealthy(jsonNode), waitHealthy(prettyNode)]);
      const first = jsonNode.output().split("\n")[0]!;
      expect(JSON.parse(first)).toHaveProperty("msg");
      expect(prettyNode.output()).toContain(`listening on 127.0.0.1:${prettyPort}`);
      expect(prettyNode.output().trimStart()).not.toStartWith("{");
    } finally {
      await Promise.all([stopNode(jsonNode), stopNode(prettyNode)]);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("the client port", () => {
  test("a client port already in use: the second node exits 1 naming the port and EADDRINUSE; the first keeps it alone", async () => {
    const first = await startNode({ name: "port-owner" });
    try {
      await waitHealthy(first);
      const result = await runCli(["-name", "port-thief", "-nodeAddr", `127.0.0.1:${await freePort()}`, "-clientPort", String(first.clientPort), "--log-format=json"]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(`127.0.0.1:${first.clientPort}`);
      expect(result.stderr).toContain("EADDRINUSE");
      // With SO_REUSEPORT both would have answered, alternately.
      for (let i = 0; i < 6; i++) expect((await self(first)).name).toBe("port-owner");
    } finally {
      await stopNode(first);
    }
  });

  test("a request without a Host header gets a JSON 400, not a 500 with a stack trace in the log", async () => {
    const node = await startNode({ name: "no-host" });
    try {
      await waitHealthy(node);
      const answer = await new Promise<string>((resolve, reject) => {
        let received = "";
        const socket = connect(node.clientPort, "127.0.0.1", () => socket.write("GET /v1/self HTTP/1.0\r\n\r\n"));
        socket.on("data", (chunk) => (received += chunk.toString()));
        socket.on("close", () => resolve(received));
        socket.on("error", reject);
        setTimeout(() => socket.destroy(), 3000);
      });
      expect(answer).toStartWith("HTTP/1.1 400");
      expect(answer).toContain('{"error":"a Host header is required"}');
      expect(node.output()).not.toContain("stack");
      expect((await self(node)).name).toBe("no-host");
    } finally {
      await stopNode(node);
    }
  });

  test("a non-loopback client bind without a token exits 2 naming the address and the ways out", async () => {
    const result = await runCli(["-nodeAddr", `127.0.0.1:${await freePort()}`, "-clientPort", String(await freePort()), "--client-bind", "0.0.0.0"]);
    expectUsageError(result, "clientBind");
    for (const text of ['"0.0.0.0"', "--client-token-file", "GOFERBROKE_CLIENT_TOKEN_FILE", "--client-insecure"]) expect(result.stderr).toContain(text);
  });

  test("--client-insecure serves it anyway, with a warning", async () => {
    const [nodePort, clientPort] = [await freePort(), await freePort()];
    const node = startNodeWithArgs({ name: "open", nodePort, clientPort, args: ["-name", "open", "-nodeAddr", `127.0.0.1:${nodePort}`, "-clientPort", String(clientPort), "--client-bind", "0.0.0.0", "--client-insecure", "--log-format=json"] });
    try {
      await waitHealthy(node);
      expect((await self(node)).name).toBe("open");
      expect(node.output()).toContain("no token (insecure)");
    } finally {
      await stopNode(node);
    }
  });

  test("--client-token-file and GOFERBROKE_CLIENT_TOKEN_FILE: the token is read from the file, never shown in ps", async () => {
    const token = "file-token-0123456789";
    const tokenFile = writeTemp("client-token", `${token}\n`);
    for (const via of ["flag", "env"] as const) {
      const [nodePort, clientPort] = [await freePort(), await freePort()];
      const args = ["-name", `tok-${via}`, "-nodeAddr", `127.0.0.1:${nodePort}`, "-clientPort", String(clientPort), "--client-bind", "0.0.0.0", "--log-format=json"];
      const node = startNodeWithArgs({
        name: `tok-${via}`,
        nodePort,
        clientPort,
        args: via === "flag" ? [...args, "--client-token-file", tokenFile] : args,
        ...(via === "env" ? { env: { GOFERBROKE_CLIENT_TOKEN_FILE: tokenFile } } : {}),
      });
      try {
        await waitHealthy(node);
        expect((await api(node, "GET", "/v1/self")).status).toBe(401);
        const withToken = await fetch(`http://127.0.0.1:${clientPort}/v1/self`, { headers: { authorization: `Bearer ${token}` } });
        expect(((await withToken.json()) as SelfInfo).name).toBe(`tok-${via}`);
        const cmdline = readFileSync(`/proc/${node.process.pid}/cmdline`, "utf8");
        expect(cmdline).not.toContain(token);
      } finally {
        await stopNode(node);
      }
    }
  });

  test("a token file that is missing or too short exits 2 naming it", async () => {
    const missing = join(tempDir, "no-token-here");
    const base = ["-nodeAddr", `127.0.0.1:${await freePort()}`, "-clientPort", String(await freePort())];
    expectUsageError(await runCli([...base, "--client-token-file", missing]), missing);
    const envMissing = await runCli(base, { env: { GOFERBROKE_CLIENT_TOKEN_FILE: missing } });
    expectUsageError(envMissing, "GOFERBROKE_CLIENT_TOKEN_FILE");
    expect(envMissing.stderr).toContain(missing);
    const short = await runCli([...base, "--client-token-file", writeTemp("short-token", "abc\n")]);
    expectUsageError(short, "clientToken");
    expect(short.stderr).toContain("8 to 1024");
  });

  test("a 401 tells the user about --token and GOFERBROKE_CLIENT_TOKEN; the right token works from either", async () => {
    const token = "cli-token-0123456789";
    const node = await startNode({ name: "guarded", flags: ["--client-token-file", writeTemp("guarded-token", token)] });
    try {
      await waitHealthy(node);
      const client = ["-c", `127.0.0.1:${node.clientPort}`];
      const without = await runCli(["members", ...client]);
      expect(without.exitCode).toBe(1);
      expect(without.stderr).toContain("--token");
      expect(without.stderr).toContain("GOFERBROKE_CLIENT_TOKEN");
      expect(without.stderr).not.toContain("/v1/");
      const wrong = await runCli(["members", ...client, "--token", "not-the-token-at-all"]);
      expect(wrong.exitCode).toBe(1);
      expect(wrong.stderr).toContain("is not the node's");
      expect((await runCli(["members", ...client, "--token", token])).exitCode).toBe(0);
      expect((await runCli(["members", ...client], { env: { GOFERBROKE_CLIENT_TOKEN: token } })).exitCode).toBe(0);
    } finally {
      await stopNode(node);
    }
  });
});

describe("watch when the node goes away", () => {
  test.each(["SIGTERM", "SIGKILL"] as const)("node stopped with %s: watch exits 1 with one clear line, no stack trace", async (signal) => {
    const node = await startNode({ name: `watched-${signal}` });
    const client = ["-c", `127.0.0.1:${node.clientPort}`];
    await waitHealthy(node);
    const watch = spawnCli(["watch", ...client]);
    try {
      // Events flow once the stream is open: keep writing until watch prints one.
      let written = 0;
      await waitFor("watch to print an event", async () => {
        if (watch.process.exitCode !== null) throw new Error(`watch exited ${watch.process.exitCode}: ${watch.output()}`);
        await runCli(["set", "app", "tick", String(++written), ...client]);
        await Bun.sleep(100);
        return watch.stdout().includes("\n");
      }, 10_000);
      await stopNode(node, signal);
      const exited = await Promise.race([watch.process.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
      expect(exited).toBe(true);
      expect(watch.process.exitCode).toBe(1);
      await Bun.sleep(50); // the pipe may still hold the last line
      const lines = watch.stderr().trimEnd().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^goferbroke: the node at 127\\.0\\.0\\.1:${node.clientPort} (went away|closed the event stream).*; watch ended$`));
    } finally {
      if (watch.process.exitCode === null) watch.process.kill("SIGKILL");
      await stopNode(node, "SIGKILL");
    }
  });
});

describe("configuration files the node reads at start", () => {
  test("a missing TLS file exits 2 naming the option and the path, before the node listens", async () => {
    const missing = join(tempDir, "no-such-ca.pem");
    const present = writeTemp("not-really-a.pem", "-----BEGIN CERTIFICATE-----\n");
    const nodePort = await freePort();
    const result = await runCli(["-nodeAddr", `127.0.0.1:${nodePort}`, "--tls-ca", missing, "--tls-cert", present, "--tls-key", present]);
    expectUsageError(result, "tls.caFile");
    expect(result.stderr).toContain(missing);
    expect(await accepts(nodePort)).toBe(false);
  });
});

describe("help and version commands", () => {
  test("`help` and `--help` list every command with its arguments, and the environment variables", async () => {
    const [help, flag] = [await runCli(["help"]), await runCli(["--help"])];
    expect(help.exitCode).toBe(0);
    expect(flag.stdout).toBe(help.stdout);
    for (const line of ["members", "get <node> <group> <key>", "set <group> <key> <value>", "delete <group> <key>", "keys [node] | list|install|use|remove [key]", "watch", "config show | set key=value...", "help [command]", "version"]) {
      expect(help.stdout).toContain(`  ${line}  `);
    }
    for (const variable of ["GOFERBROKE_NODE_ADDR", "GOFERBROKE_CLIENT_TOKEN_FILE", "GOFERBROKE_CLIENT_INSECURE", "GOFERBROKE_CLIENT", "GOFERBROKE_CLIENT_TOKEN"]) {
      expect(help.stdout).toContain(variable);
    }
  });

  test("every environment variable the help names for a node flag is one the node reads", async () => {
    const { CLUSTER_CONFIG_ENV, ENV_VARIABLES, NODE_CONFIG_ENV } = await import("../src/config/merge.ts");
    const { nodeFlagEnvironment } = await import("../src/cli/help.ts");
    const read = new Set([...ENV_VARIABLES.map((variable) => variable.name), NODE_CONFIG_ENV, CLUSTER_CONFIG_ENV]);
    const shown = nodeFlagEnvironment().map((entry) => entry.variable);
    expect(shown.length).toBeGreaterThan(15);
    expect(shown.filter((name) => !read.has(name))).toEqual([]);
  });

  test.each(["members", "get", "set", "delete", "keys", "watch", "config"])("`help %s` and `%s --help` show its usage and flags", async (command) => {
    const [help, flag] = [await runCli(["help", command]), await runCli([command, "--help"])];
    expect(help.exitCode).toBe(0);
    expect(flag.exitCode).toBe(0);
    expect(flag.stdout).toBe(help.stdout);
    expect(help.stdout).toStartWith(`Usage: goferbroke ${command}`);
    expect(help.stdout).toContain("--client, -c host:port");
    expect(help.stdout).toContain("GOFERBROKE_CLIENT_TOKEN");
    if (command === "set") expect(help.stdout).toContain("stored as a STRING unless --type");
    else expect(help.stdout).not.toContain("--type");
  });

  test("`help` with an unknown command exits 2 with a suggestion", async () => {
    expectUsageError(await runCli(["help", "membres"]), "did you mean members?");
  });

  test("`version` prints what --version prints", async () => {
    const [command, flag] = [await runCli(["version"]), await runCli(["--version"])];
    expect(command.exitCode).toBe(0);
    expect(command.stdout).toBe(flag.stdout);
    expect(command.stdout).toStartWith(`goferbroke ${packageJson.version} `);
  });
});

describe("pretty logs escape what came from the network", () => {
  test("a cluster name with a newline in a peer's HELLO cannot forge a log line", async () => {
    const { encodeHelloIntroduce, AuthScheme } = await import("../src/codec/handshake.ts");
    const { PROTOCOL_VERSION } = await import("../src/codec/frame.ts");
    const [nodePort, clientPort] = [await freePort(), await freePort()];
    const node = startNodeWithArgs({ name: "n1", nodePort, clientPort, args: ["-name", "n1", "-nodeAddr", `127.0.0.1:${nodePort}`, "-clientPort", String(clientPort)], env: { NO_COLOR: "1" } });
    try {
      await waitHealthy(node);
      const hello = encodeHelloIntroduce({
        protocolVersion: PROTOCOL_VERSION,
        clusterName: "evil\n[n1] ERROR injected line\u001b[2J\u202e",
        nodeName: "mallory",
        generation: 1,
        advertisedAddress: "127.0.0.1:1",
        authScheme: AuthScheme.None,
        nonce: new Uint8Array(16),
      });
      await new Promise<void>((resolve) => {
        const socket = connect(nodePort, "127.0.0.1", () => socket.write(hello));
        socket.on("close", () => resolve());
        socket.on("error", () => resolve());
        setTimeout(() => (socket.destroy(), resolve()), 3000);
      });
      await waitFor("the refusal to be logged", () => node.output().includes("injected line"), 5000);
      const lines = node.output().split("\n");
      expect(lines.filter((line) => line.includes("injected line"))).toHaveLength(1);
      expect(lines.some((line) => line.trimStart().startsWith("[n1] ERROR"))).toBe(false);
      expect(node.output()).toContain("evil\\n[n1] ERROR injected line\\x1b[2J\\u202e");
      expect(node.output()).not.toContain("\u001b[2J");
      expect(node.output()).not.toContain("\u202e");
    } finally {
      await stopNode(node);
    }
  });
});

// The command line (Go flag spellings, --kebab-case, subcommands), the flags > env > files >
// defaults merge including the Go sample files, and the cluster network type check.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError, formatFlagHelp, parseCliArgs, parseDurationMs } from "../src/config/flags.ts";
import { ConfigSyntaxError } from "../src/config/load.ts";
import { resolveNodeOptions } from "../src/config/merge.ts";
import {
  checkNetworkType,
  classifyIp,
  findNetworkProblems,
  isIPv4,
  isIPv6,
  parseHostPort,
  resolveHostnames,
  type ClusterNetwork,
} from "../src/config/network.ts";
import { OptionsError } from "../src/config/schema.ts";
import { spawnCli, waitForOutput } from "./support/node-processes.ts";

const FIXTURES = join(import.meta.dir, "fixtures", "go-configs");

let tempDir = "";
beforeAll(() => {
  tempDir = mkdtempSync(join(tmpdir(), "goferbroke-config-"));
});
afterAll(() => {
  rmSync(tempDir, { recursive: true, force: true });
});

function tempFile(name: string, content: string): string {
  const path = join(tempDir, name);
  writeFileSync(path, content);
  return path;
}

function usageError(argv: string[]): UsageError {
  try {
    parseCliArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw new Error(`expected a UsageError, got ${String(error)}`);
  }
  throw new Error(`expected a UsageError for ${argv.join(" ")}, but parsing succeeded`);
}

async function resolveError(sources: Parameters<typeof resolveNodeOptions>[0]): Promise<Error> {
  try {
    await resolveNodeOptions(sources);
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error("expected resolveNodeOptions to fail");
}

// ---------------------------------------------------------------------------------------------

describe("Go flags and their --kebab-case forms", () => {
  // [Go spelling, kebab spelling, value typed, what parseCliArgs stores]
  const cases: [string, string, string, Record<string, unknown>][] = [
    ["mode", "mode", "seed", { flags: { mode: "seed" } }],
    ["name", "name", "node-1", { flags: { name: "node-1" } }],
    ["nodeAddr", "node-addr", "127.0.0.1:8081", { flags: { address: "127.0.0.1:8081" } }],
    ["routes", "routes", "127.0.0.1:8081", { flags: { seeds: ["127.0.0.1:8081"] } }],
    ["clusterNetwork", "cluster-network", "PRIVATE", { flags: { clusterNetwork: "PRIVATE" } }],
    ["clientPort", "client-port", "5000", { flags: { clientPort: 5000 } }],
    ["nodeConfig", "node-config", "node.conf", { configFiles: { node: "node.conf" } }],
    ["clusterConfig", "cluster-config", "cluster.conf", { configFiles: { cluster: "cluster.conf" } }],
  ];

  for (const [go, kebab, value, expected] of cases) {
    const forms = [
      [`-${go}=${value}`],
      [`-${go}`, value],
      [`--${go}=${value}`],
      [`--${kebab}=${value}`],
      [`--${kebab}`, value],
    ];
    for (const argv of forms) {
      test(argv.join(" "), () => {
        const parsed = parseCliArgs(argv);
        expect(parsed.command).toBeNull();
        expect(parsed.positionals).toEqual([]);
        expect(parsed.flags).toEqual((expected.flags as Record<string, unknown>) ?? {});
        expect(parsed.configFiles).toEqual((expected.configFiles as Record<string, unknown>) ?? {});
      });
    }
  }

  test("the Go CLI's example command line", () => {
    const parsed = parseCliArgs(["-mode=seed", "-name=node-1", "-nodeAddr=127.0.0.1:8081", "-routes=127.0.0.1:8081", "-clusterNetwork=LOCAL"]);
    expect(parsed.flags).toEqual({
      mode: "seed",
      name: "node-1",
      address: "127.0.0.1:8081",
      seeds: ["127.0.0.1:8081"],
      clusterNetwork: "LOCAL",
    });
  });

  test("-routes is repeatable and comma-separated; empty items are skipped", () => {
    const parsed = parseCliArgs(["-routes", "a.example:1,b.example:2", "--routes=[::1]:3,", "-routes=c.example:4"]);
    expect(parsed.flags.seeds).toEqual(["a.example:1", "b.example:2", "[::1]:3", "c.example:4"]);
  });

  test("-clusterNetwork is case-insensitive, as in Go; -clientPort= (empty) means ephemeral, as in Go", () => {
    expect(parseCliArgs(["-clusterNetwork=dynamic"]).flags.clusterNetwork).toBe("DYNAMIC");
    expect(parseCliArgs(["-clientPort="]).flags.clientPort).toBe(0);
  });

  test("a later flag overrides an earlier one", () => {
    expect(parseCliArgs(["-name=a", "--name", "b"]).flags.name).toBe("b");
  });
});

describe("our own flags", () => {
  test("address, cluster, TLS, client and log flags", () => {
    const parsed = parseCliArgs([
      "--advertise", "203.0.113.7:8081",
      "--cluster-name=prod",
      "--tls-ca", "ca.pem", "--tls-cert=node.pem", "--tls-key", "node.key", "--tls-require-name",
      "--client-bind=0.0.0.0", "--client-token", "s3cr3t-token",
      "--log-level=debug", "--log-format", "json",
    ]);
    expect(parsed.flags).toEqual({
      advertise: "203.0.113.7:8081",
      clusterName: "prod",
      tls: { caFile: "ca.pem", certFile: "node.pem", keyFile: "node.key", requireNameMatch: true },
      clientBind: "0.0.0.0",
      clientToken: "s3cr3t-token",
      logLevel: "debug",
      logFormat: "json",
    });
  });

  test("camelCase and single-dash spellings work for our flags too, as Go's flag package allows", () => {
    expect(parseCliArgs(["-clusterName=prod", "--logLevel", "warn"]).flags).toEqual({ clusterName: "prod", logLevel: "warn" });
  });

  test("boolean flags take Go's =true/=false", () => {
    expect(parseCliArgs(["--tls-require-name=false"]).flags).toEqual({ tls: { requireNameMatch: false } });
    expect(parseCliArgs(["--tls-require-name=1"]).flags).toEqual({ tls: { requireNameMatch: true } });
    expect(usageError(["--tls-require-name=maybe"]).message).toBe('flag --tls-require-name: "maybe" is not true or false');
  });

  test("--gossip-interval takes milliseconds or a unit", () => {
    expect(parseCliArgs(["--gossip-interval=200"]).flags.gossipIntervalMs).toBe(200);
    expect(parseCliArgs(["--gossip-interval", "200ms"]).flags.gossipIntervalMs).toBe(200);
    expect(parseCliArgs(["--gossip-interval=1.5s"]).flags.gossipIntervalMs).toBe(1500);
    expect(parseDurationMs("2m")).toBe(120_000);
    expect(parseDurationMs("24h")).toBe(86_400_000);
    expect(parseDurationMs("0.5ms")).toBeNull();
    expect(parseDurationMs("-1s")).toBeNull();
  });

  test("--secret-file reads the file and drops one trailing newline", () => {
    const lf = tempFile("secret-lf", "correct-horse-battery\n\n");
    const crlf = tempFile("secret-crlf", "correct-horse-battery\r\n");
    expect(parseCliArgs(["--secret-file", lf]).flags.secret).toBe("correct-horse-battery\n");
    expect(parseCliArgs([`--secret-file=${crlf}`]).flags.secret).toBe("correct-horse-battery");
    const missing = join(tempDir, "no-such-secret");
    expect(usageError(["--secret-file", missing]).message).toStartWith(
      `flag --secret-file: cannot read ${JSON.stringify(missing)}: ENOENT`,
    );
  });

  test("-profilingPort, the Go CLI's pprof port, is accepted and noted as ignored", async () => {
    const parsed = parseCliArgs(["-profilingPort=6060", "-nodeAddr", "127.0.0.1:0"]);
    const { options, notes } = await resolveNodeOptions({ flags: parsed.flags });
    expect(options.address).toBe("127.0.0.1:0");
    expect(notes).toEqual(["ignored flag -profilingPort=6060 (the Go CLI's pprof server has no equivalent here)"]);
    expect(usageError(["-profilingPort"]).message).toBe("flag -profilingPort needs a value port");
  });

  test("the help lists each Go flag next to its kebab form", () => {
    const help = formatFlagHelp("node");
    for (const [go, kebab] of [["mode", "mode"], ["nodeAddr", "node-addr"], ["clusterNetwork", "cluster-network"], ["clusterConfig", "cluster-config"]]) {
      expect(help).toContain(`-${go}, --${kebab} `);
    }
    expect(formatFlagHelp("client")).toContain("--client, -c host:port");
    expect(formatFlagHelp("client")).not.toContain("--node-addr");
  });

  test("--help/-h and --version/-v", () => {
    expect(parseCliArgs(["--help"]).flags).toEqual({ help: true });
    expect(parseCliArgs(["-h"]).flags).toEqual({ help: true });
    expect(parseCliArgs(["--version"]).flags).toEqual({ version: true });
    expect(parseCliArgs(["-v"]).flags).toEqual({ version: true });
    expect(parseCliArgs(["get", "-h"]).flags).toEqual({ help: true });
  });
});

describe("subcommands", () => {
  test("the command is the first positional; flags may come before or after it", () => {
    expect(parseCliArgs(["-c", "127.0.0.1:5000", "get", "app", "color"])).toEqual({
      command: "get",
      positionals: ["app", "color"],
      flags: { client: "127.0.0.1:5000" },
      configFiles: {},
    });
    expect(parseCliArgs(["members", "--client=[::1]:5000", "--token", "t0k3n-123"]).flags).toEqual({
      client: "[::1]:5000",
      token: "t0k3n-123",
    });
  });

  test("set takes --type and --ttl", () => {
    expect(parseCliArgs(["set", "app", "count", "42", "--type=int64", "--ttl", "30s"])).toEqual({
      command: "set",
      positionals: ["app", "count", "42"],
      flags: { type: "int", ttlMs: 30_000 },
      configFiles: {},
    });
    expect(usageError(["set", "k", "v", "--type=decimal"]).message).toBe(
      'flag --type: "decimal" is not one of string, bytes, int, float, bool, json',
    );
  });

  test("every command parses; config needs show or set", () => {
    for (const command of ["members", "get", "set", "delete", "keys", "watch"] as const) {
      expect(parseCliArgs([command]).command).toBe(command);
    }
    expect(parseCliArgs(["config", "show"])).toMatchObject({ command: "config", positionals: ["show"] });
    expect(parseCliArgs(["config", "set", "fanout", "2"])).toMatchObject({ command: "config", positionals: ["set", "fanout", "2"] });
    expect(usageError(["config"]).message).toBe("command config needs show or set");
  });

  test("after --, everything is positional", () => {
    expect(parseCliArgs(["set", "app", "delta", "--", "-5"]).positionals).toEqual(["app", "delta", "-5"]);
  });

  test("unknown commands and flags in the wrong place", () => {
    expect(usageError(["memebers"]).message).toBe(
      'unknown command "memebers" (did you mean members?); commands: members, get, set, delete, keys, watch, config, event, query, health, join, force-leave, help, version',
    );
    expect(usageError(["get", "-nodeAddr=127.0.0.1:1"]).message).toBe(
      "flag -nodeAddr does not apply to command get (only when running a node)",
    );
    expect(usageError(["get", "--ttl=1s"]).message).toBe("flag --ttl does not apply to command get (only to set)");
    expect(usageError(["members", "--wait=1s"]).message).toBe("flag --wait does not apply to command members (only to set, config, keys)");
    expect(usageError(["set", "--coalesce", "g", "k", "v"]).message).toBe("flag --coalesce does not apply to command set (only to event)");
    expect(usageError(["-c", "127.0.0.1:5000"]).message).toBe(
      "flag -c only applies to the commands members, get, set, delete, keys, watch, config, event, query, health, join, force-leave",
    );
  });
});

describe("usage errors name the flag as typed", () => {
  test("unknown flags, with a suggestion in the same style", () => {
    const error = usageError(["-nodeAdr", "127.0.0.1:8081"]);
    expect(error.message).toBe("unknown flag -nodeAdr (did you mean -nodeAddr?)");
    expect(error.flag).toBe("-nodeAdr");
    expect(usageError(["--node-adr=127.0.0.1:8081"]).message).toBe("unknown flag --node-adr (did you mean --node-addr?)");
    expect(usageError(["--clusterNetwrk=LOCAL"]).message).toBe("unknown flag --clusterNetwrk (did you mean --clusterNetwork?)");
    expect(usageError(["-x"]).message).toBe("unknown flag -x");
  });

  test("missing values", () => {
    expect(usageError(["-nodeAddr"]).message).toBe("flag -nodeAddr needs a value host:port");
    expect(usageError(["--node-addr", "--routes", "127.0.0.1:1"]).message).toBe("flag --node-addr needs a value host:port");
    expect(usageError(["-routes="]).message).toBe("flag -routes needs a value host:port");
    expect(usageError(["-name="]).message).toBe("flag -name needs a value name");
    expect(usageError(["-c"]).message).toBe("flag -c needs a value host:port");
  });

  test("bad addresses", () => {
    expect(usageError(["--node-addr", "localhost"]).message).toBe('flag --node-addr: "localhost" is not host:port');
    expect(usageError(["-nodeAddr=127.0.0.1:99999"]).message).toBe('flag -nodeAddr: "127.0.0.1:99999" is not host:port');
    expect(usageError(["-routes", "a.example:1,b.example"]).message).toBe('flag -routes: "b.example" is not host:port');
    expect(usageError(["-routes", "a.example:0"]).message).toBe('flag -routes: "a.example:0" is not host:port');
    expect(usageError(["--advertise=::1:8081"]).message).toBe('flag --advertise: "::1:8081" is not host:port');
    expect(usageError(["--client-bind=not a host"]).message).toBe('flag --client-bind: "not a host" is not a host name or IP address');
  });

  test("bad numbers and choices", () => {
    expect(usageError(["-clientPort", "abc"]).message).toBe('flag -clientPort: "abc" is not a port number (0-65535)');
    expect(usageError(["--client-port=65536"]).message).toBe('flag --client-port: "65536" is not a port number (0-65535)');
    expect(usageError(["--gossip-interval=fast"]).message).toBe(
      'flag --gossip-interval: "fast" is not a duration (e.g. 1000, 200ms, 1s)',
    );
    expect(usageError(["-mode=leader"]).message).toBe('flag -mode: "leader" is not one of seed, node');
    expect(usageError(["-clusterNetwork=UNDEFINED"]).message).toBe(
      'flag -clusterNetwork: "UNDEFINED" is not one of LOCAL, PRIVATE, PUBLIC, DYNAMIC',
    );
    expect(usageError(["--log-format=xml"]).message).toBe('flag --log-format: "xml" is not one of pretty, json');
  });
});

// ---------------------------------------------------------------------------------------------

describe("resolveNodeOptions: precedence flags > environment > node file > cluster file > defaults", () => {
  test("each source overrides the ones below it, option by option", async () => {
    const cluster = tempFile(
      "precedence-cluster.conf",
      'clusterName = "from-cluster"\nfanout = 2\npushFanout = 3\nprobeFanout = 4\nphiThreshold = 9\n',
    );
    const node = tempFile("precedence-node.json", JSON.stringify({ fanout: 5, pushFanout: 6, probeFanout: 7 }));
    const { options } = await resolveNodeOptions({
      files: { cluster, node },
      env: { GOFERBROKE_PUSH_FANOUT: "8", GOFERBROKE_PROBE_FANOUT: "9" },
      flags: parseCliArgs(["--gossip-interval=2s"]).flags,
    });
    expect(options.clusterName).toBe("from-cluster"); // cluster file only
    expect(options.phiThreshold).toBe(9); // cluster file only
    expect(options.fanout).toBe(5); // node file beats cluster file
    expect(options.pushFanout).toBe(8); // environment beats node file
    expect(options.gossipIntervalMs).toBe(2000); // flag
    expect(options.maxConnections).toBe(1024); // default

    const withFlag = await resolveNodeOptions({
      files: { cluster, node },
      env: { GOFERBROKE_PROBE_FANOUT: "9" },
      flags: { probeFanout: 10 },
    });
    expect(withFlag.options.probeFanout).toBe(10); // flag beats environment
  });

  test("a Go command line through parseCliArgs and resolveNodeOptions", async () => {
    const { flags, configFiles } = parseCliArgs([
      "-mode=node", "-name=node-2", "-nodeAddr=127.0.0.1:8082", "-routes=127.0.0.1:8081", "-clusterNetwork=LOCAL", "-clientPort=5001",
    ]);
    const { options, notes } = await resolveNodeOptions({ flags, env: {}, files: configFiles });
    expect(options).toMatchObject({
      mode: "node",
      name: "node-2",
      address: "127.0.0.1:8082",
      seeds: ["127.0.0.1:8081"],
      clusterNetwork: "LOCAL",
      clientPort: 5001,
    });
    expect(notes).toEqual([]);
  });

  test("environment variables of every form", async () => {
    const { options } = await resolveNodeOptions({
      env: {
        GOFERBROKE_NAME: "env-node",
        GOFERBROKE_CLUSTER_NAME: "env-cluster",
        GOFERBROKE_NODE_ADDR: "127.0.0.1:9000",
        GOFERBROKE_ROUTES: "127.0.0.1:9001, 127.0.0.1:9002,",
        GOFERBROKE_CLUSTER_NETWORK: "local",
        GOFERBROKE_CLIENT_PORT: "9100",
        GOFERBROKE_GOSSIP_INTERVAL: "250ms",
        GOFERBROKE_DEAD_REMOVAL: "1h",
        GOFERBROKE_PHI_THRESHOLD: "12.5",
        GOFERBROKE_LOG_LEVEL: "warn",
        GOFERBROKE_LOG_FORMAT: "json",
        GOFERBROKE_SECRET: "0123456789abcdef",
        GOFERBROKE_TLS_CA: "ca.pem",
        GOFERBROKE_TLS_CERT: "node.pem",
        GOFERBROKE_TLS_KEY: "node.key",
        GOFERBROKE_TLS_REQUIRE_NAME: "true",
        GOFERBROKE_APP: '{"maxConnections": 1000}',
        GOFERBROKE_MAX_CONNECTIONS: "", // empty counts as unset
      },
    });
    expect(options).toMatchObject({
      name: "env-node",
      clusterName: "env-cluster",
      address: "127.0.0.1:9000",
      seeds: ["127.0.0.1:9001", "127.0.0.1:9002"],
      clusterNetwork: "LOCAL",
      clientPort: 9100,
      gossipIntervalMs: 250,
      deadRemovalMs: 3_600_000,
      phiThreshold: 12.5,
      logLevel: "warn",
      logFormat: "json",
      secret: "0123456789abcdef",
      tls: { caFile: "ca.pem", certFile: "node.pem", keyFile: "node.key", requireNameMatch: true },
      app: { maxConnections: 1000 },
      maxConnections: 1024,
    });
  });

  test("tls merges field by field and app key by key across sources", async () => {
    const node = tempFile(
      "merge-node.json",
      JSON.stringify({ tls: { caFile: "file-ca.pem", certFile: "file.pem", keyFile: "file.key" }, app: { a: 1, b: 2 } }),
    );
    const { options } = await resolveNodeOptions({
      files: { node },
      env: { GOFERBROKE_TLS_KEY: "env.key", GOFERBROKE_APP: '{"b": 3}' },
      flags: parseCliArgs(["--tls-cert", "flag.pem"]).flags,
    });
    expect(options.tls).toEqual({ caFile: "file-ca.pem", certFile: "flag.pem", keyFile: "env.key", requireNameMatch: false });
    expect(options.app).toEqual({ a: 1, b: 3 });
  });

  test("config files can come from GOFERBROKE_NODE_CONFIG / GOFERBROKE_CLUSTER_CONFIG", async () => {
    const cluster = tempFile("env-cluster.conf", 'clusterName = "named-by-env"\n');
    const { options } = await resolveNodeOptions({ env: { GOFERBROKE_CLUSTER_CONFIG: cluster } });
    expect(options.clusterName).toBe("named-by-env");
  });

  test("errors say which source the bad value came from", async () => {
    const cluster = tempFile("bad-cluster.conf", "fanout = 99\n");
    const error = await resolveError({
      files: { cluster },
      env: { GOFERBROKE_GOSSIP_INTERVAL: "fast", GOFERBROKE_CLIENT_PORT: "http" },
      flags: { name: "bad name" },
    });
    expect(error).toBeInstanceOf(OptionsError);
    expect(error.message).toBe(
      `invalid option fanout: expected a number from 1 to 16, got 99 (from ${cluster}); ` +
        'invalid option clientPort: expected a whole number, got "http" (from GOFERBROKE_CLIENT_PORT); ' +
        'invalid option gossipIntervalMs: expected a duration (e.g. 1000, 200ms, 1s, 2m, 1h), got "fast" (from GOFERBROKE_GOSSIP_INTERVAL); ' +
        'invalid option name: expected a node name of 1 to 64 characters from A-Z a-z 0-9 . _ -, got "bad name" (from command-line flags)',
    );
  });

  test("the cluster file holds cluster settings only", async () => {
    const cluster = tempFile("node-key-in-cluster.conf", 'address = "127.0.0.1:1"\n');
    expect((await resolveError({ files: { cluster } })).message).toBe(
      `invalid option address: not a cluster setting (it is set per node) (from ${cluster})`,
    );
  });

  test("syntax errors keep their file:line:column", async () => {
    const node = tempFile("broken.conf", 'name = "a"\nseeds = [1, 2');
    const error = await resolveError({ files: { node } });
    expect(error).toBeInstanceOf(ConfigSyntaxError);
    expect(error.message).toBe(`${node}:2:14: expected ']' to close the array opened at 2:9, found end of input`);
  });

  test("a seed's own address is added to the seeds, as Go requires", async () => {
    const { options, notes } = await resolveNodeOptions({
      flags: parseCliArgs(["-mode=seed", "-nodeAddr=127.0.0.1:8081", "-routes=127.0.0.1:8082"]).flags,
    });
    expect(options.seeds).toEqual(["127.0.0.1:8082", "127.0.0.1:8081"]);
    expect(notes).toEqual(["added this seed's own address 127.0.0.1:8081 to seeds (a seed must be listed among them)"]);

    // localhost and 127.0.0.1 are the same endpoint: nothing to add.
    const same = await resolveNodeOptions({ flags: { mode: "seed", address: "127.0.0.1:8081", seeds: ["localhost:8081"] } });
    expect(same.options.seeds).toEqual(["localhost:8081"]);
  });

  test("unknown GOFERBROKE_ variables are noted, with a suggestion", async () => {
    const { notes } = await resolveNodeOptions({ env: { GOFERBROKE_GOSSIP_INTERVL: "1s", PATH: "/bin" } });
    expect(notes).toEqual(["unknown environment variable GOFERBROKE_GOSSIP_INTERVL (did you mean GOFERBROKE_GOSSIP_INTERVAL?)"]);
  });

  test("network type problems are option errors", async () => {
    const error = await resolveError({ flags: { address: "10.0.0.5:8081" } });
    expect(error.message).toBe(
      'invalid option address: expected a loopback address (127.0.0.0/8, ::1 or localhost) for clusterNetwork LOCAL, got "10.0.0.5:8081"',
    );
    const unspecified = await resolveError({ flags: { address: "0.0.0.0:8081", clusterNetwork: "PRIVATE" } });
    expect(unspecified.message).toBe(
      "invalid option advertise: expected a private address (10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16, fc00::/7 or fe80::/10) for clusterNetwork PRIVATE, since address 0.0.0.0 binds every interface, got undefined",
    );
    const ok = await resolveNodeOptions({ flags: { address: "0.0.0.0:8081", advertise: "10.1.2.3:8081", clusterNetwork: "PRIVATE" } });
    expect(ok.options.advertise).toBe("10.1.2.3:8081");
  });
});

describe("the Go project's sample config files", () => {
  test("default cluster (.conf) + basic seed node", async () => {
    const { options, notes } = await resolveNodeOptions({
      files: { cluster: join(FIXTURES, "default_cluster_config.conf"), node: join(FIXTURES, "basic_seed_config.conf") },
    });
    expect(options).toMatchObject({
      clusterName: "default-local-cluster",
      name: "node-1",
      mode: "seed",
      address: "127.0.0.1:8081",
      clientPort: 5000,
      seeds: ["localhost:8081"],
      clusterNetwork: "LOCAL",
    });
    const node = join(FIXTURES, "basic_seed_config.conf");
    expect(notes).toContain(`ignored Go key Internal.IsTestMode in ${node} (no equivalent here)`);
    // The Go original never read its TLS paths (and its sample files name certificates that do not
    // exist), so they are not taken as ours, but the note names the option that is.
    expect(notes).toContain(
      `ignored Go key Internal.CACertFilePath in ${node} (the Go original never read it; to use TLS here, set tls.caFile (--tls-ca))`,
    );
    expect(notes).toHaveLength(10);
  });

  test("default cluster (.json, every Go field) + basic node 2", async () => {
    const cluster = join(FIXTURES, "default_cluster_config.json");
    const { options, notes, warnings } = await resolveNodeOptions({
      files: { cluster, node: join(FIXTURES, "basic_node_config2.conf") },
    });
    expect(options).toMatchObject({
      clusterName: "default-local-cluster",
      name: "node-2",
      mode: "node",
      address: "127.0.0.1:8082",
      seeds: ["localhost:8081"],
      clusterNetwork: "LOCAL",
      fanout: 1,
      maxGossipBytes: 1400,
      maxValueBytes: 632,
      probeFanout: 1,
      probeTimeoutMs: 300,
    });
    expect(warnings).toEqual([
      "maxValueBytes lowered from 65536 to 632: writes of larger values will be refused. One entry must fit a gossip message of maxGossipBytes 1400 (maxGossipBytes - 2 × maxKeyBytes - 256); raise maxGossipBytes (Go: Cluster.MaxGossSynAck), or set maxValueBytes to say this limit is meant",
    ]);
    expect(notes).toContain(`ignored Go key Cluster.DiscoveryPercentage in ${cluster} (no equivalent here)`);
    expect(notes).toContain(`ignored Go key Cluster.NodeFaultyAfter in ${cluster} (no equivalent here)`);
  });

  test("basic cluster (unquoted IP hosts and numeric ports) + basic node 2", async () => {
    const { options } = await resolveNodeOptions({
      files: { cluster: join(FIXTURES, "basic_cluster_config.conf"), node: join(FIXTURES, "basic_node_config2.conf") },
    });
    expect(options).toMatchObject({ clusterName: "test-server", seeds: ["192.168.0.1:8081", "192.168.0.1:8082"] });
  });

  test("the parser's test file is not a cluster config: its keys are unknown options", async () => {
    const cluster = join(FIXTURES, "complex_test_config.conf");
    expect((await resolveError({ files: { cluster } })).message).toBe(
      `invalid option Nested: unknown option (from ${cluster}); ` +
        `invalid option PointerField: unknown option (from ${cluster}); ` +
        `invalid option ComplexNest: unknown option (from ${cluster})`,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe("a Go MaxGossSynAck small enough to lower maxValueBytes", () => {
  test("the node logs a warning (level warn) saying larger values will be refused", async () => {
    const cluster = tempFile("small-gossip.json", JSON.stringify({ Name: "small", Cluster: { MaxGossSynAck: 1400 } }));
    const cli = spawnCli(["-name=small-1", "-nodeAddr=127.0.0.1:0", "-clusterConfig", cluster, "--log-format=json"]);
    try {
      await waitForOutput(cli, /"msg":"node small-1 started/);
      const warning = cli.output().split("\n").filter((line) => line.includes("maxValueBytes lowered")).map((line) => JSON.parse(line));
      expect(warning).toMatchObject([{ level: "warn", msg: expect.stringContaining("maxValueBytes lowered from 65536 to 632: writes of larger values will be refused.") }]);
    } finally {
      cli.process.kill("SIGKILL");
      await cli.process.exited;
    }
  });
});

describe("addresses", () => {
  test("parseHostPort", () => {
    expect(parseHostPort("127.0.0.1:8081")).toEqual({ host: "127.0.0.1", port: 8081 });
    expect(parseHostPort("[::1]:0")).toEqual({ host: "::1", port: 0 });
    expect(parseHostPort("node-1.example.com:443")).toEqual({ host: "node-1.example.com", port: 443 });
    for (const bad of ["localhost", "::1:80", "[::1]", "[::1]:", "a:b", "a:-1", "a:080", "-a:1", ":1", "1.2.3.4.5:1", "[1.2.3.4]:1"]) {
      expect(parseHostPort(bad)).toBeNull();
    }
  });

  test("classifyIp", () => {
    const cases: [string, string][] = [
      ["127.0.0.1", "loopback"], ["127.1.2.3", "loopback"], ["::1", "loopback"], ["::ffff:127.0.0.1", "loopback"],
      ["0.0.0.0", "unspecified"], ["::", "unspecified"],
      ["10.1.2.3", "private"], ["172.16.0.1", "private"], ["172.31.255.255", "private"], ["192.168.0.1", "private"],
      ["100.64.0.1", "private"], ["169.254.1.1", "private"], ["fd12:3456::1", "private"], ["fe80::1%eth0", "private"],
      ["::ffff:10.0.0.1", "private"],
      ["172.32.0.1", "public"], ["8.8.8.8", "public"], ["203.0.113.7", "public"], ["2001:db8::1", "public"], ["2606:4700::1111", "public"],
      ["224.0.0.1", "unusable"], ["255.255.255.255", "unusable"], ["0.1.2.3", "unusable"], ["ff02::1", "unusable"],
    ];
    for (const [ip, expected] of cases) expect(`${ip} ${classifyIp(ip)}`).toBe(`${ip} ${expected}`);
  });

  // network.ts checks IP literals itself (node:net is slow to load); it must accept exactly what
  // node:net accepts, the edge cases and random near-addresses alike.
  test("isIPv4 and isIPv6 agree with node:net", () => {
    const agrees = (text: string) => net.isIPv4(text) === isIPv4(text) && net.isIPv6(text) === isIPv6(text);
    const edgeCases = [
      "1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.4 ", " 1.2.3.4",
      "::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2::3", ":::", "12345::", "FFFF::", "[::1]",
      "::ffff:1.2.3.4", "::ffff:01.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4",
      "fe80::1%eth0", "fe80::1%", "fe80::1%a.b-c:d", "fe80::1%eth0%1", "::%1", "١.٢.٣.٤",
    ];
    for (const text of edgeCases) expect(`${text} ${agrees(text)}`).toBe(`${text} true`);
    const alphabet = fc.constantFrom(..."0123456789abcdefABCDEF:.%-z ");
    const nearAddress = fc.oneof(
      fc.array(alphabet, { maxLength: 45 }).map((chars) => chars.join("")),
      fc.ipV4(),
      fc.ipV4Extended(),
      fc.ipV6(),
      fc.tuple(fc.ipV6(), fc.stringMatching(/^%[0-9a-zA-Z.:-]{0,6}$/)).map(([address, zone]) => address + zone),
    );
    fc.assert(fc.property(nearAddress, agrees), { numRuns: 20_000 });
  });
});

describe("network types", () => {
  const LOOPBACK = "a loopback address (127.0.0.0/8, ::1 or localhost)";
  const PRIVATE = "a private address (10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16, fc00::/7 or fe80::/10)";

  // [type, bind host, advertise host, expected problems]
  const cases: [ClusterNetwork, string, string | undefined, string[]][] = [
    ["LOCAL", "127.0.0.1", undefined, []],
    ["LOCAL", "localhost", undefined, []],
    ["LOCAL", "::1", "localhost", []],
    ["LOCAL", "10.0.0.5", undefined, [`bind address 10.0.0.5 is a private address, but clusterNetwork LOCAL needs ${LOOPBACK}`]],
    ["LOCAL", "127.0.0.1", "8.8.8.8", [`advertise address 8.8.8.8 is a public address, but clusterNetwork LOCAL needs ${LOOPBACK}`]],
    ["PRIVATE", "192.168.1.10", undefined, []],
    ["PRIVATE", "fd00::10", undefined, []],
    ["PRIVATE", "169.254.0.9", undefined, []],
    ["PRIVATE", "127.0.0.1", undefined, [`bind address 127.0.0.1 is a loopback address, but clusterNetwork PRIVATE needs ${PRIVATE}`]],
    ["PRIVATE", "8.8.8.8", undefined, [`bind address 8.8.8.8 is a public address, but clusterNetwork PRIVATE needs ${PRIVATE}`]],
    ["PUBLIC", "8.8.8.8", undefined, []],
    ["PUBLIC", "10.0.0.5", undefined, ["bind address 10.0.0.5 is a private address, but clusterNetwork PUBLIC needs a public address"]],
    // Behind 1:1 NAT: bind the private address, advertise the public one.
    ["PUBLIC", "10.0.0.5", "203.0.113.7", []],
    ["PUBLIC", "127.0.0.1", "203.0.113.7", ["bind address 127.0.0.1 is a loopback address, but clusterNetwork PUBLIC needs a public or private address"]],
    ["DYNAMIC", "127.0.0.1", undefined, []],
    ["DYNAMIC", "10.0.0.5", "8.8.8.8", []],
    ["DYNAMIC", "some-host.internal", undefined, []],
    ["DYNAMIC", "224.0.0.1", undefined, ["bind address 224.0.0.1 is a multicast, broadcast or reserved address, but clusterNetwork DYNAMIC needs an address peers can dial"]],
    // 0.0.0.0 / :: only with an explicit advertise address of the right class (DYNAMIC may learn it).
    ["LOCAL", "0.0.0.0", undefined, [`bind address 0.0.0.0 is unspecified (0.0.0.0 or ::), so clusterNetwork LOCAL needs an explicit advertise address that is ${LOOPBACK}`]],
    ["PUBLIC", "::", undefined, ["bind address :: is unspecified (0.0.0.0 or ::), so clusterNetwork PUBLIC needs an explicit advertise address that is a public address"]],
    ["PRIVATE", "0.0.0.0", "10.0.0.5", []],
    ["PRIVATE", "0.0.0.0", "8.8.8.8", [`advertise address 8.8.8.8 is a public address, but clusterNetwork PRIVATE needs ${PRIVATE}`]],
    ["DYNAMIC", "0.0.0.0", undefined, []],
    ["DYNAMIC", "0.0.0.0", "0.0.0.0", ["advertise address 0.0.0.0 is unspecified (0.0.0.0 or ::), but clusterNetwork DYNAMIC needs an address peers can dial"]],
  ];

  for (const [type, bind, advertise, problems] of cases) {
    test(`${type} bind ${bind}${advertise === undefined ? "" : ` advertise ${advertise}`}`, () => {
      expect(checkNetworkType(type, bind, advertise)).toEqual(problems);
    });
  }

  test("host names are classified by what they resolve to, and must resolve unless DYNAMIC", () => {
    const resolved = new Map([
      ["db.internal", ["10.0.0.7"]],
      ["mixed.example", ["10.0.0.8", "8.8.4.4"]],
    ]);
    expect(checkNetworkType("PRIVATE", "db.internal", undefined, resolved)).toEqual([]);
    expect(checkNetworkType("PRIVATE", "mixed.example", undefined, resolved)).toEqual([
      `bind address mixed.example (10.0.0.8, 8.8.4.4) is a public address, but clusterNetwork PRIVATE needs ${PRIVATE}`,
    ]);
    expect(checkNetworkType("LOCAL", "nowhere.invalid", undefined, resolved)).toEqual([
      `bind address nowhere.invalid is a host name that does not resolve, but clusterNetwork LOCAL needs ${LOOPBACK}`,
    ]);
    expect(checkNetworkType("DYNAMIC", "nowhere.invalid", undefined, resolved)).toEqual([]);
  });

  test("IP literals and localhost are never looked up", async () => {
    expect(await resolveHostnames(["127.0.0.1", "::1", "localhost", "api.localhost"])).toEqual(new Map());
  });

  test("problems carry the option and expected form for option errors", () => {
    expect(findNetworkProblems("LOCAL", "10.0.0.5")).toEqual([
      {
        option: "address",
        host: "10.0.0.5",
        expected: `${LOOPBACK} for clusterNetwork LOCAL`,
        message: `bind address 10.0.0.5 is a private address, but clusterNetwork LOCAL needs ${LOOPBACK}`,
      },
    ]);
  });
});

// Node option validation: defaults, the exact error messages, cross-option constraints, and
// cluster-config patches. Expected messages are written out in full: they are the user interface.

import { describe, expect, test } from "bun:test";
import {
  CLUSTER_SETTING_KEYS,
  OptionsError,
  defaultNodeName,
  describeValue,
  editDistance,
  formatIssue,
  parseClusterConfigPatch,
  parseNodeOptions,
  suggestClosest,
  type NodeOptions,
} from "../src/config/schema.ts";

/** The OptionsError that `run` must throw. */
function optionsError(run: () => unknown): OptionsError {
  try {
    run();
  } catch (error) {
    if (error instanceof OptionsError) return error;
    throw new Error(`expected an OptionsError, got ${String(error)}`);
  }
  throw new Error("expected an OptionsError, but validation passed");
}

function messageFor(input: unknown): string {
  return optionsError(() => parseNodeOptions(input)).message;
}

const DEFAULTS: NodeOptions = {
  name: defaultNodeName(),
  clusterName: "goferbroke",
  mode: "node",
  address: "127.0.0.1:0",
  seeds: [],
  clusterNetwork: "LOCAL",
  clientBind: "127.0.0.1",
  encryptPlainWindow: "off",
  clientInsecure: false,
  restoreEntries: false,
  retryLogIntervalMs: 30_000,
  dnsRefreshIntervalMs: 60_000,
  gossipIntervalMs: 1000,
  fanout: 1,
  maxGossipBytes: 262144,
  pushFanout: 2,
  flowControl: true,
  maxFrameBytes: 1048576,
  phiThreshold: 8,
  acceptablePauseMs: 2500,
  minStdDeviationMs: 100,
  probeFanout: 3,
  probeTimeoutMs: 500,
  deadRemovalMs: 86_400_000,
  tombstoneGraceMs: 3_600_000,
  maxKeyBytes: 256,
  maxValueBytes: 65536,
  maxEntriesPerNode: 100_000,
  maxMembers: 20_000,
  maxConnections: 1024,
  logLevel: "info",
  logFormat: "pretty",
  queryHandlers: [],
};

describe("defaults", () => {
  test("an empty object (or nothing) gets every default, and optional options stay absent", () => {
    expect(parseNodeOptions({})).toEqual(DEFAULTS);
    expect(parseNodeOptions(undefined)).toEqual(DEFAULTS);
    const options = parseNodeOptions({});
    for (const optional of ["generation", "advertise", "clientPort", "clientToken", "tls", "secret", "app"]) {
      expect(Object.hasOwn(options, optional)).toBe(false);
    }
  });

  test("the default name is the host name, cut to a valid node name", () => {
    expect(defaultNodeName()).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
  });

  test("properties set to undefined count as not given", () => {
    expect(parseNodeOptions({ fanout: undefined, advertise: undefined })).toEqual(DEFAULTS);
  });

  test("given values replace defaults; tls.requireNameMatch defaults to false", () => {
    const options = parseNodeOptions({
      name: "edge-01.eu_west",
      mode: "seed",
      address: "[::1]:8081",
      advertise: "[2001:db8::1]:8081",
      seeds: ["seed-1.internal:8081", "10.0.0.2:8081"],
      clusterNetwork: "DYNAMIC",
      clientPort: 0,
      tls: { caFile: "ca.pem", certFile: "node.pem", keyFile: "node.key" },
      secret: "0123456789abcdef",
      generation: 1_700_000_000_000,
      phiThreshold: 10.5,
      app: { maxConnections: 1000, features: ["a", "b"], nested: { on: true, none: null } },
    });
    expect(options.tls).toEqual({ caFile: "ca.pem", certFile: "node.pem", keyFile: "node.key", requireNameMatch: false });
    expect(options.address).toBe("[::1]:8081");
    expect(options.seeds).toEqual(["seed-1.internal:8081", "10.0.0.2:8081"]);
    expect(options.phiThreshold).toBe(10.5);
    expect(options.app).toEqual({ maxConnections: 1000, features: ["a", "b"], nested: { on: true, none: null } });
  });

  test("maxValueBytes is lowered to fit one gossip message unless given", () => {
    // 1400 - 2 × 256 - 256 = 632: a Go cluster file's MaxGossSynAck = 1400 still loads.
    expect(parseNodeOptions({ maxGossipBytes: 1400 }).maxValueBytes).toBe(632);
    expect(parseNodeOptions({ maxGossipBytes: 1400, maxValueBytes: 600 }).maxValueBytes).toBe(600);
  });
});

describe("error messages", () => {
  test("a number out of range", () => {
    expect(messageFor({ gossipIntervalMs: 5 })).toBe(
      "invalid option gossipIntervalMs: expected a number from 100 to 60000 (ms), got 5",
    );
  });

  test("wrong types", () => {
    expect(messageFor({ fanout: "2" })).toBe('invalid option fanout: expected a number from 1 to 16, got "2"');
    expect(messageFor({ gossipIntervalMs: 100.5 })).toBe(
      "invalid option gossipIntervalMs: expected a whole number from 100 to 60000 (ms), got 100.5",
    );
    expect(messageFor({ seeds: "a:1" })).toBe('invalid option seeds: expected a list of host:port addresses, got "a:1"');
    expect(messageFor({ tls: true })).toBe(
      "invalid option tls: expected an object with caFile, certFile and keyFile, got true",
    );
    expect(messageFor({ logLevel: null })).toBe(
      "invalid option logLevel: expected one of debug, info, warn, error, silent, got null",
    );
    expect(messageFor({ probeTimeoutMs: Number.NaN })).toBe(
      "invalid option probeTimeoutMs: expected a number from 10 to 60000 (ms), got NaN",
    );
    expect(messageFor({ mode: () => "seed" })).toBe("invalid option mode: expected one of seed, node, got function");
  });

  test("an unknown network type", () => {
    expect(messageFor({ clusterNetwork: "INTERNET" })).toBe(
      'invalid option clusterNetwork: expected one of LOCAL, PRIVATE, PUBLIC, DYNAMIC, got "INTERNET"',
    );
    expect(messageFor({ clusterNetwork: 4 })).toBe(
      "invalid option clusterNetwork: expected one of LOCAL, PRIVATE, PUBLIC, DYNAMIC, got 4",
    );
  });

  test("ports out of range", () => {
    expect(messageFor({ clientPort: 70000 })).toBe(
      "invalid option clientPort: expected a number from 0 to 65535 (0 = ephemeral), got 70000",
    );
    expect(messageFor({ clientPort: -1 })).toBe(
      "invalid option clientPort: expected a number from 0 to 65535 (0 = ephemeral), got -1",
    );
    expect(messageFor({ address: "127.0.0.1:65536" })).toBe(
      'invalid option address: expected host:port to listen on (IPv6 in brackets, port 0-65535), got "127.0.0.1:65536"',
    );
    expect(messageFor({ seeds: ["127.0.0.1:8081", "127.0.0.1:0"] })).toBe(
      'invalid option seeds[1]: expected host:port (IPv6 in brackets, port 1-65535), got "127.0.0.1:0"',
    );
    expect(messageFor({ advertise: "0.0.0.0:8081" })).toBe(
      'invalid option advertise: expected host:port that peers can dial (IPv6 in brackets, port 1-65535, not 0.0.0.0 or ::), got "0.0.0.0:8081"',
    );
  });

  test("addresses that are not host:port", () => {
    for (const address of ["localhost", "::1:8081", "host name:1", ":8081", "192.168.1.300:80", "[::1]8081"]) {
      expect(messageFor({ address })).toBe(
        `invalid option address: expected host:port to listen on (IPv6 in brackets, port 0-65535), got ${JSON.stringify(address)}`,
      );
    }
  });

  test("a name too long, or with characters outside A-Z a-z 0-9 . _ -", () => {
    const long = "n".repeat(65);
    expect(messageFor({ name: long })).toBe(
      `invalid option name: expected a node name of 1 to 64 characters from A-Z a-z 0-9 . _ -, got "${long}"`,
    );
    expect(parseNodeOptions({ name: "n".repeat(64) }).name).toBe("n".repeat(64));
    expect(messageFor({ clusterName: "my cluster" })).toBe(
      'invalid option clusterName: expected a cluster name of 1 to 64 characters from A-Z a-z 0-9 . _ -, got "my cluster"',
    );
    expect(messageFor({ name: "" })).toBe(
      'invalid option name: expected a node name of 1 to 64 characters from A-Z a-z 0-9 . _ -, got ""',
    );
  });

  test("unknown keys, with the closest known name when within two edits (units may be left out)", () => {
    expect(messageFor({ gossipIntrval: 1000 })).toBe(
      "invalid option gossipIntrval: unknown option (did you mean gossipIntervalMs?)",
    );
    expect(messageFor({ fanot: 2 })).toBe("invalid option fanot: unknown option (did you mean fanout?)");
    expect(messageFor({ "gossip-interval-ms": 2 })).toBe(
      "invalid option gossip-interval-ms: unknown option (did you mean gossipIntervalMs?)",
    );
    expect(messageFor({ colour: "blue" })).toBe("invalid option colour: unknown option");
    // Go spellings point at our names.
    expect(messageFor({ nodeAddr: "a:1", routes: [] })).toBe(
      "invalid option nodeAddr: unknown option (did you mean address?); invalid option routes: unknown option (did you mean seeds?)",
    );
    expect(messageFor({ tls: { caFile: "a", certFile: "b", keyFile: "c", keyFiel: "d" } })).toBe(
      "invalid option tls.keyFiel: unknown option (did you mean tls.keyFile?)",
    );
  });

  test("every problem is reported, joined by '; ', and listed in .issues", () => {
    const error = optionsError(() => parseNodeOptions({ fanot: 1, fanout: 0, logFormat: "xml" }));
    expect(error.message).toBe(
      "invalid option fanot: unknown option (did you mean fanout?); " +
        "invalid option fanout: expected a number from 1 to 16, got 0; " +
        'invalid option logFormat: expected one of pretty, json, got "xml"',
    );
    expect(error.issues).toEqual([
      { path: "fanot", value: 1, expected: "a known option", problem: "unknown option (did you mean fanout?)" },
      { path: "fanout", value: 0, expected: "a number from 1 to 16" },
      { path: "logFormat", value: "xml", expected: "one of pretty, json" },
    ]);
    expect(error.name).toBe("OptionsError");
  });

  test("missing tls fields name the field", () => {
    expect(messageFor({ tls: { caFile: "ca.pem", certFile: "" } })).toBe(
      "invalid option tls.certFile: expected a path to this node's certificate (PEM), got \"\"; " +
        "invalid option tls.keyFile: expected a path to this node's private key (PEM), got undefined",
    );
  });

  test("secrets and tokens are never echoed", () => {
    expect(messageFor({ secret: "hunter2" })).toBe(
      "invalid option secret: expected a string of 16 to 4096 bytes, got a string of 7 bytes",
    );
    expect(messageFor({ clientToken: "has space in it" })).toBe(
      "invalid option clientToken: expected a token of 8 to 1024 visible ASCII characters, got a string of 15 bytes",
    );
    expect(messageFor({ secret: 1234 })).toBe("invalid option secret: expected a string of 16 to 4096 bytes, got number");
  });

  test("app must be plain JSON; the message points inside it", () => {
    expect(messageFor({ app: [1] })).toBe("invalid option app: expected a JSON object of at most 65536 bytes, got [1]");
    expect(messageFor({ app: { limits: [1, { max: Infinity }] } })).toBe(
      "invalid option app.limits[1].max: expected a JSON value (string, finite number, boolean, null, array or object), got Infinity",
    );
    expect(messageFor({ app: { when: new Date(0) } })).toBe(
      'invalid option app.when: expected a JSON value (string, finite number, boolean, null, array or object), got "1970-01-01T00:00:00.000Z"',
    );
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(messageFor({ app: deep })).toStartWith(`invalid option app${".d".repeat(33)}: expected JSON nested at most 32 levels deep, got {`);
    expect(messageFor({ app: { big: "x".repeat(70_000) } })).toMatch(
      /^invalid option app: expected a JSON object of at most 65536 bytes, got \{"big":"x+…$/,
    );
  });

  test("the options themselves must be an object", () => {
    expect(messageFor(42)).toBe("invalid options: expected an object of options, got 42");
    expect(messageFor(null)).toBe("invalid options: expected an object of options, got null");
    expect(messageFor(["fanout"])).toBe('invalid options: expected an object of options, got ["fanout"]');
  });
});

describe("constraints between options", () => {
  test("maxGossipBytes cannot exceed maxFrameBytes", () => {
    expect(messageFor({ maxGossipBytes: 2_000_000 })).toBe(
      "invalid option maxGossipBytes: expected a number from 1024 to maxFrameBytes (1048576) (bytes), got 2000000",
    );
    expect(parseNodeOptions({ maxGossipBytes: 2_000_000, maxFrameBytes: 4_000_000 }).maxGossipBytes).toBe(2_000_000);
  });

  test("an explicit maxValueBytes must fit one gossip message with its key and group", () => {
    expect(messageFor({ maxValueBytes: 300_000 })).toBe(
      "invalid option maxValueBytes: expected a number from 1 to 261376 (bytes): maxGossipBytes - 2 × maxKeyBytes - 256, so one entry fits a gossip message, got 300000",
    );
  });

  test("maxKeyBytes must leave room for a value", () => {
    expect(messageFor({ maxGossipBytes: 1024, maxKeyBytes: 1024 })).toBe(
      "invalid option maxKeyBytes: expected a number from 1 to 383 (bytes), so a key and its group fit one gossip message of maxGossipBytes (1024), got 1024",
    );
  });

  test("the client port must differ from the node port", () => {
    expect(messageFor({ address: "127.0.0.1:8081", clientPort: 8081 })).toBe(
      "invalid option clientPort: expected a port other than the node port 8081, got 8081",
    );
    expect(parseNodeOptions({ address: "127.0.0.1:0", clientPort: 0 }).clientPort).toBe(0);
  });
});

describe("cluster config patches", () => {
  test("the cluster settings are the shared ones", () => {
    expect([...CLUSTER_SETTING_KEYS]).toEqual([
      "clusterName",
      "seeds",
      "clusterNetwork",
      "gossipIntervalMs",
      "fanout",
      "maxGossipBytes",
      "pushFanout",
      "flowControl",
      "phiThreshold",
      "acceptablePauseMs",
      "minStdDeviationMs",
      "probeFanout",
      "probeTimeoutMs",
      "deadRemovalMs",
      "tombstoneGraceMs",
      "app",
    ]);
  });

  test("a valid patch comes back with only the keys it set, no defaults", () => {
    expect(parseClusterConfigPatch({ fanout: 3, app: { maxConnections: 1000 }, seeds: undefined })).toEqual({
      fanout: 3,
      app: { maxConnections: 1000 },
    });
    expect(parseClusterConfigPatch({})).toEqual({});
  });

  test("values are checked as in parseNodeOptions", () => {
    expect(optionsError(() => parseClusterConfigPatch({ gossipIntervalMs: 50 })).message).toBe(
      "invalid option gossipIntervalMs: expected a number from 100 to 60000 (ms), got 50",
    );
  });

  test("node options and unknown keys are refused", () => {
    expect(optionsError(() => parseClusterConfigPatch({ address: "127.0.0.1:1", fanot: 2 })).message).toBe(
      "invalid option address: not a cluster setting (it is set per node); invalid option fanot: unknown option (did you mean fanout?)",
    );
    expect(optionsError(() => parseClusterConfigPatch("fanout=2")).message).toBe(
      'invalid options: expected an object of options, got "fanout=2"',
    );
  });

  test("with the node's current options, maxGossipBytes must still hold an entry and fit a frame", () => {
    const current = parseNodeOptions({});
    expect(parseClusterConfigPatch({ maxGossipBytes: 100_000 }, current)).toEqual({ maxGossipBytes: 100_000 });
    expect(optionsError(() => parseClusterConfigPatch({ maxGossipBytes: 2000 }, current)).message).toBe(
      "invalid option maxGossipBytes: expected a number from 66304 to 1048576 (bytes): at least maxValueBytes + 2 × maxKeyBytes + 256 and at most maxFrameBytes of this node, got 2000",
    );
  });
});

describe("helpers", () => {
  test("editDistance and suggestClosest", () => {
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
    expect(suggestClosest("fanuot", ["fanout", "pushFanout"])).toBe("fanout");
    expect(suggestClosest("zzz", ["fanout"])).toBeUndefined();
    expect(suggestClosest("maxFrame", ["maxFrameBytes"])).toBe("maxFrameBytes");
  });

  test("describeValue: JSON, typeof for what JSON cannot show, long values shortened", () => {
    expect(describeValue("a")).toBe('"a"');
    expect(describeValue(undefined)).toBe("undefined");
    expect(describeValue(10n)).toBe("bigint");
    expect(describeValue(-Infinity)).toBe("-Infinity");
    expect(describeValue("x".repeat(200))).toBe(`"${"x".repeat(118)}…`);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describeValue(cyclic)).toBe("object");
  });

  test("formatIssue adds the source when known", () => {
    expect(formatIssue({ path: "fanout", value: 0, expected: "a number from 1 to 16", source: "GOFERBROKE_FANOUT" })).toBe(
      "invalid option fanout: expected a number from 1 to 16, got 0 (from GOFERBROKE_FANOUT)",
    );
  });
});

// createNode() option errors through the public API: each mistake gives exactly the message that
// docs/API.md documents (the strings are written out here in full: they are the user interface;
// api-docs.test.ts checks the documentation's own table against the code).

import { describe, expect, test } from "bun:test";
import { createNode, OptionsError } from "../src/index.ts";

/** The OptionsError that createNode(input) throws. */
function optionsError(input: unknown): OptionsError {
  try {
    createNode(input as never);
  } catch (error) {
    if (error instanceof OptionsError) return error;
    throw new Error(`expected an OptionsError, got ${String(error)}`);
  }
  throw new Error(`expected an OptionsError for ${JSON.stringify(input)}, but createNode() accepted it`);
}

const LONG_NAME = "a-node-name-that-is-far-too-long-to-be-accepted-by-goferbroke-0123";

const cases: [string, unknown, string][] = [
  // wrong types
  ["a string for a number", { gossipIntervalMs: "fast" }, 'invalid option gossipIntervalMs: expected a number from 100 to 60000 (ms), got "fast"'],
  ["a boolean for a number", { fanout: true }, "invalid option fanout: expected a number from 1 to 16, got true"],
  ["a fraction for an integer", { gossipIntervalMs: 150.5 }, "invalid option gossipIntervalMs: expected a whole number from 100 to 60000 (ms), got 150.5"],
  ["NaN", { fanout: Number.NaN }, "invalid option fanout: expected a number from 1 to 16, got NaN"],
  ["a string for a list", { seeds: "127.0.0.1:7946" }, 'invalid option seeds: expected a list of host:port addresses, got "127.0.0.1:7946"'],
  ["a number for a name", { name: 5 }, "invalid option name: expected a node name of 1 to 64 characters from A-Z a-z 0-9 . _ -, got 5"],
  ["a number for a secret", { secret: 12 }, "invalid option secret: expected a string of 16 to 4096 bytes, got number"],
  ["a function inside app", { app: { hook: () => 1 } }, "invalid option app.hook: expected a JSON value (string, finite number, boolean, null, array or object), got function"],
  ["options that are not an object", null, "invalid options: expected an object of options, got null"],
  ["options that are a string", "127.0.0.1:7946", 'invalid options: expected an object of options, got "127.0.0.1:7946"'],
  // an unknown network type, and other closed sets
  ["an unknown network type", { clusterNetwork: "INTERNET" }, 'invalid option clusterNetwork: expected one of LOCAL, PRIVATE, PUBLIC, DYNAMIC, got "INTERNET"'],
  ["a lower-case network type", { clusterNetwork: "local" }, 'invalid option clusterNetwork: expected one of LOCAL, PRIVATE, PUBLIC, DYNAMIC, got "local"'],
  ["an unknown mode", { mode: "leader" }, 'invalid option mode: expected one of seed, node, got "leader"'],
  // ports out of range
  ["a listen port above 65535", { address: "127.0.0.1:70000" }, 'invalid option address: expected host:port to listen on (IPv6 in brackets, port 0-65535), got "127.0.0.1:70000"'],
  ["an address without a port", { address: "127.0.0.1" }, 'invalid option address: expected host:port to listen on (IPv6 in brackets, port 0-65535), got "127.0.0.1"'],
  ["a seed on port 0", { seeds: ["127.0.0.1:7946", "127.0.0.1:0"] }, 'invalid option seeds[1]: expected host:port (IPv6 in brackets, port 1-65535), got "127.0.0.1:0"'],
  ["a seed above 65535", { seeds: ["[::1]:65536"] }, 'invalid option seeds[0]: expected host:port (IPv6 in brackets, port 1-65535), got "[::1]:65536"'],
  ["an advertise address on port 0", { advertise: "10.0.0.1:0" }, 'invalid option advertise: expected host:port that peers can dial (IPv6 in brackets, port 1-65535, not 0.0.0.0 or ::), got "10.0.0.1:0"'],
  ["an unspecified advertise address", { advertise: "0.0.0.0:7946" }, 'invalid option advertise: expected host:port that peers can dial (IPv6 in brackets, port 1-65535, not 0.0.0.0 or ::), got "0.0.0.0:7946"'],
  ["a client port above 65535", { clientPort: 70000 }, "invalid option clientPort: expected a number from 0 to 65535 (0 = ephemeral), got 70000"],
  ["a negative client port", { clientPort: -1 }, "invalid option clientPort: expected a number from 0 to 65535 (0 = ephemeral), got -1"],
  ["the client port equal to the node port", { address: "127.0.0.1:7946", clientPort: 7946 }, "invalid option clientPort: expected a port other than the node port 7946, got 7946"],
  // names
  ["a name too long", { name: LONG_NAME }, `invalid option name: expected a node name of 1 to 64 characters from A-Z a-z 0-9 . _ -, got "${LONG_NAME}"`],
  ["an empty name", { name: "" }, 'invalid option name: expected a node name of 1 to 64 characters from A-Z a-z 0-9 . _ -, got ""'],
  ["a name with a space", { name: "my node" }, 'invalid option name: expected a node name of 1 to 64 characters from A-Z a-z 0-9 . _ -, got "my node"'],
  ["a cluster name too long", { clusterName: "c".repeat(65) }, `invalid option clusterName: expected a cluster name of 1 to 64 characters from A-Z a-z 0-9 . _ -, got "${"c".repeat(65)}"`],
  // unknown options
  ["an unknown option close to a known one", { gossipInterval: 200 }, "invalid option gossipInterval: unknown option (did you mean gossipIntervalMs?)"],
  ["a Go flag name", { nodeAddr: "127.0.0.1:7946" }, "invalid option nodeAddr: unknown option (did you mean address?)"],
  ["an unknown option", { colour: "blue" }, "invalid option colour: unknown option"],
  ["an unknown tls field", { tls: { caFile: "ca.pem", certFile: "node.pem", keyFile: "node.key", verify: true } }, "invalid option tls.verify: unknown option"],
  // secrets are never echoed
  ["a secret too short", { secret: "short" }, "invalid option secret: expected a string of 16 to 4096 bytes, got a string of 5 bytes"],
  // constraints between options
  ["a gossip budget above the frame size", { maxGossipBytes: 2_000_000 }, "invalid option maxGossipBytes: expected a number from 1024 to maxFrameBytes (1048576) (bytes), got 2000000"],
  // several problems at once: all of them, joined by "; "
  ["two problems", { name: 5, fanout: 0 }, "invalid option name: expected a node name of 1 to 64 characters from A-Z a-z 0-9 . _ -, got 5; invalid option fanout: expected a number from 1 to 16, got 0"],
];

describe("createNode() option errors", () => {
  for (const [what, input, message] of cases) {
    test(`${what} → its exact message`, () => {
      const error = optionsError(input);
      expect(error.name).toBe("OptionsError");
      expect(error).toBeInstanceOf(Error);
      expect(error.message).toBe(message);
      // One issue per "; "-separated part, with the path named in the message.
      expect(error.issues.length).toBe(message.split("; invalid option").length);
      for (const issue of error.issues) expect(message).toContain(issue.path === "" ? "invalid options" : `invalid option ${issue.path}:`);
    });
  }

  test("issues carry the path, the given value and the expected form", () => {
    const error = optionsError({ seeds: ["127.0.0.1:1", 42], fanout: 17 });
    expect(error.issues).toEqual([
      { path: "seeds[1]", value: 42, expected: "host:port (IPv6 in brackets, port 1-65535)" },
      { path: "fanout", value: 17, expected: "a number from 1 to 16" },
    ]);
  });

  test("an option given as undefined counts as not given", () => {
    const node = createNode({ name: "undef", gossipIntervalMs: undefined, seeds: undefined });
    expect(node.options.gossipIntervalMs).toBe(1000);
    expect(node.options.seeds).toEqual([]);
  });

  test("valid options at their bounds are accepted", () => {
    const node = createNode({
      name: "n".repeat(64),
      address: "[::1]:65535",
      advertise: "10.0.0.1:1",
      seeds: ["127.0.0.1:1", "[::1]:65535", "seed.example.com:7946"],
      clusterNetwork: "DYNAMIC",
      gossipIntervalMs: 100,
      fanout: 16,
      phiThreshold: 1.5,
      clientPort: 0,
      secret: "s".repeat(16),
    });
    expect(node.name).toBe("n".repeat(64));
    expect(node.options.phiThreshold).toBe(1.5);
  });
});

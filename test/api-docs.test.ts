// docs/API.md against the code, through the public API: every option, Node member, event type and
// Go name is documented; documented defaults, bounds and closed sets are the code's; every exact
// error message in the documentation is what the code produces.

import { describe, expect, test } from "bun:test";
import { hostname } from "node:os";
import { join } from "node:path";
import { OPTIONS } from "../src/config/options-table.ts";
import { createNode, EventType, GO_EVENT_NUMBERS, GO_EVENTS_WITHOUT_EQUIVALENT, type GoEventNumber, UnsupportedEventError, type GossipEventType, type Node, type NodeOptionsInput, OptionsError } from "../src/index.ts";

const doc = await Bun.file(join(import.meta.dir, "..", "docs", "API.md")).text();

/** The rows of the markdown table whose header line starts with `header`, as trimmed cells. */
function table(header: string): string[][] {
  const lines = doc.split("\n");
  const start = lines.findIndex((line) => line.startsWith(header));
  if (start < 0) throw new Error(`docs/API.md has no table starting with ${header}`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()));
  }
  return rows;
}

/** `text` → text; anything else unchanged. */
function unquote(cell: string): string {
  const match = /^`([^`]*)`$/.exec(cell);
  return match ? match[1]! : cell;
}

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof OptionsError) return error.message;
    throw error;
  }
  return "(accepted)";
}

// Compile-time completeness: adding an option, a Node member or an event type without listing it
// here fails `tsc --noEmit`; the tests below then require the listed names in the documentation.
const OPTION_NAMES: Record<keyof NodeOptionsInput, true> = {
  name: true, clusterName: true, generation: true, mode: true, address: true, advertise: true, seeds: true,
  clusterNetwork: true, clientPort: true, clientBind: true, clientToken: true, clientInsecure: true, tls: true, secret: true, encryptKeys: true, encryptPlainWindow: true,
  dataDir: true, restoreEntries: true, retryLogIntervalMs: true, dnsServers: true, dnsRefreshIntervalMs: true,
  gossipIntervalMs: true, fanout: true, maxGossipBytes: true, pushFanout: true, flowControl: true, maxFrameBytes: true,
  phiThreshold: true, acceptablePauseMs: true, minStdDeviationMs: true, probeFanout: true, probeTimeoutMs: true,
  deadRemovalMs: true, tombstoneGraceMs: true, maxKeyBytes: true, maxValueBytes: true, maxEntriesPerNode: true, maxMembers: true,
  maxConnections: true, logLevel: true, logFormat: true, queryHandlers: true, app: true,
};
const NODE_MEMBERS: Record<keyof Node, true> = {
  name: true, generation: true, options: true, address: true, start: true, join: true, forceLeave: true, stop: true, set: true, delete: true,
  waitApplied: true, broadcast: true, query: true, onQuery: true, get: true, getEntry: true, entries: true, nodes: true, members: true, flowControl: true, on: true, onEvent: true,
  clusterConfig: true, configAgreement: true, updateClusterConfig: true, running: true, stats: true, inspect: true, keys: true,
};
const EVENT_TYPES: Record<GossipEventType, true> = {
  "entry-added": true, "entry-updated": true, "entry-deleted": true, "entry-expired": true,
  "node-joined": true, "node-suspect": true, "node-alive": true, "node-dead": true, "node-left": true, "node-removed": true,
  "config-changed": true, "gossip-overload": true, "connection-opened": true, "connection-closed": true,
  "connection-refused": true, error: true, "user-event": true,
};

describe("options table", () => {
  const rows = table("| Option | Type | Default | Accepted | Scope |");
  const byName = new Map(rows.map((row) => [unquote(row[0]!), row]));
  const defaults = createNode({}).options as Record<string, unknown>;

  test("documents every option, once, and nothing else", () => {
    expect(rows.map((row) => unquote(row[0]!)).sort()).toEqual(Object.keys(OPTION_NAMES).sort());
    // Each documented name is known to createNode() (an unknown one would say "unknown option").
    for (const name of byName.keys()) expect(messageOf(() => createNode({ [name]: Symbol("x") } as never))).not.toContain("unknown option");
  });

  test("literal defaults are the defaults createNode() applies", () => {
    let checked = 0;
    for (const [name, row] of byName) {
      const cell = row[2]!;
      if (!/^`[^`]*`$/.test(cell)) continue; // described in words
      expect({ name, value: defaults[name] }).toEqual({ name, value: JSON.parse(unquote(cell)) });
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(20);
    // Options documented without a default are absent from the validated options.
    for (const name of ["generation", "advertise", "clientPort", "clientToken", "tls", "secret", "app"]) {
      expect(byName.get(name)![2]).not.toMatch(/^`[^`]*`$/);
      expect({ name, value: defaults[name] }).toEqual({ name, value: undefined });
    }
  });

  test("the default name is the host name, cleaned as documented", () => {
    const cleaned = hostname().replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64) || "node";
    expect(createNode({}).name).toBe(cleaned);
    expect(byName.get("name")![2]).toContain("host name");
  });

  test("numeric bounds are the code's: just outside each bound is refused with that range", () => {
    let checked = 0;
    for (const [name, row] of byName) {
      const bounds = /^(\d+) to (\d+)\b/.exec(row[3]!);
      if (!bounds || !/^(integer|number)/.test(row[1]!)) continue;
      const [min, max] = [Number(bounds[1]), Number(bounds[2])];
      const range = `invalid option ${name}: expected a number from ${min} to ${max}`;
      for (const outside of [min - 1, max + 1]) {
        const message = messageOf(() => createNode({ [name]: outside } as never));
        expect({ name, outside, ok: message.startsWith(range) && message.endsWith(`, got ${outside}`) }).toEqual({ name, outside, ok: true });
      }
      if (row[1]!.startsWith("integer")) {
        const message = messageOf(() => createNode({ [name]: min + 0.5 } as never));
        expect({ name, message }).toEqual({ name, message: expect.stringContaining(`expected a whole number from ${min} to ${max}`) });
      }
      checked++;
    }
    // Every numeric option of the table but maxGossipBytes and maxValueBytes, whose upper bounds
    // depend on other options.
    const numeric = Object.values(OPTIONS).filter((spec) => spec.kind === "integer" || spec.kind === "number").length;
    expect(checked).toBe(numeric - 2);
  });

  test("closed sets are the code's: each listed value is accepted, anything else names them all", () => {
    let checked = 0;
    for (const [name, row] of byName) {
      const set = /^one of ((?:`[^`]+`(?:, )?)+)/.exec(row[3]!);
      if (!set) continue;
      const values = [...set[1]!.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
      for (const value of values) expect({ name, value, message: messageOf(() => createNode({ [name]: value } as never)) }).toEqual({ name, value, message: "(accepted)" });
      expect(messageOf(() => createNode({ [name]: "nope" } as never))).toBe(`invalid option ${name}: expected one of ${values.join(", ")}, got "nope"`);
      checked++;
    }
    expect(checked).toBe(3); // clusterNetwork, logLevel, logFormat
  });

  test("scope: cluster options are accepted by updateClusterConfig(), node options are refused by it", () => {
    const node = createNode({ name: "scope" });
    for (const [name, row] of byName) {
      const scope = row[4];
      const message = messageOf(() => node.updateClusterConfig({ [name]: Symbol("x") }));
      const refusedAsNodeOption = message === `invalid option ${name}: not a cluster setting (it is set per node)`;
      expect({ name, scope, refusedAsNodeOption }).toEqual({ name, scope, refusedAsNodeOption: scope === "node" });
    }
  });
});

describe("error message tables", () => {
  test("every createNode() example gives exactly the documented message", () => {
    const rows = table("| Input | `error.message` |");
    expect(rows.length).toBeGreaterThanOrEqual(15);
    for (const [input, message] of rows) {
      const value: unknown = new Function(`return (${unquote(input!)});`)();
      expect({ input, message: messageOf(() => createNode(value as never)) }).toEqual({ input, message: unquote(message!) });
    }
  });

  test("every updateClusterConfig() example gives exactly the documented message", () => {
    const rows = table("| Patch | `error.message` |");
    const node = createNode({ name: "doc-patch", clusterName: "doc-cluster" });
    for (const [input, message] of rows) {
      const patch = new Function(`return (${unquote(input!)});`)() as Record<string, unknown>;
      // <placeholders> stand for values that depend on the node.
      const pattern = new RegExp(`^${unquote(message!).replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/<[^>]+>/g, ".+")}$`);
      expect({ input, message: messageOf(() => node.updateClusterConfig(patch)) }).toEqual({ input, message: expect.stringMatching(pattern) });
    }
    expect(rows.length).toBe(3);
  });

  test("the messages the other tests assert are documented word for word", () => {
    for (const message of [
      'invalid option gossipIntervalMs: expected a number from 100 to 60000 (ms), got "fast"',
      'invalid option clusterNetwork: expected one of LOCAL, PRIVATE, PUBLIC, DYNAMIC, got "INTERNET"',
      'invalid option address: expected host:port to listen on (IPv6 in brackets, port 0-65535), got "127.0.0.1:70000"',
      "invalid option clientPort: expected a number from 0 to 65535 (0 = ephemeral), got 70000",
      "invalid option gossipInterval: unknown option (did you mean gossipIntervalMs?)",
      "invalid option colour: unknown option",
      "invalid option name: not a cluster setting (it is set per node)",
    ]) {
      expect(doc).toContain(`\`${message}\``);
    }
  });
});

describe("Node, events and Go names", () => {
  test("every Node member is documented", () => {
    const rows = table("| Member | Description |");
    const documented = rows.map((row) => /^`(\w+)/.exec(row[0]!)?.[1]);
    expect(documented.sort()).toEqual(Object.keys(NODE_MEMBERS).sort());
    // And each is really there.
    const node = createNode({ name: "doc-members" });
    for (const name of Object.keys(NODE_MEMBERS)) expect({ name, present: name in node }).toEqual({ name, present: true });
  });

  test("every event type is documented with its Go name", () => {
    const rows = table("| Type | Go name (`EventType.…`) | Fields | When |");
    expect(rows.map((row) => unquote(row[0]!)).sort()).toEqual(Object.keys(EVENT_TYPES).sort());
    for (const row of rows) {
      const goName = unquote(row[1]!) as keyof typeof EventType;
      expect({ goName, type: EventType[goName] }).toEqual({ goName, type: unquote(row[0]!) as GossipEventType });
    }
  });

  test("the Go-name table is exactly EventType", () => {
    const rows = table("| `EventType.` | Event type | Go SDK number |");
    const documented = Object.fromEntries(rows.map((row) => [unquote(row[0]!), unquote(row[1]!)]));
    expect(documented).toEqual({ ...EventType });
    // The four the Go SDK fires carry its numbers.
    const numbers = Object.fromEntries(rows.filter((row) => row[2] !== "—").map((row) => [unquote(row[0]!), Number(row[2])]));
    expect(numbers).toEqual({ NewDeltaAdded: 1, DeltaUpdated: 2, NewParticipantAdded: 3, ParticipantMarkedDead: 5 });
    expect(Object.fromEntries(Object.entries(GO_EVENT_NUMBERS).map(([number, type]) => [type, Number(number)]))).toEqual(
      Object.fromEntries(Object.entries(numbers).map(([name, number]) => [EventType[name as keyof typeof EventType], number])),
    );
  });

  test("the table of Go events without an equivalent is exactly the ones onEvent() refuses", () => {
    const rows = table("| Go event (number) | Use instead |");
    const documented = Object.fromEntries(rows.map((row) => {
      const [, name, number] = /^`(\w+)` \((\d+)\)$/.exec(row[0]!) ?? [];
      return [name, Number(number)];
    }));
    expect(documented).toEqual(Object.fromEntries(Object.entries(GO_EVENTS_WITHOUT_EQUIVALENT).map(([name, { number }]) => [name, number])));
    const node = createNode({ name: "doc-go-events" });
    for (const number of Object.values(documented)) expect(() => node.onEvent(number as GoEventNumber, () => {})).toThrow(UnsupportedEventError);
  });
});

// DNS discovery against a DNS server the test runs (UDP on loopback, test/support/dns-server.ts):
// a seed given as a host name expands to all its A and AAAA records, is resolved again every
// --dns-refresh-interval, members that appear behind the name are joined, and a name that fails
// is logged at a bounded rate. Real processes listen on 127.0.0.2-4 (all loopback) at one port,
// so one name can stand for all of them, as a headless service does.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { DnsSeeds, splitSeeds } from "../src/node/dns-seeds.ts";
import { TestDnsServer } from "./support/dns-server.ts";
import { freePort, killAll, logLines, startNodeWithArgs, waitAllAlive, waitFor, waitForLog, waitHealthy, type NodeProcess } from "./support/node-processes.ts";

setDefaultTimeout(60_000);

const NAME = "members.gofer.test";
let dns: TestDnsServer;
let port: number;

beforeAll(async () => {
  dns = await TestDnsServer.start();
  port = await freePort();
});

afterAll(async () => {
  await killAll();
  dns.close();
});

async function startAt(name: string, ip: string, extra: string[] = []): Promise<NodeProcess> {
  const clientPort = await freePort();
  const node = startNodeWithArgs({
    name,
    nodePort: port,
    clientPort,
    args: [`-name=${name}`, `-nodeAddr=${ip}:${port}`, `-clientPort=${clientPort}`, "--gossip-interval=200ms", "--log-format=json", "--log-level=info", ...extra],
  });
  await waitHealthy(node);
  return node;
}

describe("seeds given as a host name, resolved through --dns-servers", () => {
  test("join every address behind the name, and later ones as they appear; failures are logged at a bounded rate", async () => {
    dns.records.set(NAME, ["127.0.0.2"]);
    const first = await startAt("first", "127.0.0.2");
    const third = await startAt("third", "127.0.0.4"); // not behind the name yet: nobody knows it
    const dnsFlags = [`-routes=${NAME}:${port}`, `--dns-servers=${dns.address}`, "--dns-refresh-interval=1s", "--retry-log-interval=60s"];
    const joiner = await startAt("joiner", "127.0.0.3", dnsFlags);
    await waitAllAlive([first, joiner], ["first", "joiner"], 15_000);
    await waitForLog(joiner, "the resolved name", (line) => line.msg === `seed name ${NAME} resolves to 127.0.0.2`);
    expect(dns.queries).toContain(`${NAME} 1`); // A
    expect(dns.queries).toContain(`${NAME} 28`); // AAAA

    // A member appears behind the name: the next refresh (1 s) joins it.
    dns.records.set(NAME, ["127.0.0.2", "127.0.0.4"]);
    const joinedMs = await waitAllAlive([first, joiner, third], ["first", "joiner", "third"], 15_000);
    console.log(`third joined ${Math.round(joinedMs)} ms after it appeared behind ${NAME} (refresh 1 s)`);

    // The server fails for about 4 refreshes: one warning, not four.
    const failedFrom = logLines(joiner).length;
    dns.failing = true;
    const queriesBefore = dns.queries.length;
    await waitFor("four failed refreshes (an A and an AAAA query each)", () => dns.queries.length >= queriesBefore + 8, 15_000);
    dns.failing = false;
    await waitForLog(joiner, "the name resolving again", (line) => line.msg === `seed name ${NAME} resolves again`, 10_000);
    const warnings = logLines(joiner).slice(failedFrom).filter((line) => line.msg.startsWith(`could not resolve seed name ${NAME}`));
    expect(warnings.length).toBe(1);
    expect(warnings[0]!.msg).toContain("retrying");
  });
});

describe("DnsSeeds", () => {
  test("expands a name to its A and AAAA records, and joins them all with the seed's port", async () => {
    dns.records.set("both.gofer.test", ["10.1.2.3", "10.1.2.4", "fd00::7"]);
    const joined: string[][] = [];
    const seeds = new DnsSeeds({
      seeds: splitSeeds(["both.gofer.test:7946", "10.9.9.9:1"]).names,
      servers: [dns.address],
      refreshIntervalMs: 60_000,
      retryLogIntervalMs: 60_000,
      join: async (addresses) => (joined.push([...addresses]), 1),
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    try {
      await seeds.refresh();
    } finally {
      seeds.stop();
    }
    expect(joined).toEqual([["10.1.2.3:7946", "10.1.2.4:7946", "[fd00::7]:7946"]]);
  });

  test("splitSeeds keeps IP literals for the transport and hands names to DNS", () => {
    expect(splitSeeds(["a.example:1", "127.0.0.1:2", "[::1]:3", "localhost:4"])).toEqual({
      names: [{ host: "a.example", port: 1 }, { host: "localhost", port: 4 }],
      literals: ["127.0.0.1:2", "[::1]:3"],
    });
  });
});

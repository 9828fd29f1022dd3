// The README's main command: a local 3-node cluster over real TCP on 127.0.0.1. It writes a key
// on one node, shows it arriving on the others with the events they raise, shows membership,
// stops one node gracefully, and shuts everything down. Finishes in a few seconds.
import { createNode, type Node } from "../src/index.ts";
import { createLogger } from "../src/cli/logging.ts";

const intervalMs = 200;
const logLevel = process.argv.includes("--verbose") ? "info" : "error";
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(2)}s`;
const say = (line: string) => console.log(`[${elapsed()}] ${line}`);

const nodes: Node[] = [];
try {
  const seed = createNode({ name: "alpha", address: "127.0.0.1:0", gossipIntervalMs: intervalMs, mode: "seed" }, { logger: createLogger(logLevel, "pretty", "alpha") });
  await seed.start();
  nodes.push(seed);
  say(`alpha listening on ${seed.address} (seed)`);
  for (const name of ["bravo", "charlie"]) {
    const node = createNode({ name, address: "127.0.0.1:0", seeds: [seed.address], gossipIntervalMs: intervalMs }, { logger: createLogger(logLevel, "pretty", name) });
    node.on("entry-added", (event) => say(`${name} saw ${event.node}'s ${event.group}/${event.key} = ${JSON.stringify(event.value)} (${event.valueType}, version ${event.version})`));
    node.on("node-left", (event) => say(`${name} saw ${event.node} leave`));
    await node.start();
    nodes.push(node);
    say(`${name} listening on ${node.address}, joining via ${seed.address}`);
  }

  await waitFor("every node to see all three members", () => nodes.every((node) => node.members().filter((m) => m.state === "alive").length === 3), 10_000);
  printMembers(nodes[1]!);

  say(`alpha sets features/dark-mode = true`);
  const writeAt = performance.now();
  seed.set("features", "dark-mode", true);
  await waitFor("the write to reach bravo and charlie", () => nodes.every((node) => node.get("alpha", "features", "dark-mode") === true), 10_000);
  say(`write visible on all 3 nodes after ${(performance.now() - writeAt).toFixed(0)} ms`);

  say(`charlie stops gracefully (leave)`);
  await nodes[2]!.stop();
  await waitFor("alpha and bravo to mark charlie as left", () => nodes.slice(0, 2).every((node) => node.members().find((m) => m.name === "charlie")?.state === "left"), 10_000);
  printMembers(seed);
} finally {
  for (const node of nodes) await node.stop();
}
say("cluster stopped cleanly");

async function waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}

function printMembers(node: Node): void {
  say(`membership as ${node.name} sees it:`);
  console.table(node.members().map((m) => ({ name: m.name, address: m.address, state: m.state, phi: Number(m.phi.toFixed(2)), heartbeat: m.heartbeat })));
}

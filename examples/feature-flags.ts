// Feature flags across a 3-node cluster: a flag toggled on one node is seen by every node, each
// reacting to the change through an event. Each node publishes the flags it owns; every node
// reads any node's flags.
//   npx bun examples/feature-flags.ts   (from a checkout after npm ci; with Bun installed, bun examples/feature-flags.ts)
// In an application, import from "goferbroke" instead of the relative path.
import { createNode, type Node } from "../src/index.ts";

const GROUP = "features";
const options = { address: "127.0.0.1:0", gossipIntervalMs: 200, clusterName: "flags-demo" };
const nodes: Node[] = [];
try {
  // "control" owns the flags; "web-1" and "web-2" follow them.
  for (const name of ["control", "web-1", "web-2"]) {
    const seeds = nodes.length === 0 ? [] : [nodes[0]!.address];
    const node = createNode({ ...options, name, seeds });
    // Every node (the one that toggles included: its events are marked local) reacts to flags.
    node.on("entry-added", (event) => {
      if (event.group === GROUP) console.log(`${name}: flag ${event.key} = ${event.value} (new, from ${event.node}${event.local ? ", local" : ""})`);
    });
    node.on("entry-updated", (event) => {
      if (event.group === GROUP) console.log(`${name}: flag ${event.key} = ${event.value} (was ${event.previous?.value}, from ${event.node}${event.local ? ", local" : ""})`);
    });
    await node.start();
    nodes.push(node);
  }
  const [control] = nodes as [Node, Node, Node];
  await waitFor("all three nodes to see each other", () => nodes.every((node) => node.members().filter((m) => m.state === "alive").length === 3));

  const flag = (node: Node, key: string) => node.get(control.name, GROUP, key);
  const everywhere = (key: string, value: boolean) => () => nodes.every((node) => flag(node, key) === value);

  console.log("control: dark-mode off, new-checkout off");
  control.set(GROUP, "dark-mode", false);
  control.set(GROUP, "new-checkout", false);
  await waitFor("both flags everywhere", () => everywhere("dark-mode", false)() && everywhere("new-checkout", false)());

  console.log("control: toggling dark-mode on");
  const started = performance.now();
  control.set(GROUP, "dark-mode", true);
  await waitFor("dark-mode on everywhere", everywhere("dark-mode", true));
  console.log(`dark-mode on at all ${nodes.length} nodes after ${(performance.now() - started).toFixed(0)} ms`);

  for (const node of nodes) {
    console.log(`${node.name} sees: dark-mode=${flag(node, "dark-mode")} new-checkout=${flag(node, "new-checkout")}`);
  }
} finally {
  for (const node of nodes) await node.stop();
}
console.log("stopped");

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

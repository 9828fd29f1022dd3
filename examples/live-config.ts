// Live cluster configuration: one node pushes `app: { maxConnections: 1000 }` to the whole cluster
// with updateClusterConfig(); every node raises config-changed and prints the value it now sees.
//   npx bun examples/live-config.ts   (from a checkout after npm ci; with Bun installed, bun examples/live-config.ts)
// In an application, import from "goferbroke" instead of the relative path.
import { createNode, type Node } from "../src/index.ts";

interface AppSettings {
  maxConnections?: number;
}

const options = { address: "127.0.0.1:0", gossipIntervalMs: 200, clusterName: "config-demo" };
const nodes: Node[] = [];
const applied = new Set<string>();
try {
  for (const name of ["alpha", "bravo", "charlie"]) {
    const seeds = nodes.length === 0 ? [] : [nodes[0]!.address];
    const node = createNode({ ...options, name, seeds });
    node.on("config-changed", (event) => {
      // The event says what changed; the document holds the values.
      const app = (node.clusterConfig().settings.app ?? {}) as AppSettings;
      console.log(`${name}: config version ${event.version} from ${event.node}: maxConnections = ${app.maxConnections}`);
      applied.add(name);
    });
    await node.start();
    nodes.push(node);
  }
  const [alpha] = nodes as [Node, Node, Node];
  await waitFor("all three nodes to see each other", () => nodes.every((node) => node.members().filter((m) => m.state === "alive").length === 3));
  for (const node of nodes) console.log(`${node.name}: maxConnections = ${(node.clusterConfig().settings.app as AppSettings | undefined)?.maxConnections} (config version ${node.clusterConfig().version})`);

  console.log("alpha: updateClusterConfig({ app: { maxConnections: 1000 } })");
  const document = alpha.updateClusterConfig({ app: { maxConnections: 1000 } });
  console.log(`alpha: published config version ${document.version}`);
  await waitFor("every node to apply it", () => applied.size === nodes.length);
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

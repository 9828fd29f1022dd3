// Two nodes: bravo subscribes to entry events, alpha writes. Each change made on alpha arrives on
// bravo as one event, with the previous value and version for updates and deletes.
//   npx bun examples/two-nodes-events.ts   (from a checkout after npm ci; with Bun installed, bun examples/two-nodes-events.ts)
// In an application, import from "goferbroke" instead of the relative path.
import { createNode, type Node, type Value } from "../src/index.ts";

const options = { address: "127.0.0.1:0", gossipIntervalMs: 200 };
const nodes: Node[] = [];
try {
  const alpha = createNode({ ...options, name: "alpha" });
  nodes.push(alpha);
  await alpha.start();
  // bravo joins through alpha (its seed), so it is made once alpha's port is known.
  const bravo = createNode({ ...options, name: "bravo", seeds: [alpha.address] });
  nodes.push(bravo);

  // Subscribing works before start() (as here) and after; on() returns the unsubscribe function.
  const changes: string[] = [];
  bravo.on("node-joined", (event) => console.log(`bravo: ${event.node} joined`));
  bravo.on("entry-added", (event) => {
    changes.push(`added ${event.key}`);
    console.log(`bravo: ${event.node} added ${event.group}/${event.key} = ${show(event.value)} (${event.valueType}, version ${event.version})`);
  });
  bravo.on("entry-updated", (event) => {
    changes.push(`updated ${event.key}`);
    console.log(`bravo: ${event.node} updated ${event.group}/${event.key}: ${show(event.previous?.value)} (version ${event.previous?.version}) -> ${show(event.value)} (version ${event.version})`);
  });
  bravo.on("entry-deleted", (event) => {
    changes.push(`deleted ${event.key}`);
    console.log(`bravo: ${event.node} deleted ${event.group}/${event.key} (was ${show(event.value)}, version ${event.version})`);
  });
  // A handler that throws is isolated and reported as an "error" event (the default logger is
  // silent, so this is where such failures show up).
  bravo.on("error", (event) => console.error(`bravo: ${event.source} failed: ${event.error.message}`));
  await bravo.start();
  await waitFor("bravo to join alpha", () => bravo.members().filter((m) => m.state === "alive").length === 2);

  // Each step waits for its event, so bravo sees every intermediate value.
  alpha.set("inventory", "apples", 3n);
  await waitFor("the add on bravo", () => changes.includes("added apples"));
  alpha.set("inventory", "apples", 5n);
  await waitFor("the update on bravo", () => changes.includes("updated apples"));
  alpha.delete("inventory", "apples");
  await waitFor("the delete on bravo", () => changes.includes("deleted apples"));
  console.log(`bravo saw: ${changes.join(", ")}`);
} finally {
  for (const node of nodes) await node.stop();
}
console.log("stopped");

/** Values as text; JSON.stringify alone cannot show a bigint. */
function show(value: Value | undefined): string {
  return typeof value === "bigint" ? `${value}n` : JSON.stringify(value);
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

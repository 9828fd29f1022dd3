// The control bus on three nodes: a user event every node raises once, a query that asks the
// nodes an entry condition chooses and streams their answers back, and a write confirmed on every
// live node (waitApplied).
//   bun examples/control-bus.ts
// In an application, import from "goferbroke" instead of the relative path.
import { createNode, type Node } from "../src/index.ts";

const options = { address: "127.0.0.1:0", gossipIntervalMs: 100 };
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const nodes: Node[] = [];
try {
  const control = createNode({ ...options, name: "control" });
  nodes.push(control);
  await control.start();
  for (const name of ["web-1", "web-2"]) {
    const node = createNode({ ...options, name, seeds: [control.address] });
    nodes.push(node);
    // Every node says what it is (an entry) and answers the "version" query.
    node.set("role", "tier", "frontend");
    node.onQuery("version", ({ payload }) => `${name} runs ${text(payload) === "full" ? "v2.1.0 (build 417)" : "v2.1.0"}`);
    await node.start();
  }
  // A handler may be async; what it returns (a string or bytes, at most 8 KiB) is its answer.
  control.onQuery("version", async () => "control runs v2.1.0");
  await waitFor("every node to see the other two, with their role entries", () =>
    nodes.every((node) => node.members().filter((m) => m.state === "alive").length === 3) &&
    ["web-1", "web-2"].every((name) => control.get(name, "role", "tier") === "frontend"));

  // 1. User events: every live node raises it once, the sender included.
  const seen: string[] = [];
  for (const node of nodes) node.on("user-event", (event) => {
    seen.push(`${node.name} got ${event.name} ${text(event.payload)} from ${event.node}`);
  });
  control.broadcast("deploy", "v2.1.0");
  await waitFor("the deploy event on every node", () => seen.length === 3);
  for (const line of seen.sort()) console.log(line);

  // 2. A query to the frontends only, acks requested: items stream in as nodes answer.
  for await (const item of control.query("version", "full", { filter: { group: "role", key: "tier", value: "frontend" }, requestAck: true, timeoutMs: 2_000 })) {
    if (item.type === "summary") console.log(`query version: asked ${item.asked.length}, acked ${item.acked.length}, answered ${item.responded.length}, missing ${item.missing.length}`);
    else if (item.type === "response") console.log(`  answer from ${item.from}: ${text(item.payload)}`);
  }
  // Or just the summary: every node this time, the asker included.
  const everyone = await control.query("version", "", { timeoutMs: 2_000 }).summary;
  console.log(`everyone answered: ${everyone.responded.sort().join(", ")}`);

  // 3. Applied everywhere: resolves once every live member holds the write.
  const version = control.set("features", "dark-mode", true);
  const applied = await control.waitApplied(version, { timeoutMs: 5_000 });
  console.log(`dark-mode applied on ${applied.holding.sort().join(", ")}: ${applied.applied}`);
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

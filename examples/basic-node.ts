// One node on its own: start it, write a few typed values, read them back, stop.
//   npx bun examples/basic-node.ts   (from a checkout after npm ci; with Bun installed, bun examples/basic-node.ts)
// In an application, import from "goferbroke" instead of the relative path.
import { createNode } from "../src/index.ts";

// Port 0 picks a free port; `name` defaults to the host name.
const node = createNode({ name: "basic", address: "127.0.0.1:0" });
await node.start();
try {
  console.log(`node ${node.name} listening on ${node.address}`);

  // Every set() returns the entry's new version (a per-node counter).
  const version = node.set("greeting", "hello", "world");
  node.set("stats", "visits", 41n); // bigint → int64
  node.set("stats", "load", 0.75); // number → float64
  node.set("profile", "settings", { theme: "dark", languages: ["en", "fr"] }); // object → JSON
  console.log(`set greeting/hello = "world" (version ${version})`);

  // A node reads its own entries (and any other node's) by node name.
  const entry = node.getEntry(node.name, "greeting", "hello");
  console.log(`get greeting/hello -> ${JSON.stringify(entry?.value)} (${entry?.type}, version ${entry?.version})`);
  node.set("stats", "visits", (node.get(node.name, "stats", "visits") as bigint) + 1n);
  console.log(`stats/visits is now ${node.get(node.name, "stats", "visits")} (int)`);
  console.log(`profile/settings.theme is ${(node.get(node.name, "profile", "settings") as { theme: string }).theme} (json)`);

  node.delete("greeting", "hello");
  console.log(`after delete: greeting/hello -> ${node.get(node.name, "greeting", "hello")}`);
  console.log(`entries: ${node.entries(node.name).map((e) => `${e.group}/${e.key}`).sort().join(", ")}`);
} finally {
  await node.stop();
}
console.log("stopped");

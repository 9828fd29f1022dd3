// Writes snapshots into a data directory as fast as it can, each with the next generation, for
// test/ops-data-dir.test.ts to kill with SIGKILL in the middle of a write. It prints "writing"
// once, so the test knows writes are under way, and uses the node's own DataDir code.
//   bun test/support/snapshot-writer.ts DIR FIRST_GENERATION

import { DataDir } from "../../src/node/data-dir.ts";
import { silentLogger } from "../../src/log.ts";

const [dir, first] = process.argv.slice(2);
const dataDir = new DataDir(dir!, silentLogger);
const members = Array.from({ length: 300 }, (_, i) => ({ name: `member-${i}`, address: `127.0.0.1:${10_000 + i}` }));
// ~1.5 MB of entries: a write takes long enough that most kills land inside one.
const entries = Array.from({ length: 2000 }, (_, i) => ({ group: "g", key: `k${i}`, type: 0, value: Buffer.alloc(512, i % 251).toString("base64") }));
let generation = Number(first);
dataDir.save({ generation, members, entries });
console.log("writing");
for (;;) dataDir.save({ generation: ++generation, members, entries });

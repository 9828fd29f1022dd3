import { expect, test } from "bun:test";
import { protocolDocPath, renderedBlocks, replaceBlocks } from "../scripts/protocol-doc.ts";

test("docs/PROTOCOL.md section 7 matches the layout comments in the handshake and membership sources", async () => {
  const doc = await Bun.file(protocolDocPath).text();
  const blocks = await renderedBlocks();
  for (const block of blocks.values()) expect(block.length).toBeGreaterThan(500);
  // Re-rendering changes nothing: run `bun scripts/protocol-doc.ts` after changing a layout.
  expect(replaceBlocks(doc, blocks)).toBe(doc);
});

// Section 7 of docs/PROTOCOL.md (handshake, membership and keyring bodies) is copied from the comments at
// the top of the modules that implement them, so the two cannot drift apart:
//   bun scripts/protocol-doc.ts          rewrites the section from the sources
// test/protocol-doc.test.ts checks that the document holds what this renders.
import { join } from "node:path";

const root = join(import.meta.dir, "..");
export const protocolDocPath = join(root, "docs", "PROTOCOL.md");
const sources = [
  { file: "src/codec/handshake.ts", marker: "7.1" },
  { file: "src/codec/probe-messages.ts", marker: "7.2" },
  { file: "src/codec/keyring-messages.ts", marker: "7.4" },
] as const;

/** The leading `//` comment block of a source file, without the comment markers. */
export async function leadingComment(relativePath: string): Promise<string> {
  const text = await Bun.file(join(root, relativePath)).text();
  const lines: string[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("//")) break;
    lines.push(line.replace(/^\/\/ ?/, ""));
  }
  return lines.join("\n").trim();
}

/** The fenced block of each subsection of section 7, keyed by subsection number. */
export async function renderedBlocks(): Promise<Map<string, string>> {
  const blocks = new Map<string, string>();
  for (const source of sources) blocks.set(source.marker, "```text\n" + (await leadingComment(source.file)) + "\n```");
  return blocks;
}

/** Replaces the first fenced block after each "### 7.x" heading with the rendered one. */
export function replaceBlocks(doc: string, blocks: Map<string, string>): string {
  let result = doc;
  for (const [marker, block] of blocks) {
    const heading = result.indexOf(`### ${marker} `);
    if (heading < 0) throw new Error(`docs/PROTOCOL.md has no "### ${marker}" heading`);
    const start = result.indexOf("```text\n", heading);
    const end = result.indexOf("\n```", start + 8);
    if (start < 0 || end < 0) throw new Error(`no fenced block under "### ${marker}"`);
    result = result.slice(0, start) + block + result.slice(end + 4);
  }
  return result;
}

if (import.meta.main) {
  const doc = await Bun.file(protocolDocPath).text();
  await Bun.write(protocolDocPath, replaceBlocks(doc, await renderedBlocks()));
  console.log("docs/PROTOCOL.md section 7 rewritten from the sources");
}

// A `goferbroke` node process that also answers queries: started with exactly the CLI's flags
// (test/support/node-processes.ts passes them), it runs the node as the CLI does (runNode, client
// port included) and registers two handlers, as an application embedding GoferBroke would:
//   whoami   answers "<node name>:<payload>"
//   sleep    waits <payload> ms (at most 60 s), then answers "<node name> slept"
// Query tests and the Serf comparison run clusters of these.

import { parseCliArgs } from "../../src/config/flags.ts";
import { resolveNodeOptions } from "../../src/config/merge.ts";
import { createLogger } from "../../src/cli/logging.ts";
import { runNode } from "../../src/cli/run-node.ts";

const parsed = parseCliArgs(process.argv.slice(2));
const { options } = await resolveNodeOptions({ flags: parsed.flags, env: process.env as Record<string, string | undefined>, files: parsed.configFiles });
const logger = createLogger(options.logLevel, options.logFormat, options.name);
const daemon = await runNode(options, logger);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
daemon.node.onQuery("whoami", ({ payload }) => `${daemon.node.name}:${text(payload)}`);
daemon.node.onQuery("sleep", async ({ payload }) => {
  await Bun.sleep(Math.min(Number(text(payload)) || 0, 60_000));
  return `${daemon.node.name} slept`;
});
process.exit(await daemon.finished);

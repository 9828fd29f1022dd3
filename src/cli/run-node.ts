// `goferbroke` without a subcommand: runs a node (and its client port, when one is set) until
// SIGINT or SIGTERM. The first signal leaves gracefully; a second one exits at once.

import type { AdminServer } from "../admin/index.ts";
import { createNode, type Node } from "../create-node.ts";
import type { NodeOptions, TlsOptions } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { QueryCommands } from "./query-handlers.ts";

export interface RunningDaemon {
  node: Node;
  admin: AdminServer | null;
  /** Resolves with the exit code once the node has stopped. */
  finished: Promise<number>;
}

/** A configured file the node cannot read: a configuration error (exit 2), found before anything starts. */
export class ConfigFileError extends Error {
  override readonly name = "ConfigFileError";
}

/**
 * `keyringFile`: where the encryption keyring came from; `goferbroke keys` changes are written back
 * to it. `jitPolicy`: the JIT policy once the node listens (src/config/jit-policy.ts).
 */
export async function runNode(options: NodeOptions, logger: Logger, keyringFile?: string, jitPolicy = 1): Promise<RunningDaemon> {
  if (options.tls) await checkTlsFiles(options.tls);
  const node = createNode(options, { logger, ...(keyringFile === undefined ? {} : { keyringFile }) });
  const queryCommands = new QueryCommands(node, logger);
  // Before the node starts, so that no query arrives to find the handler missing.
  queryCommands.register(options.queryHandlers);
  try {
    await node.start();
  } catch (error) {
    // Bun's listen error names the host but not the port ("Failed to listen at 127.0.0.1"),
    // which does not tell the operator which of several nodes clashed.
    throw new Error(`cannot start on ${options.address}: ${(error as Error).message}`);
  }
  let admin: AdminServer | null = null;
  if (options.clientPort !== undefined) {
    // Loaded once the node port listens: the admin server (HTTP API, dashboard, metrics) is not
    // needed for that, and evaluating it before would delay it.
    const { startAdminServer } = await import("../admin/index.ts");
    try {
      admin = startAdminServer(node, { port: options.clientPort, hostname: options.clientBind, token: options.clientToken, insecure: options.clientInsecure, logger });
    } catch (error) {
      await node.stop();
      throw error; // AdminListenError names the address and the reason
    }
  }
  // The executable starts with the JIT held back for run-once start-up code (scripts/build-flags.ts);
  // from here on the gossip, codec and transport paths run for as long as the node does.
  Bun.unsafe.setJITPolicy(jitPolicy);
  let resolveFinished: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (resolveFinished = resolve));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal} received: leaving the cluster (send it again to exit at once)`);
    (async () => {
      queryCommands.killAll();
      await admin?.stop();
      await node.stop();
    })().then(
      () => resolveFinished(0),
      (error: unknown) => {
        logger.error(`stopping failed: ${(error as Error).message}`);
        resolveFinished(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // Also on a second signal's exit: the commands run in their own process groups, which outlive the daemon.
  process.on("exit", () => queryCommands.killAll());
  return { node, admin, finished };
}

/**
 * The transport reads the PEM files when the node starts; a missing one would surface there as a
 * runtime failure. Checked here first, it is the configuration error it is, naming the option.
 */
async function checkTlsFiles(tls: TlsOptions): Promise<void> {
  const files = { caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile };
  for (const [option, path] of Object.entries(files)) {
    let reason: string;
    try {
      if ((await Bun.file(path).bytes()).byteLength > 0) continue;
      reason = "the file is empty";
    } catch (error) {
      reason = (error as Error).message;
    }
    throw new ConfigFileError(`invalid option tls.${option}: cannot read ${JSON.stringify(path)}: ${reason}`);
  }
}

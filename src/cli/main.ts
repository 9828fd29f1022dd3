#!/usr/bin/env bun
// The goferbroke command: runs a node with the Go original's flags (and --kebab-case forms), or a
// subcommand that talks to a running node. Exit codes: 0 ok, 2 usage or config error, 1 runtime.
//
// Start-up time matters (operators run the subcommands by hand, supervisors restart nodes), so
// what only one path needs is imported on that path: `--version` and the subcommands never load
// the node, the transport, the admin server or the config files' parsers.

import { ConfigSyntaxError } from "../config/syntax-error.ts";
import { formatFlagHelp, parseCliArgs, UsageError } from "../config/flags.ts";
import { OptionsError } from "../config/options-error.ts";
import type { ClientFlags } from "./client-commands.ts";
import { versionLine } from "./version.ts";

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

const HELP_HEADER = `goferbroke: anti-entropy gossip node

Usage:
  goferbroke [flags]                 run a node (Go flags: -mode -name -nodeAddr -routes ...)
  goferbroke <command> [flags]       talk to a running node through its client port
  goferbroke tls ca|cert create      make a cluster CA and node certificates (goferbroke tls --help)
`;

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === "tls") return await runTls(argv.slice(1));
  let parsed;
  try {
    parsed = parseCliArgs(argv);
  } catch (error) {
    return usageFailure(error);
  }
  const flags = parsed.flags as Record<string, unknown>;
  if (flags.help) {
    console.log(`${HELP_HEADER}\n${formatFlagHelp(parsed.command ? "client" : "node")}`);
    return EXIT_OK;
  }
  if (flags.version) {
    console.log(versionLine());
    return EXIT_OK;
  }
  if (parsed.command) {
    const { ClientError, runClientCommand } = await import("./client-commands.ts");
    try {
      await runClientCommand(parsed.command, parsed.positionals, flags as ClientFlags, (line) => console.log(line));
      return EXIT_OK;
    } catch (error) {
      if (error instanceof ClientError) {
        console.error(`goferbroke: ${error.message}`);
        return EXIT_RUNTIME;
      }
      return usageFailure(error);
    }
  }
  const [{ resolveNodeOptions }, { createLogger }, { runNode }] = await Promise.all([
    import("../config/merge.ts"),
    import("./logging.ts"),
    import("./run-node.ts"),
  ]);
  let resolved;
  try {
    resolved = await resolveNodeOptions({ flags, env: process.env as Record<string, string | undefined>, files: parsed.configFiles });
  } catch (error) {
    return usageFailure(error);
  }
  const { options } = resolved;
  const logger = createLogger(options.logLevel, options.logFormat, options.name);
  for (const note of resolved.notes) logger.info(note);
  try {
    const daemon = await runNode(options, logger);
    return await daemon.finished;
  } catch (error) {
    logger.error(`node failed: ${(error as Error).message}`);
    return EXIT_RUNTIME;
  }
}

/** `goferbroke tls …`: certificate tooling, with flags of its own (src/cli/tls-commands.ts). */
async function runTls(argv: readonly string[]): Promise<number> {
  const { CertificateError, runTlsCommand, TlsFileError } = await import("./tls-commands.ts");
  try {
    await runTlsCommand(argv, (line) => console.log(line));
    return EXIT_OK;
  } catch (error) {
    if (error instanceof TlsFileError || error instanceof CertificateError) {
      console.error(`goferbroke: ${error.message}`);
      return EXIT_RUNTIME;
    }
    return usageFailure(error);
  }
}

function usageFailure(error: unknown): number {
  if (error instanceof UsageError || error instanceof OptionsError || error instanceof ConfigSyntaxError) {
    console.error(`goferbroke: ${error.message}`);
    return EXIT_USAGE;
  }
  // Recognised by name: their modules (config file reading and Go names) load only with a file.
  if (error instanceof Error && (error.name === "ConfigReadError" || error.name === "ConfigNameConflictError")) {
    console.error(`goferbroke: ${error.message}`);
    return EXIT_USAGE;
  }
  throw error;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));

#!/usr/bin/env bun
// The goferbroke command: runs a node with the Go original's flags (and --kebab-case forms), or a
// subcommand that talks to a running node. Exit codes: 0 ok, 2 usage or config error, 1 runtime.
//
// Start-up time matters (operators run the subcommands by hand, supervisors restart nodes), so
// what only one path needs is imported on that path: `--version` and the subcommands never load
// the node, the transport, the admin server or the config files' parsers.

import { ConfigSyntaxError } from "../config/syntax-error.ts";
import { FLAG_FILES_KEY, parseCliArgs, UsageError } from "../config/flags.ts";
import { OptionsError } from "../config/options-error.ts";
import { jitPolicyFrom } from "../config/jit-policy.ts";
import type { ClientFlags } from "./client-commands.ts";
import { commandHelp, helpFor, overviewHelp } from "./help.ts";
import { versionLine } from "./version.ts";

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === "tls") return await runTls(argv.slice(1));
  let parsed;
  try {
    parsed = parseCliArgs(argv);
  } catch (error) {
    return usageFailure(error);
  }
  const flags = parsed.flags as Record<string, unknown>;
  const { command, positionals } = parsed;
  if (flags.help || command === "help") {
    try {
      console.log(command === null ? overviewHelp() : command === "help" ? helpFor(positionals[0]) : commandHelp(command));
    } catch (error) {
      return usageFailure(error);
    }
    return EXIT_OK;
  }
  if (flags.version || command === "version") {
    console.log(versionLine());
    return EXIT_OK;
  }
  if (command) {
    const { runClientCommand } = await import("./client-commands.ts");
    try {
      await runClientCommand(command, positionals, flags as ClientFlags, (line) => console.log(line));
      return EXIT_OK;
    } catch (error) {
      if (error instanceof UsageError) return usageFailure(error);
      // Unreachable node, refusal, a stream cut off: one line, never a stack trace.
      console.error(`goferbroke: ${(error as Error).message}`);
      return EXIT_RUNTIME;
    }
  }
  const [{ resolveNodeOptions }, { createLogger }, { runNode }] = await Promise.all([
    import("../config/merge.ts"),
    import("./logging.ts"),
    import("./run-node.ts"),
  ]);
  let resolved;
  let jitPolicy;
  try {
    resolved = await resolveNodeOptions({ flags, env: process.env as Record<string, string | undefined>, files: parsed.configFiles });
    jitPolicy = jitPolicyFrom(process.env as Record<string, string | undefined>);
  } catch (error) {
    return usageFailure(error);
  }
  const { options } = resolved;
  const logger = createLogger(options.logLevel, options.logFormat, options.name);
  for (const note of resolved.notes) logger.info(note);
  for (const warning of resolved.warnings) logger.warn(warning);
  try {
    const daemon = await runNode(options, logger, keyringFileOf(flags), jitPolicy);
    return await daemon.finished;
  } catch (error) {
    if ((error as Error).name === "ConfigFileError") return usageFailure(error);
    logger.error(`node failed: ${(error as Error).message}`);
    return EXIT_RUNTIME;
  }
}

/** `goferbroke tls …`: certificate tooling, with flags of its own (src/cli/tls-commands.ts). */
async function runTls(argv: readonly string[]): Promise<number> {
  const { runTlsCommand } = await import("./tls-commands.ts");
  try {
    await runTlsCommand(argv, (line) => console.log(line));
    return EXIT_OK;
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(error);
    // A file that cannot be read or written, a CA that cannot sign: one line naming the file.
    console.error(`goferbroke: ${(error as Error).message}`);
    return EXIT_RUNTIME;
  }
}

/**
 * The file the encryption keyring was read from, so that `goferbroke keys` changes are written
 * back to it: --encrypt-key-file, else GOFERBROKE_ENCRYPT_KEY_FILE unless GOFERBROKE_ENCRYPT_KEYS
 * gave the keys inline. Keys from a config file or inline are changed in memory only.
 */
function keyringFileOf(flags: Record<string, unknown>): string | undefined {
  const fromFlag = (flags[FLAG_FILES_KEY] as Record<string, string> | undefined)?.encryptKeys;
  if (fromFlag !== undefined) return fromFlag;
  return process.env.GOFERBROKE_ENCRYPT_KEYS ? undefined : process.env.GOFERBROKE_ENCRYPT_KEY_FILE || undefined;
}

function usageFailure(error: unknown): number {
  if (error instanceof UsageError || error instanceof OptionsError || error instanceof ConfigSyntaxError) {
    console.error(`goferbroke: ${error.message}`);
    return EXIT_USAGE;
  }
  // Recognised by name: their modules (config file reading, Go names, the node runner) load later.
  if (error instanceof Error && ["ConfigReadError", "ConfigNameConflictError", "ConfigFileError"].includes(error.name)) {
    console.error(`goferbroke: ${error.message}`);
    return EXIT_USAGE;
  }
  throw error;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));

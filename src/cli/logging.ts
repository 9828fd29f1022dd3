// Logging for the daemon through consola: its pretty reporter on a terminal, or one JSON object
// per line ({time, level, node, msg, ...fields}) for journald and log shippers. consola has no JSON
// mode of its own; the small reporter below adds it.
//
// JSON lines need only consola's core (levels, tags, reporters). Its main entry adds the pretty
// reporters and the prompts, which load node:readline, node:tty and the streams: about 20 ms of
// CPU in the compiled binary. So that entry is loaded only for pretty output, and only when the
// first line is logged, which for a node is "listening on …", once its port already accepts.
//
// Both formats write every level to stderr, so a supervisor capturing one stream gets all of it
// and stdout stays free for the subcommands' output. JSON lines carry the node's name (`node`);
// pretty lines show it as consola's tag. Pretty lines escape control and bidi characters in the
// message and fields (escapeForLog): many messages quote names and reasons a peer sent, and a
// newline in a cluster name must not forge a log line. JSON needs no such step: JSON.stringify
// escapes control characters itself.

import { createConsola as createCoreConsola, type ConsolaInstance, type ConsolaOptions, type ConsolaReporter, type LogObject } from "consola/core";
import { escapeForLog, type LogFields, type Logger } from "../log.ts";

export type LogLevelName = "debug" | "info" | "warn" | "error" | "silent";
export type LogFormat = "pretty" | "json";

/** consola's numeric levels: error 0, warn 1, info 3, debug 4; -999 silences everything. */
const consolaLevels: Record<LogLevelName, number> = { error: 0, warn: 1, info: 3, debug: 4, silent: -999 };

type LineLevel = Exclude<LogLevelName, "silent">;

function jsonReporter(node: string | undefined): ConsolaReporter {
  return {
    log(logObject: LogObject) {
      const [message, fields] = logObject.args as [unknown, LogFields | undefined];
      const own = { time: logObject.date.toISOString(), level: logObject.type, ...(node === undefined ? {} : { node }), msg: String(message) };
      // The line's own keys come first and win over a field of the same name: a field once named
      // `node` made one node's lines claim another's name.
      const line = { ...own, ...fields, ...own };
      process.stderr.write(`${JSON.stringify(line, jsonSafe)}\n`);
    },
  };
}

function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/** consola's main entry, with its pretty (fancy on a terminal, basic otherwise) reporters. */
function createPrettyConsola(options: Partial<ConsolaOptions>): ConsolaInstance {
  // A synchronous, deferred load: loggers stay synchronous for their callers, and a bundle
  // (`bun build --compile`) still evaluates the module only when this runs.
  const full = require("consola") as { createConsola: (options: Partial<ConsolaOptions>) => ConsolaInstance };
  return full.createConsola(options);
}

function jsonLogger(level: LogLevelName, tag: string | undefined): Logger {
  // The node name is a field of its own, not consola's tag: a tag would be prefixed to nothing here.
  const instance = createCoreConsola({ level: consolaLevels[level], reporters: [jsonReporter(tag || undefined)] });
  return {
    debug: (message, fields) => instance.debug(message, fields),
    info: (message, fields) => instance.info(message, fields),
    warn: (message, fields) => instance.warn(message, fields),
    error: (message, fields) => instance.error(message, fields),
  };
}

function prettyLogger(level: LogLevelName, tag: string | undefined): Logger {
  let instance: ConsolaInstance | undefined;
  const log = (lineLevel: LineLevel, message: string, fields: LogFields | undefined): void => {
    // The level check consola would make, made before loading it: a line it drops needs no consola.
    if (consolaLevels[lineLevel] > consolaLevels[level]) return;
    if (instance === undefined) {
      const consola = createPrettyConsola({ level: consolaLevels[level], stdout: process.stderr, stderr: process.stderr });
      instance = tag ? consola.withTag(escapeForLog(tag)) : consola;
    }
    const shownFields = fields && Object.keys(fields).length > 0 ? [escapeStrings(fields, FIELD_DEPTH_LIMIT)] : [];
    instance[lineLevel](escapeForLog(message), ...shownFields);
  };
  return {
    debug: (message, fields) => log("debug", message, fields),
    info: (message, fields) => log("info", message, fields),
    warn: (message, fields) => log("warn", message, fields),
    error: (message, fields) => log("error", message, fields),
  };
}

/** How deep escapeStrings follows nested fields; deeper values are shown as "[nested]". */
const FIELD_DEPTH_LIMIT = 4;

/** A copy of `value` with every string in it (keys too) passed through escapeForLog. */
function escapeStrings(value: unknown, depth: number): unknown {
  if (typeof value === "string") return escapeForLog(value);
  if (typeof value !== "object" || value === null) return value;
  if (depth === 0) return "[nested]";
  if (Array.isArray(value)) return value.map((item) => escapeStrings(item, depth - 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[escapeForLog(key)] = escapeStrings(item, depth - 1);
  return copy;
}

export function createLogger(level: LogLevelName, format: LogFormat, tag?: string): Logger {
  return format === "json" ? jsonLogger(level, tag) : prettyLogger(level, tag);
}

// Logging for the daemon through consola: its pretty reporter on a terminal, or one JSON object
// per line ({time, level, msg, ...fields}) for journald and log shippers. consola has no JSON
// mode of its own; the small reporter below adds it.
//
// JSON lines need only consola's core (levels, tags, reporters). Its main entry adds the pretty
// reporters and the prompts, which load node:readline, node:tty and the streams: about 20 ms of
// CPU in the compiled binary. So that entry is loaded only for pretty output, and only when the
// first line is logged, which for a node is "listening on …", once its port already accepts.

import { createConsola as createCoreConsola, type ConsolaInstance, type ConsolaOptions, type ConsolaReporter, type LogObject } from "consola/core";
import type { LogFields, Logger } from "../log.ts";

export type LogLevelName = "debug" | "info" | "warn" | "error" | "silent";
export type LogFormat = "pretty" | "json";

/** consola's numeric levels: error 0, warn 1, info 3, debug 4; -999 silences everything. */
const consolaLevels: Record<LogLevelName, number> = { error: 0, warn: 1, info: 3, debug: 4, silent: -999 };

type LineLevel = Exclude<LogLevelName, "silent">;

const jsonReporter: ConsolaReporter = {
  log(logObject: LogObject) {
    const [message, fields] = logObject.args as [unknown, LogFields | undefined];
    const line = { time: logObject.date.toISOString(), level: logObject.type, msg: String(message), ...fields };
    process.stderr.write(`${JSON.stringify(line, jsonSafe)}\n`);
  },
};

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
  const consola = createCoreConsola({ level: consolaLevels[level], reporters: [jsonReporter] });
  const instance = tag ? consola.withTag(tag) : consola;
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
      const consola = createPrettyConsola({ level: consolaLevels[level] });
      instance = tag ? consola.withTag(tag) : consola;
    }
    instance[lineLevel](message, ...(fields && Object.keys(fields).length > 0 ? [fields] : []));
  };
  return {
    debug: (message, fields) => log("debug", message, fields),
    info: (message, fields) => log("info", message, fields),
    warn: (message, fields) => log("warn", message, fields),
    error: (message, fields) => log("error", message, fields),
  };
}

export function createLogger(level: LogLevelName, format: LogFormat, tag?: string): Logger {
  return format === "json" ? jsonLogger(level, tag) : prettyLogger(level, tag);
}

// Logging for the daemon through consola: its pretty reporter on a terminal, or one JSON object
// per line ({time, level, msg, ...fields}) for journald and log shippers. consola has no JSON
// mode of its own; the small reporter below adds it.
//
// JSON lines need only consola's core (levels, tags, reporters). Its main entry adds the pretty
// reporters and the prompts, which load node:readline, node:tty and the streams at start-up: 10 to
// 15 ms of CPU in the compiled binary before a node can listen. So that entry is loaded only when
// pretty output is asked for.

import { createConsola as createCoreConsola, type ConsolaInstance, type ConsolaOptions, type ConsolaReporter, type LogObject } from "consola/core";
import type { LogFields, Logger } from "../log.ts";

export type LogLevelName = "debug" | "info" | "warn" | "error" | "silent";
export type LogFormat = "pretty" | "json";

/** consola's numeric levels: error 0, warn 1, info 3, debug 4; -999 silences everything. */
const consolaLevels: Record<LogLevelName, number> = { error: 0, warn: 1, info: 3, debug: 4, silent: -999 };

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
  // A synchronous, deferred load: createLogger stays synchronous for its callers, and a bundle
  // (`bun build --compile`) still evaluates the module only when this runs.
  const full = require("consola") as { createConsola: (options: Partial<ConsolaOptions>) => ConsolaInstance };
  return full.createConsola(options);
}

export function createLogger(level: LogLevelName, format: LogFormat, tag?: string): Logger {
  const consola =
    format === "json"
      ? createCoreConsola({ level: consolaLevels[level], reporters: [jsonReporter] })
      : createPrettyConsola({ level: consolaLevels[level] });
  const instance = tag ? consola.withTag(tag) : consola;
  const pretty = (fields?: LogFields): unknown[] => (fields && Object.keys(fields).length > 0 ? [fields] : []);
  if (format === "json") {
    return {
      debug: (message, fields) => instance.debug(message, fields),
      info: (message, fields) => instance.info(message, fields),
      warn: (message, fields) => instance.warn(message, fields),
      error: (message, fields) => instance.error(message, fields),
    };
  }
  return {
    debug: (message, fields) => instance.debug(message, ...pretty(fields)),
    info: (message, fields) => instance.info(message, ...pretty(fields)),
    warn: (message, fields) => instance.warn(message, ...pretty(fields)),
    error: (message, fields) => instance.error(message, ...pretty(fields)),
  };
}

// Logging for the daemon through consola: its pretty reporter on a terminal, or one JSON object
// per line ({time, level, msg, ...fields}) for journald and log shippers. consola has no JSON
// mode of its own; the small reporter below adds it.

import { createConsola, type ConsolaReporter, type LogObject } from "consola";
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

export function createLogger(level: LogLevelName, format: LogFormat, tag?: string): Logger {
  const consola = createConsola({
    level: consolaLevels[level],
    ...(format === "json" ? { reporters: [jsonReporter] } : {}),
  });
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

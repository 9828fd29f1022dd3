// Reading a config file: JSON or the GoferBroke `.conf` syntax, chosen by extension or content.
// Either way the result is a plain object tree or a thrown error; never a partial config.

import { parseConf } from "./conf-parser.ts";
import { parseJsonConfig } from "./json-config.ts";
import { INLINE_FILE_NAME } from "./syntax-error.ts";

export { ConfigSyntaxError } from "./syntax-error.ts";

/** The file could not be read at all (missing, a directory, no permission). */
export class ConfigReadError extends Error {
  override readonly name = "ConfigReadError";
  readonly path: string;

  constructor(path: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`cannot read config file ${path}: ${reason}`, { cause });
    this.path = path;
  }
}

export type ConfigFormat = "json" | "conf";

/**
 * JSON when the name ends in `.json` or the first non-blank character is `{` (a `.conf` document
 * can never start with `{`: its top level is a list of entries); `.conf` otherwise.
 */
export function detectConfigFormat(text: string, fileName: string): ConfigFormat {
  if (fileName.toLowerCase().endsWith(".json")) return "json";
  const firstNonBlank = /\S/.exec(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  return firstNonBlank?.[0] === "{" ? "json" : "conf";
}

/** Parses config text; `fileName` is used for format detection and in error messages. */
export function parseConfigText(text: string, fileName: string = INLINE_FILE_NAME): Record<string, unknown> {
  return detectConfigFormat(text, fileName) === "json"
    ? parseJsonConfig(text, fileName)
    : parseConf(text, fileName);
}

/** Reads and parses a config file; throws ConfigReadError or ConfigSyntaxError. */
export async function loadConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Bun.file(path).text();
  } catch (error) {
    throw new ConfigReadError(path, error);
  }
  return parseConfigText(text, path);
}

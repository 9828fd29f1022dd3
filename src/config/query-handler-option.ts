// The `queryHandlers` option: `NAME=COMMAND` entries, each telling the CLI daemon to answer query
// NAME by running COMMAND (src/cli/query-handlers.ts). One parser serves the flag (a usage error
// naming the flag), the environment and the files (a schema issue naming the source), and the
// daemon, so all three agree on what an entry means.

import { MAX_QUERY_NAME_BYTES } from "../codec/query.ts";
import { utf8Bytes } from "./options-error.ts";

export const MAX_QUERY_HANDLERS = 64;
/** A command is run by `sh -c`; longer than this is a mistake (a file pasted in), not a command. */
const MAX_COMMAND_CHARS = 4096;

export const QUERY_HANDLER_EXPECTED = `NAME=COMMAND (a query name of 1 to ${MAX_QUERY_NAME_BYTES} bytes without "=", then a command of at most ${MAX_COMMAND_CHARS} characters)`;

export interface QueryHandlerEntry {
  name: string;
  command: string;
}

/** The entry, or what is wrong with it (a phrase: "the name is empty"). */
export function parseQueryHandler(text: string): QueryHandlerEntry | string {
  const equals = text.indexOf("=");
  if (equals === -1) return 'there is no "=" between NAME and COMMAND';
  const name = text.slice(0, equals);
  const command = text.slice(equals + 1);
  if (name.trim() === "") return "the name is empty";
  if (utf8Bytes(name) > MAX_QUERY_NAME_BYTES) return `the name is longer than ${MAX_QUERY_NAME_BYTES} bytes`;
  if (command.trim() === "") return `the command for ${JSON.stringify(name)} is empty`;
  if (command.length > MAX_COMMAND_CHARS) return `the command for ${JSON.stringify(name)} is longer than ${MAX_COMMAND_CHARS} characters`;
  return { name, command };
}

/** Problems of a whole list: too many entries, or a name given twice (which command would win?). */
export function queryHandlerListProblem(entries: readonly QueryHandlerEntry[]): string | null {
  if (entries.length > MAX_QUERY_HANDLERS) return `${entries.length} handlers, more than ${MAX_QUERY_HANDLERS}`;
  const seen = new Set<string>();
  for (const { name } of entries) {
    if (seen.has(name)) return `query ${JSON.stringify(name)} has two handlers`;
    seen.add(name);
  }
  return null;
}

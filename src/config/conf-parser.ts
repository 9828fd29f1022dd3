// Parser for the GoferBroke `.conf` syntax (behaviour reference §6.1), fixing what the Go parser
// got wrong (§10.28): every problem is a thrown ConfigSyntaxError with line and column, never a
// partial result; on/off/yes/no are booleans; arrays may nest; comments work everywhere.
//
// Grammar (newline = "\n"; blanks = spaces, tabs, CR, newlines and comments):
//   document := blanks (entry end)* blanks EOF
//   block    := "{" blanks (entry end)* blanks "}"
//   entry    := key [ "=" | ":" ] value        -- key and value start on the same line
//   end      := newline | "," | ";" | before "}" or EOF   (one "," or ";" at most)
//   array    := "[" blanks (value ("," | newline) blanks)* [value] blanks "]"   -- trailing "," ok
//   value    := block | array | "double quoted" | 'single quoted' | bare word
//   key      := bare key | "double quoted" | 'single quoted'
//   comment  := "#" or "//" to end of line, wherever blanks are allowed or after a value
// A bare word runs to whitespace, `#` or one of , ; [ ] { } " ' and is an integer (-?digits), a
// float (1.5, 2e3), a boolean (true/false/on/off/yes/no, any case) or else a string (localhost,
// 192.168.0.1, 10.0.0.1:8080, http://host/path). Inside a bare word `//` is text, not a comment.

import { ConfScanner, EOF, type ConfScalar } from "./conf-lexer.ts";
import { INLINE_FILE_NAME } from "./syntax-error.ts";

export { ConfigSyntaxError } from "./syntax-error.ts";

/** Blocks and arrays may nest this deep below the top level; deeper input is refused. */
export const MAX_NESTING_DEPTH = 64;

export type ConfValue = ConfScalar | ConfValue[] | { [key: string]: ConfValue };
export type ConfObject = { [key: string]: ConfValue };

/** Parses `.conf` text into a plain object tree, or throws ConfigSyntaxError. */
export function parseConf(text: string, fileName: string = INLINE_FILE_NAME): ConfObject {
  const scanner = new ConfScanner(stripByteOrderMark(text), fileName);
  return parseBlockBody(scanner, null, 0);
}

function stripByteOrderMark(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Entries until the closing `}` (when `openOffset` is the offset of `{`) or until end of input
 * (top level, `openOffset` null).
 */
function parseBlockBody(scanner: ConfScanner, openOffset: number | null, depth: number): ConfObject {
  const result: ConfObject = {};
  const firstSeenAt = new Map<string, number>();
  const inBlock = openOffset !== null;
  const keyExpected = inBlock ? "a key or '}'" : "a key";

  for (;;) {
    scanner.skipBlank();
    const c = scanner.peek();
    if (c === EOF) {
      if (inBlock) throw scanner.error(`'}' to close the block opened at ${scanner.where(openOffset)}`);
      return result;
    }
    if (c === "}" && inBlock) {
      scanner.advance();
      return result;
    }

    const keyOffset = scanner.offset;
    const key = scanner.readKey(keyExpected);
    const previous = firstSeenAt.get(key);
    if (previous !== undefined) {
      const here = scanner.lineAt(keyOffset);
      const there = scanner.lineAt(previous);
      throw scanner.errorAt(
        keyOffset,
        "a key not already used in this block",
        `duplicate key ${JSON.stringify(key)} on line ${here} (first defined on line ${there})`,
      );
    }
    firstSeenAt.set(key, keyOffset);

    scanner.skipInlineSpace();
    const separator = scanner.peek();
    if (separator === "=" || separator === ":") {
      scanner.advance();
      scanner.skipInlineSpace();
    }
    defineEntry(result, key, parseValue(scanner, depth, `a value for key ${JSON.stringify(key)}`));

    scanner.skipInlineSpace();
    scanner.skipComment();
    const end = scanner.peek();
    if (end === "," || end === ";") {
      scanner.advance();
    } else if (!scanner.skipNewline() && end !== EOF && !(end === "}" && inBlock)) {
      const closers = inBlock ? "a newline, ',', ';' or '}'" : "a newline, ',' or ';'";
      throw scanner.error(`${closers} after the value of key ${JSON.stringify(key)}`);
    }
    // A second separator ("a = 1,,") is caught at the top of the loop: ',' is not a key.
  }
}

function parseArray(scanner: ConfScanner, openOffset: number, depth: number): ConfValue[] {
  const items: ConfValue[] = [];
  for (;;) {
    scanner.skipBlank();
    const c = scanner.peek();
    if (c === EOF) throw scanner.error(`']' to close the array opened at ${scanner.where(openOffset)}`);
    if (c === "]") {
      scanner.advance();
      return items;
    }
    items.push(parseValue(scanner, depth, "a value or ']'"));

    scanner.skipInlineSpace();
    scanner.skipComment();
    const end = scanner.peek();
    if (end === ",") {
      scanner.advance();
    } else if (!scanner.skipNewline() && end !== "]" && end !== EOF) {
      throw scanner.error("',', a newline or ']' after an array element");
    }
  }
}

/** `depth` is the nesting level of the container holding this value (0 = top level). */
function parseValue(scanner: ConfScanner, depth: number, expected: string): ConfValue {
  const c = scanner.peek();
  if (c === "{" || c === "[") {
    if (depth + 1 > MAX_NESTING_DEPTH) {
      throw scanner.error(`at most ${MAX_NESTING_DEPTH} levels of nesting`);
    }
    const openOffset = scanner.offset;
    scanner.advance();
    return c === "{"
      ? parseBlockBody(scanner, openOffset, depth + 1)
      : parseArray(scanner, openOffset, depth + 1);
  }
  if (scanner.atValueTerminator()) throw scanner.error(expected);
  return scanner.readScalar();
}

// `result[key] = value` would make a key named "__proto__" replace the prototype instead of
// becoming data; defining the property keeps every key an ordinary own property.
function defineEntry(target: ConfObject, key: string, value: ConfValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

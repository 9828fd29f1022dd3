// JSON config files. Bun's JSON.parse reports errors without a position ("JSON Parse error:
// Property name must be a string literal"), so a small non-recursive RFC 8259 checker runs first
// and reports the first problem with line and column. It also applies the rules the `.conf`
// parser applies: the top level must be an object, no duplicate keys in one object (JSON.parse
// would silently keep the last), and at most MAX_NESTING_DEPTH levels of nesting. Values are
// then built by the native JSON.parse.

import { MAX_NESTING_DEPTH } from "./conf-parser.ts";
import { ConfigSyntaxError, positionAt, syntaxErrorAt } from "./syntax-error.ts";

interface Container {
  kind: "object" | "array";
  /** Offset of each key already seen in this object, for the duplicate-key message. */
  keys: Map<string, number> | null;
}

// What the checker wants next.
type Expect = "value" | "key-or-close" | "key" | "value-or-close" | "after-value";

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const SIMPLE_ESCAPES = new Set(['"', "\\", "/", "b", "f", "n", "r", "t"]);
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** Parses JSON config text into an object, or throws ConfigSyntaxError. */
export function parseJsonConfig(text: string, file: string): Record<string, unknown> {
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  checkJsonConfig(source, file);
  try {
    return JSON.parse(source) as Record<string, unknown>;
  } catch (error) {
    // The checker accepted it, so this is a disagreement between it and the engine: still
    // report it in the same shape rather than letting a bare SyntaxError escape.
    const detail = error instanceof Error ? error.message : String(error);
    throw new ConfigSyntaxError(file, 1, 1, "valid JSON", `'${detail}'`);
  }
}

/** Throws ConfigSyntaxError at the first offending character; returns if `text` is acceptable. */
export function checkJsonConfig(text: string, file: string): void {
  const fail = (offset: number, expected: string, found?: string): never => {
    throw syntaxErrorAt(file, text, offset, expected, found);
  };
  const stack: Container[] = [];
  let i = skipWhitespace(text, 0);
  if (text[i] !== "{") fail(i, "a JSON object at the top level");
  let expect: Expect = "value";

  for (;;) {
    i = skipWhitespace(text, i);
    const c = text[i];
    const top = stack[stack.length - 1];

    switch (expect) {
      case "value": {
        if (c === "{" || c === "[") {
          // The top-level object is level 0, like the top level of a `.conf` file.
          if (stack.length > MAX_NESTING_DEPTH) fail(i, `at most ${MAX_NESTING_DEPTH} levels of nesting`);
          const isObject = c === "{";
          stack.push({ kind: isObject ? "object" : "array", keys: isObject ? new Map() : null });
          i++;
          expect = isObject ? "key-or-close" : "value-or-close";
        } else if (c === '"') {
          i = scanString(text, i, fail);
          expect = "after-value";
        } else if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) {
          NUMBER.lastIndex = i;
          if (!NUMBER.test(text)) fail(i, "a JSON number");
          i = NUMBER.lastIndex;
          expect = "after-value";
        } else if (text.startsWith("true", i) || text.startsWith("null", i)) {
          i += 4;
          expect = "after-value";
        } else if (text.startsWith("false", i)) {
          i += 5;
          expect = "after-value";
        } else {
          fail(i, "a JSON value");
        }
        break;
      }
      case "key-or-close":
      case "key": {
        if (c === "}" && expect === "key-or-close") {
          stack.pop();
          i++;
          expect = "after-value";
          break;
        }
        if (c !== '"') fail(i, expect === "key" ? "a string key" : "a string key or '}'");
        const keyStart = i;
        i = scanString(text, i, fail);
        const key = JSON.parse(text.slice(keyStart, i)) as string;
        const keys = top?.keys;
        const previous = keys?.get(key);
        if (previous !== undefined) {
          fail(
            keyStart,
            "a key not already used in this object",
            `duplicate key ${JSON.stringify(key)} on line ${positionAt(text, keyStart).line} ` +
              `(first defined on line ${positionAt(text, previous).line})`,
          );
        }
        keys?.set(key, keyStart);
        i = skipWhitespace(text, i);
        if (text[i] !== ":") fail(i, `':' after the key ${JSON.stringify(key)}`);
        i++;
        expect = "value";
        break;
      }
      case "value-or-close": {
        if (c === "]") {
          stack.pop();
          i++;
          expect = "after-value";
        } else {
          expect = "value";
        }
        break;
      }
      case "after-value": {
        if (top === undefined) {
          if (i < text.length) fail(i, "end of input after the top-level object");
          return;
        }
        const close = top.kind === "object" ? "}" : "]";
        if (c === ",") {
          i++;
          expect = top.kind === "object" ? "key" : "value";
        } else if (c === close) {
          stack.pop();
          i++;
        } else {
          fail(i, `',' or '${close}'`);
        }
        break;
      }
    }
  }
}

function skipWhitespace(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const c = text[i];
    if (c !== " " && c !== "\t" && c !== "\n" && c !== "\r") break;
    i++;
  }
  return i;
}

/** Validates the string starting at the `"` at `open`; returns the offset just past its close. */
function scanString(
  text: string,
  open: number,
  fail: (offset: number, expected: string, found?: string) => never,
): number {
  let i = open + 1;
  for (;;) {
    const code = text.charCodeAt(i);
    if (Number.isNaN(code)) fail(i, `'"' to close the string opened at ${where(text, open)}`);
    if (code === 0x22) return i + 1;
    if (code < 0x20) {
      fail(i, `'"' to close the string opened at ${where(text, open)} (control characters must be escaped)`);
    }
    if (code === 0x5c) {
      const escape = text[i + 1];
      if (escape !== undefined && SIMPLE_ESCAPES.has(escape)) {
        i += 2;
      } else if (escape === "u" && HEX4.test(text.slice(i + 2, i + 6))) {
        i += 6;
      } else {
        fail(i, "a JSON escape sequence", `'\\${escape ?? ""}'`);
      }
      continue;
    }
    i++;
  }
}

function where(text: string, offset: number): string {
  const { line, column } = positionAt(text, offset);
  return `${line}:${column}`;
}

// Character-level scanner for the GoferBroke `.conf` syntax. The grammar is context sensitive
// (a bare key stops at `:`/`=`, a bare value such as `10.0.0.1:8080` does not), so instead of a
// free-running token stream the parser asks the scanner for the thing it expects next.
// Every method advances a single offset and never backtracks, which keeps parsing linear.

import { type ConfigSyntaxError, describePosition, positionAt, syntaxErrorAt } from "./syntax-error.ts";

export const EOF = "";

// A bare key runs until whitespace, a separator, a comment, or structural punctuation.
const KEY_BREAK = new Set([" ", "\t", "\r", "\n", ":", "=", ",", ";", "[", "]", "{", "}", '"', "'", "#"]);
// A bare value may contain `:`, `=` and `/` so addresses and URLs need no quotes (`//` only starts
// a comment where a token could start). `#` always starts a comment, so `port = 8081# main`
// is 8081 rather than the string "8081#"; a URL with a fragment must be quoted.
const VALUE_BREAK = new Set([" ", "\t", "\r", "\n", ",", ";", "[", "]", "{", "}", '"', "'", "#"]);

const INTEGER = /^-?\d+$/;
const FLOAT = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
// The Go lexer recognised all six words but its parser dropped on/off/yes/no (reference §10.28).
const BOOLEAN_WORDS: ReadonlyMap<string, boolean> = new Map([
  ["true", true],
  ["false", false],
  ["on", true],
  ["off", false],
  ["yes", true],
  ["no", false],
]);

const ESCAPES: ReadonlyMap<string, string> = new Map([
  ["t", "\t"],
  ["n", "\n"],
  ["r", "\r"],
  ['"', '"'],
  ["\\", "\\"],
]);
const ESCAPE_LIST = `an escape sequence (\\t, \\n, \\r, \\", \\\\ or \\uXXXX)`;
const HEX4 = /^[0-9a-fA-F]{4}$/;

export type ConfScalar = string | number | boolean;

export class ConfScanner {
  readonly text: string;
  readonly file: string;
  offset = 0;

  constructor(text: string, file: string) {
    this.text = text;
    this.file = file;
  }

  /** The character at the cursor, or EOF (""). */
  peek(): string {
    return this.text[this.offset] ?? EOF;
  }

  advance(): void {
    this.offset++;
  }

  atCommentStart(): boolean {
    const c = this.peek();
    return c === "#" || (c === "/" && this.text[this.offset + 1] === "/");
  }

  /** At "\n" or "\r\n"; a lone "\r" is treated as a space. */
  atNewline(): boolean {
    const c = this.peek();
    return c === "\n" || (c === "\r" && this.text[this.offset + 1] === "\n");
  }

  /** Consumes "\n" or "\r\n" if the cursor is at one. */
  skipNewline(): boolean {
    if (this.peek() === "\n") this.offset += 1;
    else if (this.atNewline()) this.offset += 2;
    else return false;
    return true;
  }

  /**
   * Skips spaces, tabs and lone carriage returns, but not newlines (they separate entries). The
   * "\r" of "\r\n" is left in place so an error at the end of a line points just after its text.
   */
  skipInlineSpace(): void {
    const text = this.text;
    let i = this.offset;
    while (i < text.length) {
      const c = text[i];
      if (c === " " || c === "\t" || (c === "\r" && text[i + 1] !== "\n")) i++;
      else break;
    }
    this.offset = i;
  }

  /** If a comment starts here, skips to (not past) the end of its line. */
  skipComment(): void {
    if (!this.atCommentStart()) return;
    const newline = this.text.indexOf("\n", this.offset);
    const end = newline === -1 ? this.text.length : newline;
    // Stop before the "\r" of "\r\n" so the caller consumes the whole line break.
    this.offset = this.text[end - 1] === "\r" ? end - 1 : end;
  }

  /** Skips whitespace, newlines and comments: everything that may sit between two entries. */
  skipBlank(): void {
    for (;;) {
      this.skipInlineSpace();
      if (this.skipNewline()) {
        continue;
      } else if (this.atCommentStart()) {
        this.skipComment();
      } else {
        return;
      }
    }
  }

  /** A bare or quoted key. The caller has already skipped blanks. */
  readKey(expected: string): string {
    const c = this.peek();
    if (c === '"') return this.readDoubleQuoted();
    if (c === "'") return this.readSingleQuoted();
    const start = this.offset;
    const text = this.text;
    let i = start;
    while (i < text.length && !KEY_BREAK.has(text[i] as string)) i++;
    if (i === start) throw this.errorAt(start, expected);
    this.offset = i;
    return text.slice(start, i);
  }

  /**
   * A scalar value: quoted string, or a bare word read as integer, float, boolean or string.
   * The caller has checked that something value-like starts here.
   */
  readScalar(): ConfScalar {
    const c = this.peek();
    if (c === '"') return this.readDoubleQuoted();
    if (c === "'") return this.readSingleQuoted();
    const start = this.offset;
    const text = this.text;
    let i = start;
    while (i < text.length && !VALUE_BREAK.has(text[i] as string)) i++;
    this.offset = i;
    return this.classifyBareWord(text.slice(start, i), start);
  }

  /** True when a bare scalar cannot start here (so the value is missing). */
  atValueTerminator(): boolean {
    const c = this.peek();
    return (
      c === EOF ||
      c === "\n" ||
      c === "\r" ||
      c === "," ||
      c === ";" ||
      c === "]" ||
      c === "}" ||
      c === "=" ||
      c === ":" ||
      this.atCommentStart()
    );
  }

  errorAt(offset: number, expected: string, found?: string): ConfigSyntaxError {
    return syntaxErrorAt(this.file, this.text, offset, expected, found);
  }

  error(expected: string, found?: string): ConfigSyntaxError {
    return this.errorAt(this.offset, expected, found);
  }

  /** `line:column` of an earlier offset, used to say where an unclosed bracket or quote began. */
  where(offset: number): string {
    return describePosition(this.text, offset);
  }

  lineAt(offset: number): number {
    return positionAt(this.text, offset).line;
  }

  private classifyBareWord(word: string, start: number): ConfScalar {
    if (INTEGER.test(word)) {
      const value = Number(word);
      if (!Number.isSafeInteger(value)) {
        throw this.errorAt(
          start,
          `an integer between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}`,
          `'${word}'`,
        );
      }
      return value;
    }
    if (FLOAT.test(word)) {
      const value = Number(word);
      if (!Number.isFinite(value)) throw this.errorAt(start, "a finite number", `'${word}'`);
      return value;
    }
    const flag = BOOLEAN_WORDS.get(word.toLowerCase());
    return flag ?? word;
  }

  /** `"..."` with escapes. Raw newlines are refused so an unclosed quote is reported on its own line. */
  private readDoubleQuoted(): string {
    const text = this.text;
    const open = this.offset;
    const parts: string[] = [];
    let runStart = open + 1;
    let i = runStart;
    for (;;) {
      const c = text[i];
      if (c === undefined || c === "\n" || c === "\r") {
        throw this.errorAt(i, `'"' to close the string opened at ${this.where(open)}`);
      }
      if (c === '"') break;
      if (c !== "\\") {
        i++;
        continue;
      }
      parts.push(text.slice(runStart, i));
      const escape = text[i + 1];
      const simple = escape === undefined ? undefined : ESCAPES.get(escape);
      if (simple !== undefined) {
        parts.push(simple);
        i += 2;
      } else if (escape === "u" && HEX4.test(text.slice(i + 2, i + 6))) {
        parts.push(String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 6), 16)));
        i += 6;
      } else {
        const shown = escape === undefined || escape === "\n" || escape === "\r" ? "\\" : `\\${escape}`;
        throw this.errorAt(i, ESCAPE_LIST, `'${shown}'`);
      }
      runStart = i;
    }
    parts.push(text.slice(runStart, i));
    this.offset = i + 1;
    return parts.join("");
  }

  /** `'...'` taken literally (no escapes), as in the Go lexer. */
  private readSingleQuoted(): string {
    const text = this.text;
    const open = this.offset;
    let i = open + 1;
    for (;;) {
      const c = text[i];
      if (c === undefined || c === "\n" || c === "\r") {
        throw this.errorAt(i, `"'" to close the string opened at ${this.where(open)}`);
      }
      if (c === "'") break;
      i++;
    }
    this.offset = i + 1;
    return text.slice(open + 1, i);
  }
}

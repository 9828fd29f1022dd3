// The one error type every config syntax problem is reported with (`.conf` and JSON alike), plus the
// helpers that turn a character offset into the 1-based line/column and a readable "found" phrase.
// Positions are computed from offsets only when an error is raised, so the scanners never pay for
// line bookkeeping on the happy path.

export const INLINE_FILE_NAME = "<inline>";

export class ConfigSyntaxError extends Error {
  override readonly name = "ConfigSyntaxError";
  readonly file: string;
  /** 1-based line of the offending character. */
  readonly line: number;
  /** 1-based column, counted in UTF-16 code units (what editors show for the same line). */
  readonly column: number;
  /** What the parser wanted at this point, e.g. `a value for key "Name"`. */
  readonly expected: string;
  /** What it saw instead, e.g. `newline`, `end of input`, `'}'`. */
  readonly found: string;

  constructor(file: string, line: number, column: number, expected: string, found: string) {
    super(`${file}:${line}:${column}: expected ${expected}, found ${found}`);
    this.file = file;
    this.line = line;
    this.column = column;
    this.expected = expected;
    this.found = found;
  }
}

export interface TextPosition {
  line: number;
  column: number;
}

/** Line and column (both 1-based) of `offset` in `text`. Linear in `offset`; only used on errors. */
export function positionAt(text: string, offset: number): TextPosition {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** `line:column` of an offset, for messages that point back at an opening bracket or quote. */
export function describePosition(text: string, offset: number): string {
  const { line, column } = positionAt(text, offset);
  return `${line}:${column}`;
}

// Characters that end a "word" when we quote what was found; keeps `found` short and on one token.
const WORD_BREAK = new Set([" ", "\t", "\r", "\n", ",", ";", ":", "=", "[", "]", "{", "}", '"', "'", "#"]);
const MAX_FOUND_WORD = 32;

/**
 * A short phrase for what sits at `offset`: `end of input`, `newline`, `comment`, a single
 * punctuation character in quotes (`'}'`), or the bare word starting there (`'Host'`).
 */
export function describeFound(text: string, offset: number): string {
  if (offset >= text.length) return "end of input";
  const c = text[offset] as string;
  if (c === "\n") return "newline";
  if (c === "\r") return text[offset + 1] === "\n" ? "newline" : "carriage return";
  if (c === "#" || text.startsWith("//", offset)) return "comment";
  if (WORD_BREAK.has(c)) return `'${c}'`;
  let end = offset;
  while (end < text.length && end - offset < MAX_FOUND_WORD && !WORD_BREAK.has(text[end] as string)) end++;
  const truncated = end < text.length && !WORD_BREAK.has(text[end] as string);
  return `'${text.slice(offset, end)}${truncated ? "…" : ""}'`;
}

/** Builds the error for `offset`, describing what is there unless the caller already knows. */
export function syntaxErrorAt(
  file: string,
  text: string,
  offset: number,
  expected: string,
  found: string = describeFound(text, offset),
): ConfigSyntaxError {
  const { line, column } = positionAt(text, offset);
  return new ConfigSyntaxError(file, line, column, expected, found);
}

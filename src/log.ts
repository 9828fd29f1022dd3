// The logging interface the library writes to. The CLI backs it with consola (pretty or JSON
// lines); embedders can pass their own; the default is silent so a library never spams stdout.

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** Lets a message through at most once per periodMs per key: overload and refusal logs. */
export class RateLimitedLog {
  private readonly lastAt = new Map<string, number>();

  constructor(private readonly periodMs: number) {}

  allow(key: string, nowMs: number): boolean {
    const last = this.lastAt.get(key);
    if (last !== undefined && nowMs - last < this.periodMs) return false;
    this.lastAt.set(key, nowMs);
    return true;
  }
}

// C0 controls, DEL, C1 controls, and the bidi embedding/override/isolate characters: each can
// forge or disguise a line on a terminal (a newline starts a fake log line, ESC recolours or
// moves the cursor, U+202E reverses what follows).
const UNSAFE_FOR_LOG = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const SHORT_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Text with every control and bidi-override character written as a visible escape (`\n`,
 * `\x1b`, `\u202e`), so a string from the network (a cluster or node name, a reason, an
 * address) cannot forge or disguise a line of a human-readable log. Backslashes are left alone:
 * this is for reading, not for round-tripping.
 */
export function escapeForLog(text: string): string {
  return text.replace(UNSAFE_FOR_LOG, (char) => {
    const short = SHORT_ESCAPES[char];
    if (short !== undefined) return short;
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
  });
}

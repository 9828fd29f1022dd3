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

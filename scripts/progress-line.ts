// A live progress line for long-running scripts (the simulator, the benchmarks): one line on
// stderr, rewritten in place, at most five times a second. Only on a terminal: in CI logs, pipes
// and files (stderr not a TTY, or CI set, or TERM=dumb) it prints nothing, so logs keep only the
// results. Written with writeSync, so it shows even while a synchronous simulation holds the
// event loop.

import { writeSync } from "node:fs";

const STDERR = 2;
const MIN_INTERVAL_MS = 200;
// Carriage return, then erase the whole line (ANSI EL2).
const CLEAR = "\r\x1b[2K";
const DEFAULT_COLUMNS = 120;

export interface ProgressLine {
  /** Shows `label: text (N s)`, unless the last update was under 200 ms ago. */
  update(text: string): void;
  /**
   * Re-shows `text()` every second until clear(), so the elapsed time moves while the script
   * awaits something long (a child process, a cluster). Synchronous work updates directly.
   */
  follow(text: () => string): void;
  /** Erases the line (and stops follow()), e.g. before printing results or a log line. */
  clear(): void;
}

const FOLLOW_INTERVAL_MS = 1000;

/** Whether a progress line is shown: stderr is a terminal and this is not CI. */
export function progressWanted(env: Record<string, string | undefined> = process.env): boolean {
  return process.stderr.isTTY === true && !env.CI && env.TERM !== "dumb";
}

export function progressLine(label: string, enabled = progressWanted()): ProgressLine {
  if (!enabled) return { update: () => {}, follow: () => {}, clear: () => {} };
  const started = performance.now();
  let lastShown = -Infinity;
  let shown = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  return {
    follow(text) {
      clearInterval(timer);
      timer = setInterval(() => this.update(text()), FOLLOW_INTERVAL_MS);
      timer.unref();
      this.update(text());
    },
    update(text) {
      const now = performance.now();
      if (now - lastShown < MIN_INTERVAL_MS) return;
      lastShown = now;
      const line = `${label}: ${text} (${((now - started) / 1000).toFixed(0)} s)`;
      // Cut to the terminal's width, or the line would wrap and stop being rewritten in place.
      const columns = process.stderr.columns || DEFAULT_COLUMNS; // 0 when the terminal reports no size
      writeSync(STDERR, CLEAR + line.slice(0, columns - 1));
      shown = true;
    },
    clear() {
      clearInterval(timer);
      timer = undefined;
      if (shown) writeSync(STDERR, CLEAR);
      shown = false;
      lastShown = -Infinity;
    },
  };
}

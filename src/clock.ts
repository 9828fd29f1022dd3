// Time as the engine sees it. Production uses the system clock; the simulator a virtual one, so
// the same engine code runs in both and simulated hours take seconds.

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds (never goes back). */
  now(): number;
  /** Wall-clock milliseconds since the epoch: generations and TTL expiry only. */
  wallNow(): number;
  /** Runs callback once after delayMs. */
  setTimer(delayMs: number, callback: () => void): Timer;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(delayMs, callback) {
    const handle = setTimeout(callback, delayMs);
    return { cancel: () => clearTimeout(handle) };
  },
};

/** Calls callback every intervalMs through a Clock; the interval can change while running. */
export class RepeatingTimer {
  private timer: Timer | null = null;

  constructor(
    private readonly clock: Clock,
    private intervalMs: number,
    private readonly callback: () => void,
  ) {}

  start(firstDelayMs = this.intervalMs): void {
    this.stop();
    this.timer = this.clock.setTimer(firstDelayMs, () => this.fire());
  }

  setInterval(intervalMs: number): void {
    this.intervalMs = intervalMs;
    if (this.timer) this.start();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private fire(): void {
    this.timer = this.clock.setTimer(this.intervalMs, () => this.fire());
    this.callback();
  }
}

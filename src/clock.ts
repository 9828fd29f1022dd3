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

/**
 * One timer for a node's periodic work: a tick at least every `maxTickMs` (the event-loop lag
 * check runs on each) and a round on every k-th tick, k = ⌈round interval / maxTickMs⌉, so that
 * the ticks divide the round evenly and a round never needs a wakeup of its own. With rounds of
 * maxTickMs or less every tick is a round.
 */
export class RoundTicker {
  private readonly timer: RepeatingTimer;
  private tickMs = 0;
  private ticksPerRound = 1;
  private ticksToRound = 0;
  private dueMs = 0;

  constructor(
    private readonly clock: Clock,
    roundMs: number,
    private readonly maxTickMs: number,
    /** Every tick, before the round: when it was due and when it ran. */
    private readonly onTick: (dueMs: number, nowMs: number) => void,
    private readonly onRound: () => void,
  ) {
    this.configure(roundMs);
    this.timer = new RepeatingTimer(clock, this.tickMs, () => this.tick());
  }

  /** The first tick, a round, comes after `firstDelayMs` (e.g. a random part of a round, to spread nodes). */
  start(firstDelayMs = this.tickMs): void {
    this.ticksToRound = 0;
    this.dueMs = this.clock.now() + firstDelayMs;
    this.timer.start(firstDelayMs);
  }

  stop(): void {
    this.timer.stop();
  }

  /** A new round interval, live: the next round comes one new interval from now. */
  setRoundInterval(roundMs: number): void {
    this.configure(roundMs);
    this.ticksToRound = this.ticksPerRound - 1;
    this.dueMs = this.clock.now() + this.tickMs;
    this.timer.setInterval(this.tickMs);
  }

  private configure(roundMs: number): void {
    this.ticksPerRound = Math.max(1, Math.ceil(roundMs / this.maxTickMs));
    this.tickMs = roundMs / this.ticksPerRound;
  }

  private tick(): void {
    const now = this.clock.now();
    const due = this.dueMs;
    // The timer re-arms from the moment it fired, so the next tick is due one tick from now.
    this.dueMs = now + this.tickMs;
    this.onTick(due, now);
    if (this.ticksToRound > 0) {
      this.ticksToRound--;
      return;
    }
    this.ticksToRound = this.ticksPerRound - 1;
    this.onRound();
  }
}

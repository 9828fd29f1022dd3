// A clock whose time moves only when the simulator advances it. Timers fire in time order, ties
// in the order they were set, so a run is fully determined by its seed.

import type { Clock, Timer } from "../clock.ts";

interface ScheduledTimer {
  at: number;
  sequence: number;
  callback: () => void;
  cancelled: boolean;
}

export class VirtualClock implements Clock {
  private current = 0;
  private sequence = 0;
  private readonly heap: ScheduledTimer[] = [];

  constructor(private readonly epochMs = 1_700_000_000_000) {}

  now(): number {
    return this.current;
  }

  wallNow(): number {
    return this.epochMs + this.current;
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    const timer: ScheduledTimer = { at: this.current + Math.max(0, delayMs), sequence: this.sequence++, callback, cancelled: false };
    this.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  get pendingTimers(): number {
    return this.heap.length;
  }

  /** Runs every timer due up to `until` (inclusive), in order, then sets the time to `until`. */
  runUntil(until: number): void {
    while (this.heap.length > 0 && this.heap[0]!.at <= until) {
      const timer = this.pop();
      if (timer.cancelled) continue;
      this.current = timer.at;
      timer.callback();
    }
    if (until > this.current) this.current = until;
  }

  advance(ms: number): void {
    this.runUntil(this.current + ms);
  }

  private push(timer: ScheduledTimer): void {
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): ScheduledTimer {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && earlier(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && earlier(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

function earlier(a: ScheduledTimer, b: ScheduledTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.sequence < b.sequence);
}

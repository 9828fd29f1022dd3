// One query seen from the node that asked: collects the acks, responses and errors of the nodes it
// asked, hands them out as an async iterable as they arrive, and ends with a summary, either when
// every node asked has answered or at the timeout, whichever comes first. Nothing else ends it, so a
// node that dies mid-query is simply named in `missing` when the timeout comes.

import type { Clock, Timer } from "../clock.ts";

export interface QuerySummary {
  name: string;
  /** Every node the query was sent to (this one included when it matched). */
  asked: string[];
  /** Nodes that acknowledged receipt (with requestAck). */
  acked: string[];
  /** Nodes whose handler answered. */
  responded: string[];
  /** Nodes that could not answer, with the reason (no handler, it failed, too slow, answer too large). */
  errors: { from: string; error: string }[];
  /** Nodes asked that neither responded nor reported an error before the timeout. */
  missing: string[];
  /** True when the timeout ended the query (someone was missing); false when every node answered. */
  timedOut: boolean;
  elapsedMs: number;
}

export type QueryItem =
  | { type: "ack"; from: string; elapsedMs: number }
  | { type: "response"; from: string; payload: Uint8Array; elapsedMs: number }
  | { type: "error"; from: string; error: string; elapsedMs: number }
  | ({ type: "summary" } & QuerySummary);

/** What node.query() returns: iterate for the items as they come (the last is the summary), or await `summary`. */
export interface QueryResult extends AsyncIterable<QueryItem> {
  readonly name: string;
  readonly asked: readonly string[];
  readonly summary: Promise<QuerySummary>;
}

export class QueryRun implements QueryResult {
  readonly summary: Promise<QuerySummary>;
  private readonly startedAt: number;
  private readonly askedSet: ReadonlySet<string>;
  private readonly acked = new Set<string>();
  private readonly answered = new Map<string, string | null>();
  private readonly items: QueryItem[] = [];
  private wake: (() => void) | null = null;
  private finish!: (summary: QuerySummary) => void;
  private timer: Timer | null = null;
  private ended = false;
  private iterated = false;

  constructor(
    readonly name: string,
    readonly asked: readonly string[],
    timeoutMs: number,
    private readonly clock: Clock,
    private readonly onEnd: () => void,
  ) {
    this.startedAt = clock.now();
    this.askedSet = new Set(asked);
    this.summary = new Promise((resolve) => (this.finish = resolve));
    if (asked.length === 0) queueMicrotask(() => this.end(false));
    else this.timer = clock.setTimer(timeoutMs, () => this.end(true));
  }

  /** An ack from `from`; false when it is not one of the nodes asked, or acked already. */
  ack(from: string): boolean {
    if (this.ended || !this.askedSet.has(from) || this.acked.has(from)) return false;
    this.acked.add(from);
    this.push({ type: "ack", from, elapsedMs: this.elapsed() });
    return true;
  }

  /** A response (error undefined) or an error from `from`; the first answer of each node counts. */
  answer(from: string, payload: Uint8Array, error?: string): boolean {
    if (this.ended || !this.askedSet.has(from) || this.answered.has(from)) return false;
    this.answered.set(from, error ?? null);
    const elapsedMs = this.elapsed();
    this.push(error === undefined ? { type: "response", from, payload, elapsedMs } : { type: "error", from, error, elapsedMs });
    if (this.answered.size === this.asked.length) this.end(false);
    return true;
  }

  /** Ends now, as at the timeout (the node stops). */
  cancel(): void {
    this.end(true);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<QueryItem> {
    if (this.iterated) throw new Error(`query ${JSON.stringify(this.name)} can be iterated once; await its summary instead`);
    this.iterated = true;
    for (;;) {
      const item = this.items.shift();
      if (item) {
        yield item;
        if (item.type === "summary") return;
        continue;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private end(timedOut: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.timer?.cancel();
    const responded: string[] = [];
    const errors: QuerySummary["errors"] = [];
    for (const [from, error] of this.answered) {
      if (error === null) responded.push(from);
      else errors.push({ from, error });
    }
    const missing = this.asked.filter((name) => !this.answered.has(name));
    const summary: QuerySummary = { name: this.name, asked: [...this.asked], acked: [...this.acked], responded, errors, missing, timedOut, elapsedMs: this.elapsed() };
    this.push({ type: "summary", ...summary });
    this.finish(summary);
    this.onEnd();
  }

  private push(item: QueryItem): void {
    this.items.push(item);
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private elapsed(): number {
    return Math.round(this.clock.now() - this.startedAt);
  }
}

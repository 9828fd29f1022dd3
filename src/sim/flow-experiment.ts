// The flow-control experiment of van Renesse et al. (LADIS 2008) on the simulator: N nodes each
// own the same K keys and write them at a rate that changes over time, while the per-message
// budget (the paper's MTU, counted in deltas) can change too. Every node's application writes go
// through the real write path (flow control when on); staleness is measured by StalenessTracker
// after every round. Shared by scripts/bench/flow.ts and test/flow-control.test.ts, which pick
// the sizes and schedules.

import { createRandom, type Random } from "../random.ts";
import { SimulatedCluster, nodeName } from "./simulated-cluster.ts";
import { type StalenessSample, StalenessTracker } from "./staleness.ts";

export const EXPERIMENT_GROUP = "app";

export interface FlowExperimentOptions {
  nodes: number;
  keysPerNode: number;
  seed: number;
  flowControl: boolean;
  /** Bytes per value (the entry size is this plus group, key and framing). */
  valueBytes: number;
  /** Seconds at the start with no per-message cap and no writes but the first: every replica starts with the whole state. */
  warmUpSeconds: number;
  /** Deltas (entries) per SYN-ACK or ACK after the warm-up, at a time in seconds. */
  budgetAt(seconds: number): number;
  /** Updates per second the application of node `index` writes at a time in seconds (after the warm-up). */
  rate(index: number, seconds: number): number;
}

export interface RoundRecord {
  seconds: number;
  staleness: StalenessSample;
  /** Per node: allowed rate (Infinity while flow control does not limit), backlog, oldest wait. */
  allowedRates: number[];
  backlogEntries: number[];
  oldestUnsentAgeMs: number[];
}

export function experimentKey(index: number): string {
  return `key-${String(index).padStart(3, "0")}`;
}

/** Build one with FlowExperiment.start(): the cluster's nodes start asynchronously. */
export class FlowExperiment {
  readonly cluster: SimulatedCluster;
  readonly tracker: StalenessTracker;
  readonly names: string[];
  readonly keys: string[];
  readonly rounds: RoundRecord[] = [];
  private readonly workload: Random;
  private budget: number | undefined;

  static async start(options: FlowExperimentOptions): Promise<FlowExperiment> {
    const experiment = new FlowExperiment(options);
    await experiment.cluster.started();
    return experiment;
  }

  private constructor(readonly options: FlowExperimentOptions) {
    this.cluster = new SimulatedCluster({
      nodes: options.nodes,
      seed: options.seed,
      network: { lossRate: 0, minLatencyMs: 1, maxLatencyMs: 10 },
      gossip: { gossipIntervalMs: 1000, fanout: 1, pushFanout: 0, flowControl: options.flowControl },
    });
    this.cluster.recordChanges = false;
    // Its own stream, so runs with and without flow control see the same application writes.
    this.workload = createRandom(options.seed ^ 0x5eed_f10e);
    this.names = Array.from({ length: options.nodes }, (_, i) => nodeName(i));
    this.keys = Array.from({ length: options.keysPerNode }, (_, i) => experimentKey(i));
    this.tracker = new StalenessTracker(this.names, this.keys);
    const measured = new Set(this.names);
    this.cluster.onChanges = (node, changes) => {
      if (!measured.has(node.name)) return; // a node added later (a joiner) is not measured
      const now = this.cluster.clock.now();
      for (const change of changes) {
        if (change.group !== EXPERIMENT_GROUP) continue;
        // A local write with version 0 is held back by flow control: published later, seen again then.
        if (change.local) {
          if (change.current.version > 0) this.tracker.onPublish(node.name, change.key, change.current.version, now);
        }
        else this.tracker.onApplied(node.name, change.node, change.key, change.current.version);
      }
    };
    for (const name of this.names) for (const key of this.keys) this.write(name, key);
    this.names.forEach((name, i) => this.scheduleWrites(name, i));
  }

  get seconds(): number {
    return this.cluster.clock.now() / 1000;
  }

  /** Runs round by round up to `seconds`, recording every round. */
  runUntil(seconds: number): void {
    while (this.seconds + 1e-9 < seconds) {
      const budget = this.seconds < this.options.warmUpSeconds ? undefined : this.options.budgetAt(this.seconds);
      if (budget !== this.budget) {
        this.budget = budget;
        for (const { node } of this.cluster.nodes) {
          const settings = { ...node.gossipSettings };
          if (budget === undefined) delete settings.maxEntriesPerMessage;
          else settings.maxEntriesPerMessage = budget;
          node.applySettings({ gossip: settings });
        }
      }
      this.cluster.runFor(this.cluster.intervalMs);
      this.record();
    }
  }

  private record(): void {
    const statuses = this.cluster.nodes.map(({ node }) => node.flowControl());
    this.rounds.push({
      seconds: Math.round(this.seconds),
      staleness: this.tracker.sample(this.cluster.clock.now()),
      allowedRates: statuses.map((status) => (status.limiting ? status.allowedRate : Number.POSITIVE_INFINITY)),
      backlogEntries: statuses.map((status) => status.backlogEntries),
      oldestUnsentAgeMs: statuses.map((status) => status.oldestUnsentAgeMs),
    });
  }

  /** Application writes of one node: a Poisson process at the node's rate, to keys chosen at random. */
  private scheduleWrites(name: string, index: number): void {
    const next = (): void => {
      const seconds = this.seconds;
      const rate = seconds < this.options.warmUpSeconds ? 0 : this.options.rate(index, seconds);
      if (rate <= 0) {
        this.cluster.clock.setTimer(100, next); // look again soon: the rate may rise
        return;
      }
      const delayMs = (-Math.log(1 - this.workload.next()) / rate) * 1000;
      this.cluster.clock.setTimer(delayMs, () => {
        this.write(name, this.keys[this.workload.int(this.keys.length)]!);
        next();
      });
    };
    next();
  }

  private write(name: string, key: string): void {
    const now = this.cluster.clock.now();
    const value = new Uint8Array(this.options.valueBytes);
    new DataView(value.buffer).setFloat64(0, now);
    this.tracker.onWrite(name, key, now);
    // Published at once or held back: the change observer above records the publish.
    this.cluster.node(name).node.set(EXPERIMENT_GROUP, key, value);
  }
}

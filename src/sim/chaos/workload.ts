// The application load a scenario runs under, throughout its fault window: writes, deletes, TTL
// writes (which expire), and cluster-config changes, made through GossipNode's public methods on
// running nodes whose event loop is not frozen (a frozen process cannot write either). Its own
// seeded random stream keeps it independent of the fault schedule's draws.

import type { Random } from "../../random.ts";
import type { SimulatedCluster } from "../simulated-cluster.ts";
import { chaosTiming } from "./scenario.ts";

export const workloadGroup = "chaos";
/** Keys per node: what bounds each node's entries and tombstones (I4). */
export const keysPerNode = 12;
/** How often the workload acts, and the chance that a node writes each time. */
export const workloadTickMs = 500;
const writeChance = 0.15;
const configChance = 0.01;

export class Workload {
  private counter = 0;
  writes = 0;
  deletes = 0;
  ttlWrites = 0;
  configChanges = 0;

  constructor(
    private readonly cluster: SimulatedCluster,
    private readonly random: Random,
    /** Writes stop when the last fault ends, TTL writes early enough to have expired everywhere by then. */
    private readonly writesEndMs: number,
  ) {}

  /** TTL writes stop this long before the others: the longest TTL, plus two nodes' skews apart. */
  static readonly ttlLeadMs = chaosTiming.maxTtlMs + 2 * chaosTiming.maxSkewMs;

  tick(): void {
    const now = this.cluster.clock.now();
    if (now >= this.writesEndMs) return;
    for (const simNode of this.cluster.running()) {
      const full = simNode;
      if (full.clock.isStalled || !(this.random.next() < writeChance)) continue;
      const node = full.node;
      const key = `k${this.random.int(keysPerNode)}`;
      const roll = this.random.next();
      if (roll < 0.25) {
        if (node.delete(workloadGroup, key)) this.deletes++;
      } else if (roll < 0.45 && now < this.writesEndMs - Workload.ttlLeadMs) {
        node.set(workloadGroup, key, this.value(simNode.name), { ttl: 1_000 + this.random.int(chaosTiming.maxTtlMs - 1_000) });
        this.ttlWrites++;
      } else {
        node.set(workloadGroup, key, this.value(simNode.name));
        this.writes++;
      }
    }
    if (this.random.next() < configChance) {
      const running = this.cluster.running().filter((node) => !node.clock.isStalled);
      const node = running[this.random.int(running.length)];
      if (node) {
        node.node.updateClusterConfig({ chaosMark: ++this.counter });
        this.configChanges++;
      }
    }
  }

  /** Unique values, so any two copies that compare equal are the same write. */
  private value(name: string): string {
    return `${name}#${++this.counter}`;
  }
}

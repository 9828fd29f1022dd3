// Watches one node incarnation's event stream: replays it into the state it describes (I5),
// notices keys that come back after this node saw them deleted or expired (I2), checks every
// "dead" verdict against the health of the path (I3), and folds everything into a trace hash
// that tells whether two runs of a seed were the same.

import type { GossipEvent } from "../../events.ts";
import type { SimNode, SimulatedCluster } from "../simulated-cluster.ts";
import type { HealthHistory } from "./health.ts";

/** The window over which a path must have been healthy for a "dead" verdict to be false (I3). */
export const detectionWindowMs = 20_000;

export interface Violation {
  invariant: "I1" | "I2" | "I3" | "I4" | "I5";
  atMs: number;
  message: string;
}

export interface ReplayedEntry {
  version: number;
  value: string;
  /** The owner's generation this node held when the event came: the one `version` counts in. */
  generation: number;
}

/** FNV-1a over the text of every event, across all nodes, in the order they happened. */
export class TraceHash {
  private hash = 0x811c9dc5;
  events = 0;

  add(text: string): void {
    let hash = this.hash;
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
    this.hash = hash >>> 0;
    this.events++;
  }

  get hex(): string {
    return this.hash.toString(16).padStart(8, "0");
  }
}

export class NodeObserver {
  /** Owner -> "group\u0000key" -> the entry the events say this node holds. */
  readonly entries = new Map<string, Map<string, ReplayedEntry>>();
  /** Subject -> [status, generation] as the node-* events tell it (removed: absent). */
  readonly members = new Map<string, { status: string; generation: number }>();
  /** Subject -> generation, for subjects whose latest node-* event was their removal. */
  readonly removed = new Map<string, number>();
  /** "owner\u0000generation\u0000group\u0000key" -> highest version seen deleted or expired here. */
  private readonly deadVersions = new Map<string, number>();

  constructor(
    readonly node: SimNode,
    private readonly cluster: SimulatedCluster,
    private readonly history: HealthHistory,
    private readonly trace: TraceHash,
    private readonly report: (violation: Violation) => void,
  ) {
    node.node.on("*", (event) => this.observe(event));
  }

  private get name(): string {
    return this.node.name;
  }

  private observe(event: GossipEvent): void {
    const now = this.cluster.clock.now();
    switch (event.type) {
      case "entry-added":
      case "entry-updated":
      case "entry-deleted":
      case "entry-expired": {
        const value = String(event.value);
        this.trace.add(`${now}|${this.name}|${event.type}|${event.node}|${event.group}|${event.key}|${event.version}|${value}`);
        const key = `${event.group}\u0000${event.key}`;
        let owned = this.entries.get(event.node);
        if (!owned) this.entries.set(event.node, (owned = new Map()));
        const generation = this.node.state.nodes.get(event.node)?.generation ?? 0;
        if (event.type === "entry-added" || event.type === "entry-updated") {
          owned.set(key, { version: event.version, value, generation });
          const dead = this.deadVersions.get(`${event.node}\u0000${generation}\u0000${key}`);
          // Version 0: a local write flow control holds back (it gets its version when published).
          if (dead !== undefined && event.version !== 0 && event.version <= dead) {
            this.report({ invariant: "I2", atMs: now, message: `${this.name} holds ${event.node}'s ${event.group}/${event.key} again at version ${event.version} (${value}), after it saw version ${dead} deleted or expired` });
          }
          return;
        }
        // The event's version is that of the value that went away, which may be of an older
        // generation than the delete (a restarted owner's delete of a key this node held only
        // from before the restart): it is dead in the generation it was added in.
        const wentAway = owned.get(key)?.generation ?? generation;
        owned.delete(key);
        // A "deleted" without writtenAt is a key dropped when a restarted owner's new state
        // replaced the old one: no delete of that generation, so nothing to hold it to.
        if (event.type === "entry-deleted" && event.writtenAt === undefined) return;
        const deadKey = `${event.node}\u0000${wentAway}\u0000${key}`;
        this.deadVersions.set(deadKey, Math.max(this.deadVersions.get(deadKey) ?? 0, event.version));
        return;
      }
      case "node-joined":
      case "node-alive":
      case "node-suspect":
      case "node-dead":
      case "node-left":
      case "node-removed":
        this.trace.add(`${now}|${this.name}|${event.type}|${event.node}|${event.generation}`);
        if (event.type === "node-removed") {
          this.members.delete(event.node);
          this.entries.delete(event.node);
          this.removed.set(event.node, event.generation);
        } else {
          this.removed.delete(event.node);
          const status = event.type === "node-joined" ? "alive" : event.type.slice("node-".length);
          this.members.set(event.node, { status, generation: event.generation });
        }
        if (event.type === "node-dead") this.checkConviction(event.node, event.generation, now);
        return;
      case "config-changed":
        this.trace.add(`${now}|${this.name}|config|${event.node}|${event.version}`);
        return;
      default:
        return;
    }
  }

  /** I3: a node declared dead while it ran that generation over a healthy path. */
  private checkConviction(subject: string, generation: number, now: number): void {
    const accused = this.cluster.byName.get(subject);
    if (!accused?.running || accused.node.settings.generation !== generation) return;
    if (this.history.healthy(this.name, subject, now, detectionWindowMs)) {
      this.report({ invariant: "I3", atMs: now, message: `${this.name} declared ${subject} (generation ${generation}) dead although the path between them was healthy for the last ${detectionWindowMs} ms` });
    }
  }

  /** I2 on the state itself (not only events): no live entry shown at or below a version seen dead. */
  checkResurrections(now: number): Violation | null {
    if (this.deadVersions.size === 0) return null;
    for (const node of this.node.state.nodes.values()) {
      // A probationary name's entries are held but shown to no one (state/probation.ts).
      if (this.node.state.isProbationary(node.name)) continue;
      for (const entry of this.node.state.liveEntries(node.name)) {
        const dead = this.deadVersions.get(`${node.name}\u0000${node.generation}\u0000${entry.group}\u0000${entry.key}`);
        if (dead !== undefined && entry.version <= dead) {
          return { invariant: "I2", atMs: now, message: `${this.name}'s state holds ${node.name}'s ${entry.group}/${entry.key} live at version ${entry.version}, after it saw version ${dead} deleted or expired` };
        }
      }
    }
    return null;
  }
}

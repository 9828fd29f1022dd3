// The Node: wires state, gossip engine, membership, transport and events together. It is the
// only module that knows all of them. Transport, clock and randomness are injected, so the same
// class runs over TCP in production and over the in-memory network in simulations.

import { DecodeError, type Frame } from "./codec/index.ts";
import { type Clock, RoundTicker } from "./clock.ts";
import { EventBus, type EventHandler, type GossipEvent, type GossipEventType } from "./events.ts";
import { GossipEngine, type GossipSettings } from "./gossip/engine.ts";
import { type FlowControlStatus, OVERLOAD_WINDOW_ROUNDS, type OverloadReport } from "./gossip/flow-control.ts";
import { SortedMembers, childrenIn } from "./gossip/push-tree.ts";
import type { Logger } from "./log.ts";
import { LocalHealth } from "./membership/local-health.ts";
import { Membership, type MemberStatus, type MembershipSettings, type Transition } from "./membership/membership.ts";
import type { Random } from "./random.ts";
import {
  RESERVED_GROUP,
  type ChangeRecord,
  ClusterState,
  type EntrySnapshot,
  type StateLimits,
  type Value,
  ValueType,
  type ValueTypeName,
  decodeValue,
  encodeValue,
  valueTypeNames,
} from "./state/index.ts";
import type { DialPolicy, Transport } from "./transport/transport.ts";

const ADDRESS_KEY = "address";
const STATUS_KEY = "status";
const CONFIG_KEY = "config";
// Event-loop lag is sampled at least four times a second: fine enough for stalls of 500 ms and
// more (the local-health guard's threshold). The samples ride on the node's one timer, which also
// runs the gossip rounds (RoundTicker): every wakeup costs an idle node CPU time.
const MAX_HEALTH_TICK_MS = 250;

export interface NodeSettings {
  name: string;
  generation: number;
  clusterName: string;
  gossip: GossipSettings;
  membership: MembershipSettings;
  tombstoneGraceMs: number;
  limits: StateLimits;
}

export interface NodeDeps {
  transport: Transport;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** The address other nodes dial, published in this node's reserved entries once listening. */
  advertisedAddress(): string;
}

export interface MemberInfo {
  name: string;
  address: string | undefined;
  state: MemberStatus;
  phi: number;
  generation: number;
  heartbeat: number;
  heartbeatAgeMs: number;
  maxVersion: number;
}

export interface EntryInfo {
  group: string;
  key: string;
  value: Value;
  type: ValueTypeName;
  version: number;
}

export interface SetOptions {
  /** Milliseconds until the entry expires on every node. */
  ttl?: number;
  /** Value type; inferred from the JavaScript value when absent. */
  type?: ValueType;
}

/** Cluster-wide settings document, gossiped as a versioned reserved entry. */
export interface ClusterConfigDocument {
  version: number;
  /** Node that made this version; breaks ties between concurrent changes. */
  origin: string;
  settings: Record<string, unknown>;
}

export type ClusterConfigApplier = (settings: Record<string, unknown>) => { gossip: GossipSettings; membership: MembershipSettings };

export class GossipNode {
  readonly state: ClusterState;
  readonly engine: GossipEngine;
  readonly membership: Membership;
  readonly health = new LocalHealth();
  readonly events: EventBus;
  /** gossip-overload events raised, by cause (for the metrics). */
  readonly overloadEvents = { "write-queue": 0, "flow-control": 0 };
  private readonly contacts = new Set<string>();
  /** Drives the gossip rounds (with membership checks) and the event-loop lag samples. */
  private readonly ticker: RoundTicker;
  private running = false;
  private config: ClusterConfigDocument;

  constructor(
    readonly settings: NodeSettings,
    private readonly deps: NodeDeps,
    initialConfig: Record<string, unknown>,
    private readonly applyConfig: ClusterConfigApplier,
  ) {
    const { clock, random, logger } = deps;
    this.config = { version: 0, origin: settings.name, settings: initialConfig };
    this.events = new EventBus(settings.name, (source, error) => logger.error(`${source} failed: ${error.message}`, { stack: error.stack }));
    this.state = new ClusterState(settings.name, settings.generation, clock, { tombstoneGraceMs: settings.tombstoneGraceMs, limits: settings.limits });
    this.membership = new Membership(settings.name, clock, random, settings.membership, this.health, {
      send: (peer, frame) => deps.transport.send(peer, frame) === "queued",
      onTransition: (transition) => this.onTransition(transition),
      removeNode: (name, generation, as, rememberForMs) => void this.state.removeNode(name, generation, as, rememberForMs),
      removed: this.state.removed,
    }, settings.generation);
    // Every write this node makes or forwards consults the push tree: sorting the members once per
    // change of the live set, not per write, keeps that O(fanout + log N).
    const pushMembers = new SortedMembers(settings.name, () => this.membership.liveSetChanges, () => this.membership.livePeers());
    this.engine = new GossipEngine(this.state, clock, random, settings.gossip, {
      send: (peer, frames) => deps.transport.send(peer, frames),
      choosePeers: (count) => this.choosePeers(count),
      choosePushPeers: (count, origin, exclude) =>
        childrenIn(pushMembers.get(), origin, this.name, count).filter((peer) => !exclude.has(peer)),
      onChanges: (changes) => this.onChanges(changes),
      onHeartbeat: (node) => this.membership.heartbeat(node, this.state.nodes.get(node)?.generation ?? 0),
      onDiscovered: (node) => this.membership.observe(node, this.state.nodes.get(node)?.generation ?? 0),
      onProtocolError: (peer, error) => this.onProtocolError(peer, error),
      onRound: () => this.membership.check(),
      onOverload: (report) => this.onFlowOverload(report),
    });
    const onTick = (dueMs: number, nowMs: number): void => {
      if (!this.health.tick(dueMs, nowMs)) return;
      logger.warn(`event loop stalled for ${Math.round(this.health.lastStallMs)} ms; convicting no one until heartbeats catch up`);
      this.membership.excuseLocalPause(this.health.lastStallMs);
    };
    this.ticker = new RoundTicker(clock, settings.gossip.gossipIntervalMs, MAX_HEALTH_TICK_MS, onTick, () => this.engine.round());
  }

  get name(): string {
    return this.settings.name;
  }

  get isRunning(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    let listening = false;
    try {
      this.writeConfigEntry();
      await this.deps.transport.start({
        onFrame: (from, frame) => this.onFrame(from, frame),
        onPeerUp: (name, address) => this.onPeerUp(name, address),
        onPeerDown: (name) => this.onPeerDown(name),
        addressOf: (name) => this.addressOf(name),
        dialPolicy: (name) => this.dialPolicy(name),
        onRefused: (address, node, reason) => this.emit({ type: "connection-refused", node: node ?? "", address, reason, time: this.deps.clock.wallNow() }),
        onOverload: (peer, queuedBytes) => {
          this.overloadEvents["write-queue"]++;
          this.emit({ type: "gossip-overload", node: peer, cause: "write-queue", reason: `write queue holds ${queuedBytes} bytes, past its high-water mark`, time: this.deps.clock.wallNow() });
        },
      });
      listening = true;
      this.state.set(RESERVED_GROUP, ADDRESS_KEY, encodeValue(this.deps.advertisedAddress()));
    } catch (error) {
      // A start that failed (port in use, a limit too small for this node's own entries) must not
      // leave a node that claims to run: start() would then be a silent no-op.
      this.running = false;
      if (listening) await this.deps.transport.stop();
      throw error;
    }
    // A random first delay spreads the rounds of nodes started together.
    this.ticker.start(this.deps.random.next() * this.settings.gossip.gossipIntervalMs);
    this.deps.logger.info(`node ${this.name} started`, { generation: this.settings.generation, address: this.deps.advertisedAddress() });
  }

  /** Leaves gracefully: announces it, flushes what is queued, then closes every connection. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.engine.flushWrites(); // writes still held back go out with the leave, not never
    try {
      this.state.set(RESERVED_GROUP, STATUS_KEY, encodeValue("left"));
      this.engine.pushLocal(RESERVED_GROUP, STATUS_KEY);
    } catch (error) {
      // The status entry is refused when the node is at maxEntriesPerNode. The LEAVE frames below
      // still tell the connected peers; stopping must never be left half done.
      this.deps.logger.warn(`could not record the "left" status: ${(error as Error).message}`);
    }
    const leave = this.membership.encodeLeave();
    for (const peer of this.membership.livePeers()) this.deps.transport.send(peer, leave);
    this.ticker.stop();
    this.membership.stop();
    await this.deps.transport.stop();
    this.deps.logger.info(`node ${this.name} left the cluster`);
  }

  /**
   * Writes an entry of this node; returns its version, or 0 when flow control holds the write
   * back (it is readable here at once and gets its version when published).
   */
  set(group: string, key: string, value: Value, options: SetOptions = {}): number {
    assertUserGroup(group);
    const write = this.engine.flow.write(group, key, encodeValue(value, options.type), options.ttl);
    this.onChanges([write.change]);
    if (write.published) this.engine.pushLocal(group, key);
    return write.change.current.version;
  }

  delete(group: string, key: string): boolean {
    assertUserGroup(group);
    const write = this.engine.flow.delete(group, key);
    if (!write) return false;
    this.onChanges([write.change]);
    if (write.published) this.engine.pushLocal(group, key);
    return true;
  }

  get(node: string, group: string, key: string): Value | undefined {
    return this.getEntry(node, group, key)?.value;
  }

  getEntry(node: string, group: string, key: string): EntryInfo | undefined {
    // This node's own entries as its writes left them, those flow control holds back included.
    const entry = node === this.name ? this.engine.flow.visible(group, key) : this.state.get(node, group, key);
    if (!entry) return undefined;
    return { group, key, value: decodeValue(entry.valueType, entry.value), type: valueTypeNames[entry.valueType], version: entry.version };
  }

  /** Live entries of a node, reserved ones excluded (for this node, held-back writes included). */
  entries(node: string): EntryInfo[] {
    const own = node === this.name;
    const list: EntryInfo[] = [];
    for (const entry of this.state.liveEntries(node)) {
      if (entry.group === RESERVED_GROUP || (own && this.engine.flow.held(entry.group, entry.key))) continue;
      list.push({ group: entry.group, key: entry.key, value: decodeValue(entry.valueType, entry.value), type: valueTypeNames[entry.valueType], version: entry.version });
    }
    if (own) {
      for (const held of this.engine.flow.heldWrites()) {
        const entry = this.engine.flow.visible(held.group, held.key);
        if (entry) list.push({ group: held.group, key: held.key, value: decodeValue(entry.valueType, entry.value), type: valueTypeNames[entry.valueType], version: 0 });
      }
    }
    return list;
  }

  /** Flow control now: allowed and desired update rates, writes held back and for how long. */
  flowControl(): FlowControlStatus {
    return this.engine.flow.status();
  }

  /** Names of every node known, this one included. */
  nodes(): string[] {
    return [...this.state.nodes.keys()];
  }

  members(): MemberInfo[] {
    const views = new Map(this.membership.members().map((view) => [view.name, view]));
    const list: MemberInfo[] = [];
    for (const node of this.state.nodes.values()) {
      const isSelf = node.name === this.name;
      const view = views.get(node.name);
      list.push({
        name: node.name,
        address: this.addressOf(node.name),
        state: isSelf ? (this.running ? "alive" : "left") : (view?.status ?? "alive"),
        phi: isSelf ? 0 : (view?.phi ?? 0),
        generation: node.generation,
        heartbeat: this.state.heartbeatOf(node.name),
        heartbeatAgeMs: isSelf ? 0 : (view?.lastHeartbeatAgeMs ?? 0),
        maxVersion: node.maxVersion,
      });
    }
    return list;
  }

  on<T extends GossipEventType>(type: T | "*", handler: EventHandler<NoInfer<T>>): () => void {
    return this.events.on(type, handler);
  }

  clusterConfig(): ClusterConfigDocument {
    return structuredClone(this.config);
  }

  /** Applies a validated patch of cluster settings here and gossips it as a new version. */
  updateClusterConfig(patch: Record<string, unknown>): ClusterConfigDocument {
    const settings = { ...this.config.settings, ...patch };
    const next: ClusterConfigDocument = { version: this.config.version + 1, origin: this.name, settings };
    this.adoptConfig(next);
    this.engine.pushLocal(RESERVED_GROUP, CONFIG_KEY);
    return this.clusterConfig();
  }

  /**
   * Validates, records (as this node's config entry, which gossips it on) and applies a document.
   * Throws, with nothing changed, when the settings are invalid or the entry cannot be written.
   */
  private adoptConfig(next: ClusterConfigDocument): void {
    const applied = this.applyConfig(next.settings); // throws on invalid settings
    this.writeConfigEntry(next); // throws WriteError (e.g. larger than maxValueBytes) before anything changed
    const changed = Object.keys(next.settings).filter((key) => JSON.stringify(next.settings[key]) !== JSON.stringify(this.config.settings[key]));
    this.config = next;
    if (applied.gossip.gossipIntervalMs !== this.engine.settings.gossipIntervalMs) this.ticker.setRoundInterval(applied.gossip.gossipIntervalMs);
    this.engine.updateSettings(applied.gossip);
    this.membership.updateSettings(applied.membership);
    // The event names the node that made the change, not the one it was relayed through.
    this.emit({ type: "config-changed", node: next.origin, version: next.version, changed, time: this.deps.clock.wallNow() });
  }

  private writeConfigEntry(document: ClusterConfigDocument = this.config): void {
    this.state.set(RESERVED_GROUP, CONFIG_KEY, encodeValue(document as unknown as Value, ValueType.Json));
  }

  private onReservedChange(change: ChangeRecord): void {
    if (change.kind === "deleted" || change.kind === "expired" || change.local) return;
    if (change.key === STATUS_KEY && decodeValue(change.current.valueType, change.current.value) === "left") {
      this.membership.markLeft(change.node, this.state.nodes.get(change.node)?.generation ?? 0);
    } else if (change.key === CONFIG_KEY) {
      this.considerConfig(change.node, change.current);
    }
  }

  private considerConfig(from: string, snapshot: EntrySnapshot): void {
    let document: ClusterConfigDocument;
    try {
      document = decodeValue(snapshot.valueType, snapshot.value) as unknown as ClusterConfigDocument;
      if (typeof document?.version !== "number" || typeof document.origin !== "string" || typeof document.settings !== "object") throw new Error("not a config document");
    } catch (error) {
      this.deps.logger.warn(`ignored cluster config from ${from}: ${(error as Error).message}`);
      return;
    }
    const current = this.config;
    // Version 0 is every node's start-up config from its own options: only a change made at run
    // time (version 1 and up) travels. Equal versions made concurrently: the larger origin wins.
    const newer = document.version > current.version || (document.version === current.version && document.version > 0 && document.origin > current.origin);
    if (!newer) return;
    try {
      this.adoptConfig(document);
      this.deps.logger.info(`adopted cluster config version ${document.version} from ${document.origin}`);
    } catch (error) {
      this.deps.logger.warn(`ignored cluster config version ${document.version} from ${from}: ${(error as Error).message}`);
    }
  }

  private onChanges(changes: ChangeRecord[]): void {
    const time = this.deps.clock.wallNow();
    for (const change of changes) {
      if (change.group === RESERVED_GROUP) {
        this.onReservedChange(change);
        continue;
      }
      const type = `entry-${change.kind}` as const;
      if (!this.events.hasHandlers(type)) continue;
      try {
        const event: GossipEvent = {
          type,
          node: change.node,
          group: change.group,
          key: change.key,
          value: decodeValue(change.current.valueType, change.current.value),
          valueType: valueTypeNames[change.current.valueType],
          version: change.current.version,
          local: change.local,
          time,
        };
        if (change.previous) {
          event.previous = { value: decodeValue(change.previous.valueType, change.previous.value), valueType: valueTypeNames[change.previous.valueType], version: change.previous.version };
        }
        if (change.writtenAt !== undefined) event.writtenAt = change.writtenAt;
        this.emit(event);
      } catch (error) {
        this.deps.logger.warn(`entry ${change.group}/${change.key} of ${change.node} holds a value that does not decode: ${(error as Error).message}`);
      }
    }
  }

  private onTransition(transition: Transition): void {
    // Known to the membership from now on: no longer a contact to gossip with blindly.
    this.contacts.delete(transition.node);
    this.deps.logger[transition.kind === "dead" ? "warn" : "info"](`node ${transition.node} ${transitionVerbs[transition.kind]}`, { generation: transition.generation, phi: Number(transition.phi.toFixed(2)) });
    this.emit({ type: `node-${transition.kind}`, node: transition.node, generation: transition.generation, phi: transition.phi, time: this.deps.clock.wallNow() });
  }

  private onFrame(from: string, frame: Frame): void {
    if (!this.running) return;
    if (this.engine.handleFrame(from, frame)) return;
    try {
      if (!this.membership.handleFrame(from, frame.type, frame.correlationId, frame.body)) {
        this.deps.logger.debug(`skipped frame of unknown type ${frame.type} from ${from}`);
      }
    } catch (error) {
      if (error instanceof DecodeError) this.onProtocolError(from, error);
      else throw error;
    }
  }

  /** Flow control saw a sustained overload: one warning and one event per report (reports are rate-limited). */
  private onFlowOverload(report: OverloadReport): void {
    this.overloadEvents["flow-control"]++;
    const waiting = report.backlogEntries === 0 ? "no writes waiting" : `${report.backlogEntries} writes waiting, the oldest for ${(report.oldestUnsentAgeMs / 1000).toFixed(1)} s`;
    const rate = report.limiting ? `allowed rate ${report.allowedRate.toFixed(2)} updates/s` : "writes not limited";
    const reason = `gossip messages overflowed their budget in ${report.overflowRounds} of the last ${OVERLOAD_WINDOW_ROUNDS} rounds; ${waiting}; ${rate} (desired ${report.desiredRate.toFixed(2)})`;
    this.deps.logger.warn(`gossip overload: ${reason}`, { ...report });
    this.emit({ type: "gossip-overload", node: this.name, cause: "flow-control", reason, flow: report, time: this.deps.clock.wallNow() });
  }

  private onProtocolError(peer: string, error: DecodeError): void {
    this.deps.logger.warn(`malformed message from ${peer}: ${error.message}`);
  }

  private onPeerUp(name: string, address: string): void {
    // A peer gossip has not told us of yet (a node that dialled us first, a seed): gossip with it
    // until it is. A known node is not one, even once removed, when it would only be dialled in vain.
    if (this.membership.lastKnownStatus(name) === undefined && !this.state.nodes.has(name)) this.contacts.add(name);
    this.emit({ type: "connection-opened", node: name, address, time: this.deps.clock.wallNow() });
  }

  private onPeerDown(name: string): void {
    this.emit({ type: "connection-closed", node: name, time: this.deps.clock.wallNow() });
  }

  private addressOf(name: string): string | undefined {
    const entry = this.state.get(name, RESERVED_GROUP, ADDRESS_KEY);
    return entry ? (decodeValue(entry.valueType, entry.value) as string) : undefined;
  }

  /**
   * A node that left is never dialled again (a restart with a new generation dials us, or gossip
   * tells of it); a dead one only quietly: the occasional dead-peer round and revival checks expect
   * refusals.
   */
  private dialPolicy(name: string): DialPolicy {
    const status = this.membership.lastKnownStatus(name);
    return status === "left" ? "never" : status === "dead" ? "quiet" : "dial";
  }

  /** Live peers, plus contacts not yet known by gossip; now and then a dead one, to notice a return. */
  private choosePeers(count: number): string[] {
    const random = this.deps.random;
    const live = this.membership.livePeers();
    for (const contact of this.contacts) if (contact !== this.name && !this.state.nodes.has(contact)) live.push(contact);
    const chosen = random.shuffle(live).slice(0, count);
    const retry = this.membership.pickDeadPeerForRetry();
    if (retry !== undefined) chosen.push(retry);
    return chosen;
  }

  private emit(event: GossipEvent): void {
    this.events.emit(event);
  }
}

const transitionVerbs: Record<Transition["kind"], string> = {
  joined: "joined",
  suspect: "is suspected of failure",
  alive: "is alive again",
  dead: "is dead",
  left: "left",
  removed: "was removed",
};

function assertUserGroup(group: string): void {
  if (group === RESERVED_GROUP) throw new Error(`group "${RESERVED_GROUP}" is reserved for GoferBroke's own entries`);
}

// The Node: wires state, gossip engine, membership, transport and events together. It is the
// only module that knows all of them, and the only one that does I/O: the engine decides
// (gossip/outcome.ts), the node sends the frames, feeds membership, raises events and logs. Its
// one ticker drives the rounds and the membership checks. Transport, clock and randomness are
// injected, so the same class runs over TCP in production and over the in-memory network in the
// simulator (src/sim), which builds every simulated node from this class.

import { DecodeError, type Frame } from "./codec/index.ts";
import { RoundTicker } from "./clock.ts";
import { EventBus, type EventHandler, type GossipEvent, type GossipEventType } from "./events.ts";
import { GossipEngine, type GossipSettings } from "./gossip/engine.ts";
import { type FlowControlStatus, type OverloadReport, describeOverload } from "./gossip/flow-control.ts";
import type { EngineOutcome } from "./gossip/outcome.ts";
import { LocalHealth } from "./membership/local-health.ts";
import { Membership, type MemberStatus, type MembershipSettings, type Transition } from "./membership/membership.ts";
import { type AppliedResult, AppliedTracker } from "./node/applied.ts";
import { entryEvent } from "./node/entry-events.ts";
import { entryList } from "./node/entry-list.ts";
import type { BroadcastOptions } from "./node/user-events.ts";
import { ControlBus } from "./node/control-bus.ts";
import { type ForceLeaveOptions, applyForceLeave, checkForceLeave, decodeForceLeave, encodeForceLeave, forceLeaveKey } from "./node/force-leave.ts";
import { memberList, transitionVerbs } from "./node/member-list.ts";
import { NodePeers } from "./node/peers.ts";
import { applyGone, writeGone } from "./node/gone-facts.ts";
import { ADDRESS_KEY, CONFIG_KEY, STATUS_KEY, addressOf, configValue } from "./node/reserved-entries.ts";
import { RefusalLog } from "./node/refusal-log.ts";
import { onGenerationGap, rememberedIdentity } from "./node/generation-renewal.ts";
import { type ConfigAgreement, configAgreement, configSummary, documentToAdopt, heldConfig } from "./node/config-agreement.ts";
import { RESERVED_GROUP, type ChangeRecord, ClusterState, type EncodedValue, type EntrySnapshot, type Value, decodeValue, encodeValue, valueTypeNames } from "./state/index.ts";
import type { ClusterConfigApplier, ClusterConfigDocument, EntryInfo, MemberInfo, NodeDeps, NodeSettings, NodeStats, SetOptions, StoredEntry } from "./node/types.ts";

export type { ClusterConfigApplier, ClusterConfigDocument, EntryInfo, MemberInfo, NodeDeps, NodeSettings, NodeStats, SetOptions, StoredEntry } from "./node/types.ts";

// Event-loop lag is sampled at least four times a second: fine enough for stalls of 500 ms and
// more (the local-health guard's threshold). The samples ride on the node's one timer, which also
// runs the gossip rounds (RoundTicker): every wakeup costs an idle node CPU time.
const MAX_HEALTH_TICK_MS = 250;

export class GossipNode {
  /** The state layer: read by the simulator's measurements and tests; write through set()/delete(). */
  readonly state: ClusterState;
  private readonly engine: GossipEngine;
  private readonly membership: Membership | null;
  private readonly peers: NodePeers;
  private readonly health = new LocalHealth();
  private readonly events: EventBus;
  private readonly overloadEvents = { "write-queue": 0, "flow-control": 0 };
  private readonly refusalLog: RefusalLog;
  /** Drives the gossip rounds (with membership checks) and the event-loop lag samples. */
  private readonly ticker: RoundTicker;
  private running = false;
  private config: ClusterConfigDocument;
  /** Which members hold which version of this node's state, for waitApplied(). */
  private readonly applied: AppliedTracker;
  /** User events and queries (node/control-bus.ts): query() and onQuery() are reached through it. */
  readonly bus: ControlBus;

  constructor(
    readonly settings: NodeSettings,
    private readonly deps: NodeDeps,
    initialConfig: Record<string, unknown>,
    private readonly applyConfig: ClusterConfigApplier,
  ) {
    const { clock, random, logger } = deps;
    this.config = { version: 0, origin: settings.name, settings: initialConfig };
    this.events = new EventBus(settings.name, (source, error) => logger.error(`${source} failed: ${error.message}`, { stack: error.stack }));
    this.state = new ClusterState(settings.name, settings.generation, clock, {
      tombstoneGraceMs: settings.tombstoneGraceMs,
      limits: settings.limits,
      // Only membership contacts probationary names; without it they would never become members.
      probation: settings.membership !== null,
      ...(settings.startMembers ? { members: settings.startMembers } : {}),
    });
    this.membership = settings.membership && new Membership(settings.name, clock, random, settings.membership, this.health, {
      send: (peer, frame) => deps.transport.send(peer, frame) === "queued",
      onTransition: (transition) => this.onTransition(transition),
      publishGone: (name, generation) => this.running && this.apply(this.engine.announce(RESERVED_GROUP, writeGone(this.state, name, generation, this.membership!.settings.deadRemovalMs))),
      removeNode: (name, generation, as, rememberForMs) => void this.state.removeNode(name, generation, as, rememberForMs),
      removed: this.state.removed,
    }, settings.generation);
    this.peers = new NodePeers(this.state, this.membership, random);
    this.engine = new GossipEngine(this.state, clock, random, settings.gossip, this.peers);
    this.bus = new ControlBus({
      selfName: settings.name, get generation() { return settings.generation; }, clock, maxNameBytes: settings.gossip.maxNameBytes,
      livePeers: () => this.peers.live(),
      shuffle: (items) => random.shuffle(items),
      send: (peer, frame) => void deps.transport.send(peer, frame),
      deliver: (event) => this.emit(event),
      entry: (node, group, key) => this.get(node, group, key),
      warn: (message) => logger.warn(message),
    });
    this.applied = new AppliedTracker(clock, {
      liveMembers: () => this.peers.live(),
      latestVersion: () => (this.engine.heldWrites().next().done ? this.state.self.maxVersion : undefined),
    });
    this.refusalLog = new RefusalLog(logger, () => clock.now(), () => this.state.options.limits.maxEntriesPerNode);
    const onTick = (dueMs: number, nowMs: number): void => {
      if (!this.health.tick(dueMs, nowMs) || !this.membership) return;
      logger.warn(`event loop stalled for ${Math.round(this.health.lastStallMs)} ms; convicting no one until heartbeats catch up`);
      this.membership.excuseLocalPause(this.health.lastStallMs);
    };
    // The lag samples between rounds serve the failure detector's local-health guard only.
    const maxTickMs = this.membership ? MAX_HEALTH_TICK_MS : settings.gossip.gossipIntervalMs;
    this.ticker = new RoundTicker(clock, settings.gossip.gossipIntervalMs, maxTickMs, onTick, () => this.round());
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
      this.writeReserved(CONFIG_KEY, configValue(this.config));
      await this.deps.transport.start({
        onFrame: (from, frame) => this.onFrame(from, frame),
        onPeerUp: (name, address) => this.onPeerUp(name, address),
        onPeerDown: (name) => this.onPeerDown(name),
        addressOf: (name) => addressOf(this.state, name),
        dialPolicy: (name) => this.peers.dialPolicy(name),
        onRefused: (address, node, reason) => this.emit({ type: "connection-refused", node: node ?? "", address, reason, time: this.deps.clock.wallNow() }),
        onOverload: (peer, queuedBytes) => {
          this.overloadEvents["write-queue"]++;
          this.emit({ type: "gossip-overload", node: peer, cause: "write-queue", reason: `write queue holds ${queuedBytes} bytes, past its high-water mark`, time: this.deps.clock.wallNow() });
        },
        remembered: (name) => rememberedIdentity(this.state, name),
        ownProgress: () => ({ heartbeat: this.state.heartbeatOf(this.name), maxVersion: this.state.self.maxVersion }),
        clusterConfig: () => configSummary(this.config),
        onGenerationGap: (gap) => this.running && onGenerationGap(gap, { name: this.name, generation: this.settings.generation, renew: (next) => this.renewGeneration(next) }, this.deps.logger),
      });
      listening = true;
      this.writeReserved(ADDRESS_KEY, encodeValue(this.deps.advertisedAddress()));
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
    this.apply(this.engine.flushWrites()); // writes still held back go out with the leave, not never
    try {
      this.state.set(RESERVED_GROUP, STATUS_KEY, encodeValue("left"));
      this.apply(this.engine.announce(RESERVED_GROUP, STATUS_KEY));
    } catch (error) {
      // The status entry is refused when the node is at maxEntriesPerNode. The LEAVE frames below
      // still tell the connected peers; stopping must never be left half done.
      this.deps.logger.warn(`could not record the "left" status: ${(error as Error).message}`);
    }
    if (this.membership) {
      const leave = this.membership.encodeLeave();
      for (const peer of this.membership.livePeers()) this.deps.transport.send(peer, leave);
    }
    this.ticker.stop();
    this.membership?.stop();
    this.applied.cancelAll();
    this.bus.queries.stop();
    await this.deps.transport.stop();
    this.deps.logger.info(`node ${this.name} left the cluster`);
  }

  /**
   * Writes an entry of this node; returns its version, or 0 when flow control holds the write
   * back (it is readable here at once and gets its version when published).
   */
  set(group: string, key: string, value: Value, options: SetOptions = {}): number {
    assertUserGroup(group);
    const outcome = this.engine.write(group, key, encodeValue(value, options.type), options.ttl);
    this.apply(outcome);
    return outcome.written.current.version;
  }

  delete(group: string, key: string): boolean {
    assertUserGroup(group);
    const outcome = this.engine.delete(group, key);
    if (!outcome) return false;
    this.apply(outcome);
    return true;
  }

  /**
   * Resolves once every live member holds `version` of this node's state (0: every
   * write made so far, those flow control holds back included), or after timeoutMs with the
   * members that have not reported holding it. Never rejects. See node/applied.ts for the meaning.
   */
  waitApplied(version: number, timeoutMs: number): Promise<AppliedResult> {
    // A version above the latest published one is a write flow control still holds, if any is held.
    return this.applied.wait(version, timeoutMs, this.state.self.maxVersion, !this.engine.heldWrites().next().done);
  }

  /** Sends a user event to every live node (node/user-events.ts); returns its Lamport time. */
  broadcast(name: string, payload: Uint8Array | string, options?: BroadcastOptions): number {
    if (!this.running) throw new Error(`cannot broadcast user event ${JSON.stringify(name)}: node ${this.name} is not running`);
    return this.bus.events.broadcast(name, payload, options);
  }

  /**
   * Marks a failed or dead member left on every node, as a versioned fact of this node's that
   * survives partitions (node/force-leave.ts); with prune, every node also removes it at once.
   * Throws ForceLeaveError for an unknown member, this node, or a live member without force.
   */
  forceLeave(name: string, options: ForceLeaveOptions = {}): void {
    const generation = checkForceLeave(name, this.name, this.state.nodes.get(name)?.generation, this.membership?.status(name), options);
    const fact = { node: name, generation, prune: options.prune === true };
    // Kept as long as a dead member is: past that, every node has removed it anyway.
    this.state.set(RESERVED_GROUP, forceLeaveKey(name), encodeForceLeave(fact), this.membership!.settings.deadRemovalMs);
    applyForceLeave(this.membership, this.name, fact);
    this.apply(this.engine.announce(RESERVED_GROUP, forceLeaveKey(name)));
  }

  get(node: string, group: string, key: string): Value | undefined {
    return this.getEntry(node, group, key)?.value;
  }

  getEntry(node: string, group: string, key: string): EntryInfo | undefined {
    // This node's own entries as its writes left them, those flow control holds back included.
    const entry = node === this.name ? this.engine.ownEntry(group, key) : this.storedEntry(node, group, key);
    if (!entry) return undefined;
    return { group, key, value: decodeValue(entry.valueType, entry.value), type: valueTypeNames[entry.valueType], version: entry.version };
  }

  /** Live entries of a node, reserved ones excluded (for this node, held-back writes included). */
  entries(node: string): EntryInfo[] {
    return entryList(this.storedEntries(node), this.engine, node === this.name);
  }

  /** Live entries as stored, reserved ones excluded, values undecoded; none of a probationary name (held, not shown). */
  *storedEntries(node: string): Generator<StoredEntry> {
    if (!this.knows(node)) return;
    for (const entry of this.state.liveEntries(node)) if (entry.group !== RESERVED_GROUP) yield entry;
  }

  /** See StateView.stamp: generation, max version and entry counts of a remote node known here. */
  entriesStamp(node: string): string | undefined {
    const held = node === this.name || !this.knows(node) ? undefined : this.state.nodes.get(node);
    return held && `${held.generation}:${held.maxVersion}:${held.entries.size}:${held.liveUserEntries}`;
  }

  /** A live entry as stored, value undecoded; undefined when the node or the entry is not known here. */
  storedEntry(node: string, group: string, key: string): StoredEntry | undefined {
    return this.knows(node) ? this.state.get(node, group, key) : undefined;
  }

  /** Whether `node` is known here (this one included), probationary names excepted. */
  knows(node: string): boolean {
    return this.state.nodes.has(node) && !this.state.isProbationary(node);
  }

  /** Flow control now: allowed and desired update rates, writes held back and for how long. */
  flowControl(): FlowControlStatus {
    return this.engine.flowStatus();
  }

  /** Counters and gauges: gossip traffic, flow control, overload events, event-loop health. */
  stats(): NodeStats {
    const health = this.health;
    return {
      gossip: this.engine.stats,
      flow: this.engine.flowCounters,
      overloadEvents: this.overloadEvents,
      health: { lagMs: health.lagMs, maxLagMs: health.maxLagMs, stallCount: health.stallCount },
      probesPending: this.membership?.pendingRequests ?? 0,
    };
  }

  /** Names of every node held, this one and probationary names (held, not shown: state/probation.ts) included. */
  nodes(): string[] {
    return [...this.state.nodes.keys()];
  }

  /** How this node sees another: undefined when it does not know it (or runs without membership). */
  status(node: string): MemberStatus | undefined {
    return this.membership?.status(node);
  }

  members(): MemberInfo[] {
    return memberList(this.state, this.membership, this.running, (name) => addressOf(this.state, name));
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
    this.apply(this.engine.announce(RESERVED_GROUP, CONFIG_KEY));
    return this.clusterConfig();
  }

  /**
   * Runs with new gossip and membership settings from now on (the round interval re-arms the
   * ticker). A cluster config change applies through here; the simulator also calls it to change
   * settings that are not cluster options.
   */
  applySettings(applied: { gossip: GossipSettings; membership?: MembershipSettings }): void {
    if (applied.gossip.gossipIntervalMs !== this.engine.settings.gossipIntervalMs) this.ticker.setRoundInterval(applied.gossip.gossipIntervalMs);
    this.apply(this.engine.updateSettings(applied.gossip));
    if (applied.membership) this.membership?.updateSettings(applied.membership);
  }

  /** Whether every live member holds the cluster config this node holds (node/config-agreement.ts). */
  configAgreement(): ConfigAgreement {
    return configAgreement(this.config, [this.name, ...this.peers.live()], (name) => heldConfig(this.state, name));
  }

  /** The gossip settings this node runs with now. */
  get gossipSettings(): GossipSettings {
    return this.engine.settings;
  }

  /** A round: membership checks first (suspicion, probes, heartbeats to watchers), then the exchange. */
  private round(): void {
    this.membership?.check();
    const peers = this.peers.forRound(this.engine.settings.fanout);
    this.apply(this.engine.round(peers));
    if (this.applied.pending > 0) {
      this.applied.check(); // the live set may have shrunk, or held writes been published
      const nudge = this.applied.toNudge().filter((name) => !peers.includes(name));
      if (nudge.length > 0) this.apply(this.engine.syn(nudge));
    }
  }

  /**
   * Does what the engine decided: feeds membership, raises events, sends the frames. `from` is
   * the peer whose frame it handled.
   */
  private apply(outcome: EngineOutcome, from = ""): void {
    if (this.membership) {
      for (const name of outcome.discovered) this.membership.observe(name, this.state.nodes.get(name)?.generation ?? 0);
      for (const name of outcome.heartbeats) this.membership.heartbeat(name, this.state.nodes.get(name)?.generation ?? 0);
      if (outcome.senderLacks.length > 0) this.membership.peerLacks(from, outcome.senderLacks);
    }
    if (outcome.changes.length > 0) this.onChanges(outcome.changes);
    if (outcome.published.length > 0) this.deps.observeChanges?.(outcome.published);
    if (outcome.overload) this.onFlowOverload(outcome.overload);
    if (outcome.protocolError) this.onProtocolError(from, outcome.protocolError);
    if (outcome.senderHolds !== undefined && from !== "") this.applied.report(from, outcome.senderHolds);
    if (outcome.refusals) this.refusalLog.note(outcome.refusals, from);
    for (const batch of outcome.sends) {
      for (const peer of batch.peers) this.engine.sent(batch, this.deps.transport.send(peer, batch.frames));
    }
    const contacts = outcome.changes.length + outcome.discovered.length > 0 ? this.peers.contactsAfter(outcome.changes, outcome.discovered) : [];
    if (contacts.length > 0) this.apply(this.engine.syn(contacts));
  }

  /**
   * Validates, records (as this node's config entry, which gossips it on) and applies a document.
   * Throws, with nothing changed, when the settings are invalid or the entry cannot be written.
   */
  private adoptConfig(next: ClusterConfigDocument): void {
    const applied = this.applyConfig(next.settings); // throws on invalid settings
    this.state.set(RESERVED_GROUP, CONFIG_KEY, configValue(next)); // throws WriteError (e.g. larger than maxValueBytes) before anything changed
    const changed = Object.keys(next.settings).filter((key) => JSON.stringify(next.settings[key]) !== JSON.stringify(this.config.settings[key]));
    this.config = next;
    this.applySettings(applied);
    // The event names the node that made the change, not the one it was relayed through.
    this.emit({ type: "config-changed", node: next.origin, version: next.version, changed, time: this.deps.clock.wallNow() });
  }

  /**
   * Writes a reserved entry of this node unless it already holds that value: a node started from
   * a converged member snapshot (startRecords) finds its start entries there and writes nothing,
   * so none of them has to travel.
   */
  private writeReserved(key: string, value: EncodedValue): void {
    const held = this.state.get(this.name, RESERVED_GROUP, key);
    if (held && held.valueType === value.type && Buffer.compare(held.value, value.bytes) === 0) return;
    this.state.set(RESERVED_GROUP, key, value);
  }

  private onReservedChange(change: ChangeRecord): void {
    if (change.kind === "deleted" || change.kind === "expired" || change.local) return;
    if (change.key === STATUS_KEY && decodeValue(change.current.valueType, change.current.value) === "left") {
      this.membership?.markLeft(change.node, this.state.nodes.get(change.node)?.generation ?? 0);
    } else if (change.key === CONFIG_KEY) {
      this.considerConfig(change.node, change.current);
    } else {
      const fact = decodeForceLeave(change.key, change.current);
      if (fact) applyForceLeave(this.membership, this.name, fact);
      else applyGone(this.membership, change.key, change.current);
    }
  }

  private considerConfig(from: string, snapshot: EntrySnapshot): void {
    const document = documentToAdopt(from, snapshot, this.config, this.deps.logger);
    if (!document) return;
    try {
      this.adoptConfig(document);
      this.deps.logger.info(`adopted cluster config version ${document.version} from ${document.origin}`);
    } catch (error) {
      this.deps.logger.warn(`ignored cluster config version ${document.version} from ${from}: ${(error as Error).message}`);
    }
  }

  private onChanges(changes: readonly ChangeRecord[]): void {
    this.deps.observeChanges?.(changes);
    const time = this.deps.clock.wallNow();
    for (const change of changes) {
      if (change.group === RESERVED_GROUP) {
        this.onReservedChange(change);
        continue;
      }
      if (!this.events.hasHandlers(`entry-${change.kind}`)) continue;
      try {
        this.emit(entryEvent(change, time));
      } catch (error) {
        this.deps.logger.warn(`entry ${change.group}/${change.key} of ${change.node} holds a value that does not decode: ${(error as Error).message}`);
      }
    }
  }

  /** Announces a higher generation from now on (node/generation-renewal.ts); the entries stay, under it. */
  private renewGeneration(generation: number): void {
    this.settings.generation = generation;
    this.state.self.generation = generation;
    this.membership?.renewGeneration(generation);
    this.deps.transport.renewGeneration(generation);
  }

  private onTransition(transition: Transition): void {
    this.deps.logger[transition.kind === "dead" ? "warn" : "info"](`node ${transition.node} ${transitionVerbs[transition.kind]}`, { generation: transition.generation, phi: Number(transition.phi.toFixed(2)) });
    this.emit({ type: `node-${transition.kind}`, node: transition.node, generation: transition.generation, phi: transition.phi, time: this.deps.clock.wallNow() });
  }

  private onFrame(from: string, frame: Frame): void {
    if (!this.running) return;
    const outcome = this.engine.handleFrame(from, frame);
    if (outcome) {
      this.apply(outcome, from);
      return;
    }
    try {
      if (this.bus.handleFrame(from, frame)) return;
      if (this.deps.handleFrame?.(from, frame)) return;
      if (!this.membership?.handleFrame(from, frame.type, frame.correlationId, frame.body)) {
        this.deps.logger.debug(`skipped frame of type ${frame.type} from ${from}: ${this.membership ? "unknown type" : "membership is off"}`);
      }
    } catch (error) {
      if (error instanceof DecodeError) this.onProtocolError(from, error);
      else throw error;
    }
  }

  /** Flow control saw a sustained overload: one warning and one event per report (reports are rate-limited). */
  private onFlowOverload(report: OverloadReport): void {
    this.overloadEvents["flow-control"]++;
    const reason = describeOverload(report);
    this.deps.logger.warn(`gossip overload: ${reason}`, { ...report });
    this.emit({ type: "gossip-overload", node: this.name, cause: "flow-control", reason, flow: report, time: this.deps.clock.wallNow() });
  }

  private onProtocolError(peer: string, error: DecodeError): void {
    this.deps.logger.warn(`malformed message from ${peer}: ${error.message}`);
  }

  private onPeerUp(name: string, address: string): void {
    this.peers.connected(name);
    this.emit({ type: "connection-opened", node: name, address, time: this.deps.clock.wallNow() });
    if (!this.running) return;
    // A node this one holds no word of (a joiner's seed, a seed's joiner): exchange now, not at
    // the next round, so a joiner holds the cluster after its first round trip with the seed.
    if (!this.state.nodes.has(name)) this.apply(this.engine.syn([name]));
    else this.apply(this.engine.metFirstHand(name));
  }

  private onPeerDown(name: string): void {
    this.peers.disconnected(name);
    this.emit({ type: "connection-closed", node: name, time: this.deps.clock.wallNow() });
  }

  private emit(event: GossipEvent): void {
    this.events.emit(event);
  }
}

function assertUserGroup(group: string): void {
  if (group === RESERVED_GROUP) throw new Error(`group "${RESERVED_GROUP}" is reserved for GoferBroke's own entries`);
}

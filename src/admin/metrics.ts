// GET /metrics: the node's counters and gauges in Prometheus text format, read at scrape time
// through the node's read-only stats(), flowControl() and members(). Only the
// propagation-delay histogram is kept here, fed from the entry events of writes made elsewhere.

import type { Node } from "../create-node.ts";
import type { EntryEvent } from "../events.ts";
import type { MemberStatus } from "../membership/membership.ts";
import { renderProcessMetrics } from "./process-metrics.ts";
import { Exposition, Histogram, type Sample } from "./prometheus.ts";
import { SOFTWARE_VERSION } from "./version.ts";

const MEMBER_STATES: readonly MemberStatus[] = ["alive", "suspect", "dead", "left"];

// Seconds. Pushed writes arrive within one round trip (milliseconds on a LAN); anti-entropy
// repairs take a few gossip rounds (1 s each by default); past 30 s something is wrong.
const PROPAGATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface EventStreamStats {
  readonly clientCount: number;
  readonly slowClientsDropped: number;
}

export class AdminMetrics {
  private readonly propagation = new Histogram(PROPAGATION_BUCKETS_SECONDS);

  constructor(
    private readonly node: Node,
    private readonly eventStream: EventStreamStats,
  ) {}

  /**
   * Records the time from the origin's write to its application here. Wall clocks of two hosts
   * can disagree; a negative delay (this clock behind the writer's) is counted as zero.
   */
  observePropagation(ms: number): void {
    this.propagation.observe(Math.max(0, ms) / 1000);
  }

  /**
   * GET /v1/stats: the figures of the dashboard's health panel as JSON. Counters are totals since
   * start; the page turns two readings into rates.
   */
  snapshot(): Record<string, unknown> {
    const { gossip, transport, health } = this.node.stats();
    const flow = this.node.flowControl();
    const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, value) => sum + value, 0);
    return {
      time: Date.now(),
      gossip: {
        rounds: gossip.rounds,
        messagesSent: total(gossip.messagesOut),
        messagesReceived: total(gossip.messagesIn),
        bytesSent: total(gossip.bytesOut),
        bytesReceived: total(gossip.bytesIn),
        entriesApplied: gossip.entriesApplied,
      },
      writes: { desiredRate: flow.desiredRate, allowedRate: flow.allowedRate, backlogEntries: flow.backlogEntries, limiting: flow.limiting },
      eventLoop: { lagMs: health.lagMs, maxLagMs: health.maxLagMs, stalls: health.stallCount },
      connections: transport.connectionsByState,
      propagationSeconds: this.propagation.snapshot(),
    };
  }

  render(): string {
    const stats = this.node.stats();
    const { gossip, transport, health } = stats;
    const members = this.node.members();
    const out = new Exposition();

    out.family("goferbroke_node_info", "gauge", "This node: name, cluster, generation and software version; always 1.", [
      { labels: { node: this.node.name, cluster: this.node.options.clusterName, generation: String(this.node.generation), version: SOFTWARE_VERSION }, value: 1 },
    ]);

    out.family("goferbroke_gossip_rounds_total", "counter", "Gossip rounds started by this node.", [{ value: gossip.rounds }]);
    out.family("goferbroke_gossip_sent_messages_total", "counter", "Gossip messages sent, by message type.", byType(gossip.messagesOut));
    out.family("goferbroke_gossip_received_messages_total", "counter", "Gossip messages received, by message type.", byType(gossip.messagesIn));
    out.family("goferbroke_gossip_sent_bytes_total", "counter", "Bytes of gossip messages sent (frame headers included), by message type.", byType(gossip.bytesOut));
    out.family("goferbroke_gossip_received_bytes_total", "counter", "Bytes of gossip messages received (frame headers included), by message type.", byType(gossip.bytesIn));
    out.family("goferbroke_entries_received_total", "counter", "Entries received in deltas from peers.", [{ value: gossip.entriesReceived }]);
    out.family("goferbroke_entries_applied_total", "counter", "Received entries that were newer than ours and applied.", [{ value: gossip.entriesApplied }]);
    out.family("goferbroke_entries_skipped_total", "counter", "Received entries skipped (already known, older, or not decodable).", [{ value: gossip.entriesSkipped }]);
    out.family("goferbroke_entries_refused_total", "counter", "Received entries refused because their node already held maxEntriesPerNode entries here (logged at most once per 10 s).", [{ value: gossip.entriesRefused }]);
    out.family("goferbroke_invalid_node_names_total", "counter", "Node names from peers, in digests or deltas, that break the node-name rule and were ignored (logged at most once per 10 s).", [{ value: gossip.invalidNodeNames }]);
    out.family("goferbroke_entries_left_out_total", "counter", "Parts of this node's own gossip messages left out because they do not encode (logged at most once per 10 s).", [{ value: gossip.entriesLeftOut }]);
    out.family("goferbroke_gossip_overload_skips_total", "counter", "Times a peer was skipped for a round because its write queue was full.", [{ value: gossip.overloadSkips }]);
    out.family("goferbroke_gossip_budget_overflows_total", "counter", "Times the deltas a peer lacked did not all fit one message.", [{ value: gossip.budgetOverflows }]);
    out.family("goferbroke_gossip_decode_errors_total", "counter", "Gossip messages that did not decode.", [{ value: gossip.decodeErrors }]);
    out.family("goferbroke_gossip_overload_events_total", "counter", "gossip-overload events raised: a peer's write queue past its high-water mark, or this node's gossip overflowing its budget.",
      Object.entries(stats.overloadEvents).map(([cause, value]) => ({ labels: { cause }, value })));

    const flow = this.node.flowControl();
    const flowCounters = stats.flow;
    out.family("goferbroke_flow_limiting", "gauge", "1 while flow control holds local writes to the allowed rate (after recent overflows), else 0.", [{ value: flow.limiting ? 1 : 0 }]);
    out.family("goferbroke_flow_allowed_rate", "gauge", "Updates per second this node may publish (its share of the gossip capacity); +Inf with flow control off.", [{ value: flow.allowedRate }]);
    out.family("goferbroke_flow_desired_rate", "gauge", "Updates per second the application writes (smoothed).", [{ value: flow.desiredRate }]);
    out.family("goferbroke_flow_backlog_entries", "gauge", "Local writes waiting to be published (one per key).", [{ value: flow.backlogEntries }]);
    out.family("goferbroke_flow_oldest_unsent_age_seconds", "gauge", "How long the oldest waiting write has waited.", [{ value: flow.oldestUnsentAgeMs / 1000 }]);
    out.family("goferbroke_flow_held_writes_total", "counter", "Local writes that had to wait for the allowed rate.", [{ value: flowCounters.heldBack }]);
    out.family("goferbroke_flow_published_writes_total", "counter", "Waiting writes published when the allowed rate let them out.", [{ value: flowCounters.published }]);
    out.family("goferbroke_flow_coalesced_writes_total", "counter", "Local writes folded into a waiting write of the same key (their value was never published).", [{ value: flowCounters.coalesced }]);
    out.family("goferbroke_flow_dropped_writes_total", "counter", "Waiting writes that no longer passed the limits when their turn came.", [{ value: flowCounters.dropped }]);
    out.family("goferbroke_flow_rate_decreases_total", "counter", "Multiplicative decreases of the allowed rate.", [{ value: flowCounters.rateDecreases }]);

    out.family("goferbroke_transport_received_bytes_total", "counter", "Bytes read from peer connections.", [{ value: transport.bytesIn }]);
    out.family("goferbroke_transport_sent_bytes_total", "counter", "Bytes written to peer connections.", [{ value: transport.bytesOut }]);
    out.family("goferbroke_transport_received_frames_total", "counter", "Frames read from peer connections.", [{ value: transport.framesIn }]);
    out.family("goferbroke_transport_sent_frames_total", "counter", "Frames queued for peer connections.", [{ value: transport.framesOut }]);
    out.family("goferbroke_transport_connections_opened_total", "counter", "Peer connections opened, either direction.", [{ value: transport.connectionsOpened }]);
    out.family("goferbroke_transport_connections_closed_total", "counter", "Peer connections closed.", [{ value: transport.connectionsClosed }]);
    out.family("goferbroke_transport_connections_refused_total", "counter", "Peer connections this node closed because of the peer, by reason.",
      Object.entries(transport.refusedByReason).map(([reason, value]) => ({ labels: { reason }, value })));
    out.family("goferbroke_transport_refused_by_peers_total", "counter", "Handshakes a peer refused with an error frame.", [{ value: transport.refusedByPeers }]);
    out.family("goferbroke_transport_overloads_total", "counter", "Sends refused because the peer's write queue was full.", [{ value: transport.overloads }]);
    out.family("goferbroke_transport_open_connections", "gauge", "Peer connections open now, handshaking or established.", [{ value: transport.openConnections }]);
    out.family("goferbroke_transport_connections", "gauge", "Peer connections open now, by state: handshaking (TLS or the handshake not complete), established, closing (flushing its queue).",
      Object.entries(transport.connectionsByState).map(([state, value]) => ({ labels: { state }, value })));
    out.family("goferbroke_transport_write_queue_bytes", "gauge", "Bytes waiting to be written, per peer.",
      Object.entries(transport.queueDepthBytes).map(([peer, value]) => ({ labels: { peer }, value })));

    out.family("goferbroke_member_phi", "gauge", "Phi-accrual suspicion of each known node (0 for this node).",
      members.map((member) => ({ labels: { node: member.name }, value: member.phi })));
    out.family("goferbroke_member_state", "gauge", "1 for each known node's current state, 0 for the others.",
      members.flatMap((member) => MEMBER_STATES.map((state) => ({ labels: { node: member.name, state }, value: member.state === state ? 1 : 0 }))));
    out.family("goferbroke_members", "gauge", "Known nodes by state, this node included.",
      MEMBER_STATES.map((state) => ({ labels: { state }, value: members.filter((member) => member.state === state).length })));

    out.family("goferbroke_event_loop_lag_seconds", "gauge", "Event-loop lag of the latest local-health tick.", [{ value: health.lagMs / 1000 }]);
    out.family("goferbroke_event_loop_max_lag_seconds", "gauge", "Largest event-loop lag of the last 60 s.", [{ value: health.maxLagMs / 1000 }]);
    out.family("goferbroke_event_loop_stalls_total", "counter", "Event-loop stalls long enough to pause failure detection.", [{ value: health.stallCount }]);

    out.family("goferbroke_propagation_delay_seconds", "histogram",
      "Time from a write (set or delete) on another node to its application here, by the two nodes' wall clocks; clock skew between the machines shifts it, and a negative delay counts as 0. Writes made before this admin server started are not counted.",
      this.propagation.samples());

    out.family("goferbroke_admin_event_stream_clients", "gauge", "Clients connected to /v1/events.", [{ value: this.eventStream.clientCount }]);
    out.family("goferbroke_admin_event_stream_slow_clients_dropped_total", "counter", "Event stream clients cut off for reading too slowly.", [{ value: this.eventStream.slowClientsDropped }]);
    renderProcessMetrics(out);
    return out.text();
  }
}

function byType(counts: Record<string, number>): Sample[] {
  return Object.entries(counts).map(([type, value]) => ({ labels: { type }, value }));
}

const ENTRY_EVENT_TYPES = ["entry-added", "entry-updated", "entry-deleted", "entry-expired"] as const;

/**
 * Feeds the propagation histogram from writes that arrive from other nodes: every entry event
 * that is not local and carries its origin's write time (`writtenAt`, see EntryEvent). Writes made
 * before `since` (wall-clock ms; by default now) are left out: they are state this node catches up
 * on when it joins, and their age says nothing about how fast gossip moves.
 */
export function observePropagationFromEvents(node: Node, metrics: AdminMetrics, since = Date.now()): () => void {
  const onEntry = (event: EntryEvent) => {
    if (event.local || event.writtenAt === undefined || event.writtenAt < since) return;
    metrics.observePropagation(event.time - event.writtenAt);
  };
  const unsubscribes = ENTRY_EVENT_TYPES.map((type) => node.on(type, onEntry));
  return () => {
    for (const unsubscribe of unsubscribes) unsubscribe();
  };
}

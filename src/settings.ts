// Turns validated options into the settings each layer takes. One place, so that options given
// at start and cluster config changes applied live produce exactly the same settings.

import type { NodeOptions } from "./config/schema.ts";
import type { GossipSettings } from "./gossip/engine.ts";
import { defaultMembershipSettings, type MembershipSettings } from "./membership/membership.ts";
import type { StateLimits } from "./state/index.ts";

/** Node names are at most 64 bytes (the schema's bound); frames are checked against it. */
export const MAX_NAME_BYTES = 64;

export function gossipSettingsOf(options: NodeOptions): GossipSettings {
  return {
    gossipIntervalMs: options.gossipIntervalMs,
    fanout: options.fanout,
    maxGossipBytes: options.maxGossipBytes,
    pushFanout: options.pushFanout,
    flowControl: options.flowControl,
    maxNameBytes: MAX_NAME_BYTES,
    maxKeyBytes: options.maxKeyBytes,
    maxValueBytes: options.maxValueBytes,
  };
}

export function membershipSettingsOf(options: NodeOptions): MembershipSettings {
  return {
    ...defaultMembershipSettings,
    phi: {
      ...defaultMembershipSettings.phi,
      threshold: options.phiThreshold,
      acceptablePauseMs: options.acceptablePauseMs,
      minStdDeviationMs: options.minStdDeviationMs,
      // Heartbeats advance once per gossip interval; that is the best first guess of the mean.
      firstHeartbeatEstimateMs: options.gossipIntervalMs,
    },
    probeFanout: options.probeFanout,
    probeTimeoutMs: options.probeTimeoutMs,
    deadRemovalMs: options.deadRemovalMs,
    maxNameBytes: MAX_NAME_BYTES,
  };
}

export function stateLimitsOf(options: NodeOptions): StateLimits {
  return {
    maxKeyBytes: options.maxKeyBytes,
    maxValueBytes: options.maxValueBytes,
    maxEntriesPerNode: options.maxEntriesPerNode,
    maxGossipBytes: options.maxGossipBytes,
    maxMembers: options.maxMembers,
  };
}

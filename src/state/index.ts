export * from "./values.ts";
export * from "./changes.ts";
export { entryId, NodeState, type Entry } from "./node-state.ts";
export { ClusterState, WriteError, defaultStateLimits, type ClusterStateOptions, type PendingWrites, type StateClock, type StateLimits } from "./cluster-state.ts";
export { selectDeltas, type SelectionFairness, type SelectionOptions, type SelectionResult } from "./delta-selection.ts";
export { applyDigest, leavesHole, mergeDeltas, versionHeldOf, type DigestOutcome, type MergeOutcome } from "./merge.ts";
export { RemovedNodes, type RemovedAs, type RemovedNode, type RemovedNodesView } from "./removed-nodes.ts";
export { RESERVED_GROUP } from "./reserved.ts";
export { bucketOf, differingRanges, inRanges, lackedBy, pageOf, summarize } from "./summary.ts";

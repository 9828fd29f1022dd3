// The public module surface: import { createNode } from "goferbroke".
export { createNode, type CreateNodeExtras, type Node, type NodeKeys, type StateView, type WaitAppliedOptions } from "./create-node.ts";
export type { AppliedResult } from "./node/applied.ts";
export type { BroadcastOptions } from "./node/user-events.ts";
export type { QueryHandler, QueryOptions, QueryRequest } from "./node/queries.ts";
export type { QueryItem, QueryResult, QuerySummary } from "./node/query-run.ts";
export type { EntryCondition } from "./node/query-filter.ts";
export { EventType, GO_EVENT_NUMBERS, GO_EVENTS_WITHOUT_EQUIVALENT, UnsupportedEventError, type GoEventNumber, type EventHandler, type EventOf, type GossipEvent, type GossipEventType, type EntryEvent, type NodeEvent, type ConfigEvent, type ConnectionEvent, type OverloadEvent, type ErrorEvent, type UserEvent } from "./events.ts";
export type { EntryInfo, MemberInfo, SetOptions, ClusterConfigDocument, NodeStats, StoredEntry } from "./node.ts";
export { ForceLeaveError, type ForceLeaveOptions } from "./node/force-leave.ts";
export { KeyringChangeError } from "./transport/keyring.ts";
export type { KeyHolders, KeyringOptions, KeyringReport } from "./node/keyring-ops.ts";
export type { FlowControlStatus } from "./gossip/flow-control.ts";
export { ValueType, WriteError, type Value, type ValueTypeName } from "./state/index.ts";
export { OptionsError, type NodeOptions, type NodeOptionsInput } from "./config/schema.ts";
export type { Logger } from "./log.ts";

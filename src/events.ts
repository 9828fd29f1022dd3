// Typed events and the bus that delivers them. A handler that throws or rejects is isolated:
// the failure is logged and reported as an "error" event, and gossip and the other handlers go on.

import type { FlowControlStatus } from "./gossip/flow-control.ts";
import type { Value, ValueTypeName } from "./state/index.ts";

export interface EntryEvent {
  type: "entry-added" | "entry-updated" | "entry-deleted" | "entry-expired";
  /** The node that owns the entry. */
  node: string;
  group: string;
  key: string;
  /** The value after the change; for deleted/expired, the value that went away. */
  value: Value;
  valueType: ValueTypeName;
  version: number;
  previous?: { value: Value; valueType: ValueTypeName; version: number };
  /** True when this node made the change itself. */
  local: boolean;
  /**
   * Wall-clock ms on the owner `node` when it made the write this event reports (for a delete,
   * the delete's): `time - writtenAt` is how long the write took to arrive, give or take the skew
   * between the two machines' clocks. Absent when no write of the owner caused the event (an
   * expiry noticed here, keys dropped when a restarted node's new state replaced the old one), and
   * on a local write that flow control holds back (it is stamped when published).
   */
  writtenAt?: number;
  time: number;
}

export interface NodeEvent {
  type: "node-joined" | "node-suspect" | "node-alive" | "node-dead" | "node-left" | "node-removed";
  node: string;
  generation: number;
  phi: number;
  time: number;
}

export interface ConfigEvent {
  type: "config-changed";
  /** The node whose change this was. */
  node: string;
  version: number;
  changed: string[];
  time: number;
}

export interface OverloadEvent {
  type: "gossip-overload";
  /** The peer whose write queue was full ("write-queue"), or this node ("flow-control"). */
  node: string;
  /** A peer's write queue past its high-water mark, or this node's gossip overflowing its budget. */
  cause: "write-queue" | "flow-control";
  reason: string;
  /** This node's flow-control figures when it reported the overload (cause "flow-control"). */
  flow?: FlowControlStatus;
  time: number;
}

export interface ConnectionEvent {
  type: "connection-opened" | "connection-closed" | "connection-refused";
  node: string;
  address?: string;
  reason?: string;
  time: number;
}

export interface ErrorEvent {
  type: "error";
  node: string;
  error: Error;
  /** What failed, e.g. "handler for entry-added". */
  source: string;
  time: number;
}

/** An application event from node.broadcast(), raised once on every live node (the origin included). */
export interface UserEvent {
  type: "user-event";
  /** The node that broadcast it. */
  node: string;
  name: string;
  payload: Uint8Array;
  /** The origin's Lamport time when it broadcast. */
  ltime: number;
  coalesce: boolean;
  /** True on the node that broadcast it. */
  local: boolean;
  time: number;
}

export type GossipEvent = EntryEvent | NodeEvent | ConfigEvent | OverloadEvent | ConnectionEvent | ErrorEvent | UserEvent;
export type GossipEventType = GossipEvent["type"];
/** The event shape for one type. Extract<> would give never: several shapes cover many types. */
export type EventOf<T extends GossipEventType> = DistributeEvent<GossipEvent, T>;
type DistributeEvent<E, T> = E extends { type: infer U } ? (T extends U ? E & { type: T } : never) : never;
export type EventHandler<T extends GossipEventType> = (event: EventOf<T>) => void | Promise<void>;

/** The Go SDK's event names, mapped onto ours, so Go users find what they know. */
export const EventType = {
  NewDeltaAdded: "entry-added",
  DeltaUpdated: "entry-updated",
  DeltaDeleted: "entry-deleted",
  DeltaExpired: "entry-expired",
  NewParticipantAdded: "node-joined",
  ParticipantSuspected: "node-suspect",
  ParticipantAlive: "node-alive",
  ParticipantMarkedDead: "node-dead",
  ParticipantLeft: "node-left",
  ParticipantRemoved: "node-removed",
  ConfigChanged: "config-changed",
  GossipOverload: "gossip-overload",
  ConnectionOpened: "connection-opened",
  ConnectionClosed: "connection-closed",
  ConnectionRefused: "connection-refused",
  Error: "error",
  UserEvent: "user-event",
} as const satisfies Record<string, GossipEventType>;

/** Every event type, for checking a subscription at run time. */
const EVENT_TYPES: ReadonlySet<string> = new Set<GossipEventType>(Object.values(EventType));

/**
 * The Go SDK's event numbers (its EventEnum) that have an equivalent here. The Go SDK fires only
 * these four; the other numbers it declares are in GO_EVENTS_WITHOUT_EQUIVALENT.
 */
export const GO_EVENT_NUMBERS = {
  1: EventType.NewDeltaAdded,
  2: EventType.DeltaUpdated,
  3: EventType.NewParticipantAdded,
  5: EventType.ParticipantMarkedDead,
} as const satisfies Record<number, GossipEventType>;
export type GoEventNumber = keyof typeof GO_EVENT_NUMBERS;

/**
 * Go event names (with their numbers) that the Go SDK declares but never fires, and that have no
 * equivalent here: subscribing to one is refused, saying what to use instead, rather than
 * accepted and never called.
 */
export const GO_EVENTS_WITHOUT_EQUIVALENT: Readonly<Record<string, { number: number; instead: string }>> = Object.freeze({
  ParticipantUpdated: { number: 4, instead: 'subscribe to "node-suspect", "node-alive" and "node-dead" for a member\'s state changes' },
  ReceivedNewDialFromNode: { number: 6, instead: 'subscribe to "connection-opened" (raised for connections in either direction once the handshake completes)' },
  WatchedDeltaUpdated: { number: 7, instead: 'subscribe to "entry-updated" and compare event.group and event.key' },
  WatchedDeltaGroupUpdated: { number: 8, instead: 'subscribe to "entry-updated" and compare event.group' },
  WatchedDeltaGroupDeltaAdded: { number: 9, instead: 'subscribe to "entry-added" and compare event.group' },
  ClientConnected: { number: 10, instead: "the client port is HTTP here and raises no events for its clients" },
  ClientDisconnected: { number: 11, instead: "the client port is HTTP here and raises no events for its clients" },
  GossipLoadReached: { number: 12, instead: 'subscribe to "gossip-overload" (EventType.GossipOverload)' },
  MaxNodeConnectionsReached: { number: 13, instead: 'subscribe to "connection-refused"; connections over maxConnections are closed at accept and logged' },
  MaxClientConnectionsReached: { number: 14, instead: "the client port is HTTP here and raises no events for its clients" },
  AdvertiseAddressUpdatedFromDial: { number: 15, instead: "the advertised address is fixed by the advertise option (--advertise)" },
});

/** A Go event number or name given to onEvent() that has no equivalent here. */
export class UnsupportedEventError extends TypeError {
  override readonly name = "UnsupportedEventError";
}

/**
 * The event type onEvent() subscribes to: an event type, an `EventType` value, a Go event name
 * as a string ("NewDeltaAdded"), or a Go event number (1). Throws UnsupportedEventError naming
 * the Go event and what to use instead for the Go events that have no equivalent here, and for
 * anything else.
 */
export function eventTypeOfGo(type: unknown): GossipEventType {
  if (typeof type === "string" && EVENT_TYPES.has(type)) return type as GossipEventType;
  if (typeof type === "string" && Object.hasOwn(EventType, type)) return EventType[type as keyof typeof EventType];
  if (typeof type === "number" && Object.hasOwn(GO_EVENT_NUMBERS, type)) return GO_EVENT_NUMBERS[type as GoEventNumber];
  const missing = Object.entries(GO_EVENTS_WITHOUT_EQUIVALENT).find(([name, { number }]) => type === name || type === number);
  if (missing !== undefined) {
    const [name, { number, instead }] = missing;
    throw new UnsupportedEventError(`Go event ${name} (${number}) is declared by the Go SDK but never fired, and has no equivalent here: ${instead}`);
  }
  // EventType.ParticipantUpdated and the like are undefined: EventType lists only what fires here.
  const hint = type === undefined ? `; EventType has no entry for the Go events that never fire (${Object.keys(GO_EVENTS_WITHOUT_EQUIVALENT).join(", ")})` : "";
  throw new UnsupportedEventError(`unknown event ${describeEventType(type)}: expected an event type (${[...EVENT_TYPES].join(", ")}), an EventType.… name, or a Go event number (${Object.keys(GO_EVENT_NUMBERS).join(", ")})${hint}`);
}

function describeEventType(type: unknown): string {
  return typeof type === "string" ? JSON.stringify(type.slice(0, 60)) : typeof type === "number" ? String(type) : typeof type;
}

export class EventBus {
  private readonly handlers = new Map<GossipEventType | "*", Set<(event: GossipEvent) => void | Promise<void>>>();

  constructor(
    private readonly selfName: string,
    private readonly onHandlerFailure: (source: string, error: Error) => void,
  ) {}

  /** Subscribes to one event type, or "*" for all; returns the unsubscribe function. */
  on<T extends GossipEventType>(type: T | "*", handler: EventHandler<NoInfer<T>>): () => void {
    // A misspelt type would otherwise be accepted and never fire.
    if (type !== "*" && !EVENT_TYPES.has(type)) {
      throw new UnsupportedEventError(`unknown event type ${describeEventType(type)}: expected "*" or one of ${[...EVENT_TYPES].join(", ")}`);
    }
    if (typeof handler !== "function") throw new TypeError(`the handler for ${type} must be a function, got ${typeof handler}`);
    let set = this.handlers.get(type);
    if (!set) {
      set = new Set();
      this.handlers.set(type, set);
    }
    const wrapped = handler as (event: GossipEvent) => void | Promise<void>;
    set.add(wrapped);
    return () => void set.delete(wrapped);
  }

  hasHandlers(type: GossipEventType): boolean {
    return (this.handlers.get(type)?.size ?? 0) > 0 || (this.handlers.get("*")?.size ?? 0) > 0;
  }

  emit(event: GossipEvent): void {
    for (const key of [event.type, "*"] as const) {
      const set = this.handlers.get(key);
      if (!set) continue;
      for (const handler of [...set]) this.invoke(handler, event);
    }
  }

  private invoke(handler: (event: GossipEvent) => void | Promise<void>, event: GossipEvent): void {
    try {
      const result = handler(event);
      if (result instanceof Promise) result.catch((error: unknown) => this.fail(event, error));
    } catch (error) {
      this.fail(event, error);
    }
  }

  private fail(event: GossipEvent, thrown: unknown): void {
    const error = thrown instanceof Error ? thrown : new Error(String(thrown));
    const source = `handler for ${event.type}`;
    this.onHandlerFailure(source, error);
    // An error handler that throws is only logged: reporting it again could loop forever.
    if (event.type !== "error") this.emit({ type: "error", node: this.selfName, error, source, time: Date.now() });
  }
}

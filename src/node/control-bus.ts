// The control bus: user events (user-events.ts) and queries (queries.ts) share one wiring into the
// node, and this is where their frames come in.

import { type Frame, MessageType } from "../codec/index.ts";
import { Queries, type QueryWiring } from "./queries.ts";
import { UserEvents, type UserEventWiring } from "./user-events.ts";

export type ControlBusWiring = QueryWiring & UserEventWiring;

export class ControlBus {
  readonly events: UserEvents;
  readonly queries: Queries;

  constructor(wiring: ControlBusWiring) {
    this.events = new UserEvents(wiring);
    this.queries = new Queries(wiring);
  }

  /** Handles a USER_EVENT, QUERY or QUERY_REPLY frame; false for any other type. Throws DecodeError when malformed. */
  handleFrame(from: string, frame: Frame): boolean {
    if (frame.type === MessageType.UserEvent) this.events.receive(from, frame.body);
    else if (frame.type === MessageType.Query) this.queries.receiveQuery(from, frame.body);
    else if (frame.type === MessageType.QueryReply) this.queries.receiveReply(frame.body);
    else return false;
    return true;
  }
}

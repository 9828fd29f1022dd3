// Entry events from change records: what an application subscribed to entry-* sees of a change.

import type { EntryEvent } from "../events.ts";
import { type ChangeRecord, decodeValue, valueTypeNames } from "../state/index.ts";

/** The event of a change of a user entry; throws when a value does not decode as its type. */
export function entryEvent(change: ChangeRecord, time: number): EntryEvent {
  const event: EntryEvent = {
    type: `entry-${change.kind}`,
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
  return event;
}

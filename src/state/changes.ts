// Change records: what one applied write did, for the event layer. Exactly one per change.

import type { ValueType } from "./values.ts";

export type ChangeKind = "added" | "updated" | "deleted" | "expired";

export interface EntrySnapshot {
  value: Uint8Array;
  valueType: ValueType;
  version: number;
}

export interface ChangeRecord {
  kind: ChangeKind;
  node: string;
  group: string;
  key: string;
  /** The value after the change; for deleted/expired, the value that went away. */
  current: EntrySnapshot;
  /** The value before the change (updated, deleted, expired). */
  previous?: EntrySnapshot;
  /** True when this node made the change itself. */
  local: boolean;
  /**
   * The origin's wall-clock ms when it made the write this change applies (for a delete, the
   * delete's). Absent when no write of the origin caused the change (an expiry noticed here, keys
   * dropped when a newer state replaced the old one) or when the sender did not carry it.
   */
  writtenAt?: number;
}

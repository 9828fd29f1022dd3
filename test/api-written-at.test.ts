// Entry events carry the owner's write time (writtenAt) through the public API over real TCP. The
// owner's wall clock is pinned to a known instant (setSystemTime) for exactly the synchronous
// set()/delete() call, so the time a remote event reports can only have come from the owner's
// clock at its write; the receiving node reads the real clock.

import { afterAll, afterEach, expect, setDefaultTimeout, setSystemTime, test } from "bun:test";
import { Nodes, record, waitForEvent } from "./api-helpers.ts";

setDefaultTimeout(30_000);

const nodes = new Nodes();
afterEach(() => void setSystemTime()); // a failed assertion must not leave the clock pinned
afterAll(() => nodes.stopAll());

/** Runs `write` with Date.now() reading `at`, then gives the real clock back. */
function writeAt<T>(at: number, write: () => T): T {
  setSystemTime(new Date(at));
  try {
    return write();
  } finally {
    setSystemTime();
  }
}

test("an entry event from a remote write carries writtenAt equal to the origin's clock at the write", async () => {
  const [alpha, bravo] = await nodes.cluster(["wa-alpha", "wa-bravo"], { clusterName: "api-written-at", gossipIntervalMs: 100 });
  const ownAdded = record(alpha!, "entry-added");
  const ownUpdated = record(alpha!, "entry-updated");
  const ownDeleted = record(alpha!, "entry-deleted");
  const added = record(bravo!, "entry-added");
  const updated = record(bravo!, "entry-updated");
  const deleted = record(bravo!, "entry-deleted");
  // Instants no real clock reads now, a few seconds apart.
  const setAt = Date.UTC(2001, 8, 9, 1, 46, 40, 123);
  const updateAt = setAt + 2_500;
  const deleteAt = setAt + 7_001;

  const startedAt = Date.now();
  writeAt(setAt, () => alpha!.set("times", "k", "first"));
  const remoteAdd = await waitForEvent(added, "k added on bravo", (e) => e.key === "k");
  expect([remoteAdd.node, remoteAdd.local, remoteAdd.writtenAt]).toEqual(["wa-alpha", false, setAt]);
  expect(remoteAdd.time).toBeGreaterThanOrEqual(startedAt); // applied by bravo's real clock

  writeAt(updateAt, () => alpha!.set("times", "k", "second"));
  const remoteUpdate = await waitForEvent(updated, "k updated on bravo", (e) => e.key === "k");
  expect([remoteUpdate.value, remoteUpdate.writtenAt]).toEqual(["second", updateAt]);

  writeAt(deleteAt, () => alpha!.delete("times", "k"));
  const remoteDelete = await waitForEvent(deleted, "k deleted on bravo", (e) => e.key === "k");
  // The delete's time, although value and version are those of the value that went away.
  expect([remoteDelete.value, remoteDelete.writtenAt]).toEqual(["second", deleteAt]);

  // The owner's own events say the same.
  expect([...ownAdded, ...ownUpdated, ...ownDeleted].map((e) => [e.type, e.local, e.writtenAt])).toEqual([
    ["entry-added", true, setAt],
    ["entry-updated", true, updateAt],
    ["entry-deleted", true, deleteAt],
  ]);
});

import { describe, expect, test } from "bun:test";
import { WriteQueue, type ByteSink } from "../src/transport/write-queue.ts";

/** A sink that takes at most `capacity` bytes until refilled, like a kernel socket buffer. */
class FakeSocket implements ByteSink {
  readonly writes: Uint8Array[] = [];
  readonly received: number[] = [];
  constructor(public capacity: number) {}
  write(bytes: Uint8Array): number {
    const taken = Math.min(this.capacity, bytes.length);
    this.capacity -= taken;
    this.writes.push(bytes.slice());
    for (let i = 0; i < taken; i++) this.received.push(bytes[i]!);
    return taken;
  }
}

const unit = (fill: number, length: number) => new Uint8Array(length).fill(fill);
const tick = () => new Promise<void>((resolve) => queueMicrotask(resolve));

describe("WriteQueue", () => {
  test("units queued in one tick leave in one write", async () => {
    const socket = new FakeSocket(1 << 20);
    let written = 0;
    const queue = new WriteQueue(socket, 1 << 20, (bytes) => (written += bytes));
    for (let i = 0; i < 10; i++) expect(queue.enqueue(unit(i, 10))).toBe("queued");
    expect(socket.writes.length).toBe(0);
    await tick();
    expect(socket.writes.length).toBe(1);
    expect(socket.writes[0]!.length).toBe(100);
    expect(written).toBe(100);
    expect(queue.queuedBytes).toBe(0);
  });

  test("a partial write keeps the rest, and flush() on drain continues byte-exact", async () => {
    const socket = new FakeSocket(7);
    const queue = new WriteQueue(socket, 1 << 20, () => {});
    queue.enqueue(Uint8Array.from([1, 2, 3, 4, 5]));
    queue.enqueue(Uint8Array.from([6, 7, 8, 9, 10]));
    await tick();
    expect(socket.received).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(queue.queuedBytes).toBe(3);
    queue.enqueue(Uint8Array.from([11, 12]));
    await tick();
    expect(socket.writes.length).toBe(1); // no write while waiting for drain
    socket.capacity = 0;
    queue.flush(); // a drain that finds the buffer full again: write() returns 0
    expect(queue.queuedBytes).toBe(5);
    socket.capacity = 100;
    queue.flush();
    expect(socket.received).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(queue.queuedBytes).toBe(0);
  });

  test("refuses past the high-water mark and never holds more than it", async () => {
    const socket = new FakeSocket(0); // a peer that never reads
    const queue = new WriteQueue(socket, 1000, () => {});
    let refused = 0;
    for (let i = 0; i < 50; i++) {
      if (queue.enqueue(unit(1, 100)) === "overloaded") refused++;
      expect(queue.queuedBytes).toBeLessThanOrEqual(1000);
      await tick();
    }
    expect(queue.queuedBytes).toBe(1000);
    expect(refused).toBe(40);
    expect(queue.enqueue(unit(2, 10), true)).toBe("queued"); // control frames bypass the mark
  });

  test("an empty queue accepts one unit larger than the mark", () => {
    const queue = new WriteQueue(new FakeSocket(0), 100, () => {});
    expect(queue.enqueue(unit(1, 500))).toBe("queued");
    expect(queue.enqueue(unit(1, 1))).toBe("overloaded");
  });

  test("takePending hands over units not yet written; whenEmpty fires when the rest is out", async () => {
    const socket = new FakeSocket(3);
    const queue = new WriteQueue(socket, 1 << 20, () => {});
    queue.enqueue(Uint8Array.from([1, 2, 3, 4]));
    await tick();
    queue.enqueue(Uint8Array.from([5]));
    queue.enqueue(Uint8Array.from([6]));
    const moved = queue.takePending();
    expect(moved.map((bytes) => [...bytes])).toEqual([[5], [6]]);
    let empty = false;
    queue.whenEmpty(() => (empty = true));
    expect(empty).toBe(false);
    socket.capacity = 10;
    queue.flush();
    expect(empty).toBe(true);
    expect(socket.received).toEqual([1, 2, 3, 4]);
  });

  test("takePending leaves the connection's own units (handshake, ERROR), which still go out here, plain if queued before sealing", async () => {
    const socket = new FakeSocket(0);
    const queue = new WriteQueue(socket, 1 << 20, () => {});
    queue.enqueueOwn(Uint8Array.from([1])); // the handshake's last frame
    queue.sealWith((batch) => Uint8Array.from([0xee, ...batch]));
    queue.enqueue(Uint8Array.from([2]));
    queue.enqueueOwn(Uint8Array.from([3])); // an ERROR after sealing
    queue.enqueue(Uint8Array.from([4]));
    expect(queue.takePending().map((bytes) => [...bytes])).toEqual([[2], [4]]);
    expect(queue.queuedBytes).toBe(2);
    socket.capacity = 100;
    queue.flush();
    expect(socket.received).toEqual([1, 0xee, 3]);
    expect(queue.takePending()).toEqual([]);
  });

  test("large units are written without coalescing copies", async () => {
    const written: Uint8Array[] = [];
    const queue = new WriteQueue({ write: (bytes) => (written.push(bytes), bytes.length) }, 1 << 30, () => {});
    const big = unit(7, 1 << 20);
    queue.enqueue(unit(1, 10));
    queue.enqueue(big);
    await tick();
    expect(written.map((bytes) => bytes.length)).toEqual([10, 1 << 20]);
    expect(written[1]).toBe(big);
  });
});

// Shared pieces of the module-API tests (test/api-*.test.ts). Everything goes through the public
// surface (src/index.ts): nodes are real, over TCP on 127.0.0.1 with ephemeral ports. Every node
// made here is registered, and stopAll() (called from afterAll) stops each one, so a failing test
// never leaves sockets or timers behind. Every wait is bounded.

import { expect } from "bun:test";
import { createNode, type CreateNodeExtras, type EventOf, type GossipEventType, type Node, type NodeOptionsInput } from "../src/index.ts";
import { waitFor } from "./support/wait.ts";

export const LOOPBACK = "127.0.0.1:0";

/** A registry of nodes to stop at the end of a test file. */
export class Nodes {
  private readonly all: Node[] = [];

  /** createNode() with a loopback address, registered for stopAll(). Not started. */
  make(options: NodeOptionsInput, extras?: CreateNodeExtras): Node {
    const node = createNode({ address: LOOPBACK, ...options }, extras);
    this.all.push(node);
    return node;
  }

  /** make() + start(). */
  async start(options: NodeOptionsInput, extras?: CreateNodeExtras): Promise<Node> {
    const node = this.make(options, extras);
    await node.start();
    return node;
  }

  /**
   * Starts a cluster: the first node is the seed, the others join through it. Waits until every
   * node sees every other one alive.
   */
  async cluster(names: string[], options: NodeOptionsInput = {}, beforeStart?: (node: Node) => void): Promise<Node[]> {
    const nodes: Node[] = [];
    for (const name of names) {
      const seeds = nodes.length === 0 ? [] : [nodes[0]!.address];
      const node = this.make({ ...options, name, seeds });
      beforeStart?.(node);
      await node.start();
      nodes.push(node);
    }
    await waitFor(`${names.join(", ")} to see each other alive`, () => nodes.every((node) => aliveCount(node) === nodes.length));
    return nodes;
  }

  /** Stops every node made here (errors are collected and rethrown after all were tried). */
  async stopAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const node of this.all.splice(0)) {
      try {
        await withTimeout(node.stop(), 5_000, `stopping ${node.name}`);
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

/** Members in state "alive", the node itself included. */
export function aliveCount(node: Node): number {
  return node.members().filter((member) => member.state === "alive").length;
}

export { waitFor };

export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Records every event of `type` a node raises, from now on. */
export function record<T extends GossipEventType>(node: Node, type: T): EventOf<T>[] {
  const events: EventOf<T>[] = [];
  node.on(type, (event) => void events.push(event));
  return events;
}

/** Waits for the first recorded event matching `match` and returns it. */
export async function waitForEvent<E>(events: E[], what: string, match: (event: E) => boolean, timeoutMs = 5_000): Promise<E> {
  await waitFor(what, () => events.some(match), timeoutMs);
  return events.find(match)!;
}

/** Sleeps `ms` and counts the gossip rounds the node ran meanwhile. */
export async function roundsDuring(nodes: Node[], ms: number): Promise<number[]> {
  const before = nodes.map((node) => node.stats().gossip.rounds);
  await Bun.sleep(ms);
  return nodes.map((node, i) => node.stats().gossip.rounds - before[i]!);
}

/** Expects `rounds` in `windowMs` to be what an interval of `intervalMs` gives. */
export function expectRate(rounds: number, windowMs: number, intervalMs: number, who: string): void {
  const expected = windowMs / intervalMs;
  // Timers can only run late, never early: allow a third fewer rounds, and one extra for the edges.
  expect({ who, intervalMs, rounds, ok: rounds >= Math.floor(expected * 0.65) && rounds <= Math.ceil(expected) + 1 }).toEqual({ who, intervalMs, rounds, ok: true });
}

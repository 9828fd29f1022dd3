// Connection events and the network-type check, through the public API over real TCP.
import { afterAll, expect, test } from "bun:test";
import { OptionsError, type EventOf } from "../src/index.ts";
import { Nodes, waitFor } from "./api-helpers.ts";

const nodes = new Nodes();
afterAll(() => nodes.stopAll());

test("a node of another cluster is refused and both sides raise connection-refused with the reason", async () => {
  const alpha = await nodes.start({ name: "refuse-alpha", clusterName: "blue", gossipIntervalMs: 100 });
  const refusedHere: EventOf<"connection-refused">[] = [];
  alpha.on("connection-refused", (event) => void refusedHere.push(event));
  const intruder = nodes.make({ name: "refuse-intruder", clusterName: "green", seeds: [alpha.address], gossipIntervalMs: 100 });
  const refusedThere: EventOf<"connection-refused">[] = [];
  intruder.on("connection-refused", (event) => void refusedThere.push(event));
  const opened: string[] = [];
  alpha.on("connection-opened", (event) => void opened.push(event.node));
  await intruder.start();
  await waitFor("alpha to refuse the intruder, and the intruder to hear it", () => refusedHere.length > 0 && refusedThere.length > 0);
  expect(refusedThere[0]!.reason).toContain("refused the connection");
  expect(refusedThere[0]!.address).toBe(alpha.address);
  expect(refusedHere[0]!.reason).toContain("green");
  expect(refusedHere[0]!.reason).toContain("blue");
  expect(refusedHere[0]!.address).toMatch(/^127\.0\.0\.1:\d+$/);
  // The intruder never becomes a member and never receives state.
  await Bun.sleep(300);
  expect(alpha.nodes()).toEqual(["refuse-alpha"]);
  expect(intruder.nodes()).toEqual(["refuse-intruder"]);
  expect(opened).not.toContain("refuse-intruder");
});

test("start() refuses an address that does not suit clusterNetwork", async () => {
  const node = nodes.make({ name: "net-check", clusterNetwork: "PUBLIC" });
  let thrown: unknown;
  try {
    await node.start();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(OptionsError);
  expect((thrown as Error).message).toStartWith("invalid option address: expected a public address");
  expect((thrown as Error).message).toContain("127.0.0.1:0");
});

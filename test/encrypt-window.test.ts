// The plain window (encryptPlainWindow) over real sockets: the three steps of moving a running
// cluster from plain to encrypted without a split. Every pair of nodes that meets during one
// step connects, each connection sealed exactly when both sides speak the keyring; a node out of
// the window still refuses a plain one; keyring messages go over sealed connections only.

import { afterEach, describe, expect, test } from "bun:test";
import { MessageType } from "../src/codec/index.ts";
import { createNode } from "../src/index.ts";
import type { PlainWindow } from "../src/transport/admission.ts";
import { Keyring } from "../src/transport/keyring.ts";
import { closeAll, frameBytes, introduce, startNode, waitFor, type TestNode } from "./tcp-harness.ts";

afterEach(closeAll);

const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
type Setup = "plain" | PlainWindow | "encrypted";

function start(name: string, setup: Setup): Promise<TestNode> {
  if (setup === "plain") return startNode(name, { reconnectBaseMs: 5_000, reconnectMaxMs: 5_000 });
  return startNode(name, { keyring: Keyring.parse(key), reconnectBaseMs: 5_000, reconnectMaxMs: 5_000, ...(setup === "encrypted" ? {} : { plainWindow: setup }) });
}

/** `from` dials `to` and a PUSH arrives; returns whether the connection is sealed on both ends. */
async function connects(from: TestNode, to: TestNode): Promise<boolean> {
  introduce(from, to);
  expect(from.transport.send(to.name, frameBytes(MessageType.Push, Uint8Array.of(1)))).toBe("queued");
  await waitFor(`${from.name}'s frame at ${to.name}`, () => to.host.framesFrom(from.name).some((frame) => frame.type === MessageType.Push), 5_000);
  expect(from.transport.isSealed(to.name)).toBe(to.transport.isSealed(from.name));
  return from.transport.isSealed(to.name);
}

async function refused(from: TestNode, to: TestNode, reason: RegExp): Promise<void> {
  introduce(from, to);
  from.transport.send(to.name, frameBytes(MessageType.Push, Uint8Array.of(1)));
  await waitFor(`${to.name} to refuse ${from.name}`, () => to.log.lines.some((line) => line.level === "warn" && reason.test(line.message)), 5_000);
  expect(to.host.framesFrom(from.name)).toEqual([]);
}

describe("moving from plain to encrypted", () => {
  // Each step's pairs: the nodes already moved to it and the nodes of the step before.
  const cases: [Setup, Setup, "plain" | "sealed"][] = [
    ["plain", "dial-plain", "plain"], // step 1: restarted nodes still talk plain with the others
    ["dial-plain", "plain", "plain"],
    ["dial-plain", "dial-plain", "plain"],
    ["dial-plain", "accept-plain", "plain"], // step 2: a node of step 1 dials plain, which step 2 accepts
    ["accept-plain", "dial-plain", "sealed"], // a node of step 2 dials encrypted, which step 1 accepts
    ["accept-plain", "accept-plain", "sealed"],
    ["accept-plain", "encrypted", "sealed"], // step 3: encryption required
    ["encrypted", "accept-plain", "sealed"],
  ];
  for (const [dialer, listener, expected] of cases) {
    test(`${dialer} dials ${listener}: connected, ${expected}`, async () => {
      const from = await start("from", dialer);
      const to = await start("to", listener);
      expect(await connects(from, to)).toBe(expected === "sealed");
    });
  }

  test("out of the window, plain peers are refused both ways, and a dial-plain node by an encrypted one", async () => {
    await refused(await start("p1", "plain"), await start("e1", "encrypted"), /peer uses no authentication \(plain\) and this node an encryption keyring$/);
    await refused(await start("e2", "encrypted"), await start("p2", "plain"), /peer uses an encryption keyring and this node no authentication \(plain\)$/);
    await refused(await start("w1", "dial-plain"), await start("e3", "encrypted"), /peer uses no authentication \(plain\) and this node an encryption keyring$/);
  });

  test("keyring messages are not sent over a plain connection", async () => {
    const a = await start("a", "dial-plain");
    const b = await start("b", "accept-plain");
    expect(await connects(a, b)).toBe(false);
    expect(a.transport.sendSealed("b", frameBytes(MessageType.KeyringRequest, Uint8Array.of(1, 0)))).toBe("unsealed");
    expect(b.transport.sendSealed("a", frameBytes(MessageType.KeyringRequest, Uint8Array.of(1, 0)))).toBe("unsealed");
    const plain = await start("c", "plain");
    expect(plain.transport.sendSealed("a", frameBytes(MessageType.KeyringRequest, Uint8Array.of(1, 0)))).toBe("unsealed");
  });

  test("a window without a keyring is a configuration error naming the option", () => {
    expect(() => createNode({ encryptPlainWindow: "dial-plain" })).toThrow('invalid option encryptPlainWindow: expected off without encryptKeys: the window admits plain peers beside encrypted ones, got "dial-plain"');
  });
});

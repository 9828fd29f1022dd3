// USER_EVENT, QUERY and QUERY_REPLY bytes (docs/PROTOCOL.md 5.5, 5.6): the documented example, and bodies refused with a DecodeError naming the field.

import { expect, test } from "bun:test";
import { DecodeError, FrameWriter, readQuery, readQueryReply, readUserEvent, writeQueryReply, writeUserEvent } from "../src/codec/index.ts";

const hex = (text: string) => Uint8Array.from(text.split(/\s+/).filter(Boolean).map((byte) => Number.parseInt(byte, 16)));
const example = { origin: "a", generation: 5, ltime: 1, name: "deploy", payload: new TextEncoder().encode("v2"), coalesce: true };

test("the documented USER_EVENT example, both ways", () => {
  const writer = new FrameWriter(64);
  writeUserEvent(writer, example);
  const frame = writer.finish();
  expect(frame).toEqual(hex("00 00 00 0f 04 0f 00 00 00 00 00 00  01 61 05 01 06 64 65 70 6c 6f 79 02 76 32 01"));
  expect(readUserEvent(frame.subarray(12), 64)).toEqual(example);
});

test("bad USER_EVENT bodies are DecodeErrors naming the field", () => {
  const body = hex("01 61 05 01 06 64 65 70 6c 6f 79 02 76 32 01");
  expect(() => readUserEvent(body.subarray(0, body.length - 1), 64)).toThrow(DecodeError);
  expect(() => readUserEvent(hex("01 61 05 01 06 64 65 70 6c 6f 79 02 76 32 01 00"), 64)).toThrow(/user event/);
  const longName = new FrameWriter(512);
  writeUserEvent(longName, { ...example, name: "n".repeat(129) });
  expect(() => readUserEvent(longName.finish().subarray(12), 64)).toThrow(/name/);
});

test("bad QUERY and QUERY_REPLY bodies are DecodeErrors naming the field", () => {
  // The bodies of docs/PROTOCOL.md 8.11 and 8.12 (checked there), with one thing wrong each.
  const query = hex("01 61 05 01 04 6c 6f 61 64 02 31 6d d0 0f 01 00");
  expect(readQuery(query, 64).relayFactor).toBe(0);
  expect(() => readQuery(query.subarray(0, query.length - 1), 64)).toThrow(/relayFactor/);
  expect(() => readQuery(hex("01 61 05 01 04 6c 6f 61 64 02 31 6d d0 0f 01 06"), 64)).toThrow("cannot decode relayFactor at offset 15: 6 is more than 5");
  expect(() => readQuery(hex("01 61 05 01 04 6c 6f 61 64 02 31 6d d0 0f 01 00 00"), 64)).toThrow(/query/);
  const reply = hex("01 61 05 01 01 62 01 00 03 30 2e 35");
  expect(readQueryReply(reply, 64).kind).toBe(1);
  expect(() => readQueryReply(hex("01 61 05 01 01 62 03 00 03 30 2e 35"), 64)).toThrow("cannot decode kind at offset 6: unknown reply kind 3");
  expect(() => readQueryReply(reply, 0)).toThrow(/origin/);
  const big = new FrameWriter(16_384);
  writeQueryReply(big, { origin: "a", generation: 5, id: 1, responder: "b", kind: 1, relay: false, payload: new Uint8Array(8193) });
  expect(() => readQueryReply(big.finish().subarray(12), 64)).toThrow(/payload/);
});

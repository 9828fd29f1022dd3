// USER_EVENT bytes (docs/PROTOCOL.md 5.5): the documented example, and bodies refused with a DecodeError naming the field.

import { expect, test } from "bun:test";
import { DecodeError, FrameWriter, readUserEvent, writeUserEvent } from "../src/codec/index.ts";

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

import { describe, expect, test } from "bun:test";
import {
  AuthScheme,
  DecodeError,
  ErrorCode,
  FrameDecoder,
  MessageType,
  PROTOCOL_VERSION,
  computeProof,
  decodeError,
  decodeHello,
  decodeWelcome,
  encodeError,
  encodeHelloIntroduce,
  encodeProve,
  encodeWelcomeIntroduce,
  proofMatches,
  type Frame,
  type Introduction,
  type ProofTranscript,
} from "../src/codec/index.ts";
import { checkIntroduction } from "../src/transport/admission.ts";

function onlyFrame(bytes: Uint8Array): Frame {
  const frames: Frame[] = [];
  new FrameDecoder().push(bytes, (frame) => frames.push(frame));
  expect(frames.length).toBe(1);
  return frames[0]!;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const nonce = (fill: number) => new Uint8Array(16).fill(fill);

const alice: Introduction = {
  protocolVersion: PROTOCOL_VERSION,
  clusterName: "c",
  nodeName: "a",
  generation: 300,
  advertisedAddress: "h:1",
  authScheme: AuthScheme.HmacSha256,
  nonce: nonce(0xaa),
};

describe("handshake bodies", () => {
  test("HELLO introduce: test vector pins the layout", () => {
    const bytes = encodeHelloIntroduce(alice);
    // header: length 0x1d, version 4, type 1 (HELLO), flags 0, correlation 0
    expect(hex(bytes.subarray(0, 12))).toBe("0000001d" + "04" + "01" + "0000" + "00000000");
    // step 1, version 4, "c", "a", varuint 300 = ac 02, "h:1", scheme 1, nonce
    expect(hex(bytes.subarray(12))).toBe("01" + "04" + "0163" + "0161" + "ac02" + "03683a31" + "01" + "aa".repeat(16));
    const frame = onlyFrame(bytes);
    expect(frame.type).toBe(MessageType.Hello);
    expect(decodeHello(frame.body)).toEqual({ step: "introduce", introduction: alice });
  });

  test("WELCOME introduce: test vector pins the layout (no proof in it)", () => {
    const welcome = { ...alice, nodeName: "b", seenAt: "i:2" };
    const bytes = encodeWelcomeIntroduce(welcome);
    expect(hex(bytes.subarray(0, 12))).toBe("00000021" + "04" + "02" + "0000" + "00000000");
    // step 1, version 4, "c", "b", 300, "h:1", seen at "i:2", scheme 1, nonce
    expect(hex(bytes.subarray(12))).toBe("01" + "04" + "0163" + "0162" + "ac02" + "03683a31" + "03693a32" + "01" + "aa".repeat(16));
    const frame = onlyFrame(bytes);
    expect(frame.type).toBe(MessageType.Welcome);
    expect(decodeWelcome(frame.body)).toEqual({ step: "introduce", introduction: welcome });
  });

  test("HELLO prove and WELCOME prove: step 2, a blob, the remembered generation, no config summary", () => {
    const proof = new Uint8Array(32).fill(7);
    for (const type of [MessageType.Hello, MessageType.Welcome] as const) {
      const frame = onlyFrame(encodeProve(type, proof, { remembered: { generation: 5, heartbeat: 6, maxVersion: 7 }, config: null }));
      expect(frame.type).toBe(type);
      expect(hex(frame.body)).toBe("02" + "20" + "07".repeat(32) + "050607" + "00");
    }
    const expected = { step: "prove" as const, proof, remembered: null, config: null };
    expect(decodeHello(onlyFrame(encodeProve(MessageType.Hello, proof)).body)).toEqual(expected);
    expect(decodeWelcome(onlyFrame(encodeProve(MessageType.Welcome, proof)).body)).toEqual(expected);
  });

  test("ERROR is u16 code then string", () => {
    const bytes = encodeError(ErrorCode.ClusterMismatch, "no");
    expect(hex(bytes.subarray(12))).toBe("0004" + "026e6f");
    expect(decodeError(onlyFrame(bytes).body)).toEqual({ code: ErrorCode.ClusterMismatch, message: "no" });
  });

  test("truncated and oversized fields are DecodeErrors naming the field", () => {
    const body = onlyFrame(encodeHelloIntroduce(alice)).body;
    expect(() => decodeHello(body.subarray(0, body.length - 1))).toThrow(DecodeError);
    expect(() => decodeHello(body.subarray(0, body.length - 1))).toThrow(/hello.nonce|handshake.nonce/);
    expect(() => decodeHello(Uint8Array.from([9]))).toThrow(/hello.step at offset 0: unknown step 9/);
    const longProof = Uint8Array.from([2, 0x81, 0x05, ...new Uint8Array(641)]); // 641 bytes: past 16 keyring entries
    expect(() => decodeHello(longProof)).toThrow(/hello.proof/);
  });
});

describe("proofs", () => {
  const transcript: ProofTranscript = { dialerNonce: nonce(1), listenerNonce: nonce(2), dialerName: "a", listenerName: "b" };

  test("test vector: HMAC-SHA256 over label, both nonces and both length-prefixed names", () => {
    // Computed independently: hmac(b"s3cret", b"goferbroke/1 hello" + 16*b"\x01" + 16*b"\x02" + b"\x01a\x01b").
    expect(hex(computeProof("s3cret", "hello", transcript))).toBe("edab9a7fb55547b3584282902edc286d8ef78c0cbbaa7e63182a246e16df5f04");
    expect(hex(computeProof("s3cret", "welcome", transcript))).toBe("4b1ca19f8d184c185615fc68ad06fbcf720aeb4a1a916d9235d7a9bd3fbf39a6");
  });

  test("verify only with the same secret, role, nonces and names", () => {
    const proof = computeProof("s3cret", "hello", transcript);
    expect(proof.length).toBe(32);
    expect(proofMatches("s3cret", "hello", transcript, proof)).toBe(true);
    expect(proofMatches("other", "hello", transcript, proof)).toBe(false);
    expect(proofMatches("s3cret", "welcome", transcript, proof)).toBe(false);
    expect(proofMatches("s3cret", "hello", { ...transcript, listenerNonce: nonce(3) }, proof)).toBe(false);
    expect(proofMatches("s3cret", "hello", { ...transcript, dialerName: "ab", listenerName: "" }, proof)).toBe(false);
    expect(proofMatches("s3cret", "hello", transcript, proof.subarray(0, 31))).toBe(false);
  });
});

describe("checkIntroduction", () => {
  const local = { clusterName: "c", nodeName: "b", generation: 1, secret: "s" };
  test("accepts a compatible peer", () => {
    expect(checkIntroduction(local, alice)).toBeNull();
  });
  test("refuses with a reason for each mismatch", () => {
    expect(checkIntroduction(local, { ...alice, protocolVersion: PROTOCOL_VERSION + 1 })?.code).toBe(ErrorCode.UnsupportedVersion);
    // Version 2 had the listener prove first: its nodes are refused by name.
    expect(checkIntroduction(local, { ...alice, protocolVersion: 2 })).toEqual({
      code: ErrorCode.UnsupportedVersion,
      message: "protocol version 2 is not supported (this node speaks 4)",
    });
    expect(checkIntroduction(local, { ...alice, clusterName: "x" })).toEqual({
      code: ErrorCode.ClusterMismatch,
      message: "cluster name 'x' differs from ours 'c'",
    });
    expect(checkIntroduction(local, { ...alice, authScheme: AuthScheme.None })?.message).toBe(
      "peer has no cluster secret and this node requires one",
    );
    expect(checkIntroduction({ ...local, secret: undefined }, alice)?.code).toBe(ErrorCode.AuthFailed);
    expect(checkIntroduction(local, { ...alice, nodeName: "b" })?.code).toBe(ErrorCode.SameNameAsOurs);
    expect(checkIntroduction(local, { ...alice, nodeName: "a b" })).toEqual({
      code: ErrorCode.InvalidName,
      message: 'node name "a b" is not 1 to 64 characters from A-Z a-z 0-9 . _ -',
    });
    expect(checkIntroduction(local, { ...alice, nodeName: "" })?.code).toBe(ErrorCode.InvalidName);
    expect(checkIntroduction(local, { ...alice, nodeName: "n".repeat(65) })?.code).toBe(ErrorCode.InvalidName);
  });
});

// The connection handshake: bodies of HELLO, WELCOME and ERROR, the cluster-secret proofs, and
// the checks that decide whether two nodes may talk. Pure functions: tcp.ts runs the exchange.
//
// Exchange (the dialer is the side that called connect):
//   dialer   → HELLO   step 1 "introduce": who I am, my nonce
//   listener → WELCOME who I am, my nonce, where I see you, my proof
//   dialer   → HELLO   step 2 "prove": my proof
// The third message exists because a proof that covers both nonces can only be computed after
// both nonces are known; the dialer's proof therefore cannot ride in its first message. Neither
// side sends or accepts anything but HELLO / WELCOME / ERROR until its handshake completes: the
// dialer after sending step 2, the listener after checking it. A refusal is an ERROR frame
// followed by closing the connection.
//
// Byte layout. Each message is one frame with the usual 12-byte header (flags 0, correlation id
// 0); below are the bodies. Big-endian; "string" = varuint byte length + UTF-8, "blob" = varuint
// length + bytes, varuint = minimal unsigned LEB128 below 2^53, as everywhere in the codec.
// Strings are limited to 256 bytes (names), 300 (addresses) and 1024 (error messages).
//
//   HELLO (message type 1), step 1, dialer → listener
//     u8       step = 1
//     u8       protocol version the dialer speaks (2)
//     string   cluster name
//     string   node name
//     varuint  generation
//     string   advertised address, "host:port" ("[v6]:port" for IPv6)
//     u8       auth scheme: 0 = none, 1 = HMAC-SHA256 with the cluster secret
//     16 bytes dialer nonce (random; sent with every scheme)
//
//   HELLO (message type 1), step 2, dialer → listener, after it accepted the WELCOME
//     u8       step = 2
//     blob     dialer proof: 32 bytes with scheme 1, empty with scheme 0
//
//   WELCOME (message type 2), listener → dialer
//     u8       protocol version the listener speaks (2)
//     string   cluster name
//     string   node name
//     varuint  generation
//     string   advertised address
//     string   seen-at address: the dialer's address as the listener's socket sees it, "ip:port"
//     u8       auth scheme
//     16 bytes listener nonce
//     blob     listener proof: 32 bytes with scheme 1, empty with scheme 0
//
//   ERROR (message type 11), either direction, followed by closing the connection
//     u16      code: 1 protocol violation, 2 malformed frame, 3 unsupported protocol version,
//              4 cluster name mismatch, 5 authentication failed (scheme mismatch or wrong proof),
//              6 stale generation (the name is connected with a newer one), 7 the peer announced
//              the receiver's own name, 8 certificate does not name the node, 9 handshake timeout
//     string   human-readable message
//
// Proofs (scheme 1): HMAC-SHA256, key = the UTF-8 bytes of the cluster secret, message =
//     label ‖ dialer nonce (16) ‖ listener nonce (16) ‖ string dialer name ‖ string listener name
// with label the ASCII bytes "goferbroke/1 welcome" for the listener's proof and
// "goferbroke/1 hello" for the dialer's. The labels keep one side's proof from being reflected as
// the other's; the fresh nonce of the verifying side makes every proof single-use, so a recorded
// HELLO (step 1 and step 2) replayed on a new connection fails: the listener picks a new nonce and
// the old step-2 proof does not cover it. Proofs are compared with timingSafeEqual.
//
// HMAC and the comparison use Bun's CryptoHasher and the global crypto.timingSafeEqual rather than
// node:crypto: importing node:crypto costs about 9 ms of CPU at start-up, before a node listens.

import { BodyReader, DecodeError, FrameWriter, MessageType, PROTOCOL_VERSION } from "../codec/index.ts";

const NONCE_BYTES = 16;
const PROOF_BYTES = 32;
/** Bounds on handshake strings: a peer cannot make us allocate more than this per field. */
const MAX_NAME_BYTES = 256;
const MAX_ADDRESS_BYTES = 300;
const MAX_ERROR_MESSAGE_BYTES = 1024;

const HELLO_INTRODUCE = 1;
const HELLO_PROVE = 2;

export const AuthScheme = { None: 0, HmacSha256: 1 } as const;
export type AuthScheme = (typeof AuthScheme)[keyof typeof AuthScheme];

/** Codes carried by ERROR frames. Values are wire format: never renumber. */
export const ErrorCode = {
  ProtocolViolation: 1,
  MalformedFrame: 2,
  UnsupportedVersion: 3,
  ClusterMismatch: 4,
  AuthFailed: 5,
  /** The name is already connected with a newer generation. */
  StaleGeneration: 6,
  /** The peer announced the receiver's own node name. */
  SameNameAsOurs: 7,
  CertificateName: 8,
  HandshakeTimeout: 9,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export function errorCodeName(code: number): string {
  for (const [name, value] of Object.entries(ErrorCode)) if (value === code) return name;
  return `Unknown(${code})`;
}

/** What each side says about itself in HELLO step 1 and WELCOME. */
export interface Introduction {
  protocolVersion: number;
  clusterName: string;
  nodeName: string;
  generation: number;
  advertisedAddress: string;
  authScheme: number;
  nonce: Uint8Array;
}

export interface Welcome extends Introduction {
  /** Where the listener sees the dialer: lets a node behind NAT learn its outside address. */
  seenAt: string;
  proof: Uint8Array;
}

export type Hello = { step: "introduce"; introduction: Introduction } | { step: "prove"; proof: Uint8Array };

export interface ErrorBody {
  code: number;
  message: string;
}

export function newNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
}

function writeIntroduction(writer: FrameWriter, intro: Introduction): void {
  writer.u8(intro.protocolVersion).string(intro.clusterName).string(intro.nodeName);
  writer.varuint(intro.generation).string(intro.advertisedAddress);
}

export function encodeHelloIntroduce(intro: Introduction): Uint8Array {
  const writer = new FrameWriter(256);
  writer.begin(MessageType.Hello).u8(HELLO_INTRODUCE);
  writeIntroduction(writer, intro);
  writer.u8(intro.authScheme).raw(intro.nonce).end();
  return writer.finish();
}

export function encodeHelloProve(proof: Uint8Array): Uint8Array {
  const writer = new FrameWriter(64);
  writer.begin(MessageType.Hello).u8(HELLO_PROVE).blob(proof).end();
  return writer.finish();
}

export function encodeWelcome(welcome: Welcome): Uint8Array {
  const writer = new FrameWriter(256);
  writer.begin(MessageType.Welcome);
  writeIntroduction(writer, welcome);
  writer.string(welcome.seenAt).u8(welcome.authScheme).raw(welcome.nonce).blob(welcome.proof).end();
  return writer.finish();
}

export function encodeError(code: ErrorCode, message: string): Uint8Array {
  const writer = new FrameWriter(64 + message.length * 3);
  writer.begin(MessageType.Error).u16(code).string(message).end();
  return writer.finish();
}

function readIntroductionFields(reader: BodyReader): Omit<Introduction, "authScheme" | "nonce"> {
  return {
    protocolVersion: reader.u8("handshake.protocolVersion"),
    clusterName: reader.string("handshake.clusterName", MAX_NAME_BYTES),
    nodeName: reader.string("handshake.nodeName", MAX_NAME_BYTES),
    generation: reader.varuint("handshake.generation"),
    advertisedAddress: reader.string("handshake.advertisedAddress", MAX_ADDRESS_BYTES),
  };
}

function readNonce(reader: BodyReader): Uint8Array {
  const nonce = new Uint8Array(NONCE_BYTES);
  for (let i = 0; i < NONCE_BYTES; i++) nonce[i] = reader.u8("handshake.nonce");
  return nonce;
}

/** Decodes a HELLO body (either step); throws DecodeError. */
export function decodeHello(body: Uint8Array): Hello {
  const reader = new BodyReader(body);
  const step = reader.u8("hello.step");
  if (step === HELLO_PROVE) {
    const proof = reader.blob("hello.proof", PROOF_BYTES);
    reader.expectEnd("hello");
    return { step: "prove", proof };
  }
  if (step !== HELLO_INTRODUCE) throw new DecodeError("hello.step", 0, `unknown step ${step}`);
  const fields = readIntroductionFields(reader);
  const authScheme = reader.u8("hello.authScheme");
  const nonce = readNonce(reader);
  reader.expectEnd("hello");
  return { step: "introduce", introduction: { ...fields, authScheme, nonce } };
}

/** Decodes a WELCOME body; throws DecodeError. */
export function decodeWelcome(body: Uint8Array): Welcome {
  const reader = new BodyReader(body);
  const fields = readIntroductionFields(reader);
  const seenAt = reader.string("welcome.seenAt", MAX_ADDRESS_BYTES);
  const authScheme = reader.u8("welcome.authScheme");
  const nonce = readNonce(reader);
  const proof = reader.blob("welcome.proof", PROOF_BYTES);
  reader.expectEnd("welcome");
  return { ...fields, seenAt, authScheme, nonce, proof };
}

/** Decodes an ERROR body; throws DecodeError. */
export function decodeError(body: Uint8Array): ErrorBody {
  const reader = new BodyReader(body);
  const code = reader.u16("error.code");
  const message = reader.string("error.message", MAX_ERROR_MESSAGE_BYTES);
  reader.expectEnd("error");
  return { code, message };
}

export type ProofRole = "hello" | "welcome";

/** The four values both proofs cover; both sides know all of them once WELCOME has arrived. */
export interface ProofTranscript {
  dialerNonce: Uint8Array;
  listenerNonce: Uint8Array;
  dialerName: string;
  listenerName: string;
}

export function computeProof(secret: string, role: ProofRole, transcript: ProofTranscript): Uint8Array {
  const message = new FrameWriter(128)
    .raw(new TextEncoder().encode(`goferbroke/1 ${role}`))
    .raw(transcript.dialerNonce)
    .raw(transcript.listenerNonce)
    .string(transcript.dialerName)
    .string(transcript.listenerName)
    .finish();
  return new Uint8Array(new Bun.CryptoHasher("sha256", secret).update(message).digest());
}

export function proofMatches(secret: string, role: ProofRole, transcript: ProofTranscript, proof: Uint8Array): boolean {
  const expected = computeProof(secret, role, transcript);
  return proof.length === expected.length && crypto.timingSafeEqual(proof, expected);
}

/** The local side of a handshake, for the compatibility checks. */
export interface LocalIdentity {
  clusterName: string;
  nodeName: string;
  /** Set when the cluster uses a shared secret. */
  secret: string | undefined;
}

export interface Refusal {
  code: ErrorCode;
  /** Why, in words for both the log line and the ERROR frame. */
  message: string;
}

/**
 * The checks that depend only on the two introductions: protocol version, cluster, auth scheme,
 * and a peer that claims our own name. Returns null when the peer may proceed.
 */
export function checkIntroduction(local: LocalIdentity, peer: Introduction): Refusal | null {
  if (peer.protocolVersion !== PROTOCOL_VERSION) {
    return {
      code: ErrorCode.UnsupportedVersion,
      message: `protocol version ${peer.protocolVersion} is not supported (this node speaks ${PROTOCOL_VERSION})`,
    };
  }
  if (peer.clusterName !== local.clusterName) {
    return { code: ErrorCode.ClusterMismatch, message: `cluster name '${peer.clusterName}' differs from ours '${local.clusterName}'` };
  }
  const ourScheme = local.secret === undefined ? AuthScheme.None : AuthScheme.HmacSha256;
  if (peer.authScheme !== ourScheme) {
    const message =
      ourScheme === AuthScheme.None
        ? "peer authenticates with a cluster secret and this node has none"
        : "peer has no cluster secret and this node requires one";
    return { code: ErrorCode.AuthFailed, message };
  }
  if (peer.nodeName === local.nodeName) {
    return { code: ErrorCode.SameNameAsOurs, message: `peer announces our own node name '${local.nodeName}'` };
  }
  return null;
}

/** The proof this side sends: empty without a secret. */
export function ownProof(local: LocalIdentity, role: ProofRole, transcript: ProofTranscript): Uint8Array {
  return local.secret === undefined ? new Uint8Array(0) : computeProof(local.secret, role, transcript);
}

/** Checks the peer's proof; without a secret there is nothing to check (schemes already matched). */
export function checkProof(local: LocalIdentity, role: ProofRole, transcript: ProofTranscript, proof: Uint8Array): Refusal | null {
  if (local.secret === undefined || proofMatches(local.secret, role, transcript, proof)) return null;
  return { code: ErrorCode.AuthFailed, message: "wrong cluster secret proof" };
}

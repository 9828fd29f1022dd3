// The connection handshake: bodies of HELLO, WELCOME and ERROR and the cluster-secret proofs.
// The rules that decide whether two nodes may talk are in src/transport/admission.ts, which both
// the TCP and the memory transport run.
//
// Exchange (the dialer is the side that called connect):
//   dialer   → HELLO   step 1 "introduce": who I am, my nonce
//   listener → WELCOME step 1 "introduce": who I am, my nonce, where I see you
//   dialer   → HELLO   step 2 "prove": my proof
//   listener → WELCOME step 2 "prove": my proof, sent only after the dialer's proof checked out
// The dialer proves first: a proof covers both nonces, so it can only be computed once both are
// known, and the listener reveals its own only to a dialer that has already shown it knows the
// secret. A stranger that dials a node therefore never receives a proof it could use to guess
// the secret offline (see the README's security section for what remains). Both sides send all
// four messages with every auth scheme (the proofs are empty without a secret), so there is one
// sequence to follow. Neither side sends or accepts anything but HELLO / WELCOME / ERROR until
// its handshake completes: the listener after sending WELCOME step 2, the dialer after checking
// it. A refusal is an ERROR frame followed by closing the connection.
//
// Until then a frame may carry at most HANDSHAKE_FRAME_LIMIT (4096) body bytes: the largest
// handshake body is about 1.2 KB, and a longer announced length closes the connection before
// anything is buffered for it.
//
// Byte layout. Each message is one frame with the usual 12-byte header (flags 0, correlation id
// 0); below are the bodies. Big-endian; "string" = varuint byte length + UTF-8, "blob" = varuint
// length + bytes, varuint = minimal unsigned LEB128 below 2^53, as everywhere in the codec.
// Strings are limited to 256 bytes (names), 300 (addresses) and 1024 (error messages).
//
//   HELLO (message type 1), step 1, dialer → listener
//     u8       step = 1
//     u8       protocol version the dialer speaks (4)
//     string   cluster name
//     string   node name
//     varuint  generation
//     string   advertised address, "host:port" ("[v6]:port" for IPv6)
//     u8       auth scheme: 0 = none, 1 = HMAC-SHA256 with the cluster secret
//     16 bytes dialer nonce (random; sent with every scheme)
//
//   WELCOME (message type 2), step 1, listener → dialer, after it accepted HELLO step 1
//     u8       step = 1
//     u8       protocol version the listener speaks (4)
//     string   cluster name
//     string   node name
//     varuint  generation
//     string   advertised address
//     string   seen-at address: the dialer's address as the listener's socket sees it, "ip:port"
//     u8       auth scheme
//     16 bytes listener nonce
//
//   HELLO (message type 1), step 2, dialer → listener, after it accepted WELCOME step 1
//     u8       step = 2
//     blob     dialer proof: 32 bytes with scheme 1, empty with scheme 0
//     varuint  remembered generation: the newest generation the sender knows of the receiver's
//              node name (held or removed), 0 for none; when not 0, followed by
//     varuint    the heartbeat counter and
//     varuint    the highest version the sender holds of the receiver at that generation.
//              A receiver that announced a lower generation, or the same one with a lower
//              heartbeat or version (it restarted without a data dir and its clock stepped back,
//              or its generation was forced), renews its identity above the remembered
//              generation once the handshake completes
//     u8       1 when a cluster config summary follows, 0 when the sender has none
//     varuint  cluster config version (0 = the sender's start-up options, 1+ = changed at run time)
//     8 bytes  config hash: the first 8 bytes of SHA-256 over the settings' canonical JSON
//     varuint  setting count (at most 64), then per setting:
//       string   setting name
//       u32      first 4 bytes of SHA-256 over the value's canonical JSON
//
//   WELCOME (message type 2), step 2, listener → dialer, after the dialer's proof checked out
//     u8       step = 2
//     blob     listener proof: 32 bytes with scheme 1, empty with scheme 0
//     then the same remembered generation and config summary as HELLO step 2
//
//   ERROR (message type 11), either direction, followed by closing the connection
//     u16      code: 1 protocol violation, 2 malformed frame, 3 unsupported protocol version,
//              4 cluster name mismatch, 5 authentication failed (scheme mismatch or wrong proof),
//              6 stale generation (the name is connected with a newer one), 7 the peer announced
//              the receiver's own name, 8 certificate does not name the node, 9 handshake timeout,
//              10 invalid node name (not 1-64 characters from A-Z a-z 0-9 . _ -), 11 cluster
//              config conflict (two nodes that remember nothing of each other hold the same
//              config version with other settings, the per-node seeds apart; the message names them)
//     string   human-readable message
//
// Proofs (scheme 1): HMAC-SHA256, key = the UTF-8 bytes of the cluster secret, message =
//     label ‖ dialer nonce (16) ‖ listener nonce (16) ‖ string dialer name ‖ string listener name
// with label the ASCII bytes "goferbroke/1 hello" for the dialer's proof and
// "goferbroke/1 welcome" for the listener's. The labels keep one side's proof from being
// reflected as the other's; the fresh nonce of the verifying side makes every proof single-use,
// so a recorded handshake replayed on a new connection fails: the listener picks a new nonce and
// the old step-2 proof does not cover it. Proofs are compared with timingSafeEqual.
//
// Version 4 added the remembered generation and the config summary to both step-2 messages; they
// are read only once the step's proof checked out. Version 3 changed the order (version 2 sent the listener's proof in WELCOME, before the dialer
// had proven anything) and added the step byte to WELCOME. A node refuses a HELLO or WELCOME of
// another version with ERROR code 3 naming both, checked on the frame header before the body is
// read, so a version-2 node is refused by name rather than misread.
//
// HMAC and the comparison use Bun's CryptoHasher and the global crypto.timingSafeEqual rather than
// node:crypto: importing node:crypto costs about 9 ms of CPU at start-up, before a node listens.

import { DecodeError } from "./errors.ts";
import { MessageType } from "./frame.ts";
import { BodyReader } from "./reader.ts";
import { FrameWriter } from "./writer.ts";

export const NONCE_BYTES = 16;
/** Largest proof blob: a keyring proof is one 40-byte entry per key, at most 16 keys (src/transport/keyring.ts). */
const MAX_PROOF_BYTES = 640;
/** Bounds on handshake strings: a peer cannot make us allocate more than this per field. */
const MAX_NAME_BYTES = 256;
const MAX_ADDRESS_BYTES = 300;
const MAX_ERROR_MESSAGE_BYTES = 1024;
/** Largest body accepted before a handshake completes; every handshake body fits well inside. */
export const HANDSHAKE_FRAME_LIMIT = 4096;

export const CONFIG_HASH_BYTES = 8;
const MAX_CONFIG_SETTINGS = 64;
const MAX_SETTING_NAME_BYTES = 64;

const STEP_INTRODUCE = 1;
const STEP_PROVE = 2;

/** Keyring: proofs by key id and HMAC per key, and every frame after the handshake sealed (AES-256-GCM). */
export const AuthScheme = { None: 0, HmacSha256: 1, Keyring: 2 } as const;
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
  InvalidName: 10,
  /** Same cluster config version, other settings, between two nodes that remember nothing of each other. */
  ConfigConflict: 11,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export function errorCodeName(code: number): string {
  for (const [name, value] of Object.entries(ErrorCode)) if (value === code) return name;
  return `Unknown(${code})`;
}

/** What each side says about itself in HELLO step 1 and WELCOME step 1. */
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
}

/** A node's cluster config in brief: enough to tell two apart and name the settings that differ. */
export interface ConfigSummary {
  version: number;
  /** CONFIG_HASH_BYTES bytes. */
  hash: Uint8Array;
  /** Per setting, a hash of its value. */
  settings: { name: string; hash: number }[];
}

/** What the sender of a step-2 message knows of the receiver's name. */
export interface RememberedIdentity {
  generation: number;
  heartbeat: number;
  maxVersion: number;
}

/** What a step-2 message carries besides the proof. */
export interface ProofExtras {
  /** Null when the sender knows nothing of the receiver's name. */
  remembered: RememberedIdentity | null;
  config: ConfigSummary | null;
}

/** HELLO and WELCOME both come in two steps: an introduction, then a proof. */
export type HandshakeStep<Intro> = { step: "introduce"; introduction: Intro } | ({ step: "prove"; proof: Uint8Array } & ProofExtras);

export interface ErrorBody {
  code: number;
  message: string;
}

function writeIntroduction(writer: FrameWriter, intro: Introduction): void {
  writer.u8(STEP_INTRODUCE).u8(intro.protocolVersion).string(intro.clusterName).string(intro.nodeName);
  writer.varuint(intro.generation).string(intro.advertisedAddress);
}

export function encodeHelloIntroduce(intro: Introduction): Uint8Array {
  const writer = new FrameWriter(256);
  writer.begin(MessageType.Hello);
  writeIntroduction(writer, intro);
  writer.u8(intro.authScheme).raw(intro.nonce).end();
  return writer.finish();
}

export function encodeWelcomeIntroduce(welcome: Welcome): Uint8Array {
  const writer = new FrameWriter(256);
  writer.begin(MessageType.Welcome);
  writeIntroduction(writer, welcome);
  writer.string(welcome.seenAt).u8(welcome.authScheme).raw(welcome.nonce).end();
  return writer.finish();
}

const NO_EXTRAS: ProofExtras = { remembered: null, config: null };

/** HELLO step 2 (type Hello) or WELCOME step 2 (type Welcome): the sender's proof. */
export function encodeProve(type: typeof MessageType.Hello | typeof MessageType.Welcome, proof: Uint8Array, extras: ProofExtras = NO_EXTRAS): Uint8Array {
  const writer = new FrameWriter(128);
  writer.begin(type).u8(STEP_PROVE).blob(proof);
  const remembered = extras.remembered;
  if (remembered && remembered.generation > 0) writer.varuint(remembered.generation).varuint(remembered.heartbeat).varuint(remembered.maxVersion);
  else writer.varuint(0);
  const config = extras.config;
  writer.u8(config ? 1 : 0);
  if (config) {
    if (config.hash.length !== CONFIG_HASH_BYTES) throw new RangeError(`config hash must be ${CONFIG_HASH_BYTES} bytes, got ${config.hash.length}`);
    if (config.settings.length > MAX_CONFIG_SETTINGS) throw new RangeError(`a config summary holds at most ${MAX_CONFIG_SETTINGS} settings, got ${config.settings.length}`);
    writer.varuint(config.version).raw(config.hash).varuint(config.settings.length);
    for (const setting of config.settings) writer.string(setting.name).u32(setting.hash);
  }
  writer.end();
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

type ProveStep = { step: "prove"; proof: Uint8Array } & ProofExtras;

/** Reads the step byte; a proof step is read whole here, an introduction is left to the caller. */
function readStep(reader: BodyReader, message: string): "introduce" | ProveStep {
  const step = reader.u8(`${message}.step`);
  if (step === STEP_INTRODUCE) return "introduce";
  if (step !== STEP_PROVE) throw new DecodeError(`${message}.step`, 0, `unknown step ${step}`);
  const proof = reader.blob(`${message}.proof`, MAX_PROOF_BYTES);
  const generation = reader.varuint(`${message}.remembered`);
  const remembered = generation === 0 ? null : { generation, heartbeat: reader.varuint(`${message}.rememberedHeartbeat`), maxVersion: reader.varuint(`${message}.rememberedMaxVersion`) };
  const config = reader.u8(`${message}.hasConfig`) === 1 ? readConfigSummary(reader, message) : null;
  reader.expectEnd(message);
  return { step: "prove", proof, remembered, config };
}

function readConfigSummary(reader: BodyReader, message: string): ConfigSummary {
  const version = reader.varuint(`${message}.config.version`);
  const hash = new Uint8Array(CONFIG_HASH_BYTES);
  for (let i = 0; i < CONFIG_HASH_BYTES; i++) hash[i] = reader.u8(`${message}.config.hash`);
  const count = reader.varuint(`${message}.config.count`);
  if (count > MAX_CONFIG_SETTINGS) throw new DecodeError(`${message}.config.count`, 0, `${count} settings, more than the ${MAX_CONFIG_SETTINGS} allowed`);
  const settings: ConfigSummary["settings"] = [];
  for (let i = 0; i < count; i++) {
    settings.push({ name: reader.string(`${message}.config.setting`, MAX_SETTING_NAME_BYTES), hash: reader.u32(`${message}.config.settingHash`) });
  }
  return { version, hash, settings };
}

/** Decodes a HELLO body (either step); throws DecodeError. */
export function decodeHello(body: Uint8Array): HandshakeStep<Introduction> {
  const reader = new BodyReader(body);
  const step = readStep(reader, "hello");
  if (step !== "introduce") return step;
  const fields = readIntroductionFields(reader);
  const authScheme = reader.u8("hello.authScheme");
  const nonce = readNonce(reader);
  reader.expectEnd("hello");
  return { step: "introduce", introduction: { ...fields, authScheme, nonce } };
}

/** Decodes a WELCOME body (either step); throws DecodeError. */
export function decodeWelcome(body: Uint8Array): HandshakeStep<Welcome> {
  const reader = new BodyReader(body);
  const step = readStep(reader, "welcome");
  if (step !== "introduce") return step;
  const fields = readIntroductionFields(reader);
  const seenAt = reader.string("welcome.seenAt", MAX_ADDRESS_BYTES);
  const authScheme = reader.u8("welcome.authScheme");
  const nonce = readNonce(reader);
  reader.expectEnd("welcome");
  return { step: "introduce", introduction: { ...fields, seenAt, authScheme, nonce } };
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

/** The four values both proofs cover; both sides know all of them once WELCOME step 1 has arrived. */
export interface ProofTranscript {
  dialerNonce: Uint8Array;
  listenerNonce: Uint8Array;
  dialerName: string;
  listenerName: string;
}

export function computeProof(secret: string, role: ProofRole, transcript: ProofTranscript): Uint8Array {
  return transcriptMac(secret, `goferbroke/1 ${role}`, transcript);
}

/** HMAC-SHA256 under `key` of label ‖ dialer nonce ‖ listener nonce ‖ string dialer name ‖ string listener name. */
export function transcriptMac(key: string | Uint8Array, label: string, transcript: ProofTranscript): Uint8Array {
  const message = new FrameWriter(128)
    .raw(new TextEncoder().encode(label))
    .raw(transcript.dialerNonce)
    .raw(transcript.listenerNonce)
    .string(transcript.dialerName)
    .string(transcript.listenerName)
    .finish();
  return new Uint8Array(new Bun.CryptoHasher("sha256", key).update(message).digest());
}

export function proofMatches(secret: string, role: ProofRole, transcript: ProofTranscript, proof: Uint8Array): boolean {
  const expected = computeProof(secret, role, transcript);
  return proof.length === expected.length && crypto.timingSafeEqual(proof, expected);
}

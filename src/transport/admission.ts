// Admission: the rules that decide whether two nodes may talk, and the handshake exchange that
// applies them (wire bodies in src/codec/handshake.ts). I/O-free: a Handshake takes the peer's
// frames and answers with the frame to send, a refusal, or "established". The TCP transport
// drives it over a socket and the memory transport between two simulated nodes, so the simulator
// admits and refuses exactly as TCP does.
//
// The rules, in the order they are checked:
//   on the peer's introduction: protocol version (frame header and body), cluster name, auth
//     scheme, node name syntax, a peer claiming our own name, then the transport's own check
//     (TLS: the certificate must name the node);
//   on the peer's proof: the cluster-secret HMAC, then generation (a name already connected
//     with a newer generation is an old incarnation), then cluster config agreement (two nodes
//     that know nothing of each other, with the same config version and other settings: the new
//     one is misconfigured).
// Once established, each side knows the generation the other remembers for its name
// (generationGaps): a node that restarted below it renews its identity above it
// (node/generation-renewal.ts).

import {
  AuthScheme,
  DecodeError,
  ErrorCode,
  MessageType,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  computeProof,
  decodeError,
  decodeHello,
  decodeWelcome,
  type ConfigSummary,
  type ProofExtras,
  type RememberedIdentity,
  encodeHelloIntroduce,
  encodeProve,
  encodeWelcomeIntroduce,
  messageTypeName,
  nodeNameProblem,
  proofMatches,
  type ErrorBody,
  type Frame,
  type HandshakeStep,
  type Introduction,
  type ProofRole,
  type ProofTranscript,
  type Welcome,
} from "../codec/index.ts";
import type { Keyring, RingKey } from "./keyring.ts";

/** The local side of a handshake. */
export interface LocalIdentity {
  clusterName: string;
  nodeName: string;
  generation: number;
  /** Set when the cluster uses a shared secret. */
  secret: string | undefined;
  /** Set when the cluster encrypts (auth scheme 2); excludes `secret`. */
  keyring?: Keyring | undefined;
  /**
   * With a keyring, the window that moves a running cluster from plain to encrypted without a
   * split (README "From plain to encrypted"): peers without encryption are admitted too, their
   * connections unsealed. "dial-plain" (step 1) also dials without encryption, so that nodes not
   * restarted yet accept its dials; "accept-plain" (step 2) dials encrypted. Absent: encryption
   * is required both ways.
   */
  plainWindow?: PlainWindow | undefined;
}

export type PlainWindow = "dial-plain" | "accept-plain";

export interface Refusal {
  code: ErrorCode;
  /** Why, in words for both the log line and the ERROR frame. */
  message: string;
}

/** What the transport adds to the rules. */
export interface AdmissionHooks {
  /** A transport-specific check of the peer's introduction (TLS: the certificate names the node). */
  checkPeer?(peer: Introduction): Refusal | null;
  /** The generation the named node is connected with right now, if it is. */
  connectedGeneration(name: string): number | undefined;
  /** What is known of `name` (its newest generation, held or removed); undefined when it is new to us. */
  remembered?(name: string): RememberedIdentity | undefined;
  /** This node's own heartbeat and highest version: a peer remembering more at our generation knew an earlier incarnation. */
  ownProgress?(): { heartbeat: number; maxVersion: number };
  /** This node's cluster config in brief; absent or null: no agreement check. */
  clusterConfig?(): ConfigSummary | null;
}

/**
 * A handshake showed a node announcing a lower generation than its peer remembers for it, or
 * the same one while the peer remembers more heartbeats or versions of it than it has.
 */
export interface GenerationGap {
  /** The node that is behind. */
  node: string;
  announced: number;
  /** The generation remembered: the node renews its identity above it. */
  remembered: number;
  /** The side that remembered it. */
  rememberedBy: string;
}

/** Whether `remembered` is of an earlier incarnation than the one announcing `announced` with `progress` (when known). */
export function isBehind(remembered: RememberedIdentity | null, announced: number, progress?: { heartbeat: number; maxVersion: number }): remembered is RememberedIdentity {
  if (!remembered || remembered.generation < announced) return false;
  if (remembered.generation > announced) return true;
  return progress !== undefined && (remembered.heartbeat > progress.heartbeat || remembered.maxVersion > progress.maxVersion);
}

export type HandshakeOutcome =
  /** Send this frame and wait for the peer's next one. */
  | { kind: "continue"; send: Uint8Array }
  /** The peer is admitted; send `send` first when set (the listener's proof). */
  | { kind: "established"; send: Uint8Array | null }
  /** Send an ERROR with this refusal and close. `claimed`: the introduction that was refused. */
  | { kind: "refused"; refusal: Refusal; claimed: Introduction | null }
  /** The peer refused us with an ERROR frame. */
  | { kind: "peer-refused"; error: ErrorBody };

export function newNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
}

/**
 * The checks that depend only on the two introductions: protocol version, cluster, auth scheme,
 * name syntax, and a peer that claims our own name. Returns null when the peer may proceed.
 */
export function checkIntroduction(local: LocalIdentity, peer: Introduction, offered?: AuthScheme): Refusal | null {
  if (peer.protocolVersion !== PROTOCOL_VERSION) return versionRefusal(peer.protocolVersion);
  if (peer.clusterName !== local.clusterName) {
    return { code: ErrorCode.ClusterMismatch, message: `cluster name '${peer.clusterName}' differs from ours '${local.clusterName}'` };
  }
  // A dialer requires the scheme it offered back; a listener in a plain window takes either.
  const ourScheme = offered ?? authSchemeOf(local);
  if (peer.authScheme !== ourScheme && !(offered === undefined && admitsInWindow(local, peer.authScheme))) {
    return { code: ErrorCode.AuthFailed, message: schemeMismatch(peer.authScheme, ourScheme) };
  }
  const nameProblem = nodeNameProblem(peer.nodeName);
  if (nameProblem !== null) return { code: ErrorCode.InvalidName, message: nameProblem };
  if (peer.nodeName === local.nodeName) {
    return { code: ErrorCode.SameNameAsOurs, message: `peer announces our own node name '${local.nodeName}'` };
  }
  return null;
}

function versionRefusal(version: number): Refusal {
  return { code: ErrorCode.UnsupportedVersion, message: `protocol version ${version} is not supported (this node speaks ${PROTOCOL_VERSION})` };
}

/** The scheme this node dials with. */
function authSchemeOf(local: LocalIdentity): AuthScheme {
  if (local.keyring) return local.plainWindow === "dial-plain" ? AuthScheme.None : AuthScheme.Keyring;
  return local.secret === undefined ? AuthScheme.None : AuthScheme.HmacSha256;
}

/** A listener with a keyring in a plain window admits both encrypted and plain dialers. */
function admitsInWindow(local: LocalIdentity, scheme: number): boolean {
  return local.keyring !== undefined && local.plainWindow !== undefined && (scheme === AuthScheme.Keyring || scheme === AuthScheme.None);
}

function schemeMismatch(peer: number, ours: AuthScheme): string {
  if (peer === AuthScheme.HmacSha256 && ours === AuthScheme.None) return "peer authenticates with a cluster secret and this node has none";
  if (peer === AuthScheme.None && ours === AuthScheme.HmacSha256) return "peer has no cluster secret and this node requires one";
  return `peer uses ${schemeWords(peer)} and this node ${schemeWords(ours)}`;
}

function schemeWords(scheme: number): string {
  if (scheme === AuthScheme.None) return "no authentication (plain)";
  if (scheme === AuthScheme.HmacSha256) return "a cluster secret";
  if (scheme === AuthScheme.Keyring) return "an encryption keyring";
  return `unknown auth scheme ${scheme}`;
}

/** A node name already connected with a newer generation: the announcer is an old incarnation. */
export function checkGeneration(peer: Introduction, connected: number | undefined): Refusal | null {
  if (connected === undefined || peer.generation >= connected) return null;
  return {
    code: ErrorCode.StaleGeneration,
    message: `node '${peer.nodeName}' is already connected with generation ${connected}, newer than the announced ${peer.generation}`,
  };
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

/**
 * A node new to the cluster (`strangers`: neither side remembers the other's name) holding the
 * same cluster config version with other settings: refused, naming the settings. Mostly version
 * 0, each node's start-up options: a node started with other cluster settings than the cluster's.
 * A joiner with an older version is admitted and adopts the cluster's by gossip. A known member
 * in conflict (two sides of a partition each changed the config, a node restarted with other
 * flags or without its data) is not refused: documents of one version are ranked and one wins
 * (reserved-entries.ts), and /v1/config shows the disagreement.
 */
export function checkClusterConfig(ours: ConfigSummary | null | undefined, theirs: ConfigSummary | null, strangers: boolean): Refusal | null {
  if (!ours || !theirs || !strangers || ours.version !== theirs.version) return null;
  if (ours.hash.every((byte, i) => byte === theirs.hash[i])) return null;
  const settings = differingSettings(ours, theirs);
  const named = settings.length === 0 ? "the settings differ" : `differing setting${settings.length === 1 ? "" : "s"}: ${settings.join(", ")}`;
  return { code: ErrorCode.ConfigConflict, message: `cluster config conflict at version ${ours.version} with a node new to the cluster, ${named} (start it with the cluster's settings, or change them with 'goferbroke config set')` };
}

/** Names of the settings whose values differ, or that one side has and the other lacks. */
export function differingSettings(ours: ConfigSummary, theirs: ConfigSummary): string[] {
  const theirHashes = new Map(theirs.settings.map((setting) => [setting.name, setting.hash]));
  const names = new Set<string>();
  for (const setting of ours.settings) if (theirHashes.get(setting.name) !== setting.hash) names.add(setting.name);
  const ourNames = new Set(ours.settings.map((setting) => setting.name));
  for (const setting of theirs.settings) if (!ourNames.has(setting.name)) names.add(setting.name);
  return [...names].sort();
}

const violation = (message: string): HandshakeOutcome => ({ kind: "refused", refusal: { code: ErrorCode.ProtocolViolation, message }, claimed: null });

/**
 * One side of one handshake. The dialer sends hello() first; then every frame the peer sends goes
 * to receive() until it answers "established", "refused" or "peer-refused".
 */
export class Handshake {
  readonly ourNonce = newNonce();
  /** The peer's introduction, once it has been accepted. */
  peer: Introduction | null = null;
  /** Dialer: where the listener sees us (from WELCOME step 1). */
  seenAt: string | undefined;
  /** Keyring scheme: the key both sides proved, once the proofs checked out; sealing derives from it. */
  agreedKey: RingKey | null = null;
  /** What the peer's step 2 said it remembers of our name. */
  private peerRemembersUs: RememberedIdentity | null = null;
  /** What we told the peer we remember of its name. */
  private weRememberPeer: RememberedIdentity | null = null;
  private stage: "introduction" | "proof" | "done" = "introduction";
  /** The scheme of this connection: the dialer's offer, which a listener echoes once it admits it. */
  private scheme: AuthScheme;

  constructor(
    readonly role: "dialer" | "listener",
    private readonly local: LocalIdentity,
    /** "host:port" we announce. */
    private readonly advertisedAddress: string,
    /** Listener: the dialer's address as we see it, returned in WELCOME. */
    private readonly remoteAddress: string,
    private readonly hooks: AdmissionHooks,
  ) {
    this.scheme = authSchemeOf(local);
  }

  get done(): boolean {
    return this.stage === "done";
  }

  /** Dialer: HELLO step 1, the first frame on the connection. */
  hello(): Uint8Array {
    return encodeHelloIntroduce(this.ourIntroduction());
  }

  receive(frame: Frame): HandshakeOutcome {
    if (this.stage === "done") return violation(`${messageTypeName(frame.type)} after the handshake completed`);
    try {
      if (frame.type === MessageType.Error) return { kind: "peer-refused", error: decodeError(frame.body) };
      if (frame.type !== MessageType.Hello && frame.type !== MessageType.Welcome) {
        return violation(`${messageTypeName(frame.type)} frame before the handshake completed`);
      }
      // Checked before the body: another version may lay the body out differently.
      if (frame.version !== PROTOCOL_VERSION) return { kind: "refused", refusal: versionRefusal(frame.version), claimed: null };
      if (this.role === "listener") {
        if (frame.type !== MessageType.Hello) return violation("WELCOME from a side that dialled us");
        return this.onHello(decodeHello(frame.body));
      }
      if (frame.type !== MessageType.Welcome) return violation("HELLO from the side we dialled");
      return this.onWelcome(decodeWelcome(frame.body));
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      return { kind: "refused", refusal: { code: ErrorCode.MalformedFrame, message: `malformed frame: ${error.message}` }, claimed: null };
    }
  }

  private onHello(hello: HandshakeStep<Introduction>): HandshakeOutcome {
    if (hello.step === "introduce") {
      if (this.stage !== "introduction") return violation("second HELLO introduction");
      const refused = this.admitIntroduction(hello.introduction);
      if (refused) return refused;
      const welcome: Welcome = { ...this.ourIntroduction(), seenAt: this.remoteAddress };
      return { kind: "continue", send: encodeWelcomeIntroduce(welcome) };
    }
    if (this.stage !== "proof") return violation("HELLO proof before the HELLO introduction");
    const refused = this.admitProof("hello", hello);
    if (refused) return refused;
    // Only now, to a dialer that has shown it knows the secret, does our proof go out.
    return { kind: "established", send: encodeProve(MessageType.Welcome, this.proofToSend("welcome"), this.ourExtras()) };
  }

  private onWelcome(welcome: HandshakeStep<Welcome>): HandshakeOutcome {
    if (welcome.step === "introduce") {
      if (this.stage !== "introduction") return violation("second WELCOME introduction");
      const refused = this.admitIntroduction(welcome.introduction);
      if (refused) return refused;
      this.seenAt = welcome.introduction.seenAt;
      return { kind: "continue", send: encodeProve(MessageType.Hello, this.proofToSend("hello"), this.ourExtras()) };
    }
    if (this.stage !== "proof") return violation("WELCOME proof before the WELCOME introduction");
    return this.admitProof("welcome", welcome) ?? { kind: "established", send: null };
  }

  private admitIntroduction(intro: Introduction): HandshakeOutcome | null {
    const offered = this.role === "dialer" ? this.scheme : undefined;
    const refusal = checkIntroduction(this.local, intro, offered) ?? this.hooks.checkPeer?.(intro) ?? null;
    if (refusal) return { kind: "refused", refusal, claimed: intro };
    if (this.role === "listener") this.scheme = intro.authScheme as AuthScheme;
    this.peer = intro;
    this.stage = "proof";
    return null;
  }

  private admitProof(role: ProofRole, step: { proof: Uint8Array } & ProofExtras): HandshakeOutcome | null {
    const peer = this.peer!;
    // A node joins anew only when the two sides know nothing of each other. One side alone
    // remembering the other is a known member: typically a node restarted without its data, which
    // knows no one yet while every peer remembers it, and must not refuse them all for its config.
    const strangers = this.hooks.remembered?.(peer.nodeName) === undefined && step.remembered === null;
    const refusal =
      this.checkPeerProof(role, step.proof) ??
      checkGeneration(peer, this.hooks.connectedGeneration(peer.nodeName)) ??
      checkClusterConfig(this.hooks.clusterConfig?.(), step.config, strangers);
    if (refusal) return { kind: "refused", refusal, claimed: peer };
    this.peerRemembersUs = step.remembered;
    this.stage = "done";
    return null;
  }

  /** Our step-2 extras: what we remember of the peer's name, and our config in brief. */
  private ourExtras(): ProofExtras {
    this.weRememberPeer = this.hooks.remembered?.(this.peer!.nodeName) ?? null;
    return { remembered: this.weRememberPeer, config: this.hooks.clusterConfig?.() ?? null };
  }

  /**
   * Once established: each side that is behind what the other remembers of it. Both sides see a
   * lower generation (each sent what it remembers), so both can log it; the same generation with
   * less progress only the side behind can tell.
   */
  generationGaps(): GenerationGap[] {
    if (!this.done) return [];
    const peer = this.peer!;
    const gaps: GenerationGap[] = [];
    const ours = this.peerRemembersUs;
    if (isBehind(ours, this.local.generation, this.hooks.ownProgress?.())) {
      gaps.push({ node: this.local.nodeName, announced: this.local.generation, remembered: ours.generation, rememberedBy: peer.nodeName });
    }
    const theirs = this.weRememberPeer;
    if (isBehind(theirs, peer.generation)) {
      gaps.push({ node: peer.nodeName, announced: peer.generation, remembered: theirs.generation, rememberedBy: this.local.nodeName });
    }
    return gaps;
  }

  private ourIntroduction(): Introduction {
    return {
      protocolVersion: PROTOCOL_VERSION,
      clusterName: this.local.clusterName,
      nodeName: this.local.nodeName,
      generation: this.local.generation,
      advertisedAddress: this.advertisedAddress,
      authScheme: this.scheme,
      nonce: this.ourNonce,
    };
  }

  private proofToSend(role: ProofRole): Uint8Array {
    const keyring = this.scheme === AuthScheme.Keyring ? this.local.keyring : undefined;
    if (!keyring) return ownProof(this.local, role, this.transcript());
    return role === "hello" ? keyring.proveAll(this.transcript()) : keyring.proveWith(this.agreedKey!, this.transcript());
  }

  private checkPeerProof(role: ProofRole, proof: Uint8Array): Refusal | null {
    const keyring = this.scheme === AuthScheme.Keyring ? this.local.keyring : undefined;
    if (!keyring) return checkProof(this.local, role, this.transcript(), proof);
    const agreed = role === "hello" ? keyring.checkDialerProof(proof, this.transcript()) : keyring.checkListenerProof(proof, this.transcript());
    if (typeof agreed === "string") return { code: ErrorCode.AuthFailed, message: agreed };
    this.agreedKey = agreed;
    return null;
  }

  /** What both proofs cover; sealing binds its keys to it too. */
  transcript(): ProofTranscript {
    const peer = this.peer!;
    const dialer = this.role === "dialer";
    return {
      dialerNonce: dialer ? this.ourNonce : peer.nonce,
      listenerNonce: dialer ? peer.nonce : this.ourNonce,
      dialerName: dialer ? this.local.nodeName : peer.nodeName,
      listenerName: dialer ? peer.nodeName : this.local.nodeName,
    };
  }
}

// Key rotation without a split (issue #21): `goferbroke keys list|install|use|remove`, the admin
// routes under /v1/keyring and node.keys. As Serf does it, an operator rotates in three steps,
// each sent to the whole cluster by the node asked: install the new key everywhere (every node
// now accepts both), use it (every node prefers it for new connections), remove the old one.
// Two nodes talk as long as any key matches (transport/keyring.ts), so no step splits the
// cluster, and a node restarted from an old key file still joins while the old key is held.
//
// The node asked applies the change itself first (a refusal there, such as removing its primary,
// sends nothing), then sends a KEYRING_REQUEST to every member not dead or left and collects the
// KEYRING_REPLY of each within a timeout: the report names who applied it, who refused and why,
// and who did not answer. Requests and replies travel only between encrypted nodes, whose every
// connection is sealed (codec/keyring-messages.ts), and name keys by id except for install.
//
// A member writes its key file (node/keyring-file.ts) before the change takes effect, so a
// restart keeps the rotated ring; a change that cannot be written is refused. After a removal,
// connections still sealed under the removed key are closed once the reply is on its way (the
// node asked: once the replies are in), and dialled again under a key still held: nothing uses a
// removed key afterwards.

import {
  FrameWriter,
  KEYRING_OP_NAMES,
  KeyringOp,
  MAX_KEYRING_ERROR_BYTES,
  MessageType,
  type Frame,
  readKeyringReply,
  readKeyringRequest,
  writeKeyringReply,
  writeKeyringRequest,
} from "../codec/index.ts";
import type { Clock, Timer } from "../clock.ts";
import type { Logger } from "../log.ts";
import { type Keyring, KeyringChangeError, type RingKey, decodeKey, ringKeyOf } from "../transport/keyring.ts";

/** How long the node asked waits for the members' replies when not told. */
export const DEFAULT_KEYRING_TIMEOUT_MS = 5_000;

export type KeyringOpName = (typeof KEYRING_OP_NAMES)[KeyringOp];

export interface KeyringOptions {
  /** Stop waiting for replies after this long (ms, default 5 s); the report names who did not answer. */
  timeoutMs?: number;
}

export interface KeyHolders {
  /** The key's fingerprint: the first 8 bytes of its SHA-256, in hex. It does not reveal the key. */
  id: string;
  /** Members that answered and hold the key, this node included. */
  holders: number;
  /** Members that answered and hold it as their primary. */
  primaryOn: number;
}

export interface KeyringReport {
  op: KeyringOpName;
  /** The fingerprint of the key installed, used or removed (absent for list). */
  key?: string;
  /** Members asked, this node included. */
  asked: number;
  /** Members that applied the change (or, for list, answered), this node first. */
  acknowledged: string[];
  /** Members that refused it, with their reason. */
  failed: { node: string; error: string }[];
  /** Members that gave no answer within the timeout (or could not be reached). */
  noAnswer: string[];
  /** The keys held by the members that answered (applied or refused), this node's primary first. */
  keys: KeyHolders[];
}

export interface KeyringOpsWiring {
  readonly selfName: string;
  /** This node's keyring, which the transport's handshakes read; null when it runs without encryption. */
  readonly keyring: Keyring | null;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Members to ask: every member not dead or left, this node excluded. */
  members(): string[];
  /**
   * Queues a frame for a member over an encrypted connection only; "unsealed" when its
   * connection is not encrypted (a plain window), anything but "queued" when it is not sent.
   */
  send(peer: string, frame: Uint8Array): "queued" | "overloaded" | "unreachable" | "unsealed";
  /** Whether frames from the peer arrive sealed now: a request that did not is ignored. */
  sealedFrom(peer: string): boolean;
  /** Writes the ring (primary first) to the key file before it takes effect; throws when it cannot. */
  persist(keys: readonly RingKey[]): void;
  /** After a removal took effect: connections sealed under a key no longer held are closed. */
  removed(): void;
}

interface Pending {
  readonly report: KeyringReport;
  readonly waiting: Set<string>;
  readonly rings: Uint8Array[][];
  readonly timer: Timer;
  readonly done: (report: KeyringReport) => void;
}

export class KeyringOps {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly writer = new FrameWriter(128);

  constructor(private readonly wiring: KeyringOpsWiring) {}

  async list(options: KeyringOptions = {}): Promise<KeyringReport> {
    return await this.run(KeyringOp.List, new Uint8Array(0), options);
  }

  /** Installs a key everywhere (base64 of 32 random bytes); it is accepted at once, used once made primary. */
  async install(key: string, options: KeyringOptions = {}): Promise<KeyringReport> {
    return await this.run(KeyringOp.Install, decodeKey(key.trim(), "the key to install"), options);
  }

  /** Makes a key the primary everywhere; `key` is the key (base64) or its fingerprint (16 hex digits). */
  async use(key: string, options: KeyringOptions = {}): Promise<KeyringReport> {
    return await this.run(KeyringOp.Use, keyIdOf(key, "the key to use"), options);
  }

  /** Removes a key everywhere; refused where it is the primary. */
  async remove(key: string, options: KeyringOptions = {}): Promise<KeyringReport> {
    return await this.run(KeyringOp.Remove, keyIdOf(key, "the key to remove"), options);
  }

  /** A KEYRING_REQUEST or KEYRING_REPLY from `from`; throws DecodeError when the body is malformed. */
  receive(from: string, frame: Frame): void {
    if (frame.type === MessageType.KeyringReply) return this.onReply(from, frame);
    const request = readKeyringRequest(frame.body);
    const keyring = this.wiring.keyring;
    if (!keyring || frame.correlationId === 0) return;
    if (!this.wiring.sealedFrom(from)) {
      // Only within a plain window can a keyring node hear a peer unsealed: not a channel for keys.
      this.wiring.logger.warn(`keyring: ignored a ${KEYRING_OP_NAMES[request.op]} request from ${from}, which is connected without encryption`);
      return;
    }
    let error = "";
    let removed = false;
    try {
      removed = this.apply(keyring, request.op, request.key);
      if (request.op !== KeyringOp.List) this.wiring.logger.info(`keyring: ${KEYRING_OP_NAMES[request.op]} key ${keyName(request.op, request.key)} as ${from} asked`);
    } catch (cause) {
      error = (cause as Error).message.slice(0, Math.floor(MAX_KEYRING_ERROR_BYTES / 3)); // a UTF-16 unit is at most 3 UTF-8 bytes
      this.wiring.logger.warn(`keyring: refused to ${KEYRING_OP_NAMES[request.op]} key ${keyName(request.op, request.key)} as ${from} asked: ${error}`);
    }
    writeKeyringReply(this.writer, frame.correlationId, { error, ids: keyring.keys.map((entry) => entry.id) });
    this.wiring.send(from, this.writer.finish());
    if (removed) this.wiring.removed(); // after the reply is queued: a closing connection still flushes it
  }

  /** Fails every request still waiting (the node stops): each resolves with what it has. */
  cancelAll(): void {
    for (const [id, pending] of this.pending) this.finish(id, pending);
  }

  private async run(op: KeyringOp, key: Uint8Array, options: KeyringOptions): Promise<KeyringReport> {
    const keyring = this.wiring.keyring;
    if (!keyring) {
      throw new KeyringChangeError("this node runs without encryption (no --encrypt-key-file): there is no keyring to manage, and key material never travels over plain connections");
    }
    const removed = this.apply(keyring, op, key); // throws KeyringChangeError with nothing sent
    const members = this.wiring.members();
    const report: KeyringReport = { op: KEYRING_OP_NAMES[op], ...(op === KeyringOp.List ? {} : { key: keyName(op, key) }), asked: members.length + 1, acknowledged: [this.wiring.selfName], failed: [], noAnswer: [], keys: [] };
    const id = this.nextId++;
    writeKeyringRequest(this.writer, id, { op, key });
    const frame = this.writer.finish();
    const waiting = new Set<string>();
    for (const member of members) {
      const sent = this.wiring.send(member, frame);
      if (sent === "queued") waiting.add(member);
      else if (sent === "unsealed") report.failed.push({ node: member, error: "connected without encryption (a plain window): keyring changes go over encrypted connections only" });
      else report.noAnswer.push(member);
    }
    const result = await new Promise<KeyringReport>((done) => {
      const timeoutMs = options.timeoutMs ?? DEFAULT_KEYRING_TIMEOUT_MS;
      const pending: Pending = { report, waiting, rings: [keyring.keys.map((entry) => entry.id)], done, timer: this.wiring.clock.setTimer(timeoutMs, () => this.finish(id, pending)) };
      this.pending.set(id, pending);
      if (waiting.size === 0) this.finish(id, pending);
    });
    if (removed) this.wiring.removed();
    if (op !== KeyringOp.List) this.wiring.logger.info(`keyring: ${result.op} key ${result.key}: ${result.acknowledged.length} of ${result.asked} members applied it`, { failed: result.failed, noAnswer: result.noAnswer });
    return result;
  }

  /** Applies a change to this node's ring (key file first); returns whether a key was removed. */
  private apply(keyring: Keyring, op: KeyringOp, key: Uint8Array): boolean {
    if (op === KeyringOp.List) return false;
    const next = op === KeyringOp.Install ? keyring.planInstall(key) : op === KeyringOp.Use ? keyring.planUse(key) : keyring.planRemove(key);
    const current = keyring.keys;
    if (next.length === current.length && next.every((entry, index) => entry === current[index])) return false;
    try {
      this.wiring.persist(next);
    } catch (error) {
      throw new KeyringChangeError(`cannot write the key file, nothing changed: ${(error as Error).message}`);
    }
    keyring.replace(next);
    return next.length < current.length;
  }

  private onReply(from: string, frame: Frame): void {
    const reply = readKeyringReply(frame.body);
    const pending = this.pending.get(frame.correlationId);
    if (!pending || !pending.waiting.delete(from)) return; // late, or from a member not asked
    if (reply.error === "") pending.report.acknowledged.push(from);
    else pending.report.failed.push({ node: from, error: reply.error });
    pending.rings.push(reply.ids); // a member that refused still says what it holds
    if (pending.waiting.size === 0) this.finish(frame.correlationId, pending);
  }

  private finish(id: number, pending: Pending): void {
    if (!this.pending.delete(id)) return;
    pending.timer.cancel();
    pending.report.noAnswer.push(...pending.waiting);
    pending.report.keys = holders(pending.rings);
    pending.done(pending.report);
  }
}

/** Per key id, how many of the rings hold it and how many have it first; in first-seen order. */
function holders(rings: readonly Uint8Array[][]): KeyHolders[] {
  const byId = new Map<string, KeyHolders>();
  for (const ring of rings) {
    ring.forEach((id, index) => {
      const name = Buffer.from(id).toString("hex");
      const entry = byId.get(name) ?? { id: name, holders: 0, primaryOn: 0 };
      entry.holders++;
      if (index === 0) entry.primaryOn++;
      byId.set(name, entry);
    });
  }
  return [...byId.values()];
}

/** A key named by its fingerprint (16 hex digits) or by the key itself (base64): its 8-byte id. */
export function keyIdOf(text: string, where: string): Uint8Array {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{16}$/.test(trimmed)) return Uint8Array.from(Buffer.from(trimmed, "hex"));
  try {
    return ringKeyOf(decodeKey(trimmed, where)).id;
  } catch (error) {
    // The text is not echoed: it may be a key with a typo.
    throw new RangeError(`${where}: expected a key fingerprint (16 hex digits, as goferbroke keys list shows) or the base64 32-byte key (${(error as Error).message.replace(`${where}: `, "")})`);
  }
}

function keyName(op: KeyringOp, key: Uint8Array): string {
  return op === KeyringOp.Install ? ringKeyOf(key).idHex : Buffer.from(key).toString("hex");
}

// The encryption keyring: one or more 32-byte random keys, the first the primary, and the
// handshake proofs that show a peer holds one of them (auth scheme 2, docs/PROTOCOL.md
// "Encryption"). The keys themselves never encrypt anything: each connection derives its own
// per-direction AES-256-GCM keys from the key both sides agreed on (src/transport/sealed-frames.ts).
//
// Proofs: the dialer sends one entry per key it holds, primary first; the listener picks its own
// most preferred key among them, checks that entry, and answers with a single entry under that
// key, which the dialer checks in turn. An entry is
//     key id (8 bytes: the first 8 bytes of SHA-256 of the key) ‖ HMAC-SHA256(key, transcript)
// with the transcript and labels of src/codec/handshake.ts ("goferbroke/1 keyring hello|welcome").
// Several keys per ring are what lets a cluster rotate without a split: two nodes talk as long
// as any key matches. The keys are 256-bit random values, not passwords: a recorded proof or key
// id leaves nothing to guess offline.
//
// Only Bun.CryptoHasher here (no node:crypto): the options schema parses keyrings, and the CLI
// start-up path must not pay for node:crypto unless encryption is on.

import { bytesEqual, concatBytes } from "../codec/bytes.ts";
import { transcriptMac, type ProofRole, type ProofTranscript } from "../codec/index.ts";

export const KEY_BYTES = 32;
export const KEY_ID_BYTES = 8;
const ENTRY_BYTES = KEY_ID_BYTES + 32;
/** At most this many keys per ring: the dialer's proof carries one entry per key. */
export const MAX_KEYS = 16;

export interface RingKey {
  readonly key: Uint8Array;
  readonly id: Uint8Array;
  /** The key id in hex, for logs and the keys commands: it names a key without revealing it. */
  readonly idHex: string;
}

/** The problem with a keyring's text (one base64 key per line), or null when it is valid. */
export function keyringProblem(text: string | readonly string[]): string | null {
  try {
    parseKeys(text);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Reads one base64 key per line (blank lines and # comments skipped); throws naming the line. */
function parseKeys(text: string | readonly string[]): RingKey[] {
  const lines = typeof text === "string" ? text.split(/\r?\n/) : [...text];
  const keys: RingKey[] = [];
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const key = decodeKey(line, `line ${index + 1}`);
    const ringKey = ringKeyOf(key);
    if (keys.some((other) => other.idHex === ringKey.idHex)) throw new Error(`line ${index + 1}: the same key appears twice`);
    keys.push(ringKey);
  });
  if (keys.length === 0) throw new Error("no key: expected one or more base64 32-byte keys, one a line");
  if (keys.length > MAX_KEYS) throw new Error(`${keys.length} keys: at most ${MAX_KEYS}`);
  return keys;
}

/** A base64 key of exactly 32 bytes; `where` names it in the error. */
export function decodeKey(text: string, where: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new RangeError(`${where}: not base64`);
  const key = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  if (key.length !== KEY_BYTES) throw new RangeError(`${where}: the key is ${key.length} bytes, expected ${KEY_BYTES} (generate one with: openssl rand -base64 32)`);
  return key;
}

export function ringKeyOf(key: Uint8Array): RingKey {
  const id = new Uint8Array(new Bun.CryptoHasher("sha256").update(key).digest()).subarray(0, KEY_ID_BYTES);
  return { key, id, idHex: Buffer.from(id).toString("hex") };
}

/** A keyring change refused (the primary removed, a key not held, a full ring): nothing changed. */
export class KeyringChangeError extends Error {
  override readonly name = "KeyringChangeError";
}

/** The text of a key file holding `keys`, primary first: what Keyring.parse reads back. */
export function keyringText(keys: readonly RingKey[]): string {
  const header = "# GoferBroke encryption keyring, written by `goferbroke keys`: one base64 key a line, the primary first\n";
  return header + keys.map((entry) => `${Buffer.from(entry.key).toString("base64")}\n`).join("");
}

export class Keyring {
  /** Primary first. */
  private ring: RingKey[];

  constructor(keys: readonly RingKey[]) {
    if (keys.length === 0) throw new Error("a keyring needs at least one key");
    this.ring = [...keys];
  }

  /** Parses the keyring text (one base64 key per line, the first the primary); throws on bad input. */
  static parse(text: string | readonly string[]): Keyring {
    return new Keyring(parseKeys(text));
  }

  get primary(): RingKey {
    return this.ring[0]!;
  }

  get keys(): readonly RingKey[] {
    return this.ring;
  }

  find(id: Uint8Array): RingKey | undefined {
    return this.ring.find((entry) => bytesEqual(entry.id, id));
  }

  /**
   * The changes `goferbroke keys` makes (node/keyring-ops.ts), each in two steps: plan*() returns
   * the ring the change would leave, or throws KeyringChangeError with nothing changed; replace()
   * then takes it, once the key file holds it. Install and remove are idempotent, so a change
   * repeated after a member missed it does no harm.
   */
  planInstall(key: Uint8Array): RingKey[] {
    const ringKey = ringKeyOf(key);
    if (this.find(ringKey.id)) return [...this.ring];
    if (this.ring.length >= MAX_KEYS) throw new KeyringChangeError(`the keyring is full (${MAX_KEYS} keys): remove a key first`);
    return [...this.ring, ringKey];
  }

  /** Makes a held key the primary: the key this node prefers for the connections it makes and accepts from now on. */
  planUse(id: Uint8Array): RingKey[] {
    const key = this.find(id);
    if (!key) throw new KeyringChangeError(`key ${hex(id)} is not installed on this node (it holds ${this.idList()}): install it first`);
    return [key, ...this.ring.filter((entry) => entry !== key)];
  }

  planRemove(id: Uint8Array): RingKey[] {
    if (bytesEqual(this.primary.id, id)) throw new KeyringChangeError(`key ${hex(id)} is the primary key: make another key primary first (goferbroke keys use)`);
    return this.ring.filter((entry) => !bytesEqual(entry.id, id));
  }

  replace(keys: readonly RingKey[]): void {
    if (keys.length === 0) throw new KeyringChangeError("a keyring needs at least one key");
    this.ring = [...keys];
  }

  /** The dialer's proof: one entry per key, primary first. */
  proveAll(transcript: ProofTranscript): Uint8Array {
    return concatBytes(this.ring.map((entry) => proofEntry(entry, "hello", transcript)));
  }

  /** The listener's proof: one entry under the key it chose. */
  proveWith(key: RingKey, transcript: ProofTranscript): Uint8Array {
    return proofEntry(key, "welcome", transcript);
  }

  /**
   * Listener: picks this ring's most preferred key among the dialer's entries and checks it.
   * Returns the agreed key, or why the proof fails.
   */
  checkDialerProof(proof: Uint8Array, transcript: ProofTranscript): RingKey | string {
    const entries = splitEntries(proof);
    if (typeof entries === "string") return entries;
    for (const key of this.ring) {
      const entry = entries.find((candidate) => bytesEqual(candidate.id, key.id));
      if (!entry) continue;
      return macMatches(key, "hello", transcript, entry.mac) ? key : `wrong keyring proof for key ${key.idHex}`;
    }
    return `no key in common: the peer holds keys ${entries.map((entry) => hex(entry.id)).join(", ")}, this node ${this.idList()}`;
  }

  /** Dialer: checks the listener's single entry, under a key this ring holds. */
  checkListenerProof(proof: Uint8Array, transcript: ProofTranscript): RingKey | string {
    const entries = splitEntries(proof);
    if (typeof entries === "string") return entries;
    if (entries.length !== 1) return `the listener's keyring proof has ${entries.length} entries, expected 1`;
    const entry = entries[0]!;
    const key = this.find(entry.id);
    if (!key) return `the listener proved key ${hex(entry.id)}, which this node does not hold (${this.idList()})`;
    return macMatches(key, "welcome", transcript, entry.mac) ? key : `wrong keyring proof for key ${key.idHex}`;
  }

  private idList(): string {
    return this.ring.map((entry) => entry.idHex).join(", ");
  }
}

interface ProofEntry {
  id: Uint8Array;
  mac: Uint8Array;
}

function proofEntry(key: RingKey, role: ProofRole, transcript: ProofTranscript): Uint8Array {
  return concatBytes([key.id, transcriptMac(key.key, `goferbroke/1 keyring ${role}`, transcript)]);
}

function macMatches(key: RingKey, role: ProofRole, transcript: ProofTranscript, mac: Uint8Array): boolean {
  const expected = transcriptMac(key.key, `goferbroke/1 keyring ${role}`, transcript);
  return crypto.timingSafeEqual(mac, expected);
}

function splitEntries(proof: Uint8Array): ProofEntry[] | string {
  if (proof.length === 0 || proof.length % ENTRY_BYTES !== 0 || proof.length / ENTRY_BYTES > MAX_KEYS) {
    return `a keyring proof of ${proof.length} bytes: expected 1 to ${MAX_KEYS} entries of ${ENTRY_BYTES} bytes`;
  }
  const entries: ProofEntry[] = [];
  for (let at = 0; at < proof.length; at += ENTRY_BYTES) {
    entries.push({ id: proof.subarray(at, at + KEY_ID_BYTES), mac: proof.subarray(at + KEY_ID_BYTES, at + ENTRY_BYTES) });
  }
  return entries;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

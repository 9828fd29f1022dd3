// Cluster config agreement: a config document in brief for the handshake (version, a hash of the
// settings and a hash per setting, so a conflict can be told and its settings named, see
// transport/admission.ts), and whether the live members hold the same document (/v1/config,
// `goferbroke config show`). Every node gossips the document it holds as its reserved config
// entry, so each node can see what every other one holds.

import { CONFIG_HASH_BYTES, type ConfigSummary } from "../codec/index.ts";
import type { Logger } from "../log.ts";
import { type ClusterState, type EntrySnapshot, RESERVED_GROUP } from "../state/index.ts";
import { CONFIG_KEY, canonicalJson, decodeConfig, supersedes } from "./reserved-entries.ts";
import type { ClusterConfigDocument } from "./types.ts";

/** Settings that legitimately differ per node: every node names its own seeds. */
const PER_NODE_SETTINGS: ReadonlySet<string> = new Set(["seeds"]);

function sha256(text: string): Uint8Array {
  return new Uint8Array(new Bun.CryptoHasher("sha256").update(text).digest());
}

/** The settings that must agree across the cluster, per-node ones left out. */
function sharedSettings(settings: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(settings).filter(([name, value]) => !PER_NODE_SETTINGS.has(name) && value !== undefined));
}

/** Summaries by document: a handshake asks for this node's several times, and documents never change in place. */
const summaries = new WeakMap<ClusterConfigDocument, ConfigSummary>();

export function configSummary(document: ClusterConfigDocument): ConfigSummary {
  let summary = summaries.get(document);
  if (!summary) summaries.set(document, (summary = summarize(document)));
  return summary;
}

function summarize(document: ClusterConfigDocument): ConfigSummary {
  const shared = sharedSettings(document.settings);
  const settings = Object.keys(shared)
    .sort()
    .map((name) => ({ name, hash: new DataView(sha256(canonicalJson(shared[name])).buffer).getUint32(0) }));
  return { version: document.version, hash: sha256(canonicalJson(shared)).subarray(0, CONFIG_HASH_BYTES), settings };
}

/** A short printable form of a document's hash, as /v1/config shows it. */
export function configHash(document: ClusterConfigDocument): string {
  return Buffer.from(configSummary(document).hash).toString("hex");
}

export interface MemberConfig {
  name: string;
  version: number;
  hash: string;
}

export interface ConfigAgreement {
  /** Whether every live member holds the same version and settings as this node. */
  agreed: boolean;
  /** This node's document. */
  version: number;
  hash: string;
  /** Live members (this node included) holding another document, with what they hold. */
  differing: MemberConfig[];
  /** Live members whose config entry has not reached this node yet. */
  unknown: string[];
}

/**
 * Compares this node's document with each live member's. `held` maps a member to the document
 * its reserved config entry carries (undefined when that entry has not arrived yet).
 */
export function configAgreement(own: ClusterConfigDocument, live: readonly string[], held: (name: string) => ClusterConfigDocument | undefined): ConfigAgreement {
  const hash = configHash(own);
  const differing: MemberConfig[] = [];
  const unknown: string[] = [];
  for (const name of live) {
    const document = held(name);
    if (!document) {
      unknown.push(name);
      continue;
    }
    const theirs = configHash(document);
    if (document.version !== own.version || theirs !== hash) differing.push({ name, version: document.version, hash: theirs });
  }
  return { agreed: differing.length === 0 && unknown.length === 0, version: own.version, hash, differing, unknown };
}

/** The config document a member's reserved entry carries; undefined when absent or unreadable. */
export function heldConfig(state: ClusterState, name: string): ClusterConfigDocument | undefined {
  const entry = state.get(name, RESERVED_GROUP, CONFIG_KEY);
  if (!entry) return undefined;
  try {
    return decodeConfig(entry);
  } catch {
    return undefined;
  }
}

/** The document a peer's config entry carries when it replaces `current`; null otherwise (an unreadable one is logged). */
export function documentToAdopt(from: string, snapshot: EntrySnapshot, current: ClusterConfigDocument, logger: Logger): ClusterConfigDocument | null {
  let document: ClusterConfigDocument;
  try {
    document = decodeConfig(snapshot);
  } catch (error) {
    logger.warn(`ignored cluster config from ${from}: ${(error as Error).message}`);
    return null;
  }
  return supersedes(document, current) ? document : null;
}

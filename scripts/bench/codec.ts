// Codec benchmark: encodes and decodes two realistic gossip messages with the binary codec and with
// JSON (values as base64, which is what JSON needs to carry bytes), side by side in one run.
//
//   bun scripts/bench/codec.ts            full run (about 20 s), prints a markdown table
//   bun scripts/bench/codec.ts --quick    short run, for checking the script works
//
// Messages:
//   SYN   a digest of 1,000 nodes
//   ACK   deltas of 1,000 entries (10 nodes × 100 entries), 32-byte keys, 100-byte values
// Both sides start from the same JavaScript objects and end with bytes (encode) or start from bytes
// and end with the same objects (decode), because a socket carries bytes: JSON encode is
// JSON.stringify + UTF-8 encoding, JSON decode is UTF-8 decoding + JSON.parse + base64 → bytes.
// The codec decode path is FrameDecoder.push (framing) + readDigest/readDeltas.
// Each case is warmed up, then timed in interleaved rounds: in each round the codec and JSON run
// back to back (alternating which goes first), so both see the same machine load; the ratio is the
// median of the per-round ratios, the ops/s the median of the rounds.

import { progressLine } from "../progress-line.ts";
import {
  BodyReader,
  type DeltaReadLimits,
  type DigestEntry,
  FrameDecoder,
  type Frame,
  FrameWriter,
  MessageType,
  type NodeDelta,
  readDeltas,
  readDigest,
  writeDeltas,
  writeDigest,
} from "../../src/codec/index.ts";

const quick = process.argv.includes("--quick");
const WARMUP_MS = quick ? 100 : 500;
const ROUND_MS = quick ? 100 : 200;
const ROUNDS = quick ? 3 : 10;

// ---- deterministic test data -------------------------------------------------------------------

let seed = 0x9e3779b9;
function random(): number {
  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randomInt = (max: number): number => Math.floor(random() * max);
function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = randomInt(256);
  return bytes;
}
function randomKey(length: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_/.";
  let key = "";
  for (let i = 0; i < length; i++) key += alphabet[randomInt(alphabet.length)];
  return key;
}

const NODE_COUNT = 1000;
const digest: DigestEntry[] = [];
for (let i = 0; i < NODE_COUNT; i++) {
  const maxVersion = 1 + randomInt(200_000);
  digest.push({
    node: `node-${String(i).padStart(4, "0")}.eu-west-1.gofer.internal`,
    generation: 1_700_000_000_000 + randomInt(100_000_000),
    heartbeat: randomInt(5_000_000),
    maxVersion,
    collectedUpTo: randomInt(maxVersion),
  });
}

const DELTA_NODES = 10;
const ENTRIES_PER_NODE = 100;
const deltas: NodeDelta[] = [];
for (let n = 0; n < DELTA_NODES; n++) {
  const base = 10_000 + randomInt(100_000);
  const delta: NodeDelta = {
    node: `node-${String(n).padStart(4, "0")}.eu-west-1.gofer.internal`,
    generation: 1_700_000_000_000 + randomInt(100_000_000),
    fromVersion: base,
    collectedUpTo: base - 500,
    maxVersion: base + ENTRIES_PER_NODE,
    entries: [],
  };
  for (let e = 0; e < ENTRIES_PER_NODE; e++) {
    delta.entries.push({ group: "app", key: randomKey(32), version: base + e + 1, valueType: 1, deleted: false, value: randomBytes(100) });
  }
  deltas.push(delta);
}
const ENTRY_COUNT = DELTA_NODES * ENTRIES_PER_NODE;

const limits: DeltaReadLimits = { maxNameBytes: 256, maxKeyBytes: 256, maxValueBytes: 65536, isKnownValueType: (t) => t <= 5 };

// ---- the two implementations --------------------------------------------------------------------

const writer = new FrameWriter(256 * 1024);
function codecEncodeDigest(): Uint8Array {
  writer.begin(MessageType.Syn, 7);
  writeDigest(writer, digest);
  writer.end();
  return writer.finish();
}
function codecEncodeDeltas(): Uint8Array {
  writer.begin(MessageType.Ack, 7);
  writeDeltas(writer, deltas);
  writer.end();
  return writer.finish();
}
/** Frames the bytes the way a connection does (a fresh decoder per message: worst case). */
function codecFrame(bytes: Uint8Array): Frame {
  let out: Frame | undefined;
  new FrameDecoder().push(bytes, (frame) => {
    out = frame;
  });
  if (!out) throw new Error("no frame decoded");
  return out;
}
function codecDecodeDigest(bytes: Uint8Array): DigestEntry[] {
  const frame = codecFrame(bytes);
  return readDigest(new BodyReader(frame.body), 256);
}
function codecDecodeDeltas(bytes: Uint8Array): NodeDelta[] {
  const frame = codecFrame(bytes);
  return readDeltas(new BodyReader(frame.body), limits).deltas;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();
// The fastest base64 this runtime offers, measured: Uint8Array.prototype.toBase64 to encode (about
// 2.5× Buffer's), Buffer.from(text, "base64") to decode (about 2× Uint8Array.fromBase64).
type WithToBase64 = Uint8Array & { toBase64?: () => string };
const toBase64 =
  typeof (new Uint8Array(0) as WithToBase64).toBase64 === "function"
    ? (bytes: Uint8Array): string => (bytes as WithToBase64).toBase64!()
    : (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
const fromBase64 = (text: string): Uint8Array => Buffer.from(text, "base64");

interface JsonEntry {
  group: string;
  key: string;
  version: number;
  valueType: number;
  deleted: boolean;
  expiresAt?: number;
  value: string;
}
interface JsonDelta extends Omit<NodeDelta, "entries"> {
  entries: JsonEntry[];
}

function jsonEncodeDigest(): Uint8Array {
  return utf8Encoder.encode(JSON.stringify({ type: MessageType.Syn, correlationId: 7, digest }));
}
function jsonEncodeDeltas(): Uint8Array {
  const message = {
    type: MessageType.Ack,
    correlationId: 7,
    deltas: deltas.map((delta) => ({ ...delta, entries: delta.entries.map((entry) => ({ ...entry, value: toBase64(entry.value) })) })),
  };
  return utf8Encoder.encode(JSON.stringify(message));
}
function jsonDecodeDigest(bytes: Uint8Array): DigestEntry[] {
  return (JSON.parse(utf8Decoder.decode(bytes)) as { digest: DigestEntry[] }).digest;
}
function jsonDecodeDeltas(bytes: Uint8Array): NodeDelta[] {
  const message = JSON.parse(utf8Decoder.decode(bytes)) as { deltas: JsonDelta[] };
  return message.deltas.map((delta) => ({ ...delta, entries: delta.entries.map((entry) => ({ ...entry, value: fromBase64(entry.value) })) }));
}

// ---- correctness before timing ------------------------------------------------------------------

function fail(message: string): never {
  console.error(`benchmark self-check failed: ${message}`);
  process.exit(1);
}
function sameDigest(a: DigestEntry[], b: DigestEntry[]): boolean {
  return a.length === b.length && a.every((x, i) => JSON.stringify(x) === JSON.stringify(b[i]));
}
function sameDeltas(a: NodeDelta[], b: NodeDelta[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i]!;
    if (x.node !== y.node || x.generation !== y.generation || x.fromVersion !== y.fromVersion) return false;
    if (x.collectedUpTo !== y.collectedUpTo || x.maxVersion !== y.maxVersion || x.entries.length !== y.entries.length) return false;
    return x.entries.every((e, j) => {
      const f = y.entries[j]!;
      return e.group === f.group && e.key === f.key && e.version === f.version && e.valueType === f.valueType && e.deleted === f.deleted && Buffer.from(e.value).equals(Buffer.from(f.value));
    });
  });
}

const digestBytes = codecEncodeDigest();
const deltasBytes = codecEncodeDeltas();
const digestJson = jsonEncodeDigest();
const deltasJson = jsonEncodeDeltas();
if (!sameDigest(codecDecodeDigest(digestBytes), digest)) fail("codec digest round trip");
if (!sameDigest(jsonDecodeDigest(digestJson), digest)) fail("JSON digest round trip");
if (!sameDeltas(codecDecodeDeltas(deltasBytes), deltas)) fail("codec deltas round trip");
if (!sameDeltas(jsonDecodeDeltas(deltasJson), deltas)) fail("JSON deltas round trip");

// Zero-copy proof: every decoded value must be a view on the very buffer the frame arrived in.
// (A frame that fits one chunk is not copied by the decoder; readDeltas returns subarrays.)
let valueViews = 0;
let valueBytes = 0;
{
  const received = deltasBytes.slice(); // stands in for the socket's chunk
  const frame = codecFrame(received);
  if (frame.body.buffer !== received.buffer) fail("frame body is not a view into the received chunk");
  for (const delta of readDeltas(new BodyReader(frame.body), limits).deltas) {
    for (const entry of delta.entries) {
      if (entry.value.buffer !== received.buffer) fail(`value of ${entry.key} is a copy, not a view`);
      if (entry.value.byteOffset < received.byteOffset || entry.value.byteOffset + entry.value.length > received.byteOffset + received.length) {
        fail(`value of ${entry.key} points outside the frame`);
      }
      valueViews++;
      valueBytes += entry.value.length;
    }
  }
  if (valueViews !== ENTRY_COUNT) fail(`expected ${ENTRY_COUNT} values, saw ${valueViews}`);
}

// ---- timing -------------------------------------------------------------------------------------

let sink = 0;
/** Runs fn repeatedly for about `ms` milliseconds; returns operations per second. */
function timed(fn: () => unknown, ms: number): number {
  const deadline = Bun.nanoseconds() + ms * 1e6;
  const start = Bun.nanoseconds();
  let ops = 0;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 16; i++) {
      const out = fn() as { length: number };
      sink += out.length;
    }
    ops += 16;
    now = Bun.nanoseconds();
  }
  return ops / ((now - start) / 1e9);
}

interface Case {
  message: string;
  operation: "encode" | "decode";
  codec: () => unknown;
  json: () => unknown;
  codecBytes: number;
  jsonBytes: number;
}
const cases: Case[] = [
  { message: "SYN digest, 1,000 nodes", operation: "encode", codec: codecEncodeDigest, json: jsonEncodeDigest, codecBytes: digestBytes.length, jsonBytes: digestJson.length },
  { message: "SYN digest, 1,000 nodes", operation: "decode", codec: () => codecDecodeDigest(digestBytes), json: () => jsonDecodeDigest(digestJson), codecBytes: digestBytes.length, jsonBytes: digestJson.length },
  { message: "ACK deltas, 1,000 entries", operation: "encode", codec: codecEncodeDeltas, json: jsonEncodeDeltas, codecBytes: deltasBytes.length, jsonBytes: deltasJson.length },
  { message: "ACK deltas, 1,000 entries", operation: "decode", codec: () => codecDecodeDeltas(deltasBytes), json: () => jsonDecodeDeltas(deltasJson), codecBytes: deltasBytes.length, jsonBytes: deltasJson.length },
];

for (const c of cases) {
  timed(c.codec, WARMUP_MS);
  timed(c.json, WARMUP_MS);
}
const samples = cases.map(() => ({ codec: [] as number[], json: [] as number[] }));
const progress = progressLine("bench:codec");
for (let round = 0; round < ROUNDS; round++) {
  progress.update(`round ${round + 1} of ${ROUNDS}`);
  cases.forEach((c, i) => {
    // Alternate which side runs first so neither always gets the warmer cache.
    if (round % 2 === 0) {
      samples[i]!.codec.push(timed(c.codec, ROUND_MS));
      samples[i]!.json.push(timed(c.json, ROUND_MS));
    } else {
      samples[i]!.json.push(timed(c.json, ROUND_MS));
      samples[i]!.codec.push(timed(c.codec, ROUND_MS));
    }
  });
}
const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const fmt = (n: number, digits = 0): string => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const roundRatios = (i: number): number => median(samples[i]!.codec.map((c, r) => c / samples[i]!.json[r]!));
const lines: string[] = [];
lines.push("| Message | Op | Codec ops/s | Codec MB/s | JSON ops/s | JSON MB/s | Codec / JSON |");
lines.push("|---|---|---:|---:|---:|---:|---:|");
const ratios: { name: string; ratio: number }[] = [];
cases.forEach((c, i) => {
  const codecOps = median(samples[i]!.codec);
  const jsonOps = median(samples[i]!.json);
  const ratio = roundRatios(i);
  ratios.push({ name: `${c.message} ${c.operation}`, ratio });
  lines.push(
    `| ${c.message} | ${c.operation} | ${fmt(codecOps)} | ${fmt((codecOps * c.codecBytes) / 1e6, 1)} | ${fmt(jsonOps)} | ${fmt((jsonOps * c.jsonBytes) / 1e6, 1)} | ${ratio.toFixed(2)}× |`,
  );
});

const cpu = /model name\s*:\s*(.*)/.exec(await Bun.file("/proc/cpuinfo").text().catch(() => ""))?.[1] ?? "unknown CPU";
const load = (await Bun.file("/proc/loadavg").text().catch(() => "")).split(" ").slice(0, 3).join(" ");
progress.clear();
console.log(`Machine: ${navigator.hardwareConcurrency} CPUs (nproc), ${cpu}, Bun ${Bun.version}, ${process.platform}/${process.arch}; load average at the end ${load || "n/a"}; ${new Date().toISOString()}`);
console.log();
console.log(lines.join("\n"));
console.log();
console.log(`Wire size: SYN ${fmt(digestBytes.length)} B codec vs ${fmt(digestJson.length)} B JSON; ACK ${fmt(deltasBytes.length)} B codec vs ${fmt(deltasJson.length)} B JSON.`);
console.log(
  `MB/s counts each format's own wire bytes (10^6 bytes/s). ${ROUNDS} interleaved rounds of ${ROUND_MS} ms per side after ${WARMUP_MS} ms warm-up; ` +
    `ops/s are medians of the rounds, the ratio is the median of the per-round ratios.`,
);
console.log(`Zero copy: ${valueViews} of ${ENTRY_COUNT} decoded values (${fmt(valueBytes)} B) are views on the received frame's ArrayBuffer; none was copied.`);
const slow = ratios.filter((r) => r.ratio < 2);
console.log(slow.length === 0 ? "Bar met: codec at least 2× JSON on every case." : `Bar NOT met (< 2×): ${slow.map((r) => `${r.name} ${r.ratio.toFixed(2)}×`).join(", ")}`);
if (sink === 0) console.log("(sink)");

// The two archive formats a release ships, written by hand because Bun 1.4.5's Bun.Archive
// drops file modes (an executable would arrive without its x bit) and writes no zip:
// - .tar.gz (POSIX ustar, gzip) for Linux and macOS, where the x bit must survive;
// - .zip (deflate) for Windows, where Explorer opens it without extra tools.
// Both are deterministic: every entry carries the given modification time and no owner.

export interface ArchiveEntry {
  /** Path inside the archive, "/"-separated, under 100 bytes (ustar's name field). */
  name: string;
  data: Uint8Array<ArrayBuffer>;
  /** Unix permission bits, e.g. 0o755 for the executable. */
  mode: number;
}

import { concatBytes } from "../src/codec/bytes.ts";

const TAR_BLOCK = 512;
const encoder = new TextEncoder();

/** A gzip-compressed POSIX ustar archive of regular files. */
export function tarGz(entries: readonly ArchiveEntry[], mtimeSeconds: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    parts.push(tarHeader(entry, mtimeSeconds), entry.data, new Uint8Array(padding(entry.data.length, TAR_BLOCK)));
  }
  parts.push(new Uint8Array(TAR_BLOCK * 2)); // two zero blocks end the archive
  return Bun.gzipSync(concatBytes(parts), { level: 9 });
}

function tarHeader(entry: ArchiveEntry, mtimeSeconds: number): Uint8Array {
  const name = encoder.encode(entry.name);
  if (name.length >= 100) throw new Error(`archive entry name "${entry.name}" is ${name.length} bytes; ustar allows 99`);
  const header = new Uint8Array(TAR_BLOCK);
  const field = (offset: number, length: number, text: string) => header.set(encoder.encode(text).subarray(0, length), offset);
  const octal = (offset: number, length: number, value: number) => field(offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
  header.set(name, 0);
  octal(100, 8, entry.mode & 0o7777);
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, entry.data.length);
  octal(136, 12, mtimeSeconds);
  field(148, 8, "        "); // the checksum counts its own field as spaces
  field(156, 1, "0"); // regular file
  field(257, 8, "ustar\u000000");
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return header;
}

/** A zip archive, each entry deflated. */
export function zip(entries: readonly ArchiveEntry[], mtimeSeconds: number): Uint8Array {
  const [dosTime, dosDate] = dosDateTime(mtimeSeconds);
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = encoder.encode(entry.name);
    const compressed = Bun.deflateSync(entry.data, { level: 9 });
    const crc = Bun.hash.crc32(entry.data);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true); // version needed: 2.0 (deflate)
    lv.setUint16(6, 0x0800, true); // names are UTF-8
    lv.setUint16(8, 8, true); // deflate
    lv.setUint16(10, dosTime, true);
    lv.setUint16(12, dosDate, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, compressed.length, true);
    lv.setUint32(22, entry.data.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, (3 << 8) | 20, true); // made by Unix, so the external attributes carry the mode
    cv.setUint16(6, 20, true);
    cv.setUint16(8, 0x0800, true);
    cv.setUint16(10, 8, true);
    cv.setUint16(12, dosTime, true);
    cv.setUint16(14, dosDate, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, compressed.length, true);
    cv.setUint32(24, entry.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(38, ((0o100000 | (entry.mode & 0o7777)) << 16) >>> 0, true); // regular file + mode
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local, compressed);
    centrals.push(central);
    offset += local.length + compressed.length;
  }
  const directory = concatBytes(centrals);
  if (offset + directory.length > 0xffffffff) throw new Error("archive over 4 GiB: zip64 is not supported");
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, directory.length, true);
  ev.setUint32(16, offset, true);
  return concatBytes([...locals, directory, end]);
}

/** MS-DOS time and date words (local time is not a thing here: UTC, 2-second resolution). */
function dosDateTime(seconds: number): [number, number] {
  const date = new Date(seconds * 1000);
  const time = (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | (date.getUTCSeconds() >> 1);
  const day = ((Math.max(1980, date.getUTCFullYear()) - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate();
  return [time, day];
}

function padding(length: number, block: number): number {
  return (block - (length % block)) % block;
}


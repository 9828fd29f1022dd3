// Replacing a file so that a crash (kill -9, power loss) leaves either the old content or the new,
// never a torn mix: write a temporary file beside it, fsync it, rename it over the old one, fsync
// the directory (the rename is durable only then). Used by the data directory's snapshot and the
// keyring's key file.

import { chmodSync, closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/** Replaces `file` with `bytes`, readable and writable by the owner only (mode 0600). */
export function writeFileAtomically(file: string, bytes: Uint8Array): void {
  const temporary = `${file}.tmp`;
  const fd = openSync(temporary, "w", 0o600);
  try {
    // The temporary file may predate this write with wider permissions: 0600 before any byte lands.
    chmodSync(temporary, 0o600);
    let written = 0;
    while (written < bytes.byteLength) written += writeSync(fd, bytes, written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
  const dir = openSync(dirname(file), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

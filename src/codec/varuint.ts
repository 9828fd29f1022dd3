// Unsigned LEB128 integers limited to JavaScript's safe range (below 2^53): seven bits per byte,
// low bits first, high bit set on every byte but the last. Small numbers (counts, lengths, most
// versions) take one or two bytes, which keeps digests small. Encodings must be minimal so that
// decoding and re-encoding reproduce the same bytes.

export const MAX_VARUINT_BYTES = 8; // 8 × 7 = 56 bits ≥ 53

export function varuintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

// Reference encoders written from docs/PROTOCOL.md, independent of src/codec, so codec tests can
// compare the codec's bytes against something it did not produce.

/** Unsigned LEB128 of a non-negative integer, via BigInt so no float arithmetic is involved. */
export function refVaruint(value: number | bigint): number[] {
  let v = BigInt(value);
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? low : low | 0x80);
  } while (v !== 0n);
  return out;
}

/** A string: varuint byte length, then its UTF-8 bytes. */
export function refString(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...refVaruint(bytes.length), ...bytes];
}

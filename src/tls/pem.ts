// PEM (RFC 7468): DER in base64 between `-----BEGIN LABEL-----` and `-----END LABEL-----` lines,
// the form Bun's TLS options (and --tls-ca/--tls-cert/--tls-key) read.

export function toPem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der).toString("base64");
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

export interface PemBlock {
  label: string;
  der: Uint8Array<ArrayBuffer>;
}

/** Every PEM block in `text`, in order; text around and between blocks is ignored, as openssl does. */
export function readPemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const pattern = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/g;
  for (const match of text.matchAll(pattern)) {
    blocks.push({ label: match[1]!, der: new Uint8Array(Buffer.from(match[2]!.replace(/\s/g, ""), "base64")) });
  }
  return blocks;
}

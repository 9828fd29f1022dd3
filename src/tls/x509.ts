// X.509 v3 certificates (RFC 5280) signed with ECDSA P-256 / SHA-256 through WebCrypto: the
// TBSCertificate, the extensions a cluster CA and its node certificates need, and the signature.

import {
  bitString,
  boolean,
  children,
  contextConstructed,
  contextPrimitive,
  DerError,
  octetString,
  oid,
  readWhole,
  sequence,
  set,
  smallInteger,
  Tag,
  time,
  unsignedInteger,
  utf8String,
} from "./der.ts";

export const OID = {
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

export const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNATURE_ALGORITHM = { name: "ECDSA", hash: "SHA-256" } as const;

/** A Name of one RDN, the common name (as UTF8String, RFC 5280's choice for new certificates). */
export function commonName(text: string): Uint8Array {
  return sequence(set(sequence(oid(OID.commonName), utf8String(text))));
}

// ---------------------------------------------------------------------------------------------
// Extensions

export function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  // DER leaves out a field equal to its DEFAULT, and `critical` defaults to FALSE.
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

/** basicConstraints; a CA gets pathLenConstraint 0: it signs node certificates, never other CAs. */
export function basicConstraints(isCa: boolean): Uint8Array {
  return extension(OID.basicConstraints, true, isCa ? sequence(boolean(true), smallInteger(0)) : sequence());
}

/** keyUsage bit numbers (RFC 5280 §4.2.1.3). */
export const KeyUsage = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

export function keyUsage(bits: readonly number[]): Uint8Array {
  // A named bit list: bit 0 is the top bit of the first byte; DER drops trailing zero bits.
  const highest = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  const unused = 7 - (highest & 7);
  return extension(OID.keyUsage, true, bitString(bytes, unused));
}

export function extendedKeyUsage(purposes: readonly string[]): Uint8Array {
  return extension(OID.extKeyUsage, false, sequence(...purposes.map(oid)));
}

/** subjectAltName: dNSName [2] and iPAddress [7] (4 or 16 bytes) entries. */
export function subjectAltName(dnsNames: readonly string[], ipAddresses: readonly Uint8Array[]): Uint8Array {
  const names = [
    ...dnsNames.map((name) => contextPrimitive(2, new TextEncoder().encode(name))),
    ...ipAddresses.map((address) => contextPrimitive(7, address)),
  ];
  return extension(OID.subjectAltName, false, sequence(...names));
}

export function subjectKeyIdentifier(id: Uint8Array): Uint8Array {
  return extension(OID.subjectKeyIdentifier, false, octetString(id));
}

export function authorityKeyIdentifier(id: Uint8Array): Uint8Array {
  return extension(OID.authorityKeyIdentifier, false, sequence(contextPrimitive(0, id)));
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export async function keyIdentifier(spki: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-1", subjectPublicKey(spki, "the public key").slice()));
}

/** The key bits (for EC, the uncompressed point) inside a SubjectPublicKeyInfo. */
export function subjectPublicKey(spki: Uint8Array, what: string): Uint8Array {
  const [, key] = children(readWhole(spki, what), what);
  if (!key || key.tag !== Tag.BitString || key.content[0] !== 0) throw new DerError(`${what}: no public key bit string`);
  return key.content.subarray(1);
}

// ---------------------------------------------------------------------------------------------
// The certificate

export interface CertificateFields {
  /** Positive, at most 20 bytes (RFC 5280 §4.1.2.2). */
  serial: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo DER, as WebCrypto's exportKey("spki") gives it. */
  spki: Uint8Array;
  extensions: Uint8Array[];
}

/** A random positive 16-byte serial: top bit clear (positive), next bit set (never shortened or zero). */
export function randomSerial(): Uint8Array {
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}

/** Builds the TBSCertificate, signs it with the issuer's ECDSA P-256 key, returns the certificate DER. */
export async function signCertificate(fields: CertificateFields, issuerKey: CryptoKey): Promise<Uint8Array> {
  const algorithm = sequence(oid(OID.ecdsaWithSha256)); // no parameters for ECDSA (RFC 5758 §3.2)
  const tbs = sequence(
    contextConstructed(0, smallInteger(2)), // version v3
    unsignedInteger(fields.serial),
    algorithm,
    fields.issuer,
    sequence(time(fields.notBefore), time(fields.notAfter)),
    fields.subject,
    fields.spki,
    contextConstructed(3, sequence(...fields.extensions)),
  );
  const raw = new Uint8Array(await crypto.subtle.sign(SIGNATURE_ALGORITHM, issuerKey, tbs));
  return sequence(tbs, algorithm, bitString(ecdsaSignatureToDer(raw)));
}

/**
 * WebCrypto gives an ECDSA signature as r||s, each as wide as the curve (IEEE P1363); X.509 wants
 * `SEQUENCE { INTEGER r, INTEGER s }` (RFC 3279 §2.2.3).
 */
export function ecdsaSignatureToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new Error(`an ECDSA signature of ${raw.length} bytes is not r||s`);
  const half = raw.length / 2;
  return sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}

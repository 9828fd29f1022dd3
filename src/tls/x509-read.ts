// Reads the parts of an existing CA certificate that signing a node certificate needs: its subject
// (copied byte for byte as the issuer, so chain building matches it exactly), validity, public key,
// whether it is a CA, and its key identifier. Works on CAs made by this tool or by openssl.

import { children, type DerElement, DerError, oidText, readTime, readWhole, Tag } from "./der.ts";
import { OID, subjectPublicKey } from "./x509.ts";

export interface CertificateInfo {
  /** The subject Name, DER. */
  subject: Uint8Array;
  /** The subject's common name, for messages ("" when it has none). */
  subjectCommonName: string;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  /** The key bits (an EC point for an EC key). */
  publicKey: Uint8Array;
  /** basicConstraints cA. */
  isCa: boolean;
  subjectKeyId: Uint8Array | null;
}

/** Parses a certificate's DER; throws DerError naming `what` when it is not a certificate. */
export function readCertificate(der: Uint8Array, what: string): CertificateInfo {
  const [tbsElement] = children(readWhole(der, what), what);
  if (!tbsElement || tbsElement.tag !== Tag.Sequence) throw new DerError(`${what}: not an X.509 certificate`);
  const fields = children(tbsElement, what);
  // version [0] is optional (absent means v1); then serial, signature, issuer, validity, subject, spki.
  const start = fields[0]?.tag === 0xa0 ? 1 : 0;
  const [, , , validity, subject, spki] = fields.slice(start);
  if (!validity || !subject || !spki) throw new DerError(`${what}: not an X.509 certificate (too few fields)`);
  const [notBefore, notAfter] = children(validity, what);
  if (!notBefore || !notAfter) throw new DerError(`${what}: the validity has no dates`);
  const extensions = readExtensions(fields.find((field) => field.tag === 0xa3), what);
  const constraints = extensions.get(OID.basicConstraints);
  const keyId = extensions.get(OID.subjectKeyIdentifier);
  return {
    subject: subject.encoded,
    subjectCommonName: commonNameOf(subject, what),
    notBefore: readTime(notBefore, what),
    notAfter: readTime(notAfter, what),
    spki: spki.encoded,
    publicKey: subjectPublicKey(spki.encoded, what),
    isCa: constraints !== undefined && isCaConstraint(constraints, what),
    subjectKeyId: keyId ? readWhole(keyId, what).content : null,
  };
}

/** Extension id → the extnValue's content (the DER of the extension's own structure). */
function readExtensions(wrapper: DerElement | undefined, what: string): Map<string, Uint8Array> {
  const found = new Map<string, Uint8Array>();
  if (!wrapper) return found;
  const [list] = children(wrapper, what);
  for (const item of list ? children(list, what) : []) {
    const parts = children(item, what);
    const id = parts[0];
    const value = parts[parts.length - 1];
    if (id?.tag === Tag.Oid && value?.tag === Tag.OctetString) found.set(oidText(id.content), value.content);
  }
  return found;
}

function isCaConstraint(value: Uint8Array, what: string): boolean {
  const [flag] = children(readWhole(value, what), what);
  return flag?.tag === Tag.Boolean && flag.content[0] !== 0;
}

function commonNameOf(name: DerElement, what: string): string {
  for (const rdn of children(name, what)) {
    for (const attribute of children(rdn, what)) {
      const [type, value] = children(attribute, what);
      if (type?.tag === Tag.Oid && oidText(type.content) === OID.commonName && value) return new TextDecoder().decode(value.content);
    }
  }
  return "";
}

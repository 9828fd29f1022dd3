// A cluster's certificates: a self-signed CA, and node certificates it signs for mutual TLS. Keys
// are ECDSA P-256 from WebCrypto, written as PKCS#8; everything Bun's TLS (and so --tls-ca,
// --tls-cert and --tls-key) reads as it is.

import { isHostname } from "../config/network.ts";
import { DerError, oid, octetString, sequence, smallInteger } from "./der.ts";
import { readPemBlocks, toPem } from "./pem.ts";
import {
  authorityKeyIdentifier,
  basicConstraints,
  commonName,
  ECDSA_P256,
  extendedKeyUsage,
  keyIdentifier,
  KeyUsage,
  keyUsage,
  OID,
  randomSerial,
  signCertificate,
  subjectAltName,
  subjectKeyIdentifier,
} from "./x509.ts";
import { type CertificateInfo, readCertificate } from "./x509-read.ts";

/** A certificate or key that cannot be used; the message names the file. */
export class CertificateError extends Error {
  override readonly name = "CertificateError";
}

export interface IssuedCertificate {
  certificatePem: string;
  keyPem: string;
  notAfter: Date;
  /** The names and addresses the certificate vouches for, as `DNS:…` / `IP:…`. */
  altNames: string[];
}

const DAY_MS = 86_400_000;
/** Validity starts an hour back, so a peer whose clock is somewhat behind accepts a fresh certificate. */
const BACKDATE_MS = 3_600_000;

export async function createAuthority(options: { commonName: string; days: number; now?: Date }): Promise<IssuedCertificate> {
  const keys = await newKeyPair();
  const name = commonName(options.commonName);
  const { notBefore, notAfter } = validity(options.days, options.now);
  const der = await signCertificate(
    {
      serial: randomSerial(),
      issuer: name,
      subject: name,
      notBefore,
      notAfter,
      spki: keys.spki,
      extensions: [basicConstraints(true), keyUsage([KeyUsage.keyCertSign, KeyUsage.cRLSign]), subjectKeyIdentifier(await keyIdentifier(keys.spki))],
    },
    keys.privateKey,
  );
  return { certificatePem: toPem("CERTIFICATE", der), keyPem: keys.keyPem, notAfter, altNames: [] };
}

export interface Authority {
  certificate: CertificateInfo;
  key: CryptoKey;
}

export interface NodeCertificateOptions {
  /** The node name: the certificate's CN, and a DNS name too when it is a valid host name. */
  name: string;
  /** More DNS names: the host names peers dial this node by. */
  dnsNames: readonly string[];
  /** IP addresses (4 or 16 bytes each, see ip-address.ts) peers dial this node at. */
  ipAddresses: readonly { text: string; bytes: Uint8Array }[];
  days: number;
  authority: Authority;
  now?: Date;
}

export async function createNodeCertificate(options: NodeCertificateOptions): Promise<IssuedCertificate> {
  const { authority } = options;
  const { notBefore, notAfter } = validity(options.days, options.now);
  if (notAfter > authority.certificate.notAfter) {
    const caDays = Math.floor((authority.certificate.notAfter.getTime() - Date.now()) / DAY_MS);
    throw new CertificateError(
      `a certificate valid for ${options.days} days would outlive its CA (valid until ${authority.certificate.notAfter.toISOString()}); ` +
        `give --days ${Math.max(caDays, 0)} or less, or make a new CA`,
    );
  }
  // The name binding (--tls-require-name) accepts the CN or a DNS name; the dialer checks the
  // dialled host against the DNS and IP names.
  const dnsNames = [...new Set([...(isHostname(options.name) ? [options.name] : []), ...options.dnsNames])];
  const keys = await newKeyPair();
  const extensions = [
    basicConstraints(false),
    keyUsage([KeyUsage.digitalSignature]),
    // Mutual TLS: every node is a server to its dialers and a client to the nodes it dials.
    extendedKeyUsage([OID.serverAuth, OID.clientAuth]),
    subjectAltName(dnsNames, options.ipAddresses.map((address) => address.bytes)),
    subjectKeyIdentifier(await keyIdentifier(keys.spki)),
    ...(authority.certificate.subjectKeyId ? [authorityKeyIdentifier(authority.certificate.subjectKeyId)] : []),
  ];
  const der = await signCertificate(
    { serial: randomSerial(), issuer: authority.certificate.subject, subject: commonName(options.name), notBefore, notAfter, spki: keys.spki, extensions },
    authority.key,
  );
  const altNames = [...dnsNames.map((name) => `DNS:${name}`), ...options.ipAddresses.map((address) => `IP:${address.text}`)];
  return { certificatePem: toPem("CERTIFICATE", der), keyPem: keys.keyPem, notAfter, altNames };
}

/**
 * The CA certificate and its private key, checked: the certificate is a CA, the key is an EC
 * P-256 key (what this tool signs with), and it is the key of that certificate.
 */
export async function loadAuthority(certificatePem: string, keyPem: string, files: { certificate: string; key: string }): Promise<Authority> {
  const certificateBlock = readPemBlocks(certificatePem).find((block) => block.label === "CERTIFICATE");
  if (!certificateBlock) throw new CertificateError(`${files.certificate}: no PEM CERTIFICATE block`);
  let certificate: CertificateInfo;
  try {
    certificate = readCertificate(certificateBlock.der, files.certificate);
  } catch (error) {
    throw new CertificateError(error instanceof DerError ? error.message : `${files.certificate}: ${(error as Error).message}`);
  }
  const subject = `CN=${certificate.subjectCommonName}`;
  if (!certificate.isCa) throw new CertificateError(`${files.certificate}: ${subject} is not a CA certificate (no basicConstraints CA:TRUE)`);
  const key = await importPrivateKey(keyPem, files.key);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x ?? "", "base64url"), Buffer.from(jwk.y ?? "", "base64url")]);
  if (!point.equals(certificate.publicKey)) throw new CertificateError(`${files.key} is not the private key of ${files.certificate} (${subject})`);
  return { certificate, key };
}

async function importPrivateKey(pem: string, file: string): Promise<CryptoKey> {
  const blocks = readPemBlocks(pem);
  const pkcs8 = blocks.find((block) => block.label === "PRIVATE KEY")?.der;
  // `openssl ecparam -genkey` writes SEC1 ("EC PRIVATE KEY"): wrap it as PKCS#8 for WebCrypto.
  const sec1 = blocks.find((block) => block.label === "EC PRIVATE KEY")?.der;
  const der = pkcs8 ?? (sec1 && sequence(smallInteger(0), sequence(oid(OID.ecPublicKey), oid(OID.prime256v1)), octetString(sec1)));
  if (!der) {
    const found = blocks.length === 0 ? "no PEM block" : `a ${blocks.map((block) => block.label).join(", ")} block`;
    throw new CertificateError(`${file}: expected an unencrypted PRIVATE KEY (PKCS#8) or EC PRIVATE KEY, found ${found}`);
  }
  try {
    return await crypto.subtle.importKey("pkcs8", der, ECDSA_P256, true, ["sign"]);
  } catch (error) {
    throw new CertificateError(`${file}: not an EC P-256 private key, the only kind this tool signs with (${(error as Error).message})`);
  }
}

async function newKeyPair(): Promise<{ privateKey: CryptoKey; spki: Uint8Array; keyPem: string }> {
  const keys = await crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { privateKey: keys.privateKey, spki, keyPem: toPem("PRIVATE KEY", pkcs8) };
}

function validity(days: number, now = new Date()): { notBefore: Date; notAfter: Date } {
  const seconds = Math.floor(now.getTime() / 1000) * 1000; // certificates carry whole seconds
  return { notBefore: new Date(seconds - BACKDATE_MS), notAfter: new Date(seconds + days * DAY_MS) };
}

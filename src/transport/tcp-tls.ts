// TLS and mutual TLS for the TCP transport. Both sides present a certificate and verify the
// other's against the cluster CA; the dialer also verifies the dialled host (Bun checks it against
// the certificate's SANs, so node certificates must name the address peers dial). Optionally the
// certificate must also name the node: its CN or a DNS SAN equals the name announced in the
// handshake.

import type { Socket, TLSOptions } from "bun";
import { ErrorCode } from "../codec/index.ts";
import type { Refusal } from "./admission.ts";
import type { TlsFiles } from "./tcp-options.ts";

export interface TlsSettings {
  server: TLSOptions;
  client: TLSOptions;
  requireNameMatch: boolean;
}

export async function loadTls(files: TlsFiles): Promise<TlsSettings> {
  const [ca, cert, key] = await Promise.all([
    readPem(files.caFile, "caFile"),
    readPem(files.certFile, "certFile"),
    readPem(files.keyFile, "keyFile"),
  ]);
  return {
    // Explicit, not left to defaults: a client's default follows NODE_TLS_REJECT_UNAUTHORIZED.
    server: { ca, cert, key, requestCert: true, rejectUnauthorized: true },
    client: { ca, cert, key, rejectUnauthorized: true },
    requireNameMatch: files.requireNameMatch ?? false,
  };
}

async function readPem(path: string, option: string): Promise<string> {
  try {
    return await Bun.file(path).text();
  } catch (error) {
    throw new Error(`cannot read TLS ${option} '${path}': ${(error as Error).message}`);
  }
}

/**
 * Why the peer's certificate is not trusted, or null when it is. Bun runs `open` after the TLS
 * handshake even for an unverified peer (and closes it afterwards): this is where we learn why.
 */
export function certificateProblem(socket: Socket<unknown>): string | null {
  if (socket.authorized) return null;
  const reason = socket.getAuthorizationError()?.message ?? "no certificate presented";
  return `certificate not trusted (does not chain to the cluster CA or does not match the address): ${reason}`;
}

/** The names a peer certificate vouches for: its subject CN and DNS subject alternative names. */
export function certificateNames(socket: Socket<unknown>): string[] {
  const certificate = socket.getPeerCertificate() as { subject?: { CN?: string | string[] }; subjectaltname?: string } | null;
  if (!certificate) return [];
  const names = new Set<string>();
  const cn = certificate.subject?.CN;
  for (const name of typeof cn === "string" ? [cn] : (cn ?? [])) names.add(name);
  for (const entry of certificate.subjectaltname?.split(", ") ?? []) {
    if (entry.startsWith("DNS:")) names.add(entry.slice(4));
  }
  return [...names];
}

/** With requireNameMatch: the peer's certificate must name the node it announces. */
export function checkCertificateName(socket: Socket<unknown>, nodeName: string): Refusal | null {
  const names = certificateNames(socket);
  if (names.includes(nodeName)) return null;
  return {
    code: ErrorCode.CertificateName,
    message: `certificate names [${names.join(", ")}] do not include the announced node name '${nodeName}'`,
  };
}

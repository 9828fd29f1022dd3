// Who may use the admin server. With a token, every request but /healthz must carry it, as
// `Authorization: Bearer <token>` or, where a browser cannot set headers (the page itself and
// its EventSource), as `?token=`. Without a token, the server relies on being bound to loopback,
// and then refuses Host names other than IP literals, localhost and its own bind name: otherwise
// any web page could rebind its DNS name to 127.0.0.1 and read or write through the visitor's
// browser (DNS rebinding).

import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import { isLocalhostName } from "../config/network.ts";
import { HttpError } from "./http.ts";

export interface AccessPolicy {
  token?: string;
  /** The host the server is bound to; requests naming it in Host are accepted. */
  bindHost: string;
}

/** Throws 401 (token missing or wrong) or 403 (untrusted Host) when the request may not proceed. */
export function checkAccess(request: Request, url: URL, policy: AccessPolicy, acceptsQueryToken: boolean): void {
  if (policy.token === undefined) {
    // The server answers 400 to a request without Host before access is checked.
    checkHost(request.headers.get("host") ?? "", policy.bindHost);
    return;
  }
  const header = request.headers.get("authorization");
  const given = header !== null ? bearerToken(header) : acceptsQueryToken ? url.searchParams.get("token") : null;
  if (given === null) throw unauthorized("a token is required: send Authorization: Bearer <token>");
  if (!sameSecret(given, policy.token)) throw unauthorized("the token is wrong");
}

function bearerToken(header: string): string {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!match) throw unauthorized("the Authorization header must be: Bearer <token>");
  return match[1] as string;
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, message, { "www-authenticate": 'Bearer realm="goferbroke"' });
}

/** Compares digests, so the time taken says nothing about the token's length or content. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function checkHost(hostHeader: string, bindHost: string): void {
  const host = hostOf(hostHeader);
  if (isIP(host) !== 0 || isLocalhostName(host) || host.toLowerCase() === bindHost.toLowerCase()) return;
  throw new HttpError(403, `Host ${JSON.stringify(hostHeader.slice(0, 100))} is not accepted without a token: use an IP address or localhost, or set clientToken`);
}

/** "host:port", "[v6]:port", "[v6]" or "host" → the host, unbracketed. */
function hostOf(hostHeader: string): string {
  if (hostHeader.startsWith("[")) {
    const close = hostHeader.indexOf("]");
    return close < 0 ? hostHeader.slice(1) : hostHeader.slice(1, close);
  }
  const colon = hostHeader.lastIndexOf(":");
  return colon < 0 ? hostHeader : hostHeader.slice(0, colon);
}

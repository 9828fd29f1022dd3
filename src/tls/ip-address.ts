// IP addresses as the bytes of an X.509 iPAddress name: 4 bytes for IPv4, 16 for IPv6 (RFC 5280
// §4.2.1.6). Validation is the config's own (Node's patterns), so the CLI accepts exactly the
// addresses a node accepts in -nodeAddr.

import { isIPv4, isIPv6 } from "../config/network.ts";

/** The address's bytes, or null when `text` is not an IPv4 or IPv6 address (zone ids refused: a certificate cannot carry one). */
export function ipAddressBytes(text: string): Uint8Array | null {
  if (isIPv4(text)) return Uint8Array.from(text.split(".").map(Number));
  if (!isIPv6(text) || text.includes("%")) return null;
  // An embedded IPv4 tail (::ffff:192.0.2.1) stands for the last two 16-bit groups.
  const v4 = text.includes(".") ? text.slice(text.lastIndexOf(":") + 1) : null;
  let v6 = v4 === null ? text : text.slice(0, text.length - v4.length);
  if (v4 !== null && !v6.endsWith("::")) v6 = v6.slice(0, -1);
  const groupsWanted = v4 === null ? 8 : 6;
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((group) => parseInt(group, 16)));
  const gap = v6.indexOf("::");
  const left = parse(gap < 0 ? v6 : v6.slice(0, gap));
  const right = gap < 0 ? [] : parse(v6.slice(gap + 2));
  const groups = [...left, ...new Array<number>(groupsWanted - left.length - right.length).fill(0), ...right];
  const bytes = groups.flatMap((group) => [group >> 8, group & 0xff]);
  return Uint8Array.from(v4 === null ? bytes : [...bytes, ...v4.split(".").map(Number)]);
}

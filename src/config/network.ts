// Addresses: `host:port` parsing, IP classification, and the cluster network type check.
//
// The Go original (behaviour reference §6.7) classifies the node's address as loopback,
// unspecified, private (RFC 1918 / ULA) or "public" (everything else) and admits nodes by the
// cluster's network type. We keep that intent and fix its gaps:
//   - link-local (169.254/16, fe80::/10) and carrier-grade NAT (100.64/10, e.g. Tailscale) count
//     as private: they are not reachable from the internet, which is what "private" is about;
//   - multicast, broadcast and reserved ranges are "unusable" (nobody can dial them over TCP);
//   - documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32) count as
//     public, so examples and tests can use them as stand-ins for real public addresses;
//   - `localhost` and `*.localhost` are loopback without a lookup (RFC 6761); other host names are
//     classified through their resolved addresses (see resolveHostnames) and must all agree;
//   - DYNAMIC accepts any dialable address (the Go code rejected loopback there);
//   - we separate the bound address from the advertised one (Go had only one), so a node can
//     bind 0.0.0.0 / :: when it advertises an explicit address of the right class, and a PUBLIC
//     node behind 1:1 NAT can bind its private address and advertise its public one.

export const CLUSTER_NETWORKS = ["LOCAL", "PRIVATE", "PUBLIC", "DYNAMIC"] as const;
export type ClusterNetwork = (typeof CLUSTER_NETWORKS)[number];

export type AddressClass = "loopback" | "private" | "public" | "unspecified" | "unusable" | "unresolved";

// ---------------------------------------------------------------------------------------------
// IP literals
//
// node:net's isIPv4 / isIPv6, written out: importing node:net loads its sockets and streams, about
// 8 ms of CPU in the compiled binary before a node can listen, for two regular expressions. These
// are Node's own (lib/internal/net.js): dotted quad without leading zeros; IPv6 in every
// compressed form, with an embedded IPv4 tail and an optional zone id (`fe80::1%eth0`).

const V4_SEGMENT = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const V4_ADDRESS = `(?:${V4_SEGMENT}\\.){3}${V4_SEGMENT}`;
const IPV4_PATTERN = new RegExp(`^${V4_ADDRESS}$`);
const V6_SEGMENT = "(?:[0-9a-fA-F]{1,4})";
const IPV6_PATTERN = new RegExp(
  "^(?:" +
    `(?:${V6_SEGMENT}:){7}(?:${V6_SEGMENT}|:)|` +
    `(?:${V6_SEGMENT}:){6}(?:${V4_ADDRESS}|:${V6_SEGMENT}|:)|` +
    `(?:${V6_SEGMENT}:){5}(?::${V4_ADDRESS}|(?::${V6_SEGMENT}){1,2}|:)|` +
    `(?:${V6_SEGMENT}:){4}(?:(?::${V6_SEGMENT}){0,1}:${V4_ADDRESS}|(?::${V6_SEGMENT}){1,3}|:)|` +
    `(?:${V6_SEGMENT}:){3}(?:(?::${V6_SEGMENT}){0,2}:${V4_ADDRESS}|(?::${V6_SEGMENT}){1,4}|:)|` +
    `(?:${V6_SEGMENT}:){2}(?:(?::${V6_SEGMENT}){0,3}:${V4_ADDRESS}|(?::${V6_SEGMENT}){1,5}|:)|` +
    `(?:${V6_SEGMENT}:){1}(?:(?::${V6_SEGMENT}){0,4}:${V4_ADDRESS}|(?::${V6_SEGMENT}){1,6}|:)|` +
    `(?::(?:(?::${V6_SEGMENT}){0,5}:${V4_ADDRESS}|(?::${V6_SEGMENT}){1,7}|:))` +
    ")(?:%[0-9a-zA-Z-.:]{1,})?$",
);

/** A dotted-quad IPv4 address, as node:net's isIPv4. */
export function isIPv4(text: string): boolean {
  return IPV4_PATTERN.test(text);
}

/** An IPv6 address without brackets (zone id allowed), as node:net's isIPv6. */
export function isIPv6(text: string): boolean {
  return IPV6_PATTERN.test(text);
}

// ---------------------------------------------------------------------------------------------
// host:port

export interface HostPort {
  /** Host name or IP address, IPv6 without brackets. */
  host: string;
  port: number;
}

/**
 * Parses `host:port` or `[ipv6]:port`. The host must be an IP address or a valid DNS name; a bare
 * IPv6 address without brackets is refused (its last group would be mistaken for the port).
 * Returns null for anything else, including an empty host (`:8080`) and ports outside 0-65535.
 */
export function parseHostPort(text: string): HostPort | null {
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") return null;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIPv6(host)) return null;
  } else {
    const colon = text.indexOf(":");
    if (colon < 0 || text.indexOf(":", colon + 1) >= 0) return null;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (!isIPv4(host) && !isHostname(host)) return null;
  }
  const port = parsePort(portText);
  return port === null ? null : { host, port };
}

/** `host:port`, bracketing IPv6 hosts. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A decimal port 0-65535 without sign, spaces or leading zeros (other than "0" itself). */
export function parsePort(text: string): number | null {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return null;
  const port = Number(text);
  return port <= 65535 ? port : null;
}

/** An IPv4 or IPv6 address (unbracketed) or a DNS host name. */
export function isValidHost(host: string): boolean {
  return isIPv4(host) || isIPv6(host) || isHostname(host);
}

/**
 * RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, each 1-63
 * characters, 253 in all, optional trailing dot. The last label may not be all digits, so a
 * mistyped IPv4 address such as 192.168.1.300 is not taken for a name.
 */
export function isHostname(host: string): boolean {
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  if (!labels.every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label))) return false;
  return !/^\d+$/.test(labels[labels.length - 1] as string);
}

/** 0.0.0.0 or :: (any spelling), i.e. "every interface" when bound. */
export function isUnspecifiedHost(host: string): boolean {
  return isIPv4(host) || isIPv6(host) ? classifyIp(host) === "unspecified" : false;
}

/** `localhost` and its RFC 6761 subdomains always mean the loopback interface. */
export function isLocalhostName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  return name === "localhost" || name.endsWith(".localhost");
}

/** A loopback IP literal or a localhost name: only this machine can reach it. */
export function isLoopbackHost(host: string): boolean {
  return isIPv4(host) || isIPv6(host) ? classifyIp(host) === "loopback" : isLocalhostName(host);
}

// ---------------------------------------------------------------------------------------------
// IP classification

/** Class of an IPv4 or IPv6 literal; throws on anything else (callers check isIP first). */
export function classifyIp(ip: string): Exclude<AddressClass, "unresolved"> {
  if (isIPv4(ip)) return classifyIPv4(ip.split(".").map(Number) as [number, number, number, number]);
  if (isIPv6(ip)) return classifyIPv6(ipv6Groups(ip));
  throw new TypeError(`not an IP address: ${ip}`);
}

function classifyIPv4([a, b, c, d]: readonly [number, number, number, number]): Exclude<AddressClass, "unresolved"> {
  if (a === 0) return b === 0 && c === 0 && d === 0 ? "unspecified" : "unusable";
  if (a === 127) return "loopback";
  if (a === 10) return "private";
  if (a === 172 && b >= 16 && b <= 31) return "private";
  if (a === 192 && b === 168) return "private";
  if (a === 100 && b >= 64 && b <= 127) return "private"; // RFC 6598 shared (carrier-grade NAT) space
  if (a === 169 && b === 254) return "private"; // link-local
  if (a >= 224) return "unusable"; // multicast 224/4, reserved 240/4, broadcast
  return "public";
}

function classifyIPv6(groups: readonly number[]): Exclude<AddressClass, "unresolved"> {
  const [g0 = 0, , , , , g5 = 0, g6 = 0, g7 = 0] = groups;
  const firstFiveZero = groups.slice(0, 5).every((g) => g === 0);
  if (firstFiveZero && g5 === 0xffff) {
    // IPv4-mapped (::ffff:a.b.c.d): the embedded IPv4 address decides.
    return classifyIPv4([g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff]);
  }
  if (groups.every((g) => g === 0)) return "unspecified";
  if (groups.slice(0, 7).every((g) => g === 0) && g7 === 1) return "loopback";
  if ((g0 & 0xfe00) === 0xfc00) return "private"; // unique local fc00::/7
  if ((g0 & 0xffc0) === 0xfe80) return "private"; // link-local fe80::/10
  if ((g0 & 0xffc0) === 0xfec0) return "private"; // deprecated site-local fec0::/10
  if ((g0 & 0xff00) === 0xff00) return "unusable"; // multicast
  if (g0 === 0) return "unusable"; // ::/16 other than the above: reserved, IPv4-compatible
  return "public";
}

/** The eight 16-bit groups of an IPv6 literal (zone id dropped, embedded IPv4 expanded). */
function ipv6Groups(ip: string): number[] {
  let text = ip.split("%")[0] as string;
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split(".").map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const parse = (part: string): number[] => (part === "" ? [] : part.split(":").map((g) => parseInt(g, 16)));
  const left = parse(head);
  if (rest === undefined) return left;
  const right = parse(rest);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

// ---------------------------------------------------------------------------------------------
// Host names

/** Resolved addresses per host name, as produced by resolveHostnames. */
export type ResolvedHosts = ReadonlyMap<string, readonly string[]>;

const LOOKUP_TIMEOUT_MS = 2000;

/**
 * Looks up every host name that classification needs (IP literals and localhost need none).
 * A name that does not resolve within the timeout maps to an empty list.
 */
export async function resolveHostnames(hosts: Iterable<string>): Promise<Map<string, string[]>> {
  const names = [...new Set(hosts)].filter((host) => isHostname(host) && !isLocalhostName(host));
  const entries = await Promise.all(names.map(async (name) => [name, await lookupAll(name)] as const));
  return new Map(entries);
}

async function lookupAll(name: string): Promise<string[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<string[]>((resolve) => {
    timer = setTimeout(() => resolve([]), LOOKUP_TIMEOUT_MS);
  });
  // Loaded here, not at the top: only host names need it, and it costs start-up time otherwise.
  const { lookup } = await import("node:dns/promises");
  const lookedUp = lookup(name, { all: true }).then(
    (addresses) => addresses.map((a) => a.address),
    () => [],
  );
  try {
    return await Promise.race([lookedUp, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface HostClassification {
  /** The distinct classes of the host's addresses; ["unresolved"] when there are none. */
  classes: AddressClass[];
  /** Human description, e.g. "10.0.0.5", "db.example (10.0.0.5)". */
  shown: string;
}

function classifyHost(host: string, resolved: ResolvedHosts): HostClassification {
  if (isIPv4(host) || isIPv6(host)) return { classes: [classifyIp(host)], shown: host };
  if (isLocalhostName(host)) return { classes: ["loopback"], shown: host };
  const addresses = resolved.get(host) ?? [];
  if (addresses.length === 0) return { classes: ["unresolved"], shown: host };
  const classes = [...new Set(addresses.map(classifyIp))];
  return { classes, shown: `${host} (${addresses.join(", ")})` };
}

// ---------------------------------------------------------------------------------------------
// The network type check

const CLASS_DESCRIPTION: Record<ClusterNetwork, string> = {
  LOCAL: "a loopback address (127.0.0.0/8, ::1 or localhost)",
  PRIVATE: "a private address (10/8, 172.16/12, 192.168/16, 100.64/10, 169.254/16, fc00::/7 or fe80::/10)",
  PUBLIC: "a public address",
  DYNAMIC: "an address peers can dial",
};

const FOUND_DESCRIPTION: Record<AddressClass, string> = {
  loopback: "a loopback address",
  private: "a private address",
  public: "a public address",
  unspecified: "unspecified (0.0.0.0 or ::)",
  unusable: "a multicast, broadcast or reserved address",
  unresolved: "a host name that does not resolve",
};

/** Classes a node may advertise (or bind, when it advertises nothing else) per network type. */
const ADVERTISABLE: Record<ClusterNetwork, readonly AddressClass[]> = {
  LOCAL: ["loopback"],
  PRIVATE: ["private"],
  PUBLIC: ["public"],
  DYNAMIC: ["loopback", "private", "public", "unresolved"],
};

/** Classes a node may bind when it advertises a separate address: PUBLIC allows 1:1 NAT. */
const BINDABLE_BEHIND_ADVERTISE: Record<ClusterNetwork, readonly AddressClass[]> = {
  LOCAL: ["loopback"],
  PRIVATE: ["private"],
  PUBLIC: ["public", "private"],
  DYNAMIC: ["loopback", "private", "public", "unresolved"],
};

export interface NetworkProblem {
  /** The option the problem is about. */
  option: "address" | "advertise";
  /** The offending host (undefined when an advertise address is missing). */
  host: string | undefined;
  /** What that option should hold, phrased for "expected …" messages. */
  expected: string;
  /** One readable sentence naming the address and the expected class. */
  message: string;
}

/**
 * Checks the bound host (from `address`) and the advertised host (from `advertise`, if any)
 * against the cluster network type. `resolved` supplies addresses for host names other than
 * localhost; an unresolved name passes only under DYNAMIC. Returns one problem per bad address.
 */
export function findNetworkProblems(
  type: ClusterNetwork,
  bindHost: string,
  advertiseHost?: string,
  resolved: ResolvedHosts = new Map(),
): NetworkProblem[] {
  const problems: NetworkProblem[] = [];
  const wanted = CLASS_DESCRIPTION[type];
  const forType = `for clusterNetwork ${type}`;

  if (advertiseHost !== undefined) {
    const advertised = classifyHost(advertiseHost, resolved);
    const bad = advertised.classes.find((c) => !ADVERTISABLE[type].includes(c));
    if (bad !== undefined) {
      problems.push({
        option: "advertise",
        host: advertiseHost,
        expected: `${wanted} ${forType}`,
        message: `advertise address ${advertised.shown} is ${FOUND_DESCRIPTION[bad]}, but clusterNetwork ${type} needs ${wanted}`,
      });
    }
  }

  const bound = classifyHost(bindHost, resolved);
  if (bound.classes.includes("unspecified")) {
    // Binding every interface says nothing about how peers reach us, so the advertised address
    // must; under DYNAMIC the node may instead learn it from what its peers see (WELCOME).
    if (advertiseHost === undefined && type !== "DYNAMIC") {
      problems.push({
        option: "advertise",
        host: undefined,
        expected: `${wanted} ${forType}, since address ${bindHost} binds every interface`,
        message: `bind address ${bindHost} is ${FOUND_DESCRIPTION.unspecified}, so clusterNetwork ${type} needs an explicit advertise address that is ${wanted}`,
      });
    }
    return problems;
  }
  const allowed = advertiseHost === undefined ? ADVERTISABLE[type] : BINDABLE_BEHIND_ADVERTISE[type];
  const bad = bound.classes.find((c) => !allowed.includes(c));
  if (bad !== undefined) {
    const bindWanted = type === "PUBLIC" && advertiseHost !== undefined ? "a public or private address" : wanted;
    problems.push({
      option: "address",
      host: bindHost,
      expected: `${bindWanted} ${forType}`,
      message: `bind address ${bound.shown} is ${FOUND_DESCRIPTION[bad]}, but clusterNetwork ${type} needs ${bindWanted}`,
    });
  }
  return problems;
}

/** The same check, as readable sentences (empty when the addresses fit the network type). */
export function checkNetworkType(
  type: ClusterNetwork,
  bindHost: string,
  advertiseHost?: string,
  resolved: ResolvedHosts = new Map(),
): string[] {
  return findNetworkProblems(type, bindHost, advertiseHost, resolved).map((p) => p.message);
}

/** Node options as far as the network check needs them. */
export interface NetworkSettings {
  clusterNetwork: ClusterNetwork;
  address: string;
  advertise?: string | undefined;
}

/**
 * Resolves the host names in `address` and `advertise` (when the network type needs to know
 * their class) and checks them. Addresses that do not parse are left to schema validation.
 */
export async function checkNodeNetwork(settings: NetworkSettings): Promise<NetworkProblem[]> {
  const bind = parseHostPort(settings.address);
  const advertise = settings.advertise === undefined ? undefined : parseHostPort(settings.advertise);
  if (bind === null || advertise === null) return [];
  const resolved =
    settings.clusterNetwork === "DYNAMIC"
      ? new Map<string, string[]>()
      : await resolveHostnames([bind.host, ...(advertise ? [advertise.host] : [])]);
  return findNetworkProblems(settings.clusterNetwork, bind.host, advertise?.host, resolved);
}

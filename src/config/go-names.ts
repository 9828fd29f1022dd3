// Maps config trees written with the Go original's field names (behaviour reference §6.2, §6.4)
// onto our camelCase option names, so the Go project's config files load unchanged.
//
// Principle: rename and reshape, never validate. When a Go value has the expected shape it is
// converted (SeedServers [{Host, Port}] -> seeds ["host:port"]); when it does not, the raw value
// is passed on under our name so schema validation reports it against the field users will read
// about. Nothing is dropped silently: Go fields with no equivalent here are listed in `ignored`,
// fields inside Go blocks that the Go original does not know either are listed in `unknown`.
// Keys that are not Go names (our own camelCase names) pass through unchanged.

export type GoConfigKind = "cluster" | "node";

export interface NormalisedConfig {
  options: Record<string, unknown>;
  /** Dotted Go paths that are valid in the Go original but have no equivalent here. */
  ignored: string[];
  /** Dotted paths inside Go blocks (Cluster, Internal, SeedServers entries) the Go original does not define. */
  unknown: string[];
}

/** The same option was given twice, once under its Go name and once under ours. */
export class ConfigNameConflictError extends Error {
  override readonly name = "ConfigNameConflictError";
  readonly option: string;

  constructor(option: string, firstSource: string, secondSource: string) {
    super(`config sets option "${option}" twice, as "${firstSource}" and as "${secondSource}"; keep one`);
    this.option = option;
  }
}

// Enum numbering differs between the two Go files (§6.2 vs §6.4); 0 means UNDEFINED in both.
const CLUSTER_NETWORK_BY_NUMBER = ["UNDEFINED", "PRIVATE", "PUBLIC", "DYNAMIC", "LOCAL"] as const;
const NODE_NETWORK_BY_NUMBER = ["UNDEFINED", "PRIVATE", "PUBLIC", "LOCAL"] as const;

// GbClusterConfig.Cluster fields with no option of ours (mostly unused even in Go, §6.2).
const IGNORED_CLUSTER_FIELDS = new Set([
  "DiscoveryPercentage",
  "MaxDeltaGossipedPerParticipant",
  "MaxGossipSize",
  "MaxDeltaSize",
  "MaxDiscoverySize",
  "PaWindowSize",
  "MaxNumberOfNodes",
  "GossipRoundTimeout",
  "MaxSequenceIDPool",
  "EndpointsURLMap",
  "NodeMTLSRequired",
  "ClientMTLSRequired",
  "FailureKNodesToProbe",
  "FailureProbeTimeout",
  "NodeFaultyAfter",
]);

// GbNodeConfig.Internal fields: test aids and logging knobs of the Go runtime (§6.4).
const IGNORED_INTERNAL_FIELDS = new Set([
  "IsTestMode",
  "DebugMode",
  "DisableInternalGossipSystemUpdate",
  "GoRoutineTracking",
  "DisableInitialiseSelf",
  "DisableGossip",
  "DisableUpdateServerTimeStampOnStartup",
  "DefaultLoggerEnabled",
  "LogOutput",
  "LogToBuffer",
  "LogBufferSize",
  "LogChannelSize",
  "CACertFilePath",
  "CertFilePath",
  "KeyFilePath",
  "DisableStartupMessage",
]);

const CLUSTER_TOP_LEVEL_GO_KEYS = new Set(["Name", "SeedServers", "Cluster"]);
const NODE_TOP_LEVEL_GO_KEYS = new Set(["Name", "Host", "Port", "IsSeed", "NetworkType", "ClientPort", "Internal"]);

/** Collects options while remembering which source key set each one, to detect conflicts. */
class OptionsBuilder {
  readonly options: Record<string, unknown> = {};
  readonly ignored: string[] = [];
  readonly unknown: string[] = [];
  private readonly sources = new Map<string, string>();

  set(option: string, value: unknown, source: string): void {
    const earlier = this.sources.get(option);
    if (earlier !== undefined) throw new ConfigNameConflictError(option, earlier, source);
    this.sources.set(option, source);
    Object.defineProperty(this.options, option, { value, enumerable: true, writable: true, configurable: true });
  }

  result(): NormalisedConfig {
    return { options: this.options, ignored: this.ignored, unknown: this.unknown };
  }
}

/** Converts a cluster or node config tree that may use Go field names to our option names. */
export function normaliseGoConfig(tree: Record<string, unknown>, kind: GoConfigKind): NormalisedConfig {
  const goKeys = kind === "cluster" ? CLUSTER_TOP_LEVEL_GO_KEYS : NODE_TOP_LEVEL_GO_KEYS;
  const builder = new OptionsBuilder();
  for (const [key, value] of Object.entries(tree)) {
    if (!goKeys.has(key)) builder.set(key, value, key);
  }
  if (kind === "cluster") normaliseClusterKeys(tree, builder);
  else normaliseNodeKeys(tree, builder);
  return builder.result();
}

export function normaliseGoClusterConfig(tree: Record<string, unknown>): NormalisedConfig {
  return normaliseGoConfig(tree, "cluster");
}

export function normaliseGoNodeConfig(tree: Record<string, unknown>): NormalisedConfig {
  return normaliseGoConfig(tree, "node");
}

function normaliseClusterKeys(tree: Record<string, unknown>, builder: OptionsBuilder): void {
  if (Object.hasOwn(tree, "Name")) builder.set("clusterName", tree.Name, "Name");
  if (Object.hasOwn(tree, "SeedServers")) builder.set("seeds", seedAddresses(tree.SeedServers, builder), "SeedServers");
  if (!Object.hasOwn(tree, "Cluster")) return;

  const block = tree.Cluster;
  if (!isPlainObject(block)) {
    builder.unknown.push("Cluster");
    return;
  }
  for (const [field, value] of Object.entries(block)) {
    const path = `Cluster.${field}`;
    if (field === "NodeSelectionPerGossipRound") builder.set("fanout", value, path);
    else if (field === "MaxGossSynAck") builder.set("maxGossipBytes", value, path);
    else if (field === "ClusterNetworkType") {
      builder.set("clusterNetwork", networkName(value, CLUSTER_NETWORK_BY_NUMBER), path);
    } else if (IGNORED_CLUSTER_FIELDS.has(field)) builder.ignored.push(path);
    else builder.unknown.push(path);
  }
}

function normaliseNodeKeys(tree: Record<string, unknown>, builder: OptionsBuilder): void {
  if (Object.hasOwn(tree, "Name")) builder.set("name", tree.Name, "Name");

  const hasHost = Object.hasOwn(tree, "Host");
  const hasPort = Object.hasOwn(tree, "Port");
  if (hasHost || hasPort) {
    const source = hasHost && hasPort ? "Host/Port" : hasHost ? "Host" : "Port";
    builder.set("address", joinAddress(tree.Host, tree.Port), source);
  }

  if (Object.hasOwn(tree, "IsSeed")) {
    const isSeed = tree.IsSeed;
    builder.set("mode", isSeed === true ? "seed" : isSeed === false ? "node" : isSeed, "IsSeed");
  }

  if (Object.hasOwn(tree, "NetworkType")) {
    const network = networkName(tree.NetworkType, NODE_NETWORK_BY_NUMBER);
    // For a node, UNDEFINED means "no constraint" (§6.7), which is what leaving it out means here.
    if (network !== "UNDEFINED" && network !== "") builder.set("clusterNetwork", network, "NetworkType");
  }

  if (Object.hasOwn(tree, "ClientPort")) {
    const port = tree.ClientPort;
    // The Go default "" means "pick an ephemeral port", i.e. the option is not set.
    if (port !== "") builder.set("clientPort", numericString(port), "ClientPort");
  }

  if (!Object.hasOwn(tree, "Internal")) return;
  const block = tree.Internal;
  if (!isPlainObject(block)) {
    builder.unknown.push("Internal");
    return;
  }
  for (const field of Object.keys(block)) {
    (IGNORED_INTERNAL_FIELDS.has(field) ? builder.ignored : builder.unknown).push(`Internal.${field}`);
  }
}

/** `SeedServers = [{Host, Port}]` -> `["host:port"]`; plain "host:port" strings are kept as they are. */
function seedAddresses(value: unknown, builder: OptionsBuilder): unknown {
  if (!Array.isArray(value)) return value;
  return value.map((seed: unknown, index) => {
    if (!isPlainObject(seed)) return seed;
    for (const field of Object.keys(seed)) {
      if (field !== "Host" && field !== "Port") builder.unknown.push(`SeedServers.${index}.${field}`);
    }
    return joinAddress(seed.Host, seed.Port);
  });
}

/**
 * `host:port`, with IPv6 hosts bracketed. Ports may be numbers here: the Go parser required
 * them quoted, our files need not. Values of other types are passed on raw for validation.
 */
function joinAddress(host: unknown, port: unknown): unknown {
  const hostText = host === undefined ? "" : host;
  const portText = port === undefined ? "" : typeof port === "number" ? String(port) : port;
  if (typeof hostText !== "string" || typeof portText !== "string") return { Host: host, Port: port };
  const bracketed = hostText.includes(":") && !hostText.startsWith("[") ? `[${hostText}]` : hostText;
  return `${bracketed}:${portText}`;
}

/** Go accepted enum names case-insensitively and numbers by enum value. */
function networkName(value: unknown, byNumber: readonly string[]): unknown {
  if (typeof value === "string") return value.toUpperCase();
  if (typeof value === "number" && Number.isInteger(value)) return byNumber[value] ?? value;
  return value;
}

/** `"5000"` -> 5000 (Go ports are strings); anything else is passed on unchanged. */
function numericString(value: unknown): unknown {
  return typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

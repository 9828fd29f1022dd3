// Maps config trees written with the Go original's field names (behaviour reference §6.2, §6.4)
// onto our camelCase option names, so the Go project's config files load unchanged.
//
// Principle: rename and reshape, never validate. When a Go value has the expected shape it is
// converted (SeedServers [{Host, Port}] -> seeds ["host:port"]); when it does not, the raw value
// is passed on under our name so schema validation reports it against the field users will read
// about. Nothing is dropped silently: Go fields with no equivalent here are listed in `ignored`,
// fields inside Go blocks that the Go original does not know either are listed in `unknown`.
// Keys that are not Go names (our own camelCase names) pass through unchanged. The options table
// (options-table.ts) lists each option's Go names; the renames inside `Cluster { … }` come from
// it, the reshaped top-level fields are written out below (test/config-table.test.ts checks both).

import { OPTIONS, OPTION_NAMES, type GoConfigName, type OptionName, type OptionSpec } from "./options-table.ts";

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
  "DisableStartupMessage",
]);

/** Go names of the options table, by file. */
function tableGoNames(file: GoConfigName["file"]): { key: string; option: OptionName; name: GoConfigName }[] {
  return OPTION_NAMES.flatMap((option) =>
    ((OPTIONS[option] as OptionSpec).go ?? []).filter((name) => name.file === file).map((name) => ({ key: name.key, option, name })),
  );
}

/** `Cluster { Field }` → option, from the options table. */
const CLUSTER_BLOCK_OPTIONS: ReadonlyMap<string, OptionName> = new Map(
  tableGoNames("cluster")
    .filter(({ key }) => key.startsWith("Cluster."))
    .map(({ key, option }) => [key.slice("Cluster.".length), option]),
);

/** Go fields the Go original never read though we have the option (its TLS paths) → `tls.caFile (--tls-ca)`. */
const UNUSED_IN_GO: ReadonlyMap<string, string> = new Map(
  tableGoNames("node").flatMap(({ key, option, name }) => {
    if (name.unusedInGo === undefined) return [];
    const { field } = name.unusedInGo;
    const flag = (OPTIONS[option] as OptionSpec).settings?.find((setting) => setting.field === field)?.name;
    return [[key, `${option}.${field}${flag === undefined ? "" : ` (--${flag})`}`]];
  }),
);

/** Why an `ignored` Go key was ignored, for the note the caller logs. */
export function ignoredGoKeyReason(key: string): string {
  const equivalent = UNUSED_IN_GO.get(key);
  return equivalent === undefined
    ? "no equivalent here"
    : `the Go original never read it; to use TLS here, set ${equivalent}`;
}

/** Every Go field known to be ignored, for the documentation. */
export const IGNORED_GO_KEYS: readonly string[] = [
  ...[...IGNORED_CLUSTER_FIELDS].map((field) => `Cluster.${field}`),
  ...[...IGNORED_INTERNAL_FIELDS].map((field) => `Internal.${field}`),
  ...UNUSED_IN_GO.keys(),
];

/** Top-level Go fields each file understands (`Cluster` and `Internal` are blocks of further fields). */
export const CLUSTER_TOP_LEVEL_GO_KEYS: ReadonlySet<string> = new Set(["Name", "SeedServers", "Cluster"]);
export const NODE_TOP_LEVEL_GO_KEYS: ReadonlySet<string> = new Set(["Name", "Host", "Port", "IsSeed", "NetworkType", "ClientPort", "Internal"]);

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
    const option = CLUSTER_BLOCK_OPTIONS.get(field);
    if (option === "clusterNetwork") builder.set(option, networkName(value, CLUSTER_NETWORK_BY_NUMBER), path);
    else if (option !== undefined) builder.set(option, value, path);
    else if (IGNORED_CLUSTER_FIELDS.has(field)) builder.ignored.push(path);
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
    const path = `Internal.${field}`;
    (IGNORED_INTERNAL_FIELDS.has(field) || UNUSED_IN_GO.has(path) ? builder.ignored : builder.unknown).push(path);
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

// Every node option, declared once: its type and range, default, scope, one-line doc, the flag
// and environment variable that set it, and the Go config names that map onto it.
//
// Over 500 lines on purpose: it is one declarative table, about ten lines per option, and the
// point is that every option is declared in one place.
//
// Derived from this table: the valibot schemas and defaults (schema.ts), CLUSTER_SETTING_KEYS,
// the environment variables (merge.ts), the option flags and their help (flags.ts), the Go
// config renames inside `Cluster { … }` (go-names.ts), the "did you mean" aliases, and
// docs/CONFIGURATION.md (scripts/options-doc.ts). Options whose form needs code (addresses,
// names, tls, app) get their schema in schema.ts under the same name; test/config-table.test.ts
// checks everything else that restates an option (Go top-level keys, membership defaults).
//
// Adding an option is one entry here (plus its schema in schema.ts when its kind is "custom",
// and the code that uses it). This module is plain data: the command line loads it before
// anything else, so it imports no package and builds nothing. It is over 500 lines because it is
// one entry per option; split up, it would stop being the one place to look.

import { CLUSTER_NETWORKS } from "./network.ts";

export type OptionScope = "cluster" | "node";

/**
 * How a flag or an environment variable writes a value; flags.ts and merge.ts convert each form.
 * Flags check the form at once (a usage error names the flag); the environment passes text
 * forms on to the schema, which names the variable.
 */
export type TextForm =
  | "text" // any non-empty text
  | "choice" // one of the option's values
  | "network" // one of the option's values, any letter case
  | "listenAddress" // host:port, port 0-65535
  | "dialAddress" // host:port, port 1-65535
  | "addressList" // host:port,host:port,… (a flag may repeat)
  | "port" // 0-65535; empty means 0, as Go's -clientPort ""
  | "host" // host name or IP address
  | "integer"
  | "number"
  | "duration" // 1000, 200ms, 1s, 2m, 1h
  | "boolean" // a flag without value is true; -flag=false
  | "json"
  | "secretFile" // a path; the value is the file's content
  | "queryHandler"; // NAME=COMMAND; the flag repeats, the variable holds one entry per line

/** One flag and environment variable that sets an option (or one field of `tls`). */
export interface OptionSetting {
  /** kebab-case: the flag is --NAME (also -NAME and -camelCase), the variable GOFERBROKE_NAME. */
  readonly name: string;
  readonly form: TextForm;
  /** The field of an object option (`tls`) this sets. */
  readonly field?: string;
  /** The value's placeholder in help and in "needs a value" messages. */
  readonly placeholder?: string;
  /** The Go CLI had this flag (as -camelCase): help lists that spelling first. */
  readonly goFlag?: true;
  /** Only as an environment variable: a secret on the command line shows in `ps`. */
  readonly envOnly?: true;
  /** The flag also applies to the client commands. */
  readonly anyCommand?: true;
  /** What this flag sets, when not simply the option's doc. */
  readonly doc?: string;
}

/** A Go config file field that sets the option: `Cluster.Field` inside the block, or top level. */
export interface GoConfigName {
  readonly file: "cluster" | "node";
  readonly key: string;
  /**
   * The Go original accepted the field but never read it (its TLS paths): a Go file's value is
   * ignored, with a note naming this option's `field`, rather than switching TLS on with paths
   * written for a build that had none.
   */
  readonly unusedInGo?: { readonly field: string };
}

interface CommonSpec {
  readonly scope: OptionScope;
  /** One line: what the option does. */
  readonly doc: string;
  /** The default, when it is a fixed value (applied when the option is not given). */
  readonly default?: string | number | boolean | readonly string[];
  /** The default in words, when it is computed or absent (or to qualify a fixed one). */
  readonly defaultText?: string;
  /** More about what is accepted, beyond the range or the set of values. */
  readonly accepted?: string;
  readonly settings?: readonly OptionSetting[];
  readonly go?: readonly GoConfigName[];
}

/** A whole number from min to max; `unit` is shown after the range in messages (`(ms)`). */
export interface IntegerSpec extends CommonSpec {
  readonly kind: "integer";
  readonly min: number;
  readonly max: number;
  readonly unit?: string;
}

export interface NumberSpec extends CommonSpec {
  readonly kind: "number";
  readonly min: number;
  readonly max: number;
}

export interface BooleanSpec extends CommonSpec {
  readonly kind: "boolean";
}

export interface ChoiceSpec extends CommonSpec {
  readonly kind: "choice";
  readonly values: readonly [string, ...string[]];
}

/** Checked by its own schema in schema.ts; `type` and `accepted` describe it for the docs. */
export interface CustomSpec extends CommonSpec {
  readonly kind: "custom";
  readonly type: string;
  readonly accepted: string;
}

export type OptionSpec = IntegerSpec | NumberSpec | BooleanSpec | ChoiceSpec | CustomSpec;

const MAX_BYTES = 16 * 1024 * 1024;
const THIRTY_DAYS_MS = 30 * 24 * 3600_000;
const NAME_ACCEPTED = "1 to 64 characters from `A-Z a-z 0-9 . _ -`";

export const OPTIONS = {
  name: {
    kind: "custom",
    scope: "node",
    type: "string",
    doc: "node name, unique in the cluster",
    defaultText: "the host name, cleaned (characters outside `A-Z a-z 0-9 . _ -` become `-`, cut to 64)",
    accepted: NAME_ACCEPTED,
    settings: [{ name: "name", form: "text", placeholder: "name", goFlag: true, doc: "node name (default: the host name)" }],
    go: [{ file: "node", key: "Name" }],
  },
  clusterName: {
    kind: "custom",
    scope: "cluster",
    type: "string",
    doc: "cluster name; a peer of another cluster is refused at the handshake",
    default: "goferbroke",
    accepted: NAME_ACCEPTED,
    settings: [{ name: "cluster-name", form: "text", placeholder: "name", doc: "cluster name" }],
    go: [{ file: "cluster", key: "Name" }],
  },
  generation: {
    kind: "integer",
    scope: "node",
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    doc: "this run of the node; a restart must use a higher one (peers drop older generations)",
    defaultText: "`Date.now()` when the node is created",
    settings: [{ name: "generation", form: "integer", placeholder: "n" }],
  },
  mode: {
    kind: "choice",
    scope: "node",
    values: ["seed", "node"],
    default: "node",
    doc: "`seed` adds its own address to the seeds; otherwise informational",
    settings: [{ name: "mode", form: "choice", goFlag: true, doc: "run as a seed or a plain node" }],
    go: [{ file: "node", key: "IsSeed" }],
  },
  address: {
    kind: "custom",
    scope: "node",
    type: '`"host:port"`',
    doc: "where to listen for peers",
    default: "127.0.0.1:0",
    accepted: "host:port, port 0-65535 (0 = any free port), IPv6 in brackets `[::1]:7946`",
    settings: [{ name: "node-addr", form: "listenAddress", placeholder: "host:port", goFlag: true, doc: "address to listen on for peers" }],
    go: [
      { file: "node", key: "Host" },
      { file: "node", key: "Port" },
    ],
  },
  advertise: {
    kind: "custom",
    scope: "node",
    type: '`"host:port"`',
    doc: "where peers should dial (behind NAT, in containers)",
    defaultText: "the bound address",
    accepted: "host:port, port 1-65535, not `0.0.0.0` or `::`",
    settings: [{ name: "advertise", form: "dialAddress", placeholder: "host:port", doc: "address peers should dial" }],
  },
  seeds: {
    kind: "custom",
    scope: "cluster",
    type: '`"host:port"[]`',
    doc: "seed addresses; a node keeps retrying seeds that are down",
    default: [],
    accepted: "at most 256 entries, each host:port with port 1-65535",
    settings: [{ name: "routes", form: "addressList", placeholder: "host:port[,host:port…]", goFlag: true, doc: "seed addresses; repeatable" }],
    go: [{ file: "cluster", key: "SeedServers" }],
  },
  clusterNetwork: {
    kind: "choice",
    scope: "cluster",
    values: CLUSTER_NETWORKS,
    default: "LOCAL",
    doc: "which addresses the cluster admits (the CLI checks the bound and advertised addresses)",
    settings: [{ name: "cluster-network", form: "network", goFlag: true, doc: "which addresses the cluster admits" }],
    go: [
      { file: "cluster", key: "Cluster.ClusterNetworkType" },
      { file: "node", key: "NetworkType" },
    ],
  },
  clientPort: {
    kind: "integer",
    scope: "node",
    min: 0,
    max: 65535,
    unit: "0 = ephemeral",
    doc: "HTTP admin/client port, which the CLI opens; must differ from the node port",
    defaultText: "none (no client port)",
    settings: [{ name: "client-port", form: "port", placeholder: "port", goFlag: true, doc: "HTTP admin/client port (0 = ephemeral)" }],
    go: [{ file: "node", key: "ClientPort" }],
  },
  clientBind: {
    kind: "custom",
    scope: "node",
    type: "string",
    doc: "interface for the client port",
    default: "127.0.0.1",
    accepted: "an IP address or host name",
    settings: [{ name: "client-bind", form: "host", placeholder: "host", doc: "interface for the client port (default 127.0.0.1)" }],
  },
  clientToken: {
    kind: "custom",
    scope: "node",
    type: "string",
    doc: "token clients must present on the client port",
    defaultText: "none",
    accepted: "8 to 1024 visible ASCII characters",
    settings: [
      { name: "client-token", form: "text", placeholder: "token", doc: "token clients must present (visible in ps: prefer --client-token-file)" },
      { name: "client-token-file", form: "secretFile", placeholder: "file", doc: "file holding the token clients must present (one trailing newline dropped)" },
    ],
  },
  clientInsecure: {
    kind: "boolean",
    scope: "node",
    default: false,
    doc: "serve a client port on a non-loopback clientBind without a token (anyone who reaches it can rewrite the cluster config)",
    settings: [{ name: "client-insecure", form: "boolean", doc: "serve a non-loopback --client-bind without a token" }],
  },
  dataDir: {
    kind: "custom",
    scope: "node",
    type: "string (a directory)",
    doc: "where the node keeps its generation counter and the members it last knew (and, with restoreEntries, its entries), so that a restart rejoins through them",
    defaultText: "none (nothing is kept)",
    accepted: "a path; created when missing",
    settings: [{ name: "data-dir", form: "text", placeholder: "dir", doc: "directory for the node's snapshot (generation, members, entries)" }],
  },
  restoreEntries: {
    kind: "boolean",
    scope: "node",
    default: false,
    doc: "with dataDir: keep this node's own entries there and restore them, under the new generation, at the next start",
    settings: [{ name: "restore-entries", form: "boolean", doc: "restore this node's entries from --data-dir at start" }],
  },
  dnsRefreshIntervalMs: {
    kind: "integer",
    scope: "node",
    min: 1000,
    max: 86_400_000,
    unit: "ms",
    default: 60_000,
    doc: "how often seeds given as host names are resolved again (all their A and AAAA records); new addresses behind a name are joined",
    settings: [{ name: "dns-refresh-interval", form: "duration", placeholder: "duration" }],
  },
  dnsServers: {
    kind: "custom",
    scope: "node",
    type: '`"ip:port"[]`',
    doc: "DNS servers that resolve seeds given as host names (default: the system resolver, hosts file included)",
    accepted: "at most 8 entries, each an IP address and port (IPv6 in brackets)",
    settings: [{ name: "dns-servers", form: "addressList", placeholder: "ip:port[,ip:port…]", doc: "DNS servers for seed host names; repeatable" }],
  },
  retryLogIntervalMs: {
    kind: "integer",
    scope: "node",
    min: 1000,
    max: 3_600_000,
    unit: "ms",
    default: 30_000,
    doc: "while a seed stays unreachable, at most one log line per this interval, with the attempt count and the last error",
    settings: [{ name: "retry-log-interval", form: "duration", placeholder: "duration" }],
  },
  tls: {
    kind: "custom",
    scope: "node",
    type: "`{ caFile, certFile, keyFile, requireNameMatch? }`",
    doc: "mutual TLS between nodes",
    defaultText: "none (plain TCP)",
    accepted:
      "non-empty paths to PEM files; `requireNameMatch` (default `false`) checks the peer certificate against the node name",
    settings: [
      { name: "tls-ca", form: "text", field: "caFile", placeholder: "file", doc: "CA certificate (PEM)" },
      { name: "tls-cert", form: "text", field: "certFile", placeholder: "file", doc: "node certificate (PEM)" },
      { name: "tls-key", form: "text", field: "keyFile", placeholder: "file", doc: "node private key (PEM)" },
      { name: "tls-require-name", form: "boolean", field: "requireNameMatch", doc: "peer certificates must name the peer node" },
    ],
    go: [
      { file: "node", key: "Internal.CACertFilePath", unusedInGo: { field: "caFile" } },
      { file: "node", key: "Internal.CertFilePath", unusedInGo: { field: "certFile" } },
      { file: "node", key: "Internal.KeyFilePath", unusedInGo: { field: "keyFile" } },
    ],
  },
  secret: {
    kind: "custom",
    scope: "node",
    type: "string",
    doc: "shared cluster secret for the HMAC handshake (authenticates, does not encrypt)",
    defaultText: "none",
    accepted: "16 to 4096 bytes (UTF-8)",
    settings: [
      { name: "secret", form: "text", envOnly: true },
      { name: "secret-file", form: "secretFile", placeholder: "file", doc: "file holding the shared cluster secret (one trailing newline dropped)" },
    ],
  },
  encryptKeys: {
    kind: "custom",
    scope: "node",
    type: "string",
    doc: "encryption keyring: peers must hold one of its keys, and every frame after the handshake is AES-256-GCM sealed (excludes secret)",
    defaultText: "none (frames in plain text)",
    accepted: "1 to 16 base64 keys of 32 random bytes (`openssl rand -base64 32`), one a line, the first the primary; blank lines and # comments skipped",
    settings: [
      { name: "encrypt-keys", form: "text", envOnly: true },
      { name: "encrypt-key-file", form: "secretFile", placeholder: "file", doc: "file holding the encryption keyring (one base64 key a line, the first the primary); goferbroke keys rewrites it" },
    ],
  },
  encryptPlainWindow: {
    kind: "choice",
    scope: "node",
    values: ["off", "dial-plain", "accept-plain"],
    default: "off",
    doc: "moves a running cluster from plain to encrypted without a split (README): with encryptKeys, also admit peers without encryption, unsealed; `dial-plain` also dials without it (step 1), `accept-plain` dials encrypted (step 2)",
    settings: [{ name: "encrypt-plain-window", form: "choice", doc: "with --encrypt-key-file, also admit plain peers: dial-plain (step 1), accept-plain (step 2), or off" }],
  },
  gossipIntervalMs: {
    kind: "integer",
    scope: "cluster",
    min: 100,
    max: 60000,
    unit: "ms",
    default: 1000,
    doc: "gossip round interval",
    settings: [{ name: "gossip-interval", form: "duration", placeholder: "duration", doc: "gossip round interval (ms, or 200ms, 1s)" }],
  },
  fanout: {
    kind: "integer",
    scope: "cluster",
    min: 1,
    max: 16,
    default: 1,
    doc: "peers each gossip round goes to",
    settings: [{ name: "fanout", form: "integer", placeholder: "n" }],
    go: [{ file: "cluster", key: "Cluster.NodeSelectionPerGossipRound" }],
  },
  maxGossipBytes: {
    kind: "integer",
    scope: "cluster",
    min: 1024,
    max: MAX_BYTES,
    unit: "bytes",
    default: 262144,
    doc: "byte budget of one gossip message",
    accepted: "at most maxFrameBytes",
    settings: [{ name: "max-gossip-bytes", form: "integer", placeholder: "bytes" }],
    go: [{ file: "cluster", key: "Cluster.MaxGossSynAck" }],
  },
  pushFanout: {
    kind: "integer",
    scope: "cluster",
    min: 0,
    max: 16,
    default: 2,
    doc: "peers a fresh write is pushed to at once (0: it waits for the next round)",
    settings: [{ name: "push-fanout", form: "integer", placeholder: "n" }],
  },
  flowControl: {
    kind: "boolean",
    scope: "cluster",
    default: true,
    doc: "pace this node's writes to a fair share of the gossip capacity",
    settings: [{ name: "flow-control", form: "boolean", doc: "pace writes to a fair share of the gossip capacity (on by default; --flow-control=false turns it off)" }],
  },
  maxFrameBytes: {
    kind: "integer",
    scope: "node",
    min: 4096,
    max: MAX_BYTES,
    unit: "bytes",
    default: 1048576,
    doc: "largest frame this node sends or accepts",
    settings: [{ name: "max-frame-bytes", form: "integer", placeholder: "bytes" }],
  },
  phiThreshold: {
    kind: "number",
    scope: "cluster",
    min: 1,
    max: 32,
    default: 8,
    doc: "phi above which a node is suspected (need not be whole)",
    settings: [{ name: "phi-threshold", form: "number", placeholder: "phi" }],
  },
  acceptablePauseMs: {
    kind: "integer",
    scope: "cluster",
    min: 0,
    max: 60000,
    unit: "ms",
    // Chosen by the detector sweep (docs/BENCHMARKS.md, Failure detection): dead everywhere within
    // 4.6 s at p99 with no false death in the hostile hour; a 2 s stall stays 1 s short of suspicion.
    default: 2500,
    doc: "heartbeat pause the failure detector tolerates",
    settings: [{ name: "acceptable-pause", form: "duration", placeholder: "duration" }],
  },
  minStdDeviationMs: {
    kind: "integer",
    scope: "cluster",
    min: 1,
    max: 10000,
    unit: "ms",
    default: 100,
    doc: "floor of the failure detector's standard deviation",
    settings: [{ name: "min-std-deviation", form: "duration", placeholder: "duration" }],
  },
  probeFanout: {
    kind: "integer",
    scope: "cluster",
    min: 0,
    max: 16,
    default: 3,
    doc: "nodes asked to ping a suspect before it is declared dead (0: no indirect probes)",
    settings: [{ name: "probe-fanout", form: "integer", placeholder: "n" }],
    go: [{ file: "cluster", key: "Cluster.FailureKNodesToProbe" }],
  },
  probeTimeoutMs: {
    kind: "integer",
    scope: "cluster",
    min: 10,
    max: 60000,
    unit: "ms",
    default: 500,
    doc: "how long a probe waits for its answer",
    settings: [{ name: "probe-timeout", form: "duration", placeholder: "duration" }],
    go: [{ file: "cluster", key: "Cluster.FailureProbeTimeout" }],
  },
  deadRemovalMs: {
    kind: "integer",
    scope: "cluster",
    min: 10_000,
    max: THIRTY_DAYS_MS,
    unit: "ms",
    // Memberlist forgets dead members after 30 s, but its members carry no state. Serf, which
    // carries state on top of memberlist, keeps failed members 24 h (reconnect_timeout) and so do
    // we: a partition shorter than that costs no full resync.
    default: 86_400_000,
    doc: "dead nodes (and their state) are forgotten after this (24 h)",
    settings: [{ name: "dead-removal", form: "duration", placeholder: "duration" }],
  },
  tombstoneGraceMs: {
    kind: "integer",
    scope: "cluster",
    min: 1000,
    max: THIRTY_DAYS_MS,
    unit: "ms",
    default: 3_600_000,
    doc: "deleted keys are collected after this (1 h)",
    settings: [{ name: "tombstone-grace", form: "duration", placeholder: "duration" }],
  },
  maxKeyBytes: {
    kind: "integer",
    scope: "node",
    min: 1,
    max: 1024,
    unit: "bytes",
    default: 256,
    doc: "largest key, and largest group name",
    settings: [{ name: "max-key-bytes", form: "integer", placeholder: "bytes" }],
  },
  maxValueBytes: {
    kind: "integer",
    scope: "node",
    min: 1,
    max: MAX_BYTES,
    unit: "bytes",
    // Must leave room in one gossip message for a key, its group and the framing, or delta
    // selection (which stops at the first entry that does not fit) would starve behind it.
    default: 65536,
    defaultText: "lowered to maxGossipBytes − 2 × maxKeyBytes − 256 when that is smaller",
    accepted: "at most maxGossipBytes − 2 × maxKeyBytes − 256",
    doc: "largest value",
    settings: [{ name: "max-value-bytes", form: "integer", placeholder: "bytes" }],
  },
  maxEntriesPerNode: {
    kind: "integer",
    scope: "node",
    min: 1,
    max: 10_000_000,
    default: 100_000,
    doc: "most keys one node may hold",
    settings: [{ name: "max-entries-per-node", form: "integer", placeholder: "n" }],
  },
  maxMembers: {
    kind: "integer",
    scope: "node",
    min: 16,
    max: 1_000_000,
    default: 20_000,
    doc: "most members one node holds, itself and probationary names included",
    settings: [{ name: "max-members", form: "integer", placeholder: "n" }],
  },
  maxConnections: {
    kind: "integer",
    scope: "node",
    min: 1,
    max: 65536,
    default: 1024,
    doc: "most peer connections this node keeps open",
    settings: [{ name: "max-connections", form: "integer", placeholder: "n" }],
  },
  logLevel: {
    kind: "choice",
    scope: "node",
    values: ["debug", "info", "warn", "error", "silent"],
    default: "info",
    doc: "the CLI's log level",
    settings: [{ name: "log-level", form: "choice", placeholder: "level", anyCommand: true, doc: "debug, info, warn, error or silent" }],
  },
  logFormat: {
    kind: "choice",
    scope: "node",
    values: ["pretty", "json"],
    default: "pretty",
    doc: "the CLI's log format: human output or JSON lines",
    settings: [{ name: "log-format", form: "choice", anyCommand: true, doc: "human output or JSON lines" }],
  },
  queryHandlers: {
    kind: "custom",
    scope: "node",
    type: '`"NAME=COMMAND"[]`',
    doc: "the CLI daemon answers query NAME with the output of COMMAND (run by `sh -c`, the payload on stdin); a library node uses onQuery()",
    default: [],
    accepted: "at most 64 entries, each a query name (1 to 128 bytes, no `=`), `=`, and a command of at most 4096 characters; each name once",
    settings: [{ name: "query-handler", form: "queryHandler", placeholder: "NAME=COMMAND", doc: "answer query NAME with COMMAND's output (sh -c); repeatable" }],
  },
  app: {
    kind: "custom",
    scope: "cluster",
    type: "JSON object",
    doc: "free-form application settings, shared like the other cluster settings",
    defaultText: "none",
    accepted: "plain JSON (finite numbers, no functions), at most 65536 bytes as JSON, nested at most 32 levels",
    settings: [{ name: "app", form: "json", placeholder: "json" }],
  },
} as const satisfies Record<string, OptionSpec>;

export type OptionTable = typeof OPTIONS;
export type OptionName = keyof OptionTable;
export const OPTION_NAMES = Object.keys(OPTIONS) as OptionName[];

/** The options of one kind (e.g. the "custom" ones, whose schemas schema.ts writes out). */
export type OptionNameOfKind<K extends OptionSpec["kind"]> = {
  [N in OptionName]: OptionTable[N]["kind"] extends K ? N : never;
}[OptionName];

export type OptionNameOfScope<S extends OptionScope> = {
  [N in OptionName]: OptionTable[N]["scope"] extends S ? N : never;
}[OptionName];

/** The options of one scope, in table order. */
export function optionNamesOfScope<S extends OptionScope>(scope: S): OptionNameOfScope<S>[] {
  return OPTION_NAMES.filter((name): name is OptionNameOfScope<S> => OPTIONS[name].scope === scope);
}

/** One setting with the option it belongs to. */
export interface OptionSettingEntry {
  readonly option: OptionName;
  readonly setting: OptionSetting;
}

/** Every flag and environment variable of every option, in table order. */
export const OPTION_SETTINGS: readonly OptionSettingEntry[] = OPTION_NAMES.flatMap((option) =>
  ((OPTIONS[option] as OptionSpec).settings ?? []).map((setting) => ({ option, setting })),
);

export const ENV_PREFIX = "GOFERBROKE_";

/** `gossip-interval` → `GOFERBROKE_GOSSIP_INTERVAL`. */
export function envNameOf(setting: OptionSetting): string {
  return ENV_PREFIX + setting.name.toUpperCase().replaceAll("-", "_");
}

/** `node-addr` → `nodeAddr`. */
export function camelCase(kebab: string): string {
  return kebab.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The range part of messages and docs: `from 100 to 60000 (ms)`. */
export function rangeText(spec: IntegerSpec | NumberSpec): string {
  const unit = spec.kind === "integer" && spec.unit !== undefined ? ` (${spec.unit})` : "";
  return `from ${spec.min} to ${spec.max}${unit}`;
}

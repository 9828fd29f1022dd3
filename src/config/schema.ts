// Node options: the valibot schemas and defaults, built from the options table (options-table.ts),
// and the issues that name the option, the expected form and the value that was given (raised as
// OptionsError, from options-error.ts).
//
// Constraints between options, checked once each is valid on its own:
// - maxGossipBytes cannot exceed maxFrameBytes: the budget is spent inside one frame.
// - maxValueBytes must leave room in one gossip message for a key, its group and the framing,
//   or delta selection (which stops at the first entry that does not fit) would starve behind it.
//   Unless set explicitly it is lowered to fit, so a Go cluster file with MaxGossSynAck = 1400
//   still loads (maxValueBytes becomes 1400 - 512 - 256 = 632; merge.ts warns that larger values are refused).
// - clientPort must differ from the node port, as in Go (both are bound).
// - A client port on a non-loopback clientBind needs clientToken, or clientInsecure: true to say
//   the exposure is meant. Anyone who reaches an open client port can rewrite the cluster config,
//   and every node adopts it, including nodes that have a token.

import { hostname } from "node:os";
import * as v from "valibot";
import { NODE_NAME_PATTERN, NODE_NAME_RULE } from "../codec/node-name.ts";
import { APP_EXPECTED, appIssue, isPlainObject, type JsonObject } from "./app-option.ts";
import { isIPv4, isIPv6, isLoopbackHost, isUnspecifiedHost, isValidHost, parseHostPort } from "./network.ts";
import { OptionsError, utf8Bytes, type OptionsIssue } from "./options-error.ts";
import {
  OPTIONS,
  OPTION_NAMES,
  OPTION_SETTINGS,
  camelCase,
  optionNamesOfScope,
  rangeText,
  type CustomSpec,
  type IntegerSpec,
  type NumberSpec,
  type OptionName,
  type OptionNameOfKind,
  type OptionNameOfScope,
  type OptionSpec,
  type OptionTable,
} from "./options-table.ts";
import { QUERY_HANDLER_EXPECTED, parseQueryHandler, queryHandlerListProblem, type QueryHandlerEntry } from "./query-handler-option.ts";
import { suggestClosest } from "./suggest.ts";
import { keyringProblem } from "../transport/keyring.ts";

export { OPTION_NAMES, type OptionName } from "./options-table.ts";

// The errors and the suggestions live in their own modules, so that code which only reports
// (the command line, the CLI's error handling) does not build the schemas below at start-up.
export { OptionsError, describeValue, formatIssue, type OptionsIssue } from "./options-error.ts";
export { editDistance, suggestClosest } from "./suggest.ts";

// ---------------------------------------------------------------------------------------------
// Building blocks

function integerIn(spec: IntegerSpec) {
  const range = rangeText(spec);
  const expected = `a number ${range}`;
  return v.pipe(
    v.number(expected),
    v.integer(`a whole number ${range}`),
    v.minValue(spec.min, expected),
    v.maxValue(spec.max, expected),
  );
}

function numberIn(spec: NumberSpec) {
  const expected = `a number ${rangeText(spec)}`;
  return v.pipe(v.number(expected), v.minValue(spec.min, expected), v.maxValue(spec.max, expected));
}

/** Node and cluster names: the rule names from peers are held to as well (codec/node-name.ts). */
function nameSchema(what: string) {
  const expected = `${what} of ${NODE_NAME_RULE}`;
  return v.pipe(v.string(expected), v.regex(NODE_NAME_PATTERN, expected));
}

function hostPortSchema(expected: string, accepts: (host: string, port: number) => boolean) {
  return v.pipe(
    v.string(expected),
    v.check((text) => {
      const parsed = parseHostPort(text);
      return parsed !== null && accepts(parsed.host, parsed.port);
    }, expected),
  );
}

function nonEmptyString(expected: string) {
  return v.pipe(v.string(expected), v.minLength(1, expected));
}

function utf8Length(min: number, max: number, expected: string) {
  return v.check((text: string) => {
    const bytes = utf8Bytes(text);
    return bytes >= min && bytes <= max;
  }, expected);
}

// ---------------------------------------------------------------------------------------------
// The `app` option: any plain JSON object (app-option.ts).
const queryHandlerSchema = v.pipe(
  v.string(QUERY_HANDLER_EXPECTED),
  v.check((text) => typeof parseQueryHandler(text) !== "string", (issue) => `${QUERY_HANDLER_EXPECTED}; ${parseQueryHandler(issue.input as string) as string}`),
);
const queryHandlersSchema = v.pipe(
  v.array(queryHandlerSchema, `a list of ${QUERY_HANDLER_EXPECTED} entries`),
  v.check(
    (list) => queryHandlerListProblem(list.map((text) => parseQueryHandler(text) as QueryHandlerEntry)) === null,
    (issue) => `a list of distinct query handlers; ${queryHandlerListProblem((issue.input as string[]).map((text) => parseQueryHandler(text) as QueryHandlerEntry)) as string}`,
  ),
);

const appSchema = v.custom<JsonObject>((value) => appIssue(value) === null, APP_EXPECTED);

// ---------------------------------------------------------------------------------------------
// The options

const TLS_EXPECTED = "an object with caFile, certFile and keyFile";
const TLS_FIELD_EXPECTED: Record<string, string> = {
  caFile: "a path to the CA certificate (PEM)",
  certFile: "a path to this node's certificate (PEM)",
  keyFile: "a path to this node's private key (PEM)",
};
const tlsEntries = {
  caFile: nonEmptyString(TLS_FIELD_EXPECTED.caFile as string),
  certFile: nonEmptyString(TLS_FIELD_EXPECTED.certFile as string),
  keyFile: nonEmptyString(TLS_FIELD_EXPECTED.keyFile as string),
  requireNameMatch: v.optional(v.boolean("true or false"), false),
};
const tlsSchema = v.object(tlsEntries, TLS_EXPECTED);
const TLS_KEYS = Object.keys(tlsEntries);

const SEED_EXPECTED = "host:port (IPv6 in brackets, port 1-65535)";
const DNS_SERVER_EXPECTED = "ip:port of a DNS server (IPv6 in brackets, port 1-65535)";
const TOKEN_EXPECTED = "a token of 8 to 1024 visible ASCII characters";
const SECRET_EXPECTED = "a string of 16 to 4096 bytes";
const KEYRING_EXPECTED = "1 to 16 base64 32-byte keys, one a line";

/** The options whose form needs more than a range or a set of values (kind "custom" in the table). */
const customSchemas = {
  name: nameSchema("a node name"),
  clusterName: nameSchema("a cluster name"),
  address: hostPortSchema("host:port to listen on (IPv6 in brackets, port 0-65535)", () => true),
  advertise: hostPortSchema(
    "host:port that peers can dial (IPv6 in brackets, port 1-65535, not 0.0.0.0 or ::)",
    (host, port) => port !== 0 && !isUnspecifiedHost(host),
  ),
  seeds: v.pipe(
    v.array(hostPortSchema(SEED_EXPECTED, (_, port) => port !== 0), "a list of host:port addresses"),
    v.maxLength(256, "a list of at most 256 host:port addresses"),
  ),
  dnsServers: v.pipe(
    v.array(hostPortSchema(DNS_SERVER_EXPECTED, (host, port) => port !== 0 && (isIPv4(host) || isIPv6(host))), "a list of ip:port addresses"),
    v.maxLength(8, "a list of at most 8 ip:port addresses"),
  ),
  clientBind: v.pipe(v.string("a host name or IP address"), v.check(isValidHost, "a host name or IP address")),
  clientToken: v.pipe(v.string(TOKEN_EXPECTED), v.regex(/^[\x21-\x7e]{8,1024}$/, TOKEN_EXPECTED)),
  dataDir: v.pipe(v.string("a directory path"), v.minLength(1, "a directory path"), v.maxLength(4096, "a directory path of at most 4096 characters")),
  tls: tlsSchema,
  secret: v.pipe(v.string(SECRET_EXPECTED), utf8Length(16, 4096, SECRET_EXPECTED)),
  encryptKeys: v.pipe(
    v.string(KEYRING_EXPECTED),
    v.check((text) => keyringProblem(text) === null, (issue) => `${KEYRING_EXPECTED} (${keyringProblem(issue.input as string)})`),
  ),
  queryHandlers: queryHandlersSchema,
  app: appSchema,
} satisfies Record<OptionNameOfKind<"custom">, v.GenericSchema>;

type CustomSchemas = typeof customSchemas;
type CustomName = keyof CustomSchemas;

/** The value type of a table-built option. */
type TableValue<S> = S extends { kind: "choice"; values: readonly (infer V)[] }
  ? V
  : S extends { kind: "boolean" }
    ? boolean
    : number;
type ValueOf<N extends OptionName> = N extends CustomName ? v.InferOutput<CustomSchemas[N]> : TableValue<OptionTable[N]>;
type InputOf<N extends OptionName> = N extends CustomName ? v.InferInput<CustomSchemas[N]> : TableValue<OptionTable[N]>;
type OptionSchema<N extends OptionName> = v.GenericSchema<InputOf<N>, ValueOf<N>>;

function tableSchema(spec: Exclude<OptionSpec, CustomSpec>): v.GenericSchema {
  switch (spec.kind) {
    case "integer":
      return integerIn(spec);
    case "number":
      return numberIn(spec);
    case "boolean":
      return v.boolean("true or false");
    case "choice":
      return v.picklist(spec.values, `one of ${spec.values.join(", ")}`);
  }
}

/** Each option's schema without its default; shared by full, partial and cluster-patch parsing. */
const optionSchemas = Object.fromEntries(
  OPTION_NAMES.map((name) => {
    const spec: OptionSpec = OPTIONS[name];
    return [name, spec.kind === "custom" ? customSchemas[name as CustomName] : tableSchema(spec)];
  }),
) as { [N in OptionName]: OptionSchema<N> };

/** Defaults the table cannot hold: computed per parse. */
const COMPUTED_DEFAULTS = { name: defaultNodeName };

type DefaultedName =
  | { [N in OptionName]: OptionTable[N] extends { default: unknown } ? N : never }[OptionName]
  | keyof typeof COMPUTED_DEFAULTS;

/** The table's fixed defaults, by option (options without one, or with a computed one, are absent). */
export const OPTION_DEFAULTS: { readonly [N in Exclude<DefaultedName, keyof typeof COMPUTED_DEFAULTS>]: ValueOf<N> } =
  Object.fromEntries(
    OPTION_NAMES.flatMap((name) => {
      const fixed = (OPTIONS[name] as OptionSpec).default;
      return fixed === undefined ? [] : [[name, fixed]];
    }),
  ) as never;

/** An option's default for one parse: arrays fresh each time, so no two nodes share one. */
function defaultOf(name: OptionName): unknown {
  if (name in COMPUTED_DEFAULTS) return COMPUTED_DEFAULTS[name as keyof typeof COMPUTED_DEFAULTS];
  const fixed = (OPTIONS[name] as OptionSpec).default;
  return Array.isArray(fixed) ? () => [...fixed] : fixed;
}

type Flatten<T> = { [K in keyof T]: T[K] };

/** Validated node options with every default applied. */
export type NodeOptions = Flatten<
  { [N in DefaultedName]: ValueOf<N> } & { [N in Exclude<OptionName, DefaultedName>]?: ValueOf<N> }
>;
/** What callers may pass: every option optional. */
export type NodeOptionsInput = { [N in OptionName]?: InputOf<N> | undefined };
export type TlsOptions = v.InferOutput<typeof tlsSchema>;

const nodeOptionsSchema = v.object(
  Object.fromEntries(OPTION_NAMES.map((name) => [name, v.optional(optionSchemas[name] as v.GenericSchema, defaultOf(name))])),
) as unknown as v.GenericSchema<NodeOptionsInput, NodeOptions>;

/** Bytes a gossip message needs besides one entry's key, group and value (frame, node header, entry header). */
export const GOSSIP_ENTRY_OVERHEAD_BYTES = 256;

/** The largest value that still fits one gossip message with a key and group of maxKeyBytes each. */
export function maxValueBytesFor(maxGossipBytes: number, maxKeyBytes: number): number {
  return maxGossipBytes - 2 * maxKeyBytes - GOSSIP_ENTRY_OVERHEAD_BYTES;
}

/** The host name, cut down to a valid node name ("node" if nothing is left). */
export function defaultNodeName(): string {
  const cleaned = hostname()
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, 64);
  return cleaned === "" ? "node" : cleaned;
}

export type ClusterSettingKey = OptionNameOfScope<"cluster">;
export type ClusterSettings = Pick<NodeOptions, ClusterSettingKey>;

/** Options that belong to the shared cluster config document (the rest are per node). */
export const CLUSTER_SETTING_KEYS = optionNamesOfScope("cluster") as readonly ClusterSettingKey[];

export function isClusterSettingKey(key: string): key is ClusterSettingKey {
  return (CLUSTER_SETTING_KEYS as readonly string[]).includes(key);
}

// Partial layers (one config file, the environment, the flags) may set part of `tls`; the merged
// result must then have all of it.
const optionLayerSchema = v.partial(v.object({ ...optionSchemas, tls: v.partial(tlsSchema) }));
const clusterPatchSchema = v.partial(
  v.object(Object.fromEntries(CLUSTER_SETTING_KEYS.map((name) => [name, optionSchemas[name]]))),
) as unknown as v.GenericSchema<Partial<ClusterSettings>, Partial<ClusterSettings>>;

export type OptionsLayer = v.InferOutput<typeof optionLayerSchema>;

// ---------------------------------------------------------------------------------------------
// Unknown keys

/** `Cluster.MaxGossSynAck` → `maxGossSynAck`, `IsSeed` → `isSeed`. */
function goKeyAlias(key: string): string {
  const field = key.slice(key.lastIndexOf(".") + 1);
  return field.charAt(0).toLowerCase() + field.slice(1);
}

// Names people are likely to try: the option's flags in camelCase (nodeAddr, routes) and its Go
// config fields (seedServers, isSeed, networkType), from the table.
const OPTION_ALIASES: ReadonlyMap<string, OptionName> = new Map(
  [
    ...OPTION_SETTINGS.map(({ option, setting }) => [camelCase(setting.name), option] as const),
    ...OPTION_NAMES.flatMap((option) => ((OPTIONS[option] as OptionSpec).go ?? []).map(({ key }) => [goKeyAlias(key), option] as const)),
  ].filter(([alias]) => !(alias in OPTIONS)),
);

function unknownKeyIssue(path: string, key: string, value: unknown, candidates: readonly string[], prefix = ""): OptionsIssue {
  const alias = prefix === "" ? OPTION_ALIASES.get(key) : undefined;
  const suggestion =
    alias !== undefined && candidates.includes(alias) ? alias : suggestClosest(key, candidates);
  const hint = suggestion === undefined ? "" : ` (did you mean ${prefix}${suggestion}?)`;
  return { path, value, expected: "a known option", problem: `unknown option${hint}` };
}

/** Unknown keys of the options object and of `tls`, in input order. */
function unknownKeyIssues(input: Record<string, unknown>, known: readonly string[], isCluster: boolean): OptionsIssue[] {
  const issues: OptionsIssue[] = [];
  for (const [key, value] of Object.entries(input)) {
    if (!known.includes(key)) {
      if (isCluster && (OPTION_NAMES as readonly string[]).includes(key)) {
        issues.push({ path: key, value, expected: "a cluster setting", problem: "not a cluster setting (it is set per node)" });
      } else {
        issues.push(unknownKeyIssue(key, key, value, known));
      }
    } else if (key === "tls" && isPlainObject(value)) {
      for (const [tlsKey, tlsValue] of Object.entries(value)) {
        if (!TLS_KEYS.includes(tlsKey)) issues.push(unknownKeyIssue(`tls.${tlsKey}`, tlsKey, tlsValue, TLS_KEYS, "tls."));
      }
    }
  }
  return issues;
}

// ---------------------------------------------------------------------------------------------
// Validation

function issuePath(issue: v.BaseIssue<unknown>): string {
  let path = "";
  for (const item of issue.path ?? []) {
    const key = item.key;
    if (typeof key === "number") path += `[${key}]`;
    else path += path === "" ? String(key) : `.${String(key)}`;
  }
  return path;
}

function translateIssues(issues: readonly v.BaseIssue<unknown>[]): OptionsIssue[] {
  return issues.map((issue) => {
    const path = issuePath(issue);
    if (path === "app") return appIssue(issue.input) ?? { path, value: issue.input, expected: APP_EXPECTED };
    // A missing key is reported by its object schema; name what the key itself should hold.
    const missingTlsField = path.startsWith("tls.") ? TLS_FIELD_EXPECTED[path.slice(4)] : undefined;
    if (issue.type === "object" && issue.input === undefined && missingTlsField !== undefined) {
      return { path, value: undefined, expected: missingTlsField };
    }
    return { path, value: issue.input, expected: issue.message };
  });
}

interface Validated<T> {
  output: T | undefined;
  issues: OptionsIssue[];
}

function runSchema<T>(schema: v.GenericSchema<unknown, T>, input: Record<string, unknown>): Validated<T> {
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  return result.success
    ? { output: result.output, issues: [] }
    : { output: undefined, issues: translateIssues(result.issues) };
}

/** `undefined` counts as "not given", as for optional properties in TypeScript. */
function withoutUndefined(input: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined));
}

function rootIssue(input: unknown): OptionsIssue {
  return { path: "", value: input, expected: "an object of options" };
}

/** Constraints between options, checked once each option is valid on its own. */
function crossCheckIssues(options: NodeOptions, given: Record<string, unknown>): OptionsIssue[] {
  const issues: OptionsIssue[] = [];
  if (options.secret !== undefined && options.encryptKeys !== undefined) {
    issues.push({ path: "secret", value: options.secret, expected: "no secret with encryptKeys: the keyring authenticates on its own" });
  }
  if (options.encryptPlainWindow !== "off" && options.encryptKeys === undefined) {
    issues.push({ path: "encryptPlainWindow", value: options.encryptPlainWindow, expected: "off without encryptKeys: the window admits plain peers beside encrypted ones" });
  }
  if (options.maxGossipBytes > options.maxFrameBytes) {
    issues.push({
      path: "maxGossipBytes",
      value: options.maxGossipBytes,
      expected: `a number from 1024 to maxFrameBytes (${options.maxFrameBytes}) (bytes)`,
    });
  }
  const valueLimit = maxValueBytesFor(options.maxGossipBytes, options.maxKeyBytes);
  if (valueLimit < 1) {
    issues.push({
      path: "maxKeyBytes",
      value: options.maxKeyBytes,
      expected: `a number from 1 to ${Math.floor((options.maxGossipBytes - GOSSIP_ENTRY_OVERHEAD_BYTES - 1) / 2)} (bytes), so a key and its group fit one gossip message of maxGossipBytes (${options.maxGossipBytes})`,
    });
  } else if (given.maxValueBytes === undefined) {
    options.maxValueBytes = Math.min(options.maxValueBytes, valueLimit);
  } else if (options.maxValueBytes > valueLimit) {
    issues.push({
      path: "maxValueBytes",
      value: options.maxValueBytes,
      expected: `a number from 1 to ${valueLimit} (bytes): maxGossipBytes - 2 × maxKeyBytes - ${GOSSIP_ENTRY_OVERHEAD_BYTES}, so one entry fits a gossip message`,
    });
  }
  const port = parseHostPort(options.address)?.port;
  if (options.clientPort !== undefined && options.clientPort !== 0 && options.clientPort === port) {
    issues.push({
      path: "clientPort",
      value: options.clientPort,
      expected: `a port other than the node port ${port}`,
    });
  }
  if (options.clientPort !== undefined && options.clientToken === undefined && !options.clientInsecure && !isLoopbackHost(options.clientBind)) {
    issues.push({
      path: "clientBind",
      value: options.clientBind,
      expected: "",
      problem:
        `the client port on ${JSON.stringify(options.clientBind)} would let anyone who reaches it read and write this node and rewrite the cluster config; ` +
        "give it a token (--client-token-file FILE, GOFERBROKE_CLIENT_TOKEN_FILE or --client-token), bind it to loopback (--client-bind 127.0.0.1), " +
        "or pass --client-insecure if the network is trusted",
    });
  }
  return issues;
}

/** Validates options and applies defaults; returns the issues instead of throwing. */
export function validateNodeOptions(input: unknown): Validated<NodeOptions> {
  if (input === undefined) input = {};
  if (!isPlainObject(input)) return { output: undefined, issues: [rootIssue(input)] };
  const unknown = unknownKeyIssues(input, OPTION_NAMES, false);
  const given = withoutUndefined(input);
  const { output, issues } = runSchema(nodeOptionsSchema, given);
  if (output === undefined) return { output, issues: [...unknown, ...issues] };
  const cross = crossCheckIssues(output, given);
  const all = [...unknown, ...cross];
  return all.length === 0 ? { output, issues: [] } : { output: undefined, issues: all };
}

/** Validates node options and applies defaults; throws OptionsError listing every problem. */
export function parseNodeOptions(input: unknown): NodeOptions {
  const { output, issues } = validateNodeOptions(input);
  if (output === undefined) throw new OptionsError(issues);
  return output;
}

/**
 * Validates part of the options (one config file, the environment or the flags) without
 * applying defaults or cross-option checks; `tls` may be partial. Unknown keys are issues;
 * with `clusterOnly`, options that are not cluster settings are too.
 */
export function validateOptionsLayer(input: unknown, clusterOnly = false): Validated<OptionsLayer> {
  if (!isPlainObject(input)) return { output: undefined, issues: [rootIssue(input)] };
  const known = clusterOnly ? CLUSTER_SETTING_KEYS : OPTION_NAMES;
  const unknown = unknownKeyIssues(input, known, clusterOnly);
  const given = withoutUndefined(input);
  const schema = clusterOnly ? clusterPatchSchema : optionLayerSchema;
  const { output, issues } = runSchema<OptionsLayer>(schema, given);
  const all = [...unknown, ...issues];
  return all.length === 0 ? { output, issues: [] } : { output: undefined, issues: all };
}

/**
 * Validates a run-time change to the cluster config: only cluster settings, each checked as in
 * parseNodeOptions. With `current` (the node's options), constraints against the rest of the
 * options are checked on the patched result too (e.g. maxGossipBytes <= maxFrameBytes).
 */
export function parseClusterConfigPatch(input: unknown, current?: NodeOptions): Partial<ClusterSettings> {
  if (!isPlainObject(input)) throw new OptionsError([rootIssue(input)]);
  const unknown = unknownKeyIssues(input, CLUSTER_SETTING_KEYS, true);
  const given = withoutUndefined(input);
  const { output, issues } = runSchema(clusterPatchSchema, given);
  if (unknown.length > 0 || output === undefined) throw new OptionsError([...unknown, ...issues]);
  const patch = withoutUndefined(output) as Partial<ClusterSettings>;
  const budget = current === undefined ? undefined : gossipBudgetIssue(patch.maxGossipBytes, current);
  if (budget !== undefined) throw new OptionsError([budget]);
  return patch;
}

/**
 * A new maxGossipBytes must still hold one entry of this node's maxValueBytes and fit its frames;
 * the node-local limits cannot change with the cluster document, so the patch gets the blame.
 */
function gossipBudgetIssue(maxGossipBytes: number | undefined, current: NodeOptions): OptionsIssue | undefined {
  if (maxGossipBytes === undefined) return undefined;
  const min = Math.max(1024, current.maxValueBytes + 2 * current.maxKeyBytes + GOSSIP_ENTRY_OVERHEAD_BYTES);
  const max = current.maxFrameBytes;
  if (maxGossipBytes >= min && maxGossipBytes <= max) return undefined;
  return {
    path: "maxGossipBytes",
    value: maxGossipBytes,
    expected: `a number from ${min} to ${max} (bytes): at least maxValueBytes + 2 × maxKeyBytes + ${GOSSIP_ENTRY_OVERHEAD_BYTES} and at most maxFrameBytes of this node`,
  };
}

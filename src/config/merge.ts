// Where a node's options come from, and in which order they win:
//   command-line flags > environment (GOFERBROKE_*) > node config file > cluster config file > defaults
//
// Each source is validated on its own first, so an error can say where the bad value came from
// ("… (from GOFERBROKE_FANOUT)", "… (from /etc/goferbroke/cluster.conf)"); then the merged
// result is validated as a whole (defaults, constraints between options) and checked against the
// cluster network type. Syntax errors in files keep their file:line:column (ConfigSyntaxError).
//
// Merging is per option, except `tls` (per field: a file may give the CA, a flag the key) and
// `app` (per top-level key). A seed (mode seed) is listed among the seeds, as Go requires:
// its advertised address (or its bound one) is added when missing.
//
// Environment variables: GOFERBROKE_ and the option's setting name (options-table.ts), e.g.
// GOFERBROKE_GOSSIP_INTERVAL for gossipIntervalMs; an empty value counts as unset. Besides them,
// GOFERBROKE_NODE_CONFIG and GOFERBROKE_CLUSTER_CONFIG name the config files when the command
// line does not. docs/CONFIGURATION.md lists them all.

import { FLAG_NOTES_KEY, parseDurationMs, readSecretFile } from "./flags.ts";
import type { GoConfigKind } from "./go-names.ts";
import { checkNodeNetwork, formatHostPort, isLocalhostName, parseHostPort, isUnspecifiedHost } from "./network.ts";
import { JIT_POLICY_ENV } from "./jit-policy.ts";
import { OptionsError, type OptionsIssue } from "./options-error.ts";
import { OPTION_SETTINGS, envNameOf, type OptionName, type TextForm } from "./options-table.ts";
import {
  GOSSIP_ENTRY_OVERHEAD_BYTES,
  OPTION_DEFAULTS,
  OPTION_NAMES,
  validateNodeOptions,
  validateOptionsLayer,
  type NodeOptions,
} from "./schema.ts";
import { suggestClosest } from "./suggest.ts";

export interface ResolveSources {
  /** `flags` from parseCliArgs; keys that are not option names (help, client, …) are ignored. */
  flags?: Record<string, unknown>;
  /** Usually process.env. */
  env?: Record<string, string | undefined>;
  /** Config file paths (`.conf` or `.json`, Go or our option names). */
  files?: { node?: string | undefined; cluster?: string | undefined };
}

export interface ResolvedOptions {
  options: NodeOptions;
  /** Lines for the caller to log: ignored Go keys, an added seed, unknown GOFERBROKE_ variables. */
  notes: string[];
  /** Lines for the caller to log as warnings: a limit set lower than asked, which refuses writes it would have taken. */
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// Environment

type EnvForm = "text" | "integer" | "number" | "duration" | "list" | "lines" | "boolean" | "network" | "json" | "secretFile";

// Text forms the flags check at once are checked by the schema here, which names the variable.
const ENV_FORM: Record<TextForm, EnvForm> = {
  text: "text",
  choice: "text",
  network: "network",
  listenAddress: "text",
  dialAddress: "text",
  addressList: "list",
  port: "integer",
  host: "text",
  integer: "integer",
  number: "number",
  duration: "duration",
  boolean: "boolean",
  json: "json",
  secretFile: "secretFile",
  queryHandler: "lines",
};

interface EnvVariable {
  name: string;
  /** Top-level option; a field of `tls` is written as "tls.field". */
  option: OptionName | `${OptionName}.${string}`;
  form: EnvForm;
}

/** Every environment variable, in table order. */
export const ENV_VARIABLES: readonly EnvVariable[] = OPTION_SETTINGS.map(({ option, setting }) => ({
  name: envNameOf(setting),
  option: setting.field === undefined ? option : `${option}.${setting.field}`,
  form: ENV_FORM[setting.form],
}));

export const NODE_CONFIG_ENV = "GOFERBROKE_NODE_CONFIG";
export const CLUSTER_CONFIG_ENV = "GOFERBROKE_CLUSTER_CONFIG";
// GOFERBROKE_JIT_POLICY is the daemon's, not a node option: read by the CLI (config/jit-policy.ts).
const KNOWN_ENV_NAMES = [...ENV_VARIABLES.map((variable) => variable.name), NODE_CONFIG_ENV, CLUSTER_CONFIG_ENV, JIT_POLICY_ENV];

const FORM_EXPECTED: Record<EnvForm, string> = {
  text: "text",
  integer: "a whole number",
  number: "a number",
  duration: "a duration (e.g. 1000, 200ms, 1s, 2m, 1h)",
  list: "host:port addresses separated by commas",
  lines: "entries, one per line",
  boolean: "true or false",
  network: "LOCAL, PRIVATE, PUBLIC or DYNAMIC",
  json: "a JSON object",
  secretFile: "a readable file",
};

/** Converts one variable's text; undefined when it does not have the form at all. */
function convertEnvValue(form: Exclude<EnvForm, "secretFile">, text: string): unknown {
  switch (form) {
    case "text":
      return text;
    case "network":
      return text.toUpperCase();
    case "integer":
      return /^-?\d+$/.test(text.trim()) ? Number(text) : undefined;
    case "number":
      return text.trim() !== "" && Number.isFinite(Number(text)) ? Number(text) : undefined;
    case "duration":
      return parseDurationMs(text) ?? undefined;
    case "list":
      return text
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== "");
    case "lines":
      return text.split("\n").filter((line) => line.trim() !== "");
    case "boolean":
      return /^(true|1)$/i.test(text) ? true : /^(false|0)$/i.test(text) ? false : undefined;
    case "json":
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return undefined;
      }
  }
}

interface Layer {
  options: Record<string, unknown>;
  /** Source per top-level option, for messages. */
  sourceOf: (option: string) => string;
}

function environmentLayer(vars: Record<string, string | undefined>, issues: OptionsIssue[], notes: string[]): Layer {
  const options: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  for (const variable of ENV_VARIABLES) {
    const text = vars[variable.name];
    if (text === undefined || text === "") continue;
    const [top, field] = variable.option.split(".") as [string, string | undefined];
    let value: unknown;
    if (variable.form === "secretFile") {
      try {
        value = readSecretFile(text, variable.name);
      } catch (error) {
        // The message names the file; the secret's own value never appears.
        const problem = (error as Error).message.replace(`flag ${variable.name}: `, "");
        issues.push({ path: variable.option, value: text, expected: FORM_EXPECTED.secretFile, problem, source: variable.name });
        continue;
      }
    } else {
      value = convertEnvValue(variable.form, text);
    }
    if (value === undefined) {
      issues.push({ path: variable.option, value: text, expected: FORM_EXPECTED[variable.form], source: variable.name });
      continue;
    }
    if (field === undefined) options[top] = value;
    else options[top] = { ...(options[top] as object | undefined), [field]: value };
    sources.set(top, sources.has(top) && field !== undefined ? `${sources.get(top)}, ${variable.name}` : variable.name);
  }
  for (const name of Object.keys(vars)) {
    if (!name.startsWith("GOFERBROKE_") || KNOWN_ENV_NAMES.includes(name)) continue;
    const closest = suggestClosest(name, KNOWN_ENV_NAMES);
    notes.push(`unknown environment variable ${name}${closest === undefined ? "" : ` (did you mean ${closest}?)`}`);
  }
  return { options, sourceOf: (option) => sources.get(option) ?? "the environment" };
}

// ---------------------------------------------------------------------------------------------
// Files and flags

async function fileLayer(path: string, kind: GoConfigKind, issues: OptionsIssue[], notes: string[]): Promise<Layer> {
  // The file parsers and the Go names load only when there is a file: most nodes start from flags
  // and the environment, and every module loaded delays listening.
  const [{ loadConfigFile }, { ignoredGoKeyReason, normaliseGoConfig }] = await Promise.all([import("./load.ts"), import("./go-names.ts")]);
  const tree = await loadConfigFile(path);
  const { options, ignored, unknown } = normaliseGoConfig(tree, kind);
  for (const key of ignored) notes.push(`ignored Go key ${key} in ${path} (${ignoredGoKeyReason(key)})`);
  for (const key of unknown) issues.push({ path: key, value: undefined, expected: "a known option", problem: "unknown option", source: path });
  return { options, sourceOf: () => path };
}

function flagLayer(flags: Record<string, unknown>): Layer {
  const optionNames: readonly string[] = OPTION_NAMES;
  const options = Object.fromEntries(Object.entries(flags).filter(([key]) => optionNames.includes(key)));
  return { options, sourceOf: () => "command-line flags" };
}

/** Validates one layer, blaming its source; returns its options only when they are valid. */
function checkedLayer(layer: Layer, clusterOnly: boolean, issues: OptionsIssue[]): Record<string, unknown> {
  const { output, issues: found } = validateOptionsLayer(layer.options, clusterOnly);
  for (const issue of found) {
    const top = issue.path.split(/[.[]/)[0] as string;
    issues.push({ ...issue, source: layer.sourceOf(top) });
  }
  return output === undefined ? {} : (output as Record<string, unknown>);
}

// ---------------------------------------------------------------------------------------------
// Merge

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Lower layers first; later ones win per option, per tls field and per app key. */
function mergeLayers(layers: readonly Record<string, unknown>[]): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      const previous = merged[key];
      merged[key] = (key === "tls" || key === "app") && isObject(previous) && isObject(value) ? { ...previous, ...value } : value;
    }
  }
  return merged;
}

/** The same endpoint, allowing `localhost` for a loopback IP and any letter case. */
function sameEndpoint(a: string, b: string): boolean {
  const x = parseHostPort(a);
  const y = parseHostPort(b);
  if (x === null || y === null || x.port !== y.port) return false;
  const canonical = (host: string) => (isLocalhostName(host) || host === "::1" ? "127.0.0.1" : host.toLowerCase());
  return canonical(x.host) === canonical(y.host);
}

/** Go requires a seed to be in the seed list; add it rather than fail. */
function listSeedItself(options: Record<string, unknown>, notes: string[]): void {
  if (options.mode !== "seed") return;
  const own = typeof options.advertise === "string" ? options.advertise : options.address;
  if (typeof own !== "string") return;
  const parsed = parseHostPort(own);
  // An ephemeral port or an all-interfaces address cannot be dialled; the schema says so for
  // advertise, and a seed bound that way must advertise anyway, so there is nothing to add.
  if (parsed === null || parsed.port === 0 || isUnspecifiedHost(parsed.host)) return;
  const seeds = Array.isArray(options.seeds) ? (options.seeds as unknown[]) : [];
  if (seeds.some((seed) => typeof seed === "string" && sameEndpoint(seed, own))) return;
  const address = formatHostPort(parsed.host, parsed.port);
  options.seeds = [...seeds, address];
  notes.push(`added this seed's own address ${address} to seeds (a seed must be listed among them)`);
}

/** A seed on an ephemeral port works (tests start them so) but nobody can find it from config. */
function seedPortNote(options: NodeOptions): string | undefined {
  if (options.mode !== "seed" || options.advertise !== undefined) return undefined;
  return parseHostPort(options.address)?.port === 0
    ? `this seed listens on an ephemeral port (address ${options.address}); other nodes can only reach it once told the port`
    : undefined;
}

/** maxValueBytes is lowered to fit maxGossipBytes when not given (schema.ts); warn, since writes it would have taken are refused. */
function loweredValueLimitWarning(options: NodeOptions, given: Record<string, unknown>): string | undefined {
  if (given.maxValueBytes !== undefined || options.maxValueBytes === OPTION_DEFAULTS.maxValueBytes) return undefined;
  return (
    `maxValueBytes lowered from ${OPTION_DEFAULTS.maxValueBytes} to ${options.maxValueBytes}: writes of larger values will be refused. ` +
    `One entry must fit a gossip message of maxGossipBytes ${options.maxGossipBytes} (maxGossipBytes - 2 × maxKeyBytes - ${GOSSIP_ENTRY_OVERHEAD_BYTES}); ` +
    `raise maxGossipBytes (Go: Cluster.MaxGossSynAck), or set maxValueBytes to say this limit is meant`
  );
}

/**
 * Loads, merges and validates a node's options. Throws ConfigReadError / ConfigSyntaxError for
 * unreadable files, ConfigNameConflictError when a file sets one option under two names, and
 * OptionsError listing every invalid option (with its source) and network type problem.
 */
export async function resolveNodeOptions(sources: ResolveSources = {}): Promise<ResolvedOptions> {
  const notes: string[] = [];
  const issues: OptionsIssue[] = [];
  const vars = sources.env ?? {};
  const clusterFile = sources.files?.cluster ?? (vars[CLUSTER_CONFIG_ENV] || undefined);
  const nodeFile = sources.files?.node ?? (vars[NODE_CONFIG_ENV] || undefined);

  const cluster = clusterFile === undefined ? undefined : await fileLayer(clusterFile, "cluster", issues, notes);
  const node = nodeFile === undefined ? undefined : await fileLayer(nodeFile, "node", issues, notes);
  const environmentIssues: OptionsIssue[] = [];
  const environment = environmentLayer(vars, environmentIssues, notes);
  const flags = flagLayer(sources.flags ?? {});
  notes.push(...((sources.flags?.[FLAG_NOTES_KEY] as string[] | undefined) ?? []));

  // Issues are listed source by source, lowest precedence first.
  const layers = [
    cluster === undefined ? {} : checkedLayer(cluster, true, issues),
    node === undefined ? {} : checkedLayer(node, false, issues),
  ];
  issues.push(...environmentIssues);
  layers.push(checkedLayer(environment, false, issues), checkedLayer(flags, false, issues));
  if (issues.length > 0) throw new OptionsError(issues);

  const merged = mergeLayers(layers);
  listSeedItself(merged, notes);
  const { output, issues: mergedIssues } = validateNodeOptions(merged);
  if (output === undefined) throw new OptionsError(mergedIssues);

  const seedNote = seedPortNote(output);
  if (seedNote !== undefined) notes.push(seedNote);
  const valueWarning = loweredValueLimitWarning(output, merged);
  await assertNodeNetwork(output);
  return { options: output, notes, warnings: valueWarning === undefined ? [] : [valueWarning] };
}

/** Throws OptionsError when the bound or advertised address does not suit clusterNetwork. */
export async function assertNodeNetwork(options: NodeOptions): Promise<void> {
  const networkIssues: OptionsIssue[] = (await checkNodeNetwork(options)).map((problem) => ({
    path: problem.option,
    value: problem.option === "address" ? options.address : options.advertise,
    expected: problem.expected,
  }));
  if (networkIssues.length > 0) throw new OptionsError(networkIssues);
}

// Command-line arguments: the Go CLI's flags (`-mode=seed -nodeAddr 127.0.0.1:8081 -routes …`),
// the same flags as --kebab-case, our own flags, and the client subcommands.
//
// One pass reads every token the way Go's flag package does (one or two dashes, `-flag=value` or
// `-flag value`, everything after `--` positional), rejects unknown flags and missing values
// naming the flag as typed, and keeps that spelling with each flag so value errors name it too.
// node:util parseArgs knows neither single-dash long flags nor Go's boolean syntax, and loading
// node:util costs about 5 ms at start-up, so it is not used. Values are converted here, to the
// NodeOptions key they set, so bad addresses and numbers are usage errors; the full validation
// happens in merge/schema.

import { isValidHost, parseHostPort, parsePort } from "./network.ts";
import { parseQueryHandler } from "./query-handler-option.ts";
import { OPTIONS, OPTION_SETTINGS, camelCase, type OptionSetting, type OptionSettingEntry, type OptionSpec } from "./options-table.ts";
import { suggestClosest } from "./suggest.ts";

/** A problem with the command line; the message names the flag as the user typed it. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  /** The flag as typed (`-nodeAdr`, `--node-addr`), when the error is about one. */
  readonly flag: string | undefined;

  constructor(message: string, flag?: string) {
    super(message);
    this.flag = flag;
  }
}

export const COMMANDS = ["members", "get", "set", "delete", "keys", "watch", "config", "event", "query", "health", "join", "force-leave", "help", "version"] as const;
export type Command = (typeof COMMANDS)[number];
/** The commands that talk to a node (help and version answer locally). */
export const NODE_COMMANDS: readonly Command[] = COMMANDS.filter((command) => command !== "help" && command !== "version");
export const CONFIG_SUBCOMMANDS = ["show", "set"] as const;
/** The admin API's type names, the one spelling shown everywhere. */
export const VALUE_TYPES = ["string", "bytes", "int", "float", "bool", "json"] as const;
/** Older spellings `--type` still accepts. */
const VALUE_TYPE_ALIASES: Record<string, string> = { int64: "int", float64: "float" };

export interface ParsedCommandLine {
  /** The subcommand, or null to run a node. */
  command: Command | null;
  /** Positionals after the command (for `config`, the first is show or set). */
  positionals: string[];
  /**
   * Flag values under the NodeOptions key they set (address, seeds, clusterNetwork, tls: {…},
   * secret, …), plus help, version, and the client commands' client, token, type and ttlMs.
   */
  flags: Record<string, unknown>;
  configFiles: { node?: string; cluster?: string };
}

// ---------------------------------------------------------------------------------------------
// The flags

/** Which invocations a flag belongs to: running a node, any client command, some commands, or all. */
type Scope = "node" | "client" | "set" | "write" | "event" | "query" | "force-leave" | "any";

/** The commands a flag of a command-specific scope applies to: "write" is every command that writes. */
const SCOPE_COMMANDS: Partial<Record<Scope, readonly Command[]>> = { set: ["set"], write: ["set", "config", "keys"], event: ["event"], query: ["query"], "force-leave": ["force-leave"] };

type Flags = Record<string, unknown>;

interface FlagSpec {
  /** kebab-case name; `--long` and `-long` are accepted, and so is its camelCase form. */
  long: string;
  /** The Go CLI's spelling (`nodeAddr`), when it differs from camelCase of `long`. */
  go?: string;
  short?: string;
  /** Placeholder for the value (`host:port`); absent for boolean flags. */
  value?: string;
  scope: Scope;
  help: string;
  /** Converts the raw value (already checked non-missing) and stores it; throws UsageError. */
  store: (flags: Flags, raw: string, flag: string, files: ParsedCommandLine["configFiles"]) => void;
}

function bad(flag: string, raw: string, what: string): UsageError {
  return new UsageError(`flag ${flag}: ${JSON.stringify(raw)} is not ${what}`, flag);
}

function needsValue(flag: string, placeholder: string): UsageError {
  return new UsageError(`flag ${flag} needs a value ${placeholder}`, flag);
}

const text =
  (key: string, placeholder: string) =>
  (flags: Flags, raw: string, flag: string): void => {
    if (raw === "") throw needsValue(flag, placeholder);
    flags[key] = raw;
  };

const hostPort =
  (key: string, minPort: number) =>
  (flags: Flags, raw: string, flag: string): void => {
    flags[key] = checkedHostPort(raw, flag, minPort);
  };

const choice =
  (key: string, values: readonly string[], normalise: (raw: string) => string = (raw) => raw) =>
  (flags: Flags, raw: string, flag: string): void => {
    flags[key] = checkedChoice(normalise(raw), flag, values);
  };

const duration =
  (key: string) =>
  (flags: Flags, raw: string, flag: string): void => {
    flags[key] = checkedDuration(raw, flag);
  };

const boolean =
  (key: string) =>
  (flags: Flags, raw: string): void => {
    flags[key] = raw === "true";
  };

/** A flag that may be repeated: each value is added to a list. */
const list =
  (key: string, placeholder: string) =>
  (flags: Flags, raw: string, flag: string): void => {
    if (raw === "") throw needsValue(flag, placeholder);
    flags[key] = [...((flags[key] as string[] | undefined) ?? []), raw];
  };

const configFile =
  (which: keyof ParsedCommandLine["configFiles"]) =>
  (_: Flags, raw: string, flag: string, files: ParsedCommandLine["configFiles"]): void => {
    if (raw === "") throw needsValue(flag, "file");
    files[which] = raw;
  };

function checkedHostPort(raw: string, flag: string, minPort: number): string {
  const parsed = parseHostPort(raw);
  if (parsed === null || parsed.port < minPort) throw bad(flag, raw, "host:port");
  return raw;
}

function checkedChoice(raw: string, flag: string, values: readonly string[]): string {
  if (!values.includes(raw)) throw bad(flag, raw, `one of ${values.join(", ")}`);
  return raw;
}

function checkedDuration(raw: string, flag: string): number {
  const ms = parseDurationMs(raw);
  if (ms === null) throw bad(flag, raw, "a duration (e.g. 1000, 200ms, 1s)");
  return ms;
}

/** One option flag's value, checked for its form (options-table.ts); `previous` is what earlier flags set. */
function optionFlagValue(setting: OptionSetting, raw: string, flag: string, placeholder: string, values: readonly string[], previous: unknown): unknown {
  switch (setting.form) {
    case "text":
      if (raw === "") throw needsValue(flag, placeholder);
      return raw;
    case "choice":
      return checkedChoice(raw, flag, values);
    case "network":
      return checkedChoice(raw.toUpperCase(), flag, values);
    case "listenAddress":
      return checkedHostPort(raw, flag, 0);
    case "dialAddress":
      return checkedHostPort(raw, flag, 1);
    case "addressList": {
      // Repeatable and comma-separated; tolerates `a:1,,b:2` and a trailing comma.
      const items = raw.split(",").map((item) => item.trim()).filter((item) => item !== "");
      for (const item of items) checkedHostPort(item, flag, 1);
      const list = [...((previous as string[] | undefined) ?? []), ...items];
      if (list.length === 0) throw needsValue(flag, "host:port");
      return list;
    }
    case "port": {
      // Go's default "" meant an ephemeral port; keep accepting it.
      const port = raw === "" ? 0 : parsePort(raw);
      if (port === null) throw bad(flag, raw, "a port number (0-65535)");
      return port;
    }
    case "host":
      if (!isValidHost(raw)) throw bad(flag, raw, "a host name or IP address");
      return raw;
    case "integer":
      if (!/^-?\d+$/.test(raw)) throw bad(flag, raw, "a whole number");
      return Number(raw);
    case "number":
      if (raw.trim() === "" || !Number.isFinite(Number(raw))) throw bad(flag, raw, "a number");
      return Number(raw);
    case "duration":
      return checkedDuration(raw, flag);
    case "boolean":
      return raw === "true";
    case "json":
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        throw bad(flag, raw, "JSON");
      }
    case "secretFile":
      if (raw === "") throw needsValue(flag, "file");
      return readSecretFile(raw, flag);
    case "queryHandler": {
      // One entry per flag, never split: a command may hold commas (and anything else).
      const entry = parseQueryHandler(raw);
      if (typeof entry === "string") throw new UsageError(`flag ${flag}: ${JSON.stringify(raw)} is not NAME=COMMAND: ${entry}`, flag);
      return [...((previous as string[] | undefined) ?? []), raw];
    }
  }
}

/** The flag of one option setting: stores under the option (or its field), as NodeOptions has it. */
function optionFlag({ option, setting }: OptionSettingEntry): FlagSpec {
  const spec: OptionSpec = OPTIONS[option];
  const values = spec.kind === "choice" ? spec.values : [];
  const placeholder = setting.placeholder ?? values.join("|");
  const field = setting.field;
  return {
    long: setting.name,
    ...(setting.goFlag ? { go: camelCase(setting.name) } : {}),
    ...(setting.form === "boolean" ? {} : { value: placeholder }),
    scope: setting.anyCommand ? "any" : "node",
    help: setting.doc ?? spec.doc,
    store: (flags, raw, flag) => {
      const value = optionFlagValue(setting, raw, flag, placeholder, values, flags[option]);
      flags[option] = field === undefined ? value : { ...(flags[option] as object | undefined), [field]: value };
      if (setting.form === "secretFile") flags[FLAG_FILES_KEY] = { ...(flags[FLAG_FILES_KEY] as object | undefined), [option]: raw };
    },
  };
}

const OPTION_FLAGS = OPTION_SETTINGS.filter(({ setting }) => !setting.envOnly);
const goOptionFlags = OPTION_FLAGS.filter(({ setting }) => setting.goFlag).map(optionFlag);
const nodeOptionFlags = OPTION_FLAGS.filter(({ setting }) => !setting.goFlag && !setting.anyCommand).map(optionFlag);
const anyCommandOptionFlags = OPTION_FLAGS.filter(({ setting }) => setting.anyCommand).map(optionFlag);

/** Notes for the caller to log, under this key of `flags` (e.g. a Go flag accepted and ignored). */
export const FLAG_NOTES_KEY = "flagNotes";
/** The files secretFile flags were read from, by option, under this key of `flags`: the keyring's is written back after `goferbroke keys`. */
export const FLAG_FILES_KEY = "flagFiles";

export const FLAG_SPECS: readonly FlagSpec[] = [
  // The Go CLI's flags (behaviour reference §7.1), then our own; help lists them in this order.
  ...goOptionFlags,
  { long: "node-config", go: "nodeConfig", value: "file", scope: "node", help: "node config file (.conf or .json)", store: configFile("node") },
  { long: "cluster-config", go: "clusterConfig", value: "file", scope: "node", help: "cluster config file (.conf or .json)", store: configFile("cluster") },
  {
    long: "profiling-port",
    go: "profilingPort",
    value: "port",
    scope: "node",
    help: "accepted for the Go CLI and ignored (no pprof server here)",
    store: (flags, raw, flag) => {
      const notes = (flags[FLAG_NOTES_KEY] as string[] | undefined) ?? [];
      flags[FLAG_NOTES_KEY] = [...notes, `ignored flag ${flag}=${raw} (the Go CLI's pprof server has no equivalent here)`];
    },
  },
  ...nodeOptionFlags,
  // Everywhere.
  ...anyCommandOptionFlags,
  { long: "help", short: "h", scope: "any", help: "show this help", store: boolean("help") },
  { long: "version", short: "v", scope: "any", help: "show the version", store: boolean("version") },
  // Client commands.
  { long: "client", short: "c", value: "host:port", scope: "client", help: "client port of the node to talk to", store: hostPort("client", 1) },
  { long: "token", value: "token", scope: "client", help: "token for the node's client port", store: text("token", "token") },
  { long: "type", value: VALUE_TYPES.join("|"), scope: "set", help: "value type (default string: no guessing)", store: choice("type", VALUE_TYPES, (raw) => VALUE_TYPE_ALIASES[raw] ?? raw) },
  { long: "json", scope: "client", help: "print the node's answer as JSON", store: boolean("json") },
  { long: "format", value: "text|json", scope: "client", help: "output format (as serf's -format)", store: choice("format", ["text", "json"]) },
  { long: "ttl", value: "duration", scope: "set", help: "expire the entry after this long", store: duration("ttlMs") },
  { long: "coalesce", scope: "event", help: "nodes that fall behind keep only the latest event of this name", store: boolean("coalesce") },
  { long: "wait", value: "duration", scope: "write", help: "answer once every live member holds the write (keys: applied the key change), or after this long (exit 1 then)", store: duration("waitMs") },
  { long: "timeout", value: "duration", scope: "query", help: "wait this long for answers (default 5s, at most 60s)", store: duration("timeoutMs") },
  { long: "node", value: "name", scope: "query", help: "ask only this node, or the nodes a pattern with * and ? matches (repeat for several)", store: list("nodes", "name") },
  { long: "entry", value: "group/key[=value]", scope: "query", help: "ask only nodes that have this entry (with this value); repeat: all must hold", store: list("entries", "group/key[=value]") },
  { long: "ack", scope: "query", help: "ask each node to acknowledge at once, before it answers", store: boolean("ack") },
  { long: "relay", value: "0-5", scope: "query", help: "also send each answer through this many other nodes", store: choice("relay", ["0", "1", "2", "3", "4", "5"]) },
  { long: "prune", scope: "force-leave", help: "also remove the member from every node at once", store: boolean("prune") },
  { long: "force", scope: "force-leave", help: "force out a member that is alive", store: boolean("force") },
];

const SPEC_BY_SHORT = new Map(FLAG_SPECS.flatMap((spec) => (spec.short ? [[spec.short, spec] as const] : [])));
/** Every accepted long spelling (kebab, camelCase, Go) → its spec. */
const SPEC_BY_NAME = new Map(
  FLAG_SPECS.flatMap((spec) => [spec.long, camelCase(spec.long), spec.go ?? spec.long].map((name) => [name, spec] as const)),
);

// ---------------------------------------------------------------------------------------------
// Values

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `1000`, `200ms`, `1.5s`, `2m`, `24h` → whole milliseconds; null if malformed or fractional. */
export function parseDurationMs(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? "ms"] as number);
  return Number.isSafeInteger(ms) ? ms : null;
}

/** Go's strconv.ParseBool spellings. */
function parseGoBool(text: string): boolean | null {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(text)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(text)) return false;
  return null;
}

/** The file's text with one trailing newline removed (editors add one; the secret has none). */
export function readSecretFile(path: string, flag: string): string {
  let content: string;
  try {
    // Required here, not imported at the top: node:fs costs about 3 ms at start-up, and only a
    // secret file needs it (synchronously: flag parsing is).
    const { readFileSync } = require("node:fs") as typeof import("node:fs");
    content = readFileSync(path, "utf8");
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UsageError(`flag ${flag}: cannot read ${JSON.stringify(path)}: ${reason}`, flag);
  }
  return content.replace(/\r?\n$/, "");
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** How a suggestion is spelled: in the style the user typed (`-nodeAddr`, `--node-addr`, `--nodeAddr`). */
function spellLike(typed: string, spec: FlagSpec): string {
  if (!typed.startsWith("--")) return `-${spec.go ?? camelCase(spec.long)}`;
  return /[A-Z]/.test(typed) ? `--${spec.go ?? camelCase(spec.long)}` : `--${spec.long}`;
}

function unknownFlag(flag: string, name: string): UsageError {
  const names = [...SPEC_BY_NAME.keys()];
  const closest = suggestClosest(name, names);
  const spec = closest === undefined ? undefined : SPEC_BY_NAME.get(closest);
  const hint = spec === undefined ? "" : ` (did you mean ${spellLike(flag, spec)}?)`;
  return new UsageError(`unknown flag ${flag}${hint}`, flag);
}

/** One flag as given: its spec, its value (booleans as "true" or "false"), its spelling as typed. */
interface GivenFlag {
  spec: FlagSpec;
  value: string;
  flag: string;
}

/**
 * Go-style pass over the arguments: finds each flag, checks it exists and has its value; the rest,
 * and everything after `--`, are positionals.
 */
function readArguments(argv: readonly string[]): { given: GivenFlag[]; positionals: string[] } {
  const given: GivenFlag[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!token.startsWith("-") || token === "-") {
      positionals.push(token);
      continue;
    }
    const dashes = token.startsWith("--") ? "--" : "-";
    const body = token.slice(dashes.length);
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const flag = `${dashes}${name}`;
    const spec = dashes === "-" && name.length === 1 ? SPEC_BY_SHORT.get(name) : SPEC_BY_NAME.get(name);
    if (spec === undefined) throw unknownFlag(flag, name);

    let value: string;
    if (spec.value === undefined) {
      const parsed = inline === undefined ? true : parseGoBool(inline);
      if (parsed === null) throw bad(flag, inline as string, "true or false");
      value = String(parsed);
    } else if (inline !== undefined) {
      value = inline;
    } else {
      // Like Go, the next argument is the value; unlike Go, one that looks like a flag is taken
      // for a forgotten value (`-nodeAddr -routes …`). Values starting with "-" need `=`.
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("-") && next !== "-")) throw needsValue(flag, spec.value);
      value = next;
      i++;
    }
    given.push({ spec, value, flag });
  }
  return { given, positionals };
}

function checkScope(spec: FlagSpec, flag: string, command: Command | null): void {
  if (spec.scope === "any") return;
  const commands = SCOPE_COMMANDS[spec.scope];
  if (command === null) {
    if (spec.scope === "node") return;
    const where = commands ? `the command${commands.length > 1 ? "s" : ""} ${commands.join(", ")}` : `the commands ${NODE_COMMANDS.join(", ")}`;
    throw new UsageError(`flag ${flag} only applies to ${where}`, flag);
  }
  if (spec.scope === "client" || commands?.includes(command)) return;
  const only = commands ? ` (only to ${commands.join(", ")})` : spec.scope === "node" ? " (only when running a node)" : "";
  throw new UsageError(`flag ${flag} does not apply to command ${command}${only}`, flag);
}

function parseCommand(positionals: string[]): { command: Command | null; rest: string[] } {
  const [first, ...rest] = positionals;
  if (first === undefined) return { command: null, rest: [] };
  if (!(COMMANDS as readonly string[]).includes(first)) {
    const closest = suggestClosest(first, COMMANDS);
    const hint = closest === undefined ? "" : ` (did you mean ${closest}?)`;
    throw new UsageError(`unknown command ${JSON.stringify(first)}${hint}; commands: ${COMMANDS.join(", ")}`);
  }
  return { command: first as Command, rest };
}

/**
 * Parses the arguments after the program name. Flags may come before or after the command;
 * a later flag overrides an earlier one, except -routes, which accumulates. Throws UsageError.
 */
export function parseCliArgs(argv: readonly string[]): ParsedCommandLine {
  const { given, positionals } = readArguments(argv);
  const { command, rest } = parseCommand(positionals);
  const flags: Flags = {};
  const configFiles: ParsedCommandLine["configFiles"] = {};
  for (const { spec, value, flag } of given) {
    checkScope(spec, flag, command);
    spec.store(flags, value, flag, configFiles);
  }
  // After the flags: `config --help` asks for help, not for show or set.
  if (command === "config" && !flags.help && !(CONFIG_SUBCOMMANDS as readonly string[]).includes(rest[0] ?? "")) {
    throw new UsageError(`command config needs ${CONFIG_SUBCOMMANDS.join(" or ")}`);
  }
  return { command, positionals: rest, flags, configFiles };
}

// ---------------------------------------------------------------------------------------------
// Help

/** One line per flag for `--help`: Go spelling first where there is one. */
export function formatFlagHelp(scope: "node" | "client"): string {
  const shown = FLAG_SPECS.filter((spec) =>
    scope === "node" ? spec.scope === "node" || spec.scope === "any" : spec.scope !== "node",
  );
  const lines = shown.map((spec) => {
    const names = [
      spec.go ? `-${spec.go}` : undefined,
      `--${spec.long}`,
      spec.short ? `-${spec.short}` : undefined,
    ].filter((name) => name !== undefined);
    const usage = `${names.join(", ")}${spec.value ? ` ${spec.value}` : ""}`;
    return { usage, help: spec.help };
  });
  const width = Math.max(...lines.map((line) => line.usage.length));
  return lines.map((line) => `  ${line.usage.padEnd(width)}  ${line.help}`).join("\n");
}

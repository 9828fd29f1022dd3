// The help texts: `goferbroke --help` / `goferbroke help` for the overview, and
// `goferbroke help CMD` / `goferbroke CMD --help` for one command, as serf, consul and nats do.
// The flag lines come from the flag table (flags.ts), so a new flag cannot be left out.

import { COMMANDS, FLAG_SPECS, NODE_COMMANDS, UsageError, formatFlagHelp, type Command } from "../config/flags.ts";
import { ENV_PREFIX, OPTION_SETTINGS, envNameOf } from "../config/options-table.ts";
import { suggestClosest } from "../config/suggest.ts";
import { TLS_HELP, TLS_USAGE } from "./tls-help.ts";

interface CommandHelp {
  /** The arguments after the command name. */
  usage: string;
  summary: string;
  /** What the summary leaves out: argument meanings, output, exit codes. */
  details: string;
}

const CLIENT_ENV = `Environment:
  GOFERBROKE_CLIENT          default for --client (otherwise 127.0.0.1:8080)
  GOFERBROKE_CLIENT_TOKEN    default for --token`;

const COMMAND_HELP: Record<Command, CommandHelp> = {
  members: {
    usage: "",
    summary: "list the cluster's members as this node sees them",
    details: "Prints NAME, ADDRESS, STATE (alive, suspect, dead, left), PHI, GENERATION and HEARTBEAT AGE;\nwith --json, the node's /v1/members answer.",
  },
  get: {
    usage: "<node> <group> <key>",
    summary: "print one entry of a node",
    details: "Prints the value (strings as they are, other types as JSON); with --json, {value, type, version} (and expiresAt, ms, for a TTL entry).\nExits 1 when the node or entry is unknown.",
  },
  set: {
    usage: "<group> <key> <value>",
    summary: "write an entry of the node",
    details:
      "The value is stored as a STRING unless --type says otherwise: `set features dark-mode true`\n" +
      'stores the text "true"; `set --type bool features dark-mode true` stores a boolean.\n' +
      "Nothing is guessed, so \"1.10\" or \"007\" stay as written. Types: string, bytes, int, float, bool, json.\n" +
      "A value starting with \"-\" goes after --: `set --type int -- app offset -5`.",
  },
  delete: {
    usage: "<group> <key>",
    summary: "delete an entry of the node",
    details: "Exits 1 when the node has no such entry.",
  },
  keys: {
    usage: "[node] | list|install|use|remove [key]",
    summary: "list every node's entries, or one node's; or manage the encryption keyring",
    details:
      "keys [node]: one line per entry: node, group/key, type, version, value as JSON; with --json, the\n" +
      "node's /v1/state answer (node → group → key → {value, type, version, expiresAt?}).\n" +
      "keys list|install|use|remove: the encryption keyring of every member, on a node run with\n" +
      "--encrypt-key-file. Rotate with: install NEW, use NEW, remove OLD. install takes the base64 key\n" +
      "(- reads it from standard input); use and remove take the key or its fingerprint (list shows\n" +
      "fingerprints, never keys). Each change is sent to every member over encrypted connections and\n" +
      "written to each member's key file; the report names who applied it, who refused and why, and\n" +
      "who did not answer within --wait (default 5s), and the command exits 1 unless all applied it.\n" +
      "Removing the primary key is refused. Nodes named list, install, use or remove: see their\n" +
      "entries with keys --json.",
  },
  watch: {
    usage: "",
    summary: "print the node's events as JSON lines until interrupted",
    details: "Exits 1 with a message when the node goes away.",
  },
  event: {
    usage: "<name> [payload]",
    summary: "broadcast a user event to every live node",
    details: "Every live node raises it once (goferbroke watch shows it). Names are at most 128 bytes,\npayloads at most 8 KiB; --coalesce lets nodes that fall behind keep only the latest of the name.",
  },
  query: {
    usage: "<name> [payload]",
    summary: "ask live nodes a question and print their answers as they come",
    details:
      "Every live node (the one at --client included) that --node and --entry select is asked; each\n" +
      "answers with its onQuery() handler, or a goferbroke daemon with the stdout of the command its\n" +
      "--query-handler NAME=COMMAND names (run by sh -c, the payload on stdin, GOFERBROKE_QUERY_NAME,\n" +
      "GOFERBROKE_QUERY_FROM and GOFERBROKE_NODE set); a node without one says so. Prints each\n" +
      "ack (with --ack), answer and error as it arrives, then a summary; on a terminal a progress line\n" +
      "shows the counts meanwhile. With --json, one JSON object per line (payloads in base64), the last\n" +
      "being the summary. Exits 1 when a node asked did not answer by the timeout or answered with an error.",
  },
  config: {
    usage: "show | set key=value...",
    summary: "show or change the cluster config",
    details:
      "config show prints the cluster config document {version, origin, settings}.\n" +
      "config set changes cluster settings (fanout=3 gossipIntervalMs=500 ...); values are JSON when\n" +
      "they parse as JSON, text otherwise. Every node of the cluster adopts the change.",
  },
  health: {
    usage: "",
    summary: "check that the node runs (its /healthz): exit 0 if so, 1 if not",
    details: "For container health checks and supervisors: prints \"ok NODE\", or why not, and exits 1 when the\nnode is stopping or its client port does not answer.",
  },
  join: {
    usage: "<host:port>...",
    summary: "make the node dial these addresses now and join their cluster",
    details: "Prints how many of the addresses answered (\"reached 2 of 3\"); exits 1 when none did.",
  },
  "force-leave": {
    usage: "[--prune] [--force] <node>",
    summary: "mark a failed or dead member left on every node",
    details:
      "The decision travels as a versioned fact, so nodes partitioned now apply it when they reconnect.\n" +
      "--prune also removes the member from every node at once. A member that is alive is refused\n" +
      "(exit 1) unless --force is given.",
  },
  help: {
    usage: "[command]",
    summary: "show this help, or one command's",
    details: "",
  },
  version: {
    usage: "",
    summary: "print the version, the build's commit and the platform",
    details: "",
  },
};

function commandLine(command: Command): string {
  const { usage } = COMMAND_HELP[command];
  return usage === "" ? command : `${command} ${usage}`;
}

/** The environment variable each node flag has: GOFERBROKE_ and the flag's name in capitals. */
/** Every variable a node reads (from the options table, plus the config file paths), with its flag. */
export function nodeFlagEnvironment(): { flag: string; variable: string }[] {
  return [
    ...OPTION_SETTINGS.map(({ setting }) => ({ flag: setting.envOnly ? "(variable only)" : `--${setting.name}`, variable: envNameOf(setting) })),
    { flag: "--node-config", variable: `${ENV_PREFIX}NODE_CONFIG` },
    { flag: "--cluster-config", variable: `${ENV_PREFIX}CLUSTER_CONFIG` },
  ];
}

export function overviewHelp(): string {
  const commands = [...COMMANDS.map((command) => ({ line: commandLine(command), summary: COMMAND_HELP[command].summary })), TLS_USAGE];
  const width = Math.max(...commands.map((command) => command.line.length));
  const environment = nodeFlagEnvironment();
  const envWidth = Math.max(...environment.map((entry) => entry.variable.length));
  return [
    "goferbroke: anti-entropy gossip node",
    "",
    "Usage:",
    "  goferbroke [flags]                     run a node (Go flags: -mode -name -nodeAddr -routes ...)",
    "  goferbroke <command> [args] [flags]    talk to a running node through its client port",
    "",
    "Commands:",
    ...commands.map((command) => `  ${command.line.padEnd(width)}  ${command.summary}`),
    "",
    "Node flags:",
    formatFlagHelp("node"),
    "",
    "Node environment (a flag wins over its variable; every option has one, see README):",
    ...environment.map((entry) => `  ${entry.variable.padEnd(envWidth)}  ${entry.flag}`),
    "",
    "Nodes open no client port unless given -clientPort; the commands dial 127.0.0.1:8080 unless",
    "given --client, so start a node with -clientPort 8080 to use them without flags.",
    "",
    CLIENT_ENV,
    "",
    "Exit codes: 0 ok, 2 usage or configuration error, 1 runtime failure.",
    "Run 'goferbroke help <command>' for a command's arguments and flags.",
  ].join("\n");
}

export function commandHelp(command: Command): string {
  const { summary, details } = COMMAND_HELP[command];
  const sections = [`Usage: goferbroke ${commandLine(command)}${NODE_COMMANDS.includes(command) ? " [flags]" : ""}`, "", `${summary[0]!.toUpperCase()}${summary.slice(1)}.`];
  if (details !== "") sections.push("", details);
  if (NODE_COMMANDS.includes(command)) {
    const flags = formatFlagHelp("client")
      .split("\n")
      .filter((line) => command === "set" || !/^\s+--(type|ttl)\b/.test(line))
      .filter((line) => command === "set" || command === "config" || command === "keys" || !/^\s+--wait\b/.test(line))
      .filter((line) => command === "event" || !/^\s+--coalesce\b/.test(line))
      .filter((line) => command === "query" || !/^\s+--(timeout|node|entry|ack|relay)\b/.test(line))
      .filter((line) => command === "force-leave" || !/^\s+--(prune|force)\b/.test(line));
    sections.push("", "Flags:", ...flags, "", CLIENT_ENV);
  }
  return sections.join("\n");
}

/** `help <name>`: that command's help; a usage error naming the commands for an unknown one. */
export function helpFor(name: string | undefined): string {
  if (name === undefined) return overviewHelp();
  // `tls` has flags of its own and is dispatched before the flag parser (main.ts), so it is not a Command.
  if (name === "tls") return TLS_HELP;
  if ((COMMANDS as readonly string[]).includes(name)) return commandHelp(name as Command);
  const topics = [...COMMANDS, "tls"];
  const closest = suggestClosest(name, topics);
  throw new UsageError(`help: unknown command ${JSON.stringify(name)}${closest === undefined ? "" : ` (did you mean ${closest}?)`}; commands: ${topics.join(", ")}`);
}

// docs/CONFIGURATION.md is generated from the options table (src/config/options-table.ts), the
// flags (src/config/flags.ts) and the Go names (src/config/go-names.ts), so it cannot drift:
//   npx bun scripts/options-doc.ts      rewrites it
// test/config-table.test.ts checks that the committed file is what this renders.
import { join } from "node:path";
import { FLAG_SPECS } from "../src/config/flags.ts";
import { IGNORED_GO_KEYS } from "../src/config/go-names.ts";
import { CLUSTER_CONFIG_ENV, NODE_CONFIG_ENV } from "../src/config/merge.ts";
import {
  OPTIONS,
  OPTION_NAMES,
  OPTION_SETTINGS,
  camelCase,
  envNameOf,
  rangeText,
  type OptionSetting,
  type OptionSpec,
  type TextForm,
} from "../src/config/options-table.ts";

export const configurationDocPath = join(import.meta.dir, "..", "docs", "CONFIGURATION.md");

/** How a flag or variable writes each form of value. */
const FORM_TEXT: Record<TextForm, string> = {
  text: "text",
  choice: "one of the values",
  network: "one of the values, any letter case",
  listenAddress: "host:port",
  dialAddress: "host:port",
  addressList: "host:port,host:port,… (the flag may repeat)",
  port: "port number; empty means 0",
  host: "host name or IP address",
  integer: "whole number",
  number: "number",
  duration: "duration: `1000` (ms), `200ms`, `1.5s`, `2m`, `24h`",
  boolean: "`true`/`false` (the flag alone means true; the variable also takes `1`/`0`)",
  json: "JSON object",
  secretFile: "path to a file holding it (one trailing newline dropped)",
  queryHandler: "`NAME=COMMAND`; the flag may repeat, the variable holds one entry per line",
};

function code(text: string): string {
  return `\`${text}\``;
}

/** A table cell: pipes escaped, so the row keeps its columns. */
function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

function row(cells: readonly string[]): string {
  return `| ${cells.map(cell).join(" | ")} |`;
}

function typeOf(spec: OptionSpec): string {
  switch (spec.kind) {
    case "integer":
      return spec.unit === "ms" || spec.unit === "bytes" ? `integer (${spec.unit})` : "integer";
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "choice":
      return "string";
    case "custom":
      return spec.type;
  }
}

function defaultOf(spec: OptionSpec): string {
  const fixed = spec.default === undefined ? undefined : code(JSON.stringify(spec.default));
  if (fixed !== undefined && spec.defaultText !== undefined) return `${fixed}, ${spec.defaultText}`;
  return fixed ?? spec.defaultText ?? "none";
}

function acceptedOf(spec: OptionSpec): string {
  // The unit is in the Type column already, except a note such as clientPort's "(0 = ephemeral)".
  const inType = spec.kind === "integer" && (spec.unit === "ms" || spec.unit === "bytes");
  const base =
    spec.kind === "integer" || spec.kind === "number"
      ? inType
        ? `${spec.min} to ${spec.max}`
        : rangeText(spec).replace(/^from /, "")
      : spec.kind === "choice"
        ? `one of ${spec.values.map(code).join(", ")}`
        : spec.kind === "boolean"
          ? "`true` or `false`"
          : "";
  return [base, spec.accepted].filter((part) => part !== undefined && part !== "").join("; ");
}

function flagOf(setting: OptionSetting): string {
  if (setting.envOnly) return "—";
  const spellings = [setting.goFlag ? `-${camelCase(setting.name)}` : undefined, `--${setting.name}`];
  return spellings.filter((name) => name !== undefined).map(code).join(", ");
}

function optionsTable(): string[] {
  const lines = [row(["Option", "Type", "Default", "Accepted", "Scope", "Description"]), "|---|---|---|---|---|---|"];
  for (const name of OPTION_NAMES) {
    const spec: OptionSpec = OPTIONS[name];
    lines.push(row([code(name), typeOf(spec), defaultOf(spec), acceptedOf(spec), spec.scope, spec.doc]));
  }
  return lines;
}

function settingsTable(): string[] {
  const lines = [row(["Option", "Flag", "Environment variable", "Value"]), "|---|---|---|---|"];
  for (const { option, setting } of OPTION_SETTINGS) {
    const target = setting.field === undefined ? option : `${option}.${setting.field}`;
    lines.push(row([code(target), flagOf(setting), code(envNameOf(setting)), FORM_TEXT[setting.form]]));
  }
  return lines;
}

function otherFlagsTable(): string[] {
  const optionFlags = new Set(OPTION_SETTINGS.map(({ setting }) => setting.name));
  const lines = [row(["Flag", "Value", "Meaning"]), "|---|---|---|"];
  for (const spec of FLAG_SPECS) {
    if (optionFlags.has(spec.long)) continue;
    const names = [spec.go ? `-${spec.go}` : undefined, `--${spec.long}`, spec.short ? `-${spec.short}` : undefined];
    lines.push(row([names.filter((name) => name !== undefined).map(code).join(", "), spec.value ?? "", spec.help]));
  }
  return lines;
}

function goNamesTable(): string[] {
  const lines = [row(["Go field", "File", "Option"]), "|---|---|---|"];
  for (const option of OPTION_NAMES) {
    for (const name of (OPTIONS[option] as OptionSpec).go ?? []) {
      const target = name.unusedInGo
        ? `ignored: the Go original never read it (see ${code(`${option}.${name.unusedInGo.field}`)})`
        : code(option);
      lines.push(row([code(name.key), name.file, target]));
    }
  }
  return lines;
}

export function renderConfigurationDoc(): string {
  const unusedInGo = new Set(OPTION_NAMES.flatMap((option) => ((OPTIONS[option] as OptionSpec).go ?? []).filter((name) => name.unusedInGo).map((name) => name.key)));
  const ignored = IGNORED_GO_KEYS.filter((key) => !unusedInGo.has(key)).map(code);
  return [
    "# Configuration reference",
    "",
    "<!-- Generated from src/config/options-table.ts by `npx bun scripts/options-doc.ts`; do not edit by hand.",
    "     test/config-table.test.ts fails when this file and the code disagree. -->",
    "",
    "A node's options come from, highest precedence first: command-line flags, environment",
    "variables, the node config file, the cluster config file, and the defaults below. With",
    "`createNode()` they are one object (docs/API.md). Options of scope **cluster** belong to the",
    "cluster config document, shared by every node and changed at run time with",
    "`updateClusterConfig()` or `goferbroke config set`; **node** options are each node's own.",
    "Integers must be whole numbers; every bound is inclusive.",
    "",
    "## Options",
    "",
    ...optionsTable(),
    "",
    "## Flags and environment variables",
    "",
    "Every flag is accepted as `--kebab-case`, `-kebab-case` and `-camelCase`; the Go CLI's own flags",
    "are listed by their Go spelling first. Flags take `-flag value` or `-flag=value`; a value that",
    "starts with `-` needs `=`. An environment variable set to the empty string counts as unset.",
    "",
    ...settingsTable(),
    "",
    `The config files can also be named by ${code(NODE_CONFIG_ENV)} and ${code(CLUSTER_CONFIG_ENV)}, when no`,
    "flag names them. Unknown `GOFERBROKE_` variables are logged with the closest known name.",
    "",
    "Other flags:",
    "",
    ...otherFlagsTable(),
    "",
    "## Go config names",
    "",
    "Config files (`.conf` or `.json`) may use our option names or the Go original's field names.",
    "`SeedServers` entries `{Host, Port}` become `host:port`; `Host` and `Port` together make",
    "`address`; `IsSeed` makes `mode`; network types may be names or the Go enum numbers.",
    "",
    ...goNamesTable(),
    "",
    `Ignored with a note, as they have no equivalent here: ${ignored.join(", ")}.`,
    "",
  ].join("\n");
}

if (import.meta.main) {
  await Bun.write(configurationDocPath, renderConfigurationDoc());
  console.log("docs/CONFIGURATION.md written from the options table");
}

// The options table (src/config/options-table.ts) against everything that restates an option:
// the schemas and defaults, the cluster scope, every flag and environment variable (through the
// real parsers and the real merge), the Go config names, the settings the layers take, the
// membership defaults, and docs/CONFIGURATION.md. Expected values come from the table, so a
// change to the table must be honoured everywhere for these to pass.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configurationDocPath, renderConfigurationDoc } from "../scripts/options-doc.ts";
import { parseCliArgs } from "../src/config/flags.ts";
import { CLUSTER_TOP_LEVEL_GO_KEYS, NODE_TOP_LEVEL_GO_KEYS, normaliseGoConfig } from "../src/config/go-names.ts";
import { resolveNodeOptions } from "../src/config/merge.ts";
import {
  OPTIONS,
  OPTION_NAMES,
  OPTION_SETTINGS,
  envNameOf,
  rangeText,
  type OptionName,
  type OptionSetting,
  type OptionSpec,
} from "../src/config/options-table.ts";
import { CLUSTER_SETTING_KEYS, parseClusterConfigPatch, parseNodeOptions, validateOptionsLayer } from "../src/config/schema.ts";
import { defaultMembershipSettings } from "../src/membership/membership.ts";
import { gossipSettingsOf, membershipSettingsOf, stateLimitsOf } from "../src/settings.ts";

const spec = (name: OptionName): OptionSpec => OPTIONS[name];
/** Options valid only beside another (the plain window needs a keyring): what each test adds for them. */
const PREREQUISITES: Partial<Record<OptionName, { options: Record<string, unknown>; env: Record<string, string> }>> = {
  encryptPlainWindow: { options: { encryptKeys: Buffer.alloc(32, 7).toString("base64") }, env: { GOFERBROKE_ENCRYPT_KEYS: Buffer.alloc(32, 7).toString("base64") } },
};

let tempDir = "";
beforeAll(() => {
  tempDir = mkdtempSync(join(tmpdir(), "goferbroke-table-"));
});
afterAll(() => {
  rmSync(tempDir, { recursive: true, force: true });
});

describe("schemas and defaults", () => {
  test("parsing nothing gives each table default; options without one stay unset", () => {
    const options = parseNodeOptions({}) as Record<string, unknown>;
    let fixed = 0;
    for (const name of OPTION_NAMES) {
      const declared = spec(name).default;
      if (declared !== undefined) fixed++;
      // name's default is computed (the host name); it is the only option with one besides the table's.
      const expected = declared ?? (name === "name" ? options.name : undefined);
      expect({ name, value: options[name] }).toEqual({ name, value: expected });
    }
    expect(fixed).toBeGreaterThanOrEqual(20);
  });

  test("numeric bounds: each bound is accepted, just outside it is refused with the table's range", () => {
    for (const name of OPTION_NAMES) {
      const option = spec(name);
      if (option.kind !== "integer" && option.kind !== "number") continue;
      // Each option on its own (constraints between options, such as maxGossipBytes <= maxFrameBytes, aside).
      for (const bound of [option.min, option.max]) {
        expect({ name, issues: validateOptionsLayer({ [name]: bound }).issues }).toEqual({ name, issues: [] });
      }
      for (const outside of [option.min - 1, option.max + 1]) {
        expect(() => parseNodeOptions({ [name]: outside })).toThrow(`invalid option ${name}: expected a number ${rangeText(option)}, got ${outside}`);
      }
    }
  });

  test("closed sets and booleans: each value is accepted, anything else names the set", () => {
    for (const name of OPTION_NAMES) {
      const option = spec(name);
      if (option.kind === "choice") {
        for (const value of option.values) expect(parseNodeOptions({ ...PREREQUISITES[name]?.options, [name]: value })[name]).toBe(value as never);
        expect(() => parseNodeOptions({ [name]: "nope" })).toThrow(`invalid option ${name}: expected one of ${option.values.join(", ")}, got "nope"`);
      } else if (option.kind === "boolean") {
        expect(parseNodeOptions({ [name]: !option.default })[name]).toBe(!option.default as never);
        expect(() => parseNodeOptions({ [name]: "yes" })).toThrow(`invalid option ${name}: expected true or false, got "yes"`);
      }
    }
  });

  test("cluster scope: CLUSTER_SETTING_KEYS are the table's cluster options, and patches refuse node options", () => {
    expect<string[]>([...CLUSTER_SETTING_KEYS]).toEqual(OPTION_NAMES.filter((name) => spec(name).scope === "cluster"));
    for (const name of OPTION_NAMES.filter((option) => spec(option).scope === "node")) {
      expect(() => parseClusterConfigPatch({ [name]: 1 })).toThrow(`invalid option ${name}: not a cluster setting (it is set per node)`);
    }
  });
});

// ---------------------------------------------------------------------------------------------

/** A valid value for one option, other than its default where it can be, as the option holds it. */
function sampleValue(name: OptionName, setting: OptionSetting): unknown {
  const option = spec(name);
  switch (setting.form) {
    case "integer":
    case "number":
    case "duration":
    case "port": {
      if (option.kind !== "integer" && option.kind !== "number") throw new Error(`${name} is not numeric`);
      // Bounds that other options narrow (maxGossipBytes <= maxFrameBytes …) are noted in `accepted`.
      return option.accepted === undefined ? option.max : option.min;
    }
    case "choice":
    case "network":
      if (option.kind !== "choice") throw new Error(`${name} has no values`);
      return option.values.find((value) => value !== option.default && value !== "PRIVATE" && value !== "PUBLIC");
    case "listenAddress":
      return "127.0.0.1:7000";
    case "dialAddress":
      return "127.0.0.2:7001";
    case "addressList":
      return ["127.0.0.1:7002", "127.0.0.1:7003"];
    case "queryHandler":
      return ["uptime=uptime -p, or echo none"]; // one entry: the flag never splits at commas
    case "host":
      return "localhost";
    case "boolean":
      return setting.field !== undefined || option.default !== true;
    case "json":
      return { sample: [1, "two"] };
    case "text":
    case "secretFile":
      if (name === "encryptKeys") return Buffer.alloc(32, 7).toString("base64"); // one 32-byte key
      return name === "tls" ? `sample-${setting.field}.pem` : name === "secret" ? "sixteen-bytes-or-more" : `sample-${name}`;
  }
}

/** The text a flag or variable carries for `value`. */
function sampleText(setting: OptionSetting, value: unknown): string {
  if (setting.form === "secretFile") {
    const path = join(tempDir, `${setting.name}.txt`);
    writeFileSync(path, `${String(value)}\n`);
    return path;
  }
  if (setting.form === "network") return String(value).toLowerCase(); // any letter case
  if (Array.isArray(value)) return value.join(",");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Settings that together set one value: the fields of `tls`, or one setting alone. */
const SETTING_GROUPS = Object.values(
  Object.groupBy(OPTION_SETTINGS, ({ option, setting }) => (setting.field === undefined ? `${option}/${setting.name}` : option)),
).map((group) => group!);

describe("every flag and environment variable sets its option", () => {
  for (const group of SETTING_GROUPS) {
    const option = group[0]!.option;
    const values = group.map(({ setting }) => sampleValue(option, setting));
    const expected = group[0]!.setting.field === undefined
      ? values[0]
      : Object.fromEntries(group.map(({ setting }, i) => [setting.field, values[i]]));
    const names = group.map(({ setting }) => setting.name).join(", ");

    test(`${names} → ${option}`, async () => {
      const env = Object.fromEntries(group.map(({ setting }, i) => [envNameOf(setting), sampleText(setting, values[i])]));
      const fromEnv = await resolveNodeOptions({ env: { ...PREREQUISITES[option]?.env, ...env } });
      expect({ option, value: (fromEnv.options as Record<string, unknown>)[option] }).toEqual({ option, value: expected });

      const flagged = group.filter(({ setting }) => !setting.envOnly);
      if (flagged.length === 0) return;
      const argv = flagged.map(({ setting }) => {
        const text = sampleText(setting, values[group.findIndex((entry) => entry.setting === setting)]);
        return setting.form === "boolean" ? (text === "true" ? `--${setting.name}` : `--${setting.name}=false`) : `--${setting.name}=${text}`;
      });
      const fromFlags = await resolveNodeOptions({ flags: parseCliArgs(argv).flags, env: { ...PREREQUISITES[option]?.env } });
      expect({ option, value: (fromFlags.options as Record<string, unknown>)[option] }).toEqual({ option, value: expected });
    });
  }

  test("environment variable names and flag names are unique", () => {
    const envNames = OPTION_SETTINGS.map(({ setting }) => envNameOf(setting));
    expect(new Set(envNames).size).toBe(envNames.length);
    const flags = OPTION_SETTINGS.map(({ setting }) => setting.name);
    expect(new Set(flags).size).toBe(flags.length);
  });
});

// ---------------------------------------------------------------------------------------------

describe("Go config names", () => {
  /** A tree that sets the Go field `key` (`Cluster.Field` inside its block) to a plausible value. */
  function goTree(key: string, option: OptionName): Record<string, unknown> {
    const value =
      option === "seeds" ? [{ Host: "localhost", Port: "8081" }]
      : option === "mode" ? true
      : option === "clusterNetwork" ? "LOCAL"
      : key === "Host" ? "127.0.0.1"
      : key === "Port" || key === "ClientPort" ? "8081"
      : spec(option).kind === "integer" ? 7
      : "sample";
    const [block, field] = key.split(".") as [string, string | undefined];
    return field === undefined ? { [block]: value } : { [block]: { [field]: value } };
  }

  test("each Go name in the table loads into its option (or is ignored, when Go never read it)", () => {
    let mapped = 0;
    for (const option of OPTION_NAMES) {
      for (const name of spec(option).go ?? []) {
        const result = normaliseGoConfig(goTree(name.key, option), name.file);
        if (name.unusedInGo) {
          expect({ key: name.key, result }).toEqual({ key: name.key, result: { options: {}, ignored: [name.key], unknown: [] } });
        } else {
          expect({ key: name.key, options: Object.keys(result.options), unknown: result.unknown }).toEqual({ key: name.key, options: [option], unknown: [] });
          mapped++;
        }
      }
    }
    expect(mapped).toBeGreaterThanOrEqual(13);
  });

  test("every top-level Go field the loader understands is in the table", () => {
    for (const [file, keys] of [["cluster", CLUSTER_TOP_LEVEL_GO_KEYS], ["node", NODE_TOP_LEVEL_GO_KEYS]] as const) {
      for (const key of keys) {
        if (key === "Cluster" || key === "Internal") continue; // blocks; their fields are checked above
        const listed = OPTION_NAMES.some((option) => (spec(option).go ?? []).some((name) => name.file === file && name.key === key));
        expect({ file, key, listed }).toEqual({ file, key, listed: true });
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("the settings each layer takes", () => {
  // Values other than the defaults, from the table, so each mapping must carry the option through.
  const changed: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) {
    const option = spec(name);
    if (option.kind === "integer" || option.kind === "number") changed[name] = option.accepted === undefined ? option.max : option.min;
    if (option.kind === "boolean") changed[name] = !option.default;
  }
  const options = parseNodeOptions({ ...changed, maxFrameBytes: 16 * 1024 * 1024, maxGossipBytes: 4 * 1024 * 1024 });

  test("gossipSettingsOf, membershipSettingsOf and stateLimitsOf carry the options through", () => {
    expect(gossipSettingsOf(options)).toMatchObject({
      gossipIntervalMs: options.gossipIntervalMs,
      fanout: options.fanout,
      maxGossipBytes: options.maxGossipBytes,
      pushFanout: options.pushFanout,
      flowControl: options.flowControl,
      maxKeyBytes: options.maxKeyBytes,
      maxValueBytes: options.maxValueBytes,
    });
    expect(membershipSettingsOf(options)).toMatchObject({
      phi: {
        threshold: options.phiThreshold,
        acceptablePauseMs: options.acceptablePauseMs,
        minStdDeviationMs: options.minStdDeviationMs,
        firstHeartbeatEstimateMs: options.gossipIntervalMs,
      },
      probeFanout: options.probeFanout,
      probeTimeoutMs: options.probeTimeoutMs,
      deadRemovalMs: options.deadRemovalMs,
    });
    expect(stateLimitsOf(options)).toEqual({
      maxKeyBytes: options.maxKeyBytes,
      maxValueBytes: options.maxValueBytes,
      maxEntriesPerNode: options.maxEntriesPerNode,
      maxGossipBytes: options.maxGossipBytes,
      maxMembers: options.maxMembers,
    });
    // The values really differ from the defaults, so a mapping that ignored its option would fail.
    expect(options.phiThreshold).not.toBe(OPTIONS.phiThreshold.default);
    expect(options.deadRemovalMs).not.toBe(OPTIONS.deadRemovalMs.default);
  });

  /** The membership module's own defaults, under the option names they stand for. */
  const membershipDefaults = {
    phiThreshold: defaultMembershipSettings.phi.threshold,
    acceptablePauseMs: defaultMembershipSettings.phi.acceptablePauseMs,
    minStdDeviationMs: defaultMembershipSettings.phi.minStdDeviationMs,
    probeFanout: defaultMembershipSettings.probeFanout,
    probeTimeoutMs: defaultMembershipSettings.probeTimeoutMs,
    deadRemovalMs: defaultMembershipSettings.deadRemovalMs,
  };
  const tableDefaults = (names: readonly (keyof typeof membershipDefaults)[]): Record<string, number> =>
    Object.fromEntries(names.map((name) => [name, OPTIONS[name].default]));

  test("defaultMembershipSettings agrees with the table (detector and probes)", () => {
    const names = ["phiThreshold", "acceptablePauseMs", "minStdDeviationMs", "probeFanout", "probeTimeoutMs"] as const;
    expect(Object.fromEntries(names.map((name) => [name, membershipDefaults[name]]))).toEqual(tableDefaults(names));
  });

  test("defaultMembershipSettings agrees with the table (deadRemovalMs)", () => {
    expect<Record<string, number>>({ deadRemovalMs: membershipDefaults.deadRemovalMs }).toEqual(tableDefaults(["deadRemovalMs"]));
  });
});

test("docs/CONFIGURATION.md is what scripts/options-doc.ts renders from the table", async () => {
  const rendered = renderConfigurationDoc();
  // Every option and every variable is in it, so an empty rendering cannot pass.
  for (const name of OPTION_NAMES) expect(rendered).toContain(`| \`${name}\` |`);
  for (const { setting } of OPTION_SETTINGS) expect(rendered).toContain(envNameOf(setting));
  // Run `bun scripts/options-doc.ts` after changing the table.
  expect(await Bun.file(configurationDocPath).text()).toBe(rendered);
});

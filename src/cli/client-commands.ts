// Subcommands that talk to a running node through its client port (the admin HTTP API):
//   members | get <node> <group> <key> | set <group> <key> <value> | delete <group> <key>
//   keys [node] | keys list|install|use|remove (keys-command.ts) | watch | config show | config set key=value... | event <name> [payload] | health
//   query <name> [payload] (query-command.ts)
//   join <host:port>... | force-leave [--prune] [--force] <node>
// set and config set take --wait DURATION: answer once every live member holds the write; exit 1
// naming the members that do not when the wait runs out.
// With --json (or --format json), each prints the node's answer as JSON instead of text.
// Exit codes: 0 ok, 2 usage error, 1 the node could not be reached or refused the request.

import { UsageError } from "../config/flags.ts";
import type { AppliedResult } from "../node/applied.ts";
import { AdminClient, ClientError } from "./admin-client.ts";
import { type QueryFlags, runQuery } from "./query-command.ts";
import { KEYRING_ACTIONS, runKeysCommand } from "./keys-command.ts";

export interface ClientFlags extends QueryFlags {
  client?: string;
  token?: string;
  type?: string;
  ttlMs?: number;
  waitMs?: number;
  coalesce?: boolean;
  json?: boolean;
  format?: "text" | "json";
  prune?: boolean;
  force?: boolean;
}

type Entry = { value: unknown; type: string; version: number };
type StateDump = Record<string, Record<string, Record<string, Entry>>>;

export async function runClientCommand(command: string, positionals: string[], flags: ClientFlags, out: (line: string) => void): Promise<void> {
  const api = AdminClient.fromFlags(flags);
  const json = flags.json === true || flags.format === "json";
  const printJson = (value: unknown) => out(JSON.stringify(value, null, 2));
  switch (command) {
    case "members": {
      expectArgs(positionals, [] as const, "members");
      const members = await api.json("GET", "/v1/members");
      return json ? printJson(members) : printMembers(members, out);
    }
    case "get": {
      const [node, group, key] = expectArgs(positionals, ["node", "group", "key"] as const, "get");
      const entry = (await api.json("GET", `/v1/state/${path(node)}/${path(group)}/${path(key)}`)) as Entry;
      if (json) return printJson(entry);
      out(typeof entry.value === "string" ? entry.value : JSON.stringify(entry.value));
      return;
    }
    case "set": {
      const [group, key, value] = expectArgs(positionals, ["group", "key", "value"] as const, "set");
      const type = flags.type ?? "string";
      const query = new URLSearchParams({ type });
      if (flags.ttlMs !== undefined) query.set("ttl", String(Math.round(flags.ttlMs)));
      if (flags.waitMs !== undefined) query.set("wait", `${flags.waitMs}ms`);
      const result = (await api.json("PUT", `/v1/keys/${path(group)}/${path(key)}?${query}`, value, flags.waitMs)) as { version: number; wait?: AppliedResult };
      if (json) printJson({ group, key, type, version: result.version, ...(result.wait ? { wait: result.wait } : {}) });
      else out(`set ${group}/${key} (${type}, version ${result.version})`);
      return reportWait(result.wait, json, out);
    }
    case "delete": {
      const [group, key] = expectArgs(positionals, ["group", "key"] as const, "delete");
      const result = await api.json("DELETE", `/v1/keys/${path(group)}/${path(key)}`);
      if (json) return printJson(result);
      out(`deleted ${group}/${key}`);
      return;
    }
    case "keys": {
      if ((KEYRING_ACTIONS as readonly string[]).includes(positionals[0] ?? "")) return await runKeysCommand(api, positionals, flags.waitMs, json, out);
      if (positionals.length > 1) throw new UsageError(`keys takes at most one argument <node>, got ${positionals.length}`);
      const state = (await api.json("GET", "/v1/state")) as StateDump;
      const only = positionals[0];
      const shown = only === undefined ? state : Object.fromEntries(Object.entries(state).filter(([node]) => node === only));
      if (json) return printJson(shown);
      for (const [node, groups] of Object.entries(shown)) {
        for (const [group, keys] of Object.entries(groups)) {
          for (const [key, entry] of Object.entries(keys)) out(`${node}\t${group}/${key}\t${entry.type}\tv${entry.version}\t${JSON.stringify(entry.value)}`);
        }
      }
      return;
    }
    case "health": {
      expectArgs(positionals, [] as const, "health");
      const health = (await api.json("GET", "/healthz")) as { status: string; node: string };
      return json ? printJson(health) : out(`${health.status} ${health.node}`);
    }
    case "watch":
      expectArgs(positionals, [] as const, "watch");
      return api.watch("/v1/events", out);
    case "event": {
      if (positionals.length < 1 || positionals.length > 2) throw new UsageError(`event needs <name> [payload], got ${positionals.length} argument(s)`);
      const [name, payload = ""] = positionals as [string, string?];
      const query = flags.coalesce === true ? "?coalesce=true" : "";
      const result = (await api.json("POST", `/v1/user-events/${path(name)}${query}`, payload)) as { ltime: number };
      return json ? printJson({ name, ...result }) : out(`sent event ${name} (ltime ${result.ltime})`);
    }
    case "query": {
      if (positionals.length < 1 || positionals.length > 2) throw new UsageError(`query needs <name> [payload], got ${positionals.length} argument(s)`);
      const [name, payload = ""] = positionals as [string, string?];
      return runQuery(api, name, payload, flags, json, out);
    }
    case "config": {
      const [action, ...assignments] = positionals;
      if (action === "show") {
        expectArgs(assignments, [] as const, "config show");
        return printJson(await api.json("GET", "/v1/config"));
      }
      if (action === "set") {
        if (assignments.length === 0) throw new UsageError("config set needs at least one key=value");
        const patch: Record<string, unknown> = {};
        for (const assignment of assignments) {
          const equals = assignment.indexOf("=");
          if (equals <= 0) throw new UsageError(`config set: "${assignment}" is not key=value`);
          patch[assignment.slice(0, equals)] = parseLoose(assignment.slice(equals + 1));
        }
        const route = flags.waitMs === undefined ? "/v1/config" : `/v1/config?wait=${flags.waitMs}ms`;
        const result = (await api.json("PATCH", route, JSON.stringify(patch), flags.waitMs)) as { wait?: AppliedResult };
        printJson(result);
        return reportWait(result.wait, true, out);
      }
      throw new UsageError("command config needs show or set");
    }
    case "join": {
      if (positionals.length === 0) throw new UsageError("join needs at least one <host:port>");
      const result = (await api.json("POST", "/v1/join", JSON.stringify({ addresses: positionals }))) as { reached: number };
      if (json) printJson(result);
      else out(`reached ${result.reached} of ${positionals.length}`);
      if (result.reached === 0) throw new Error(`none of ${positionals.join(", ")} answered`);
      return;
    }
    case "force-leave": {
      const [node] = expectArgs(positionals, ["node"] as const, "force-leave");
      const body = { node, prune: flags.prune === true, force: flags.force === true };
      const result = await api.json("POST", "/v1/force-leave", JSON.stringify(body));
      if (json) return printJson(result);
      out(`${node} marked left${body.prune ? " and pruned" : ""} on every node`);
      return;
    }
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

/** After --wait: a line saying who holds the write; a ClientError (exit 1) naming who does not. */
function reportWait(wait: AppliedResult | undefined, json: boolean, out: (line: string) => void): void {
  if (wait === undefined) return;
  const seconds = (wait.elapsedMs / 1000).toFixed(1);
  if (!wait.applied) throw new ClientError(`not applied everywhere after ${seconds}s: ${wait.missing.join(", ")} did not confirm version ${wait.version} (${wait.holding.length} member(s) did)`);
  if (!json) out(`applied on every live member (${wait.holding.length}) in ${seconds}s`);
}

/** Exactly these positionals: a stray word (`members foo`) is a usage error, not silently dropped. */
function expectArgs<N extends readonly string[]>(positionals: string[], names: N, command: string): { [I in keyof N]: string } {
  if (positionals.length !== names.length) {
    const wanted = names.length === 0 ? "takes no arguments" : `needs ${names.map((name) => `<${name}>`).join(" ")}`;
    throw new UsageError(`${command} ${wanted}, got ${positionals.length} argument(s)`);
  }
  return positionals as { [I in keyof N]: string };
}

function path(segment: string): string {
  return encodeURIComponent(segment);
}

/** config set values: JSON when they parse (numbers, booleans, objects), else plain strings. */
function parseLoose(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function printMembers(members: unknown, out: (line: string) => void): void {
  const rows = (members as { name: string; address: string | null; state: string; phi: number; generation: number; heartbeatAgeMs: number }[]).map((m) => [
    m.name,
    m.address ?? "-",
    m.state,
    m.phi.toFixed(2),
    String(m.generation),
    `${(m.heartbeatAgeMs / 1000).toFixed(1)}s`,
  ]);
  const header = ["NAME", "ADDRESS", "STATE", "PHI", "GENERATION", "HEARTBEAT AGE"];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  for (const row of [header, ...rows]) out(row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd());
}

// Subcommands that talk to a running node through its client port (the admin HTTP API):
//   members | get <node> <group> <key> | set <group> <key> <value> | delete <group> <key>
//   keys [node] | watch | config show | config set key=value...
// Exit codes: 0 ok, 2 usage error, 1 the node could not be reached or refused the request.

import { UsageError } from "../config/flags.ts";

export interface ClientFlags {
  client?: string;
  token?: string;
  type?: string;
  ttlMs?: number;
}

const DEFAULT_CLIENT = "127.0.0.1:8080";
/** The admin API's type names for the CLI's value types. */
const apiTypeNames: Record<string, string> = { string: "string", bytes: "bytes", int64: "int", float64: "float", bool: "bool", json: "json" };

export class ClientError extends Error {
  override readonly name = "ClientError";
}

export async function runClientCommand(command: string, positionals: string[], flags: ClientFlags, out: (line: string) => void): Promise<void> {
  const api = new AdminClient(flags.client ?? process.env.GOFERBROKE_CLIENT ?? DEFAULT_CLIENT, flags.token ?? process.env.GOFERBROKE_CLIENT_TOKEN);
  switch (command) {
    case "members":
      expectArgs(positionals, [] as const, "members");
      return printMembers(await api.json("GET", "/v1/members"), out);
    case "get": {
      const [node, group, key] = expectArgs(positionals, ["node", "group", "key"] as const, "get");
      const entry = (await api.json("GET", `/v1/state/${path(node)}/${path(group)}/${path(key)}`)) as { value: unknown; type: string; version: number };
      out(typeof entry.value === "string" ? entry.value : JSON.stringify(entry.value));
      return;
    }
    case "set": {
      const [group, key, value] = expectArgs(positionals, ["group", "key", "value"] as const, "set");
      const query = new URLSearchParams({ type: apiTypeNames[flags.type ?? "string"] ?? "string" });
      if (flags.ttlMs !== undefined) query.set("ttl", String(Math.round(flags.ttlMs)));
      const result = (await api.json("PUT", `/v1/keys/${path(group)}/${path(key)}?${query}`, value)) as { version: number };
      out(`set ${group}/${key} (version ${result.version})`);
      return;
    }
    case "delete": {
      const [group, key] = expectArgs(positionals, ["group", "key"] as const, "delete");
      await api.json("DELETE", `/v1/keys/${path(group)}/${path(key)}`);
      out(`deleted ${group}/${key}`);
      return;
    }
    case "keys": {
      if (positionals.length > 1) throw new UsageError(`keys takes at most one argument <node>, got ${positionals.length}`);
      const state = (await api.json("GET", "/v1/state")) as Record<string, Record<string, Record<string, { value: unknown; type: string; version: number }>>>;
      const only = positionals[0];
      for (const [node, groups] of Object.entries(state)) {
        if (only !== undefined && node !== only) continue;
        for (const [group, keys] of Object.entries(groups)) {
          for (const [key, entry] of Object.entries(keys)) out(`${node}\t${group}/${key}\t${entry.type}\tv${entry.version}\t${JSON.stringify(entry.value)}`);
        }
      }
      return;
    }
    case "watch":
      expectArgs(positionals, [] as const, "watch");
      return api.stream("/v1/events", out);
    case "config": {
      const [action, ...assignments] = positionals;
      if (action === "show") {
        expectArgs(assignments, [] as const, "config show");
        out(JSON.stringify(await api.json("GET", "/v1/config"), null, 2));
        return;
      }
      if (action === "set") {
        if (assignments.length === 0) throw new UsageError("config set needs at least one key=value");
        const patch: Record<string, unknown> = {};
        for (const assignment of assignments) {
          const equals = assignment.indexOf("=");
          if (equals <= 0) throw new UsageError(`config set: "${assignment}" is not key=value`);
          const raw = assignment.slice(equals + 1);
          patch[assignment.slice(0, equals)] = parseLoose(raw);
        }
        out(JSON.stringify(await api.json("PATCH", "/v1/config", JSON.stringify(patch)), null, 2));
        return;
      }
      throw new UsageError("command config needs show or set");
    }
    default:
      throw new UsageError(`unknown command ${command}`);
  }
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

class AdminClient {
  private readonly base: string;

  constructor(
    address: string,
    private readonly token: string | undefined,
  ) {
    this.base = `http://${address}`;
  }

  async json(method: string, route: string, body?: string): Promise<unknown> {
    const response = await this.request(method, route, body);
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch {
      throw new ClientError(`${method} ${route}: the node answered ${response.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (!response.ok) throw new ClientError(`${method} ${route}: ${response.status} ${(parsed as { error?: string })?.error ?? text}`);
    return parsed;
  }

  /** Prints each server-sent event's JSON on its own line until the node closes the stream. */
  async stream(route: string, out: (line: string) => void): Promise<void> {
    const response = await this.request("GET", route);
    if (!response.ok || !response.body) throw new ClientError(`GET ${route}: ${response.status} ${await response.text()}`);
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of response.body) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith("data:")) out(line.slice(5).trim());
        newline = buffered.indexOf("\n");
      }
    }
  }

  private async request(method: string, route: string, body?: string): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    try {
      return await fetch(`${this.base}${route}`, { method, headers, ...(body !== undefined ? { body } : {}), signal: method === "GET" && route === "/v1/events" ? null : AbortSignal.timeout(10_000) });
    } catch (error) {
      throw new ClientError(`cannot reach the node's client port at ${this.base}: ${(error as Error).message}`);
    }
  }
}

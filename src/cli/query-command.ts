// `goferbroke query <name> [payload]`: sends a query through the node's POST /v1/queries/{name}
// and prints the acks, answers and errors as the NDJSON stream brings them, then the summary. On a
// terminal, a progress line on stderr (rewritten in place) shows the counts while answers come in.
// Exit 1 (a ClientError) when a node asked did not answer by the timeout or answered with an error.

import type { QueryItem, QuerySummary } from "../node/query-run.ts";
import { type AdminClient, ClientError } from "./admin-client.ts";

export interface QueryFlags {
  timeoutMs?: number;
  nodes?: string[];
  entries?: string[];
  ack?: boolean;
  relay?: string;
}

/** The JSON form of an item: payloads are base64. */
type ItemJson = Exclude<QueryItem, { type: "response" }> | { type: "response"; from: string; payload: string; elapsedMs: number };

export async function runQuery(api: AdminClient, name: string, payload: string, flags: QueryFlags, json: boolean, out: (line: string) => void): Promise<void> {
  const query = new URLSearchParams();
  if (flags.timeoutMs !== undefined) query.set("timeout", `${flags.timeoutMs}ms`);
  for (const node of flags.nodes ?? []) query.append("node", node);
  for (const entry of flags.entries ?? []) query.append("entry", entry);
  if (flags.ack === true) query.set("ack", "true");
  if (flags.relay !== undefined) query.set("relay", flags.relay);
  const progress = new ProgressLine(process.stderr.isTTY === true && !json);
  let summary: QuerySummary | undefined;
  const counts = { acked: 0, responded: 0, errors: 0 };
  await api.lines("POST", `/v1/queries/${encodeURIComponent(name)}?${query}`, payload, flags.timeoutMs ?? 5000, (line) => {
    if (line.trim() === "") return;
    const item = JSON.parse(line) as ItemJson;
    if (json) out(line);
    if (item.type === "summary") {
      summary = item;
      return;
    }
    if (item.type === "ack") counts.acked++;
    else if (item.type === "response") counts.responded++;
    else counts.errors++;
    if (!json) progress.around(() => out(describe(item)));
    progress.show(`${counts.acked} acked, ${counts.responded} answered, ${counts.errors} errors, ${(item.elapsedMs / 1000).toFixed(1)}s`);
  });
  progress.clear();
  if (!summary) throw new ClientError(`the node ended the answer to query ${JSON.stringify(name)} before its summary`);
  if (!json) out(`asked ${summary.asked.length}, acked ${summary.acked.length}, answered ${summary.responded.length}, errors ${summary.errors.length}, in ${(summary.elapsedMs / 1000).toFixed(1)}s`);
  const problems: string[] = [];
  if (summary.missing.length > 0) problems.push(`no answer by the timeout from ${summary.missing.join(", ")}`);
  if (summary.errors.length > 0) problems.push(`errors from ${summary.errors.map((error) => error.from).join(", ")}`);
  if (problems.length > 0) throw new ClientError(`query ${name}: ${problems.join("; ")}`);
}

function describe(item: Exclude<ItemJson, { type: "summary" }>): string {
  if (item.type === "ack") return `ack from ${item.from}`;
  if (item.type === "error") return `error from ${item.from}: ${item.error}`;
  return `response from ${item.from}: ${Buffer.from(item.payload, "base64").toString("utf8")}`;
}

/** One line on stderr rewritten in place; does nothing when stderr is not a terminal. */
class ProgressLine {
  private shown = false;

  constructor(private readonly enabled: boolean) {}

  show(text: string): void {
    if (!this.enabled) return;
    process.stderr.write(`\r\x1b[2K${text}`);
    this.shown = true;
  }

  /** Runs `print` (which writes to stdout) with the progress line out of the way. */
  around(print: () => void): void {
    this.clear();
    print();
  }

  clear(): void {
    if (!this.shown) return;
    process.stderr.write("\r\x1b[2K");
    this.shown = false;
  }
}

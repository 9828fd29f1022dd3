// `goferbroke keys list|install|use|remove`: the cluster's encryption keyring through a node's
// client port (/v1/keyring, admin/keyring-api.ts). Rotation: install the new key, use it, remove
// the old one; each step reaches every member and reports who applied it. The key to install is
// an argument, or `-` to read it from standard input (so it stays out of shell history and ps).
// Exits 1, after the report, when a member refused a change or did not answer.

import { UsageError } from "../config/flags.ts";
import type { KeyringReport } from "../node/keyring-ops.ts";
import { type AdminClient, ClientError } from "./admin-client.ts";

export const KEYRING_ACTIONS = ["list", "install", "use", "remove"] as const;
const DEFAULT_WAIT_MS = 5_000;

export async function runKeysCommand(api: AdminClient, positionals: readonly string[], waitMs: number | undefined, json: boolean, out: (line: string) => void): Promise<void> {
  const [action, ...rest] = positionals;
  const timeoutMs = Math.max(1, Math.round(waitMs ?? DEFAULT_WAIT_MS));
  let report: KeyringReport;
  if (action === "list") {
    if (rest.length > 0) throw new UsageError(`keys list takes no arguments, got ${rest.length}`);
    report = (await api.json("GET", `/v1/keyring?timeoutMs=${timeoutMs}`, undefined, timeoutMs)) as KeyringReport;
  } else {
    if (rest.length !== 1) throw new UsageError(`keys ${action} needs <key> (base64${action === "install" ? ", or - to read it from standard input" : " or its fingerprint"}), got ${rest.length} argument(s)`);
    const key = rest[0] === "-" ? await readKeyFromStdin() : rest[0]!;
    report = (await api.json("POST", `/v1/keyring/${action}`, JSON.stringify({ key, timeoutMs }), timeoutMs)) as KeyringReport;
  }
  if (json) out(JSON.stringify(report, null, 2));
  else printReport(report, out);
  const missing = [...report.failed.map((failure) => failure.node), ...report.noAnswer];
  if (missing.length > 0) throw new ClientError(`${report.acknowledged.length} of ${report.asked} members ${report.op === "list" ? "answered" : "applied it"}; not: ${missing.join(", ")}`);
}

function printReport(report: KeyringReport, out: (line: string) => void): void {
  const answered = report.acknowledged.length + report.failed.length;
  if (report.op === "list") out(`${report.acknowledged.length} of ${report.asked} members answered`);
  else out(`${pastTense[report.op]} key ${report.key} on ${report.acknowledged.length} of ${report.asked} members`);
  for (const failure of report.failed) out(`  ${failure.node} refused: ${failure.error}`);
  for (const node of report.noAnswer) out(`  ${node} did not answer`);
  const rows = report.keys.map((key) => [key.id, key.primaryOn === 0 ? "-" : `primary on ${key.primaryOn}/${answered}`, `${key.holders}/${answered}`]);
  const header = ["KEY", "PRIMARY", "HELD BY"];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  for (const row of [header, ...rows]) out(row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd());
}

const pastTense: Record<Exclude<KeyringReport["op"], "list">, string> = { install: "installed", use: "made primary", remove: "removed" };

async function readKeyFromStdin(): Promise<string> {
  const line = (await Bun.stdin.text()).split(/\r?\n/)[0]?.trim() ?? "";
  if (line === "") throw new UsageError("keys: no key on standard input (expected one base64 key on its first line)");
  return line;
}

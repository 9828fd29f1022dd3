// The error that invalid options raise, and how its message shows each problem. Kept apart from
// the schemas (schema.ts re-exports it) so that code which only reports, like the CLI's error
// handling, does not build them.

export interface OptionsIssue {
  /** Dotted option path: `gossipIntervalMs`, `tls.caFile`, `seeds[1]`, `app.limits.max`. */
  path: string;
  /** The value that was given (undefined when it is missing). */
  value: unknown;
  /** The expected form, e.g. "a number from 100 to 60000 (ms)". */
  expected: string;
  /** Replaces "expected …, got …" for issues about the key itself, e.g. "unknown option". */
  problem?: string;
  /** Where the value came from, when options were merged from several sources. */
  source?: string;
}

/** Options that failed validation; the message lists every issue, joined by "; ". */
export class OptionsError extends Error {
  override readonly name = "OptionsError";
  readonly issues: OptionsIssue[];

  constructor(issues: OptionsIssue[]) {
    super(issues.map(formatIssue).join("; "));
    this.issues = issues;
  }
}

// Values of these options are never echoed into messages or logs.
const SECRET_PATHS = new Set(["secret", "clientToken", "encryptKeys"]);
const MAX_SHOWN_VALUE_CHARS = 120;

/**
 * `invalid option <path>: expected <form>, got <value>`, or `invalid option <path>: <problem>`;
 * followed by ` (from <source>)` when the source is known.
 */
export function formatIssue(issue: OptionsIssue): string {
  const subject = issue.path === "" ? "invalid options" : `invalid option ${issue.path}`;
  const body = issue.problem ?? `expected ${issue.expected}, got ${describeValue(issue.value, issue.path)}`;
  return `${subject}: ${body}${issue.source === undefined ? "" : ` (from ${issue.source})`}`;
}

/** The value as JSON (shortened past 120 characters), or its typeof when JSON cannot show it. */
export function describeValue(value: unknown, path = ""): string {
  if (SECRET_PATHS.has(path) && value !== undefined) {
    return typeof value === "string" ? `a string of ${utf8Bytes(value)} bytes` : typeof value;
  }
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (value === undefined || typeof value === "function" || typeof value === "symbol" || typeof value === "bigint") {
    return typeof value;
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined; // cycles
  }
  if (json === undefined) return typeof value;
  return json.length > MAX_SHOWN_VALUE_CHARS ? `${json.slice(0, MAX_SHOWN_VALUE_CHARS - 1)}…` : json;
}

/** Length in UTF-8 bytes, the unit the byte limits are given in. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

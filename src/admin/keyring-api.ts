// The keyring routes of /v1 (`goferbroke keys`, node/keyring-ops.ts):
//   GET  /v1/keyring?timeoutMs=          the keys the members hold → a KeyringReport
//   POST /v1/keyring/install             body {key, timeoutMs?}: the base64 key → a KeyringReport
//   POST /v1/keyring/use                 body {key, timeoutMs?}: the key or its fingerprint
//   POST /v1/keyring/remove              body {key, timeoutMs?}: the key or its fingerprint
// A report is returned whatever the members answered (who applied it, who refused and why, who
// did not answer): the change happened where it was applied. 409 when this node refuses it (no
// encryption, its primary removed, a key it does not hold made primary), 400 for a bad key.
// Keys reach this route in the request body only, never in a URL that logs and proxies keep.

import type { Node } from "../create-node.ts";
import type { KeyringOptions, KeyringReport } from "../node/keyring-ops.ts";
import { KeyringChangeError } from "../transport/keyring.ts";
import { HttpError, jsonResponse, parseJsonBody, readBody } from "./http.ts";

const KEYRING_BODY_LIMIT_BYTES = 4096;
/** Longer than any client should wait on one change; the CLI's own timeout is below it. */
const MAX_TIMEOUT_MS = 60_000;
const CHANGES = ["install", "use", "remove"] as const;
type Change = (typeof CHANGES)[number];

export async function listKeys(node: Node, url: URL): Promise<Response> {
  for (const name of url.searchParams.keys()) {
    if (name !== "timeoutMs") throw new HttpError(400, `unknown query parameter ${JSON.stringify(name)} (known: timeoutMs)`);
  }
  const timeout = url.searchParams.get("timeoutMs");
  return await answer(() => node.keys.list(timeoutOption(timeout === null ? undefined : Number(timeout))));
}

export async function changeKeys(node: Node, request: Request, op: string): Promise<Response> {
  if (!(CHANGES as readonly string[]).includes(op)) throw new HttpError(404, `no such keyring change ${JSON.stringify(op.slice(0, 40))} (known: ${CHANGES.join(", ")})`);
  const body = parseJsonBody(await readBody(request, KEYRING_BODY_LIMIT_BYTES)) as { key?: unknown; timeoutMs?: unknown } | null;
  const { key, timeoutMs } = body ?? {};
  if (typeof key !== "string" || (timeoutMs !== undefined && typeof timeoutMs !== "number")) {
    throw new HttpError(400, `body must be {"key": "…", "timeoutMs": 5000} (timeoutMs optional): the base64 key${op === "install" ? "" : " or its fingerprint"}`);
  }
  return await answer(() => node.keys[op as Change](key, timeoutOption(timeoutMs as number | undefined)));
}

function timeoutOption(timeoutMs: number | undefined): KeyringOptions {
  if (timeoutMs === undefined) return {};
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) throw new HttpError(400, `timeoutMs must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}`);
  return { timeoutMs };
}

async function answer(run: () => Promise<KeyringReport>): Promise<Response> {
  try {
    return jsonResponse(await run());
  } catch (error) {
    if (error instanceof KeyringChangeError) throw new HttpError(409, error.message);
    if (error instanceof RangeError) throw new HttpError(400, error.message);
    throw error;
  }
}

// ?wait= on the write routes (PUT /v1/keys, PATCH /v1/config): answer once every live member
// holds the write (Node.waitApplied), or at the deadline. 200 when applied everywhere, 202 (the
// write stands, but not every member confirmed it) with the members missing otherwise.

import type { Server } from "bun";
import { parseDurationMs } from "../config/flags.ts";
import type { Node } from "../create-node.ts";
import { HttpError, jsonResponse } from "./http.ts";

/** Longest ?wait=: a request is not meant to stand in for a watch. */
export const MAX_WAIT_MS = 60_000;
/** Seconds beyond the wait before the server's idle timeout may end the request. */
const IDLE_SLACK_SECONDS = 5;

/** The wait in ms from ?wait= (`5s`, `500ms`, `1500`), or undefined when absent. */
export function parseWait(url: URL): number | undefined {
  const text = url.searchParams.get("wait");
  if (text === null) return undefined;
  const ms = parseDurationMs(text);
  if (ms === null || ms > MAX_WAIT_MS) {
    throw new HttpError(400, `wait must be a duration such as 5s or 500ms, at most ${MAX_WAIT_MS / 1000}s; got ${JSON.stringify(text.slice(0, 40))}`);
  }
  return ms;
}

/**
 * Answers `body` plus `wait: AppliedResult` once every live member holds `version` of the node's
 * state (0: every write so far, as for a write flow control holds back) or `waitMs` passed.
 */
export async function respondWhenApplied(node: Node, version: number, body: Record<string, unknown>, waitMs: number, request: Request, server: Server<undefined>): Promise<Response> {
  server.timeout(request, Math.ceil(waitMs / 1000) + IDLE_SLACK_SECONDS);
  const result = await node.waitApplied(version, { timeoutMs: waitMs });
  return jsonResponse({ ...body, wait: result }, result.applied ? 200 : 202);
}

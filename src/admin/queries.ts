// POST /v1/queries/{name} (body = the payload) and GET /v1/queries/{name}?payload= (for
// EventSource): sends a query (node.query) and streams its items as they come, one JSON object per
// item (ack, response, error; payloads as base64, see json.ts), the last being the summary. The
// stream is NDJSON, or server-sent events (one `data:` line per item) when the request accepts
// text/event-stream or says ?format=sse; an EventSource must close itself on the summary, or it
// would reconnect and ask again.
//
// Query parameters: timeout (5s, 500ms; default 5s, at most 60s), node (a name or a pattern with *
// and ?; repeat for several), entry (group/key=value, or group/key for "has the entry"; repeat for
// several, all must hold), ack=true (ask for acks), relay (0 to 5), format (ndjson or sse),
// payload (GET only).

import type { Server } from "bun";
import { MAX_QUERY_PAYLOAD_BYTES } from "../codec/index.ts";
import { parseDurationMs } from "../config/flags.ts";
import type { Node } from "../create-node.ts";
import type { EntryCondition } from "../node/query-filter.ts";
import { DEFAULT_QUERY_TIMEOUT_MS, MAX_QUERY_TIMEOUT_MS, type QueryOptions } from "../node/queries.ts";
import type { QueryItem } from "../node/query-run.ts";
import { HttpError, readBody } from "./http.ts";
import { toJson } from "./json.ts";

const KNOWN_PARAMETERS = ["timeout", "node", "entry", "ack", "relay", "format", "payload"];
/** Seconds beyond the query's timeout before the server's idle timeout may end the stream. */
const IDLE_SLACK_SECONDS = 5;
const encoder = new TextEncoder();

export async function queryStream(node: Node, request: Request, url: URL, server: Server<undefined>, name: string): Promise<Response> {
  const params = url.searchParams;
  for (const parameter of params.keys()) {
    if (!KNOWN_PARAMETERS.includes(parameter)) throw new HttpError(400, `unknown query parameter ${JSON.stringify(parameter.slice(0, 40))} (known: ${KNOWN_PARAMETERS.join(", ")})`);
  }
  if (request.method !== "GET" && params.has("payload")) throw new HttpError(400, "payload goes in the request body of a POST; ?payload= is for GET");
  const options = queryOptions(params);
  const payload = request.method === "GET" ? encoder.encode(params.get("payload") ?? "") : await readBody(request, MAX_QUERY_PAYLOAD_BYTES);
  if (payload.byteLength > MAX_QUERY_PAYLOAD_BYTES) throw new HttpError(413, `payload of ${payload.byteLength} bytes is larger than ${MAX_QUERY_PAYLOAD_BYTES}`);
  const sse = streamFormat(params.get("format"), request.headers.get("accept")) === "sse";
  let result;
  try {
    result = node.query(name, payload, options);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new HttpError(/rate limit|query limit/.test(error.message) ? 429 : 400, error.message);
  }
  server.timeout(request, Math.ceil((options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS) / 1000) + IDLE_SLACK_SECONDS);
  const items = result[Symbol.asyncIterator]();
  const frame = (item: QueryItem) => encoder.encode(sse ? `data: ${toJson(item)}\n\n` : `${toJson(item)}\n`);
  // A pull stream: Bun asks for the next item only once the client took the last one.
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await items.next();
      if (next.done) controller.close();
      else controller.enqueue(frame(next.value));
    },
  });
  const contentType = sse ? "text/event-stream; charset=utf-8" : "application/x-ndjson; charset=utf-8";
  return new Response(body, { headers: { "content-type": contentType, "cache-control": "no-store", "x-query-asked": String(result.asked.length) } });
}

function queryOptions(params: URLSearchParams): QueryOptions {
  const options: QueryOptions = {};
  const timeout = params.get("timeout");
  if (timeout !== null) {
    const ms = parseDurationMs(timeout);
    if (ms === null || ms < 1 || ms > MAX_QUERY_TIMEOUT_MS) throw new HttpError(400, `timeout must be a duration such as 5s or 500ms, at most ${MAX_QUERY_TIMEOUT_MS / 1000}s; got ${JSON.stringify(timeout.slice(0, 40))}`);
    options.timeoutMs = Math.round(ms);
  }
  const nodes = params.getAll("node");
  if (nodes.length > 0) options.nodes = nodes;
  const entries = params.getAll("entry").map(entryCondition);
  if (entries.length > 0) options.filter = entries;
  const ack = params.get("ack");
  if (ack !== null && ack !== "true" && ack !== "false") throw new HttpError(400, `ack must be true or false; got ${JSON.stringify(ack.slice(0, 40))}`);
  options.requestAck = ack === "true";
  const relay = params.get("relay");
  if (relay !== null) {
    if (!/^[0-5]$/.test(relay)) throw new HttpError(400, `relay must be a whole number from 0 to 5; got ${JSON.stringify(relay.slice(0, 40))}`);
    options.relayFactor = Number(relay);
  }
  return options;
}

/** "group/key=value" or "group/key" (the node has the entry, whatever its value). */
function entryCondition(text: string): EntryCondition {
  const slash = text.indexOf("/");
  const equals = text.indexOf("=", slash + 1);
  const group = text.slice(0, Math.max(slash, 0));
  const key = slash < 0 ? "" : text.slice(slash + 1, equals < 0 ? undefined : equals);
  if (group === "" || key === "") throw new HttpError(400, `entry must be group/key=value or group/key; got ${JSON.stringify(text.slice(0, 80))}`);
  return equals < 0 ? { group, key } : { group, key, value: text.slice(equals + 1) };
}

function streamFormat(format: string | null, accept: string | null): "ndjson" | "sse" {
  if (format === null) return accept?.includes("text/event-stream") ? "sse" : "ndjson";
  if (format !== "ndjson" && format !== "sse") throw new HttpError(400, `format must be ndjson or sse; got ${JSON.stringify(format.slice(0, 40))}`);
  return format;
}

// The JSON handlers of /v1. Each is synchronous apart from reading a size-capped body, and none
// does more than one pass over the state, so no request holds up gossip for long.
//
//   GET    /v1/self                       {name, clusterName, generation, address, clientAddress, version}
//   GET    /v1/members                    [{name, address, state, phi, generation, heartbeat, heartbeatAgeMs, maxVersion}]
//   GET    /v1/state                      {node: {group: {key: {value, type, version, expiresAt?}}}}
//   GET    /v1/state/{node}/{group}/{key} {value, type, version, expiresAt?}, or 404
//   PUT    /v1/keys/{group}/{key}?type=&ttl=&wait=   body = the value → {version} (+ wait, see wait-param.ts)
//   DELETE /v1/keys/{group}/{key}         {deleted: true}, or 404
//   POST   /v1/user-events/{name}?coalesce=true   body = the payload → {ltime}
//   GET    /v1/config, PATCH /v1/config?wait=   the cluster config document {version, origin, settings}
//                                               (GET adds agreement: whether every live member holds it)
//   POST   /v1/join                       body {addresses: ["host:port", …]} → {reached, addresses}
//   POST   /v1/force-leave                body {node, prune?, force?} → {node, prune}; 409 for a live member without force
// Values are shown as json.ts describes (int as a string of digits, bytes as base64).

import type { Server } from "bun";
import { MAX_USER_EVENT_PAYLOAD_BYTES } from "../codec/index.ts";
import { OptionsError } from "../config/schema.ts";
import type { Node } from "../create-node.ts";
import { ForceLeaveError } from "../node/force-leave.ts";
import { RESERVED_GROUP } from "../state/index.ts";
import { DumpCache } from "./dump-cache.ts";
import { stateDumpStream } from "./state-stream.ts";
import { WriteError, encodeValue } from "../state/index.ts";
import { HttpError, JSON_HEADERS, jsonResponse, parseJsonBody, readBody } from "./http.ts";
import { entryJson } from "./json.ts";
import { parseTtl, parseTypeName, parseValue, valueTypeByName } from "./value-input.ts";
import { SOFTWARE_VERSION } from "./version.ts";
import { parseWait, respondWhenApplied } from "./wait-param.ts";

// A body may exceed the largest value a little (JSON spacing, a number's text), never by more.
const VALUE_BODY_SLACK_BYTES = 4096;
// A join names at most as many addresses as the seed list may hold.
const MAX_JOIN_ADDRESSES = 256;
const OPS_BODY_LIMIT_BYTES = 64 * 1024;
// A config patch holds at most the `app` object (64 KiB as JSON) and a few numbers.
const CONFIG_BODY_LIMIT_BYTES = 128 * 1024;

export class AdminApi {
  /** Encoded dump parts of nodes that did not change, for GET /v1/state. */
  private readonly dumpCache = new DumpCache();

  constructor(
    private readonly node: Node,
    /** "host:port" of the admin server, known once it listens. */
    private readonly clientAddress: () => string,
  ) {}

  /** The largest body any route reads; the server refuses bigger ones before they reach a handler. */
  get maxBodyBytes(): number {
    return Math.max(this.valueBodyLimit, CONFIG_BODY_LIMIT_BYTES);
  }

  private get valueBodyLimit(): number {
    return this.node.options.maxValueBytes + VALUE_BODY_SLACK_BYTES;
  }

  self(): Response {
    const node = this.node;
    return jsonResponse({
      name: node.name,
      clusterName: node.options.clusterName,
      generation: node.generation,
      address: node.address,
      clientAddress: this.clientAddress(),
      version: SOFTWARE_VERSION,
    });
  }

  members(): Response {
    return jsonResponse(
      this.node.members().map((member) => ({
        name: member.name,
        address: member.address ?? null,
        state: member.state,
        phi: member.phi,
        generation: member.generation,
        heartbeat: member.heartbeat,
        heartbeatAgeMs: member.heartbeatAgeMs,
        maxVersion: member.maxVersion,
      })),
    );
  }

  /** The whole state, streamed in slices (state-stream.ts): a large dump does not stall gossip. */
  state(): Response {
    const stored = this.node.inspect();
    const names = this.node.nodes();
    // Lazy: a node removed before the dump reaches it is left out.
    const nodes = function* () {
      for (const name of names) if (stored.knows(name)) yield { name, entries: stored.entries(name), stamp: stored.stamp(name) };
    };
    return new Response(stateDumpStream(nodes(), this.dumpCache), { headers: JSON_HEADERS });
  }

  entry(node: string, group: string, key: string): Response {
    checkGroup(group);
    const stored = this.node.inspect();
    if (!stored.knows(node)) throw new HttpError(404, `node ${JSON.stringify(node)} is not known here`);
    const entry = stored.entry(node, group, key);
    if (!entry) throw new HttpError(404, `node ${JSON.stringify(node)} has no entry ${JSON.stringify(group)}/${JSON.stringify(key)}`);
    return jsonResponse(entryJson(entry));
  }

  async put(request: Request, url: URL, server: Server<undefined>, group: string, key: string): Promise<Response> {
    checkGroup(group);
    for (const name of url.searchParams.keys()) {
      if (name !== "type" && name !== "ttl" && name !== "wait") throw new HttpError(400, `unknown query parameter ${JSON.stringify(name)} (known: type, ttl, wait)`);
    }
    const waitMs = parseWait(url);
    const typeName = parseTypeName(url.searchParams.get("type"));
    const ttl = parseTtl(url.searchParams.get("ttl"));
    const value = parseValue(typeName, await readBody(request, this.valueBodyLimit));
    const type = valueTypeByName[typeName];
    let encodedBytes: number;
    try {
      encodedBytes = encodeValue(value, type).bytes.byteLength;
    } catch (error) {
      throw new HttpError(400, (error as Error).message);
    }
    const limit = this.node.options.maxValueBytes;
    if (encodedBytes > limit) throw new HttpError(413, `a ${typeName} value of ${encodedBytes} bytes is larger than maxValueBytes (${limit})`);
    let version: number;
    try {
      version = this.node.set(group, key, value, ttl === undefined ? { type } : { type, ttl });
    } catch (error) {
      if (error instanceof WriteError) throw new HttpError(400, error.message);
      throw error;
    }
    if (waitMs === undefined) return jsonResponse({ version });
    return await respondWhenApplied(this.node, version, { version }, waitMs, request, server);
  }

  delete(group: string, key: string): Response {
    checkGroup(group);
    if (!this.node.delete(group, key)) throw new HttpError(404, `this node has no entry ${JSON.stringify(group)}/${JSON.stringify(key)}`);
    return jsonResponse({ deleted: true });
  }

  /** Broadcasts a user event; 400 for a bad name or payload, 429 past the rate limit. */
  async userEvent(request: Request, url: URL, name: string): Promise<Response> {
    for (const parameter of url.searchParams.keys()) {
      if (parameter !== "coalesce") throw new HttpError(400, `unknown query parameter ${JSON.stringify(parameter)} (known: coalesce)`);
    }
    const coalesce = url.searchParams.get("coalesce");
    if (coalesce !== null && coalesce !== "true" && coalesce !== "false") throw new HttpError(400, `coalesce must be true or false; got ${JSON.stringify(coalesce.slice(0, 40))}`);
    const payload = await readBody(request, MAX_USER_EVENT_PAYLOAD_BYTES);
    try {
      return jsonResponse({ ltime: this.node.broadcast(name, payload, { coalesce: coalesce === "true" }) });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      throw new HttpError(error.message.startsWith("user event rate limit") ? 429 : 400, error.message);
    }
  }

  config(): Response {
    return jsonResponse({ ...this.node.clusterConfig(), agreement: this.node.configAgreement() });
  }

  async join(request: Request): Promise<Response> {
    const addresses = joinAddresses(parseJsonBody(await readBody(request, OPS_BODY_LIMIT_BYTES)));
    try {
      return jsonResponse({ reached: await this.node.join(addresses), addresses });
    } catch (error) {
      if (error instanceof RangeError) throw new HttpError(400, error.message);
      throw error;
    }
  }

  async forceLeave(request: Request): Promise<Response> {
    const body = parseJsonBody(await readBody(request, OPS_BODY_LIMIT_BYTES)) as { node?: unknown; prune?: unknown; force?: unknown } | null;
    const { node, prune = false, force = false } = body ?? {};
    if (typeof node !== "string" || typeof prune !== "boolean" || typeof force !== "boolean") {
      throw new HttpError(400, 'body must be {"node": "name", "prune": false, "force": false} (prune and force optional)');
    }
    try {
      this.node.forceLeave(node, { prune, force });
    } catch (error) {
      if (!(error instanceof ForceLeaveError)) throw error;
      throw new HttpError(/is not known/.test(error.message) ? 404 : 409, error.message);
    }
    return jsonResponse({ node, prune });
  }

  async patchConfig(request: Request, url: URL, server: Server<undefined>): Promise<Response> {
    for (const name of url.searchParams.keys()) {
      if (name !== "wait") throw new HttpError(400, `unknown query parameter ${JSON.stringify(name)} (known: wait)`);
    }
    const waitMs = parseWait(url);
    const patch = parseJsonBody(await readBody(request, CONFIG_BODY_LIMIT_BYTES));
    let document: ReturnType<Node["updateClusterConfig"]>;
    try {
      document = this.node.updateClusterConfig(patch as Record<string, unknown>);
    } catch (error) {
      // The schema (OptionsError) and the node (a cluster name change) refuse patches by
      // throwing; nothing else in updateClusterConfig depends on the request.
      if (error instanceof OptionsError) throw new HttpError(400, error.message);
      if (error instanceof Error) throw new HttpError(400, `config change refused: ${error.message}`);
      throw error;
    }
    if (waitMs === undefined) return jsonResponse(document);
    // The document is a reserved entry of this node: every write so far includes it.
    return await respondWhenApplied(this.node, 0, { ...document }, waitMs, request, server);
  }
}

/** The body of POST /v1/join: {addresses: [...]} with 1 to MAX_JOIN_ADDRESSES host:port strings. */
function joinAddresses(body: unknown): string[] {
  const addresses = (body as { addresses?: unknown })?.addresses;
  if (!Array.isArray(addresses) || addresses.length === 0 || addresses.length > MAX_JOIN_ADDRESSES || !addresses.every((a) => typeof a === "string")) {
    throw new HttpError(400, `body must be {"addresses": ["host:port", …]} with 1 to ${MAX_JOIN_ADDRESSES} addresses`);
  }
  return addresses as string[];
}

function checkGroup(group: string): void {
  if (group === RESERVED_GROUP) throw new HttpError(400, `group ${JSON.stringify(RESERVED_GROUP)} is reserved for GoferBroke's own entries`);
}

// The admin HTTP server (Bun.serve) on the client port: routing, access control, and the
// guarantee that nothing a client sends escapes as an unhandled error. Routes are listed in
// api.ts and keyring-api.ts; besides them: GET /v1/events (sse.ts), /v1/queries/{name} (queries.ts),
// GET /metrics and /v1/stats (metrics.ts), GET /healthz,
// and GET / (dashboard.ts).

import type { Server } from "bun";
import { formatHostPort, isLoopbackHost } from "../config/network.ts";
import type { Node } from "../create-node.ts";
import type { Logger } from "../log.ts";
import { type AccessPolicy, checkAccess } from "./access.ts";
import { AdminApi } from "./api.ts";
import { changeKeys, listKeys } from "./keyring-api.ts";
import { DASHBOARD_HEADERS, DASHBOARD_HTML } from "./dashboard.ts";
import { HttpError, errorResponse, jsonResponse } from "./http.ts";
import { queryStream } from "./queries.ts";
import { AdminMetrics, observePropagationFromEvents } from "./metrics.ts";
import { EXPOSITION_CONTENT_TYPE } from "./prometheus.ts";
import { EventStreamHub, parseBacklog } from "./sse.ts";

export interface AdminServerOptions {
  /** 0 picks a free port. */
  port: number;
  hostname: string;
  /** When set, every request but /healthz must present it (see access.ts). */
  token?: string | undefined;
  /**
   * Serve a hostname that is not loopback without a token. Without it, that combination throws:
   * whoever reaches the port could write this node's state and rewrite the cluster config.
   */
  insecure?: boolean | undefined;
  logger: Logger;
}

/** The client port could not be opened (its address is taken or not ours, or it would be unprotected). */
export class AdminListenError extends Error {
  override readonly name = "AdminListenError";
}

export interface AdminServer {
  /** e.g. "http://127.0.0.1:8081/" */
  readonly url: string;
  readonly port: number;
  /** Ends event streams and closes every connection. */
  stop(): Promise<void>;
}

type Method = "GET" | "POST" | "PUT" | "DELETE" | "PATCH";

interface RouteCall {
  request: Request;
  url: URL;
  /** The path's `:name` segments, percent-decoded. */
  params: Record<string, string>;
  server: Server<undefined>;
}

interface Route {
  /** Segments; `:name` matches any one segment. */
  path: string;
  handlers: Partial<Record<Method, (call: RouteCall) => Response | Promise<Response>>>;
  /** Whether ?token= may stand in for the Authorization header (browser page and EventSource). */
  acceptsQueryToken?: boolean;
  /** Reachable without a token: load balancers and supervisors probe it. */
  open?: boolean;
}

export function startAdminServer(node: Node, options: AdminServerOptions): AdminServer {
  const { logger } = options;
  const exposed = !isLoopbackHost(options.hostname);
  if (exposed && options.token === undefined && !options.insecure) {
    throw new AdminListenError(`refusing to serve the client port on ${options.hostname} without a token: set a token, bind it to loopback, or pass insecure: true`);
  }
  const policy: AccessPolicy = { bindHost: options.hostname, ...(options.token === undefined ? {} : { token: options.token }) };
  let clientAddress = "";
  const api = new AdminApi(node, () => clientAddress);
  const events = new EventStreamHub((handler) => node.on("*", handler));
  const metrics = new AdminMetrics(node, events);
  const stopObservingPropagation = observePropagationFromEvents(node, metrics);

  const routes: Route[] = [
    { path: "/", acceptsQueryToken: true, handlers: { GET: () => new Response(DASHBOARD_HTML, { headers: DASHBOARD_HEADERS }) } },
    { path: "/healthz", open: true, handlers: { GET: () => healthz(node) } },
    { path: "/metrics", handlers: { GET: () => new Response(metrics.render(), { headers: { "content-type": EXPOSITION_CONTENT_TYPE, "cache-control": "no-store" } }) } },
    { path: "/v1/self", handlers: { GET: () => api.self() } },
    { path: "/v1/stats", handlers: { GET: () => jsonResponse(metrics.snapshot()) } },
    { path: "/v1/members", handlers: { GET: () => api.members() } },
    { path: "/v1/state", handlers: { GET: () => api.state() } },
    { path: "/v1/state/:node/:group/:key", handlers: { GET: ({ params }) => api.entry(params.node!, params.group!, params.key!) } },
    {
      path: "/v1/keys/:group/:key",
      handlers: {
        PUT: ({ request, url, params, server }) => api.put(request, url, server, params.group!, params.key!),
        DELETE: ({ params }) => api.delete(params.group!, params.key!),
      },
    },
    { path: "/v1/user-events/:name", handlers: { POST: ({ request, url, params }) => api.userEvent(request, url, params.name!) } },
    { path: "/v1/queries/:name", acceptsQueryToken: true, handlers: { POST: (call) => queryStream(node, call.request, call.url, call.server, call.params.name!), GET: (call) => queryStream(node, call.request, call.url, call.server, call.params.name!) } },
    { path: "/v1/join", handlers: { POST: ({ request }) => api.join(request) } },
    { path: "/v1/force-leave", handlers: { POST: ({ request }) => api.forceLeave(request) } },
    { path: "/v1/keyring", handlers: { GET: ({ url }) => listKeys(node, url) } },
    { path: "/v1/keyring/:op", handlers: { POST: ({ request, params }) => changeKeys(node, request, params.op!) } },
    { path: "/v1/config", handlers: { GET: () => api.config(), PATCH: ({ request, url, server }) => api.patchConfig(request, url, server) } },
    {
      path: "/v1/events",
      acceptsQueryToken: true,
      handlers: {
        GET: ({ request, url, server }) => {
          const response = events.open(parseBacklog(url, events.backlogLimit));
          server.timeout(request, 0); // a stream is quiet between heartbeats; the idle timeout must not end it
          return response;
        },
      },
    },
  ];

  const fetch = async (request: Request, server: Server<undefined>): Promise<Response> => {
    // HTTP/1.1 without Host never gets here (Bun answers 400); HTTP/1.0 does, with a relative URL.
    if (request.headers.get("host") === null) return errorResponse(new HttpError(400, "a Host header is required"));
    try {
      return await dispatch(routes, policy, request, server);
    } catch (error) {
      if (error instanceof HttpError) return errorResponse(error);
      logger.error(`admin request ${request.method} ${new URL(request.url).pathname} failed: ${(error as Error).message}`, { stack: (error as Error).stack });
      return errorResponse(new HttpError(500, "internal error; see the node's log"));
    }
  };
  let server: Server<undefined>;
  try {
    server = listen(options, api.maxBodyBytes, fetch);
  } catch (error) {
    stopObservingPropagation(); // the node outlives a failed start; its listener must not
    throw error;
  }
  const port = server.port ?? options.port;
  clientAddress = formatHostPort(server.hostname ?? options.hostname, port);
  logger.info(`client port listening on ${server.url.href}`, { token: options.token !== undefined });
  if (exposed && options.token === undefined) {
    logger.warn(`client port on ${options.hostname} has no token (insecure): anyone who can reach it can read and write this node's state and rewrite the cluster config`);
  }

  return {
    url: server.url.href,
    port,
    stop: async () => {
      stopObservingPropagation();
      events.closeAll();
      await server.stop(true);
    },
  };
}

function listen(options: AdminServerOptions, maxBodyBytes: number, fetch: (request: Request, server: Server<undefined>) => Promise<Response>): Server<undefined> {
  try {
    return Bun.serve({
      port: options.port,
      hostname: options.hostname,
      // Bun sets SO_REUSEPORT by default: a second node asking for a taken port would share it,
      // and requests would land on either node at random.
      reusePort: false,
      development: false, // never Bun's error page with source code
      // A backstop for bodies no route reads; handlers cap their own bodies lower with a JSON 413.
      maxRequestBodySize: maxBodyBytes * 2,
      fetch,
    });
  } catch (error) {
    // Bun's message ("Is port 8080 in use?") names no host and guesses at the reason; its code is exact.
    const code = (error as { code?: unknown }).code;
    const reason = code === "EADDRINUSE" ? "EADDRINUSE: another process already listens there" : `${typeof code === "string" ? `${code}: ` : ""}${(error as Error).message}`;
    throw new AdminListenError(`cannot open the client port ${formatHostPort(options.hostname, options.port)}: ${reason}`);
  }
}

async function dispatch(routes: Route[], policy: AccessPolicy, request: Request, server: Server<undefined>): Promise<Response> {
  const url = new URL(request.url);
  const match = matchRoute(routes, url.pathname);
  // Access is checked before a 404 or 405, so without the token nothing is learned about routes.
  if (!match?.route.open) checkAccess(request, url, policy, match?.route.acceptsQueryToken ?? false);
  if (!match) throw new HttpError(404, `no such route: ${request.method} ${url.pathname.slice(0, 200)}`);
  // hasOwn: a method named "toString" or "constructor" must not find Object.prototype's.
  const handler = Object.hasOwn(match.route.handlers, request.method) ? match.route.handlers[request.method as Method] : undefined;
  if (!handler) {
    const allowed = Object.keys(match.route.handlers).join(", ");
    throw new HttpError(405, `${request.method} is not allowed on ${url.pathname.slice(0, 200)}; allowed: ${allowed}`, { allow: allowed });
  }
  const params: Record<string, string> = {};
  for (const [name, segment] of Object.entries(match.params)) params[name] = decodeSegment(segment);
  return handler({ request, url, params, server });
}

/** The route for a path, with its `:name` segments still percent-encoded. */
function matchRoute(routes: Route[], pathname: string): { route: Route; params: Record<string, string> } | null {
  const segments = pathname.split("/");
  for (const route of routes) {
    const pattern = route.path.split("/");
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matches = pattern.every((part, index) => {
      const segment = segments[index] as string;
      if (!part.startsWith(":")) return part === segment;
      params[part.slice(1)] = segment;
      return true;
    });
    if (matches) return { route, params };
  }
  return null;
}

/** One path segment, percent-decoded; 400 when the encoding is broken. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `path segment ${JSON.stringify(segment.slice(0, 100))} is not valid percent-encoding`);
  }
}

function healthz(node: Node): Response {
  const running = node.running;
  return jsonResponse({ status: running ? "ok" : "stopped", node: node.name }, running ? 200 : 503);
}

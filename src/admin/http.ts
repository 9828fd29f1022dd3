// HTTP helpers of the admin server: JSON responses, the error every handler throws for a bad
// request, and a body reader that stops at a size limit.

import { toJson } from "./json.ts";

/** A request the API refuses: becomes a response of `status` with JSON `{error: message}`. */
export class HttpError extends Error {
  override readonly name = "HttpError";

  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const JSON_HEADERS = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(toJson(body), { status, headers: JSON_HEADERS });
}

export function errorResponse(error: HttpError): Response {
  return new Response(toJson({ error: error.message }), { status: error.status, headers: { ...JSON_HEADERS, ...error.headers } });
}

/**
 * The request body, refused with 413 once it passes `limit` bytes: first by Content-Length,
 * then while reading, for chunked bodies that announce no length. Reading stops at the limit,
 * so a client cannot make the node buffer more than that.
 */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const tooLarge = () => new HttpError(413, `request body is larger than ${limit} bytes`);
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw tooLarge();
  if (request.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  // Ends with the body or once total passes limit; a client that stalls mid-body is cut off by
  // the server's idle timeout.
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  // A fresh array of its own: Buffer.concat may hand out a slice of Node's shared pool.
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** The body as JSON; 400 naming the parse error when it is not. */
export function parseJsonBody(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decodeUtf8(bytes, "body"));
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, `body is not valid JSON: ${(error as Error).message}`);
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 text; 400 when the bytes are not valid UTF-8 (what = what to name in the error). */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new HttpError(400, `${what} is not valid UTF-8`);
  }
}

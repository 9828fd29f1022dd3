// The subcommands' HTTP client for a node's client port. Its errors are written for the person
// at the terminal: what went wrong and what to do (which flag or variable), not a method, a
// route and a status code.

export const DEFAULT_CLIENT = "127.0.0.1:8080";

/** The node could not be reached, refused the request, or went away: exit 1 with this message. */
export class ClientError extends Error {
  override readonly name = "ClientError";
}

export class AdminClient {
  private readonly base: string;

  private constructor(
    private readonly address: string,
    private readonly token: string | undefined,
    /** Whether the address is the built-in default (no --client, no GOFERBROKE_CLIENT). */
    private readonly defaulted: boolean,
  ) {
    this.base = `http://${address}`;
  }

  static fromFlags(flags: { client?: string | undefined; token?: string | undefined }): AdminClient {
    const address = flags.client ?? (process.env.GOFERBROKE_CLIENT || undefined);
    const token = flags.token ?? (process.env.GOFERBROKE_CLIENT_TOKEN || undefined);
    return new AdminClient(address ?? DEFAULT_CLIENT, token, address === undefined);
  }

  /**
   * The JSON answer of a request; a ClientError saying why when the node refuses it. `waitMs`:
   * the node answers only after waiting this long at most (?wait=), on top of the usual deadline.
   */
  async json(method: string, route: string, body?: string, waitMs = 0): Promise<unknown> {
    const response = await this.request(method, route, body, waitMs);
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch {
      throw new ClientError(`${this.address} did not answer like a GoferBroke client port (HTTP ${response.status}, not JSON): is that the node's -clientPort?`);
    }
    if (!response.ok) throw this.refusal(response.status, (parsed as { error?: unknown } | null)?.error);
    return parsed;
  }

  /**
   * Prints each server-sent event's JSON on its own line. Returns only by throwing: the stream
   * ends when the node stops or the connection breaks, and either way the watch is over.
   */
  async watch(route: string, out: (line: string) => void): Promise<never> {
    const response = await this.request("GET", route);
    if (!response.ok || !response.body) throw this.refusal(response.status, await errorOf(response));
    await eachLine(response.body, (line) => line.startsWith("data:") && out(line.slice(5).trim()), (error) => new ClientError(`the node at ${this.address} went away (${describeNetworkError(error)}); watch ended`));
    throw new ClientError(`the node at ${this.address} closed the event stream (it is stopping); watch ended`);
  }

  /**
   * Calls onLine with each line of a streamed answer (NDJSON) as it arrives; resolves when the node
   * ends the stream. `waitMs`: how long the node may stream, on top of the usual deadline.
   */
  async lines(method: string, route: string, body: string, waitMs: number, onLine: (line: string) => void): Promise<void> {
    const response = await this.request(method, route, body, waitMs);
    if (!response.ok || !response.body) throw this.refusal(response.status, await errorOf(response));
    await eachLine(response.body, onLine, (error) => new ClientError(`the node at ${this.address} went away mid-answer (${describeNetworkError(error)})`));
  }

  private refusal(status: number, error: unknown): ClientError {
    const reason = typeof error === "string" ? error : `HTTP ${status}`;
    if (status === 401) {
      const fix = this.token === undefined ? "it needs a token: pass --token TOKEN or set GOFERBROKE_CLIENT_TOKEN" : "the token from --token or GOFERBROKE_CLIENT_TOKEN is not the node's";
      return new ClientError(`the node at ${this.address} refused the request: ${fix} (${reason})`);
    }
    return new ClientError(reason);
  }

  private async request(method: string, route: string, body?: string, waitMs = 0): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    // The event stream stays open for as long as the user watches; anything else answers at once.
    const signal = route === "/v1/events" ? null : AbortSignal.timeout(10_000 + waitMs);
    try {
      return await fetch(`${this.base}${route}`, { method, headers, ...(body !== undefined ? { body } : {}), signal });
    } catch (error) {
      throw new ClientError(`cannot reach the node's client port at ${this.base}: ${describeNetworkError(error)}. ${this.reachHint()}`);
    }
  }

  private reachHint(): string {
    const where = this.defaulted ? `This command dials ${DEFAULT_CLIENT} by default, and nodes open no client port unless started with -clientPort. ` : "";
    return `${where}Start the node with -clientPort PORT, and point this command at it with --client host:PORT (or GOFERBROKE_CLIENT).`;
  }
}

/** Calls onLine with each line of the body as it arrives; a failed read throws wentAway(error), onLine's errors pass through. */
async function eachLine(body: ReadableStream<Uint8Array>, onLine: (line: string) => void, wentAway: (error: unknown) => Error): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  for (;;) {
    let chunk: Awaited<ReturnType<typeof reader.read>>;
    try {
      chunk = await reader.read();
    } catch (error) {
      throw wentAway(error);
    }
    if (chunk.done) break;
    buffered += decoder.decode(chunk.value, { stream: true });
    for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
      onLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  }
  if (buffered.trim() !== "") onLine(buffered);
}

async function errorOf(response: Response): Promise<unknown> {
  try {
    return ((await response.json()) as { error?: unknown }).error;
  } catch {
    return undefined;
  }
}

/** "connection refused (ECONNREFUSED)" rather than Bun's "Unable to connect. Is the computer able to access the url?". */
function describeNetworkError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const known: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ECONNRESET: "connection reset",
    ConnectionRefused: "connection refused",
    ConnectionClosed: "connection closed",
    TimeoutError: "no answer within 10 s",
  };
  const name = typeof code === "string" ? code : (error as Error).name;
  const text = known[name];
  return text === undefined ? (error as Error).message : `${text} (${name})`;
}

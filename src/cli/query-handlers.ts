// The daemon's query handlers (--query-handler NAME=COMMAND), as Serf's agent answers queries with
// event-handler scripts: query NAME runs COMMAND with `sh -c`, the payload on stdin and the
// context in environment variables, and its stdout is the answer.
//
// The node's query machinery (node/queries.ts) already bounds every handler: at most
// MAX_RUNNING_HANDLERS run at once (past that the asker gets a "busy" error), and each has a
// deadline after which its answer is replaced by an error. What a process adds, and this module
// handles: it is killed (its whole process group, so a pipeline or a backgrounded child goes too)
// when the deadline passes or its output outgrows an answer; a failure (non-zero exit, killed by a
// signal, cannot start) becomes an error naming the exit code and the first line of stderr; and
// nothing it does (hang, flood stdout or stderr, ignore stdin) can block or crash the node.

import { MAX_QUERY_PAYLOAD_BYTES } from "../codec/index.ts";
import { parseQueryHandler } from "../config/query-handler-option.ts";
import type { Node } from "../create-node.ts";
import type { Logger } from "../log.ts";
import type { QueryRequest } from "../node/queries.ts";

/** Killed this long before the node's own deadline, so the asker hears "timed out" from here, naming the kill. */
const KILL_MARGIN_MS = 100;
/** Stderr kept for the error's first line; the rest is read and dropped, so the command never blocks on it. */
const MAX_STDERR_BYTES = 4096;
const MAX_STDERR_LINE_CHARS = 200;

/** The environment variables a handler command gets, besides the daemon's own. */
export const QUERY_HANDLER_VARIABLES = {
  name: "GOFERBROKE_QUERY_NAME",
  from: "GOFERBROKE_QUERY_FROM",
  node: "GOFERBROKE_NODE",
  timeoutMs: "GOFERBROKE_QUERY_TIMEOUT_MS",
} as const;

/** The commands of one daemon: registers them as the node's handlers and runs them. */
export class QueryCommands {
  /** How to kill each command still running: each has its own process group, which would outlive the daemon. */
  private readonly running = new Set<(reason: string) => void>();
  private stopping = false;

  constructor(
    private readonly node: Node,
    private readonly logger: Logger,
  ) {}

  /** Registers one handler per `NAME=COMMAND` entry (already checked by the options schema). */
  register(entries: readonly string[]): void {
    for (const text of entries) {
      const entry = parseQueryHandler(text);
      if (typeof entry === "string") throw new Error(`query handler ${JSON.stringify(text)}: ${entry}`); // the schema refuses these first
      this.node.onQuery(entry.name, (request) => this.run(entry.command, request));
      this.logger.debug(`query ${JSON.stringify(entry.name)} is answered by: ${entry.command}`);
    }
  }

  /** Kills every command still running and starts no more (the daemon is stopping); their queries get an error. */
  killAll(): void {
    this.stopping = true;
    for (const kill of this.running) kill("was killed: the node is stopping");
  }

  /** Runs the command for one query; resolves with its stdout, or throws why there is no answer. */
  async run(command: string, request: QueryRequest): Promise<Uint8Array> {
    const started = performance.now();
    const subject = `query ${JSON.stringify(request.name)} from ${request.from}`;
    if (this.stopping) throw new Error("the node is stopping");
    const child = Bun.spawn(["sh", "-c", command], {
      stdin: request.payload,
      stdout: "pipe",
      stderr: "pipe",
      // Its own process group, so that killing it reaches what it started (`a | b`, `sleep 9 &`).
      detached: true,
      env: {
        ...process.env,
        [QUERY_HANDLER_VARIABLES.name]: request.name,
        [QUERY_HANDLER_VARIABLES.from]: request.from,
        [QUERY_HANDLER_VARIABLES.node]: this.node.name,
        [QUERY_HANDLER_VARIABLES.timeoutMs]: String(request.timeoutMs),
      },
    });
    this.logger.debug(`${subject}: started pid ${child.pid}: ${command}`);
    let killedFor: string | null = null;
    const kill = (reason: string) => {
      if (killedFor !== null) return;
      killedFor = reason;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // The group is gone already: nothing left to stop.
      }
    };
    this.running.add(kill);
    const deadlineMs = Math.max(0, request.timeoutMs - KILL_MARGIN_MS);
    const deadline = setTimeout(() => kill(`timed out after ${deadlineMs} ms and was killed`), deadlineMs);
    try {
      const [stdout, stderr, exitCode] = await Promise.all([
        readAnswer(child.stdout, () => kill(`wrote more than ${MAX_QUERY_PAYLOAD_BYTES} bytes to stdout (the limit of a query answer) and was killed`)),
        readStart(child.stderr, MAX_STDERR_BYTES),
        child.exited,
      ]);
      const ms = Math.round(performance.now() - started);
      const failure = killedFor ?? (exitCode === 0 ? null : exitText(exitCode, child.signalCode, stderr));
      this.logger.debug(`${subject}: pid ${child.pid} ${failure ?? "exited 0"} after ${ms} ms, ${stdout.byteLength} bytes on stdout`);
      if (failure !== null) throw new Error(`the command ${failure}`);
      return stdout;
    } finally {
      clearTimeout(deadline);
      this.running.delete(kill);
    }
  }
}

function exitText(exitCode: number, signal: string | number | null, stderr: Uint8Array): string {
  const how = signal !== null ? `was killed by ${signal}` : `exited with code ${exitCode}`;
  const firstLine = new TextDecoder().decode(stderr).split("\n").find((line) => line.trim() !== "")?.trim().slice(0, MAX_STDERR_LINE_CHARS);
  return firstLine === undefined ? `${how} (no stderr)` : `${how}: ${firstLine}`;
}

/** Stdout, up to one answer's worth; `onOverflow` is called (once) when there is more, and reading stops. */
async function readAnswer(stream: ReadableStream<Uint8Array>, onOverflow: () => void): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.byteLength;
    if (total > MAX_QUERY_PAYLOAD_BYTES) {
      onOverflow();
      break;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The first `maxBytes` of a stream, read to its end so the writer never blocks on a full pipe. */
async function readStart(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  for await (const chunk of stream) {
    if (kept >= maxBytes) continue;
    chunks.push(chunk.subarray(0, maxBytes - kept));
    kept += Math.min(chunk.byteLength, maxBytes - kept);
  }
  return Buffer.concat(chunks);
}

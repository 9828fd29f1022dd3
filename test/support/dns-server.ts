// A tiny authoritative DNS server over UDP on 127.0.0.1 for tests (there is no outside network):
// it answers A and AAAA queries for the names it is given, NXDOMAIN for others, and SERVFAIL for
// every query while `failing` is set. Enough of RFC 1035 for node:dns's Resolver: one question,
// answers with a compression pointer to it.

import { createSocket, type Socket } from "node:dgram";

const TYPE_A = 1;
const TYPE_AAAA = 28;
const RCODE_NXDOMAIN = 3;
const RCODE_SERVFAIL = 2;

export class TestDnsServer {
  /** Name (lower case, no trailing dot) -> the IPv4 and IPv6 addresses it resolves to. */
  readonly records = new Map<string, string[]>();
  /** While set, every query is answered SERVFAIL. */
  failing = false;
  /** Queries answered, by "name type". */
  readonly queries: string[] = [];
  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {}

  static async start(): Promise<TestDnsServer> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, "127.0.0.1", () => resolve());
    });
    const server = new TestDnsServer(socket, socket.address().port);
    socket.on("message", (message, remote) => {
      const answer = server.answer(message);
      if (answer) socket.send(answer, remote.port, remote.address);
    });
    return server;
  }

  /** "127.0.0.1:port", for --dns-servers. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  close(): void {
    this.socket.close();
  }

  private answer(query: Buffer): Buffer | null {
    if (query.length < 12) return null;
    let offset = 12;
    const labels: string[] = [];
    while (offset < query.length && query[offset] !== 0) {
      const length = query[offset]!;
      labels.push(query.subarray(offset + 1, offset + 1 + length).toString("latin1"));
      offset += length + 1;
    }
    offset += 1;
    if (offset + 4 > query.length) return null;
    const type = query.readUInt16BE(offset);
    const question = query.subarray(12, offset + 4);
    const name = labels.join(".").toLowerCase();
    this.queries.push(`${name} ${type}`);
    const addresses = this.records.get(name);
    const rcode = this.failing ? RCODE_SERVFAIL : addresses === undefined ? RCODE_NXDOMAIN : 0;
    const matches = (ip: string) => (type === TYPE_AAAA ? ip.includes(":") : type === TYPE_A && !ip.includes(":"));
    const answers = rcode === 0 ? addresses!.filter(matches).map(record) : [];
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0); // id
    header.writeUInt16BE(0x8400 | rcode, 2); // response, authoritative
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    return Buffer.concat([header, question, ...answers]);
  }
}

/** One A or AAAA answer for the question's name (compression pointer to offset 12), TTL 1 s. */
function record(ip: string): Buffer {
  const data = ip.includes(":") ? ipv6Bytes(ip) : Buffer.from(ip.split(".").map(Number));
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0);
  head.writeUInt16BE(ip.includes(":") ? TYPE_AAAA : TYPE_A, 2);
  head.writeUInt16BE(1, 4); // class IN
  head.writeUInt32BE(1, 6);
  head.writeUInt16BE(data.length, 10);
  return Buffer.concat([head, data]);
}

function ipv6Bytes(ip: string): Buffer {
  const [left, right = ""] = ip.split("::");
  const groups = (part: string) => (part === "" ? [] : part.split(":").map((group) => parseInt(group, 16)));
  const head = groups(left!);
  const tail = groups(right);
  const all = ip.includes("::") ? [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail] : head;
  const bytes = Buffer.alloc(16);
  all.forEach((group, i) => bytes.writeUInt16BE(group, i * 2));
  return bytes;
}

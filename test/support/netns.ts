// A real network for process tests: one Linux network namespace per node, each joined to one
// bridge in the root namespace by a veth pair, on a private /24 that exists only on that bridge
// (no traffic leaves the machine). The bridge itself has the subnet's .254, so the test process,
// in the root namespace, reaches every node's client port directly, even while nodes are cut off
// from each other.
//
// Faults:
//   - cut(from, to): packets from one node to another vanish. With nftables, the receiver drops
//     them on input, silently, as a broken network does (the sender's TCP retransmits into the
//     void). Without nft, a blackhole route in the sender's namespace drops them (the sender's
//     kernel then fails connects at once instead of letting them time out). Either way a TCP
//     connection needs both directions, so one-way packet loss breaks the pair both ways at the
//     transport level; what is one-way is which side's packets still arrive.
//   - partition(sideA, sideB): every pair across the sides cut both ways.
//   - setLink(node, up): the node's veth goes down or up (its cable pulled): it loses everyone,
//     the test's access to its client port included.
//
// Names carry the test process's pid (gb<pid>n1, gb<pid>br, gb<pid>v1), so parallel runs never
// collide, and removeStaleLabs() deletes only what a dead pid left behind. remove() is safe to
// call after any failure and more than once.

import { existsSync } from "node:fs";

const IP = "ip";
const COMMAND_TIMEOUT_MS = 10_000;
/** Interface names are at most 15 bytes (IFNAMSIZ - 1): "gb" + a 7-digit pid + "br" fits. */
const NAME_PATTERN = /^gb(\d+)(n\d+|br|v\d+)$/;

export interface NetnsNode {
  /** 1-based; the node's address is <subnet>.<index>. */
  index: number;
  namespace: string;
  /** The root-namespace end of its veth pair (on the bridge). */
  hostVeth: string;
  address: string;
}

/** Runs a command to completion (bounded); throws with its stderr when it fails. */
export function run(argv: readonly string[], stdin?: string): string {
  const result = Bun.spawnSync([...argv], {
    stdin: stdin === undefined ? "ignore" : Buffer.from(stdin),
    stdout: "pipe",
    stderr: "pipe",
    timeout: COMMAND_TIMEOUT_MS,
  });
  if (result.exitCode !== 0) {
    const why = result.exitCode === null ? `killed after ${COMMAND_TIMEOUT_MS} ms` : `exit ${result.exitCode}`;
    throw new Error(`${argv.join(" ")} failed (${why}): ${result.stderr.toString().trim()}`);
  }
  return result.stdout.toString();
}

/**
 * Why network-namespace tests cannot run here, or null when they can: not Linux, not root, no
 * `ip`, or the kernel refuses a namespace, a bridge or a veth pair (tried for real, then removed).
 */
export function netnsUnsupportedReason(): string | null {
  if (process.platform !== "linux") return `network namespaces are Linux-only, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return "creating network namespaces needs root";
  if (Bun.which(IP) === null) return "the ip command (iproute2) is not installed";
  const probe = `gb${process.pid}n0`;
  const probeVeth = `gb${process.pid}v0`;
  try {
    run([IP, "netns", "add", probe]);
    run([IP, "link", "add", probeVeth, "type", "veth", "peer", "name", "eth0", "netns", probe]);
    run([IP, "link", "add", `gb${process.pid}br`, "type", "bridge"]);
    return null;
  } catch (error) {
    return `the kernel refused a namespace, veth pair or bridge: ${(error as Error).message}`;
  } finally {
    for (const argv of [[IP, "link", "del", `gb${process.pid}br`], [IP, "link", "del", probeVeth], [IP, "netns", "del", probe]]) tryRun(argv);
  }
}

function tryRun(argv: readonly string[]): void {
  try {
    run(argv);
  } catch {
    // already gone
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes namespaces and links of earlier runs whose process is gone (a crash skipped their cleanup). */
export function removeStaleLabs(): void {
  const stale = (name: string) => {
    const match = NAME_PATTERN.exec(name);
    return match !== null && Number(match[1]) !== process.pid && !pidAlive(Number(match[1]));
  };
  for (const line of run([IP, "netns", "list"]).split("\n")) {
    const name = line.split(" ")[0] ?? "";
    if (stale(name)) tryRun([IP, "netns", "del", name]);
  }
  for (const line of run([IP, "-o", "link", "show"]).split("\n")) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1] ?? "";
    if (stale(name)) tryRun([IP, "link", "del", name]);
  }
}

/** A third octet for 10.231.X.0/24 that no interface here uses yet, starting from one derived from the pid. */
function freeSubnet(): string {
  const inUse = run([IP, "-4", "-o", "addr", "show"]);
  for (let step = 0; step < 250; step++) {
    const octet = ((process.pid + step) % 250) + 1;
    if (!inUse.includes(` 10.231.${octet}.`)) return `10.231.${octet}`;
  }
  throw new Error("every 10.231.X.0/24 subnet is in use on this machine");
}

export class NetnsLab {
  readonly prefix = `gb${process.pid}`;
  readonly bridge = `${this.prefix}br`;
  readonly subnet = freeSubnet();
  /** The bridge's address: the test process reaches the nodes from it. */
  readonly hostAddress = `${this.subnet}.254`;
  readonly nodes: NetnsNode[] = [];
  /** "nftables" drops on the receiver's input; "blackhole routes" in the sender's namespace. */
  readonly cutMethod: "nftables" | "blackhole routes" = Bun.which("nft") !== null ? "nftables" : "blackhole routes";
  /** Pairs "from>to" whose packets are dropped. */
  private readonly cuts = new Set<string>();

  /** Creates the bridge and `count` namespaces, each with its address on eth0 and lo up. */
  constructor(count: number) {
    try {
      run([IP, "link", "add", this.bridge, "type", "bridge"]);
      run([IP, "addr", "add", `${this.hostAddress}/24`, "dev", this.bridge]);
      run([IP, "link", "set", this.bridge, "up"]);
      for (let index = 1; index <= count; index++) {
        const node: NetnsNode = { index, namespace: `${this.prefix}n${index}`, hostVeth: `${this.prefix}v${index}`, address: `${this.subnet}.${index}` };
        this.nodes.push(node);
        run([IP, "netns", "add", node.namespace]);
        run([IP, "link", "add", node.hostVeth, "type", "veth", "peer", "name", "eth0", "netns", node.namespace]);
        run([IP, "link", "set", node.hostVeth, "master", this.bridge, "up"]);
        run([IP, "-n", node.namespace, "addr", "add", `${node.address}/24`, "dev", "eth0"]);
        run([IP, "-n", node.namespace, "link", "set", "eth0", "up"]);
        run([IP, "-n", node.namespace, "link", "set", "lo", "up"]);
      }
    } catch (error) {
      this.remove();
      throw error;
    }
  }

  node(index: number): NetnsNode {
    const node = this.nodes[index - 1];
    if (node === undefined) throw new Error(`no node ${index} in this lab (it has ${this.nodes.length})`);
    return node;
  }

  /** The command line that runs argv inside the node's namespace (`ip netns exec` execs it: same pid). */
  command(node: NetnsNode, argv: readonly string[]): string[] {
    return [IP, "netns", "exec", node.namespace, ...argv];
  }

  /** From now on packets from `from` to `to` are dropped. */
  cut(from: NetnsNode, to: NetnsNode): void {
    this.cuts.add(`${from.index}>${to.index}`);
    this.applyCuts(this.cutMethod === "nftables" ? to : from);
  }

  /** Cuts every pair across the two sides, both ways. */
  partition(sideA: readonly NetnsNode[], sideB: readonly NetnsNode[]): void {
    for (const a of sideA) for (const b of sideB) (this.cut(a, b), this.cut(b, a));
  }

  /** Lifts every cut. */
  heal(): void {
    this.cuts.clear();
    for (const node of this.nodes) this.applyCuts(node);
  }

  /** Sets the node's veth (its only link) down or up. */
  setLink(node: NetnsNode, up: boolean): void {
    run([IP, "link", "set", node.hostVeth, up ? "up" : "down"]);
  }

  /** Whether the kernel here has the netem qdisc (tried on the node's eth0, then removed); the reason when not. */
  netemUnsupportedReason(node: NetnsNode): string | null {
    try {
      run([...this.command(node, ["tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "1ms"])]);
      run([...this.command(node, ["tc", "qdisc", "del", "dev", "eth0", "root"])]);
      return null;
    } catch (error) {
      return `tc netem is not available: ${(error as Error).message}`;
    }
  }

  /** Deletes the namespaces, veths and bridge (stop the processes inside first). Never throws. */
  remove(): void {
    for (const node of this.nodes) {
      tryRun([IP, "link", "del", node.hostVeth]);
      tryRun([IP, "netns", "del", node.namespace]);
    }
    tryRun([IP, "link", "del", this.bridge]);
  }

  /** Whether anything of this lab is still present (for the cleanup check). */
  leftovers(): string[] {
    const links = [this.bridge, ...this.nodes.map((node) => node.hostVeth)].filter((name) => existsSync(`/sys/class/net/${name}`));
    const namespaces = run([IP, "netns", "list"]).split("\n").map((line) => line.split(" ")[0] ?? "");
    return [...links, ...namespaces.filter((name) => name.startsWith(`${this.prefix}n`))];
  }

  /** Rewrites the node's drop rules from `cuts`: nftables on its input, or blackhole routes out of it. */
  private applyCuts(node: NetnsNode): void {
    const pairs = [...this.cuts].map((pair) => pair.split(">").map((index) => this.node(Number(index))) as [NetnsNode, NetnsNode]);
    if (this.cutMethod === "nftables") {
      const sources = pairs.filter(([, to]) => to === node).map(([from]) => from.address);
      const drop = sources.length > 0 ? `ip saddr { ${sources.join(", ")} } drop` : "";
      // Create-then-delete makes the delete valid the first time; the new table replaces it atomically.
      const ruleset = `table inet gbcut\ndelete table inet gbcut\ntable inet gbcut {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ${drop}\n }\n}\n`;
      run(this.command(node, ["nft", "-f", "-"]), ruleset);
      return;
    }
    const blocked = new Set(pairs.filter(([from]) => from === node).map(([, to]) => to.address));
    for (const other of this.nodes) {
      if (other === node) continue;
      const route = `${other.address}/32`;
      tryRun([IP, "-n", node.namespace, "route", "del", "blackhole", route]);
      if (blocked.has(other.address)) run([IP, "-n", node.namespace, "route", "add", "blackhole", route]);
    }
  }
}

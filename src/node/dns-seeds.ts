// DNS discovery: a seed given as a host name stands for every address behind it (all its A and
// AAAA records, as a headless service or a round-robin name publishes its members). Each such
// name is resolved when the node starts and again every dnsRefreshIntervalMs, and every address
// found is joined (transport.join skips the ones already connected), so members that appear
// behind the name later are joined too. Until a first join reaches anyone, resolution is retried
// sooner. With dnsServers set, names are resolved only through those servers (node:dns Resolver),
// and the transport is not given the names to dial through the system resolver; without, the
// system resolver (hosts file included) answers. A name that keeps failing is logged at most once
// per retryLogIntervalMs, with the number of failures since the last line. node:dns is loaded
// only when there is a name to resolve: it is not among the cheap built-ins a node starts with
// (test/cli-startup.test.ts).

import type { Logger } from "../log.ts";

type DnsPromises = typeof import("node:dns").promises;
type Resolver = InstanceType<DnsPromises["Resolver"]>;

/** Until a join reached someone, retry this soon rather than a whole refresh interval later. */
const UNJOINED_RETRY_MS = 2_000;
/** Per query to a configured server; two tries. */
const QUERY_TIMEOUT_MS = 2_000;

export interface NameSeed {
  host: string;
  port: number;
}

export interface DnsSeedsOptions {
  seeds: readonly NameSeed[];
  /** "ip:port" of the DNS servers to ask; empty for the system resolver. */
  servers: readonly string[];
  refreshIntervalMs: number;
  retryLogIntervalMs: number;
  /** Dials each address once; resolves with how many answered. */
  join(addresses: readonly string[]): Promise<number>;
  logger: Logger;
}

/** Splits seeds into the host-name ones (for DNS discovery) and the IP-literal ones. */
export function splitSeeds(seeds: readonly string[]): { names: NameSeed[]; literals: string[] } {
  const names: NameSeed[] = [];
  const literals: string[] = [];
  for (const seed of seeds) {
    const colon = seed.lastIndexOf(":");
    const host = seed.slice(0, colon);
    const isLiteral = host.startsWith("[") || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
    if (isLiteral || colon < 0) literals.push(seed);
    else names.push({ host, port: Number(seed.slice(colon + 1)) });
  }
  return { names, literals };
}

function dialAddress(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Failures of one name since its last log line. */
interface FailureLog {
  lastLoggedMs: number;
  unlogged: number;
}

export class DnsSeeds {
  /** Loaded at the first refresh; `resolver` is null for the system resolver. */
  private dns: { module: DnsPromises; resolver: Resolver | null } | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private joinedAnyone = false;
  private readonly failures = new Map<string, FailureLog>();
  /** The addresses each name resolved to last time, for the log line when they change. */
  private readonly lastResolved = new Map<string, string>();

  constructor(private readonly options: DnsSeedsOptions) {}

  private async loadDns(): Promise<NonNullable<DnsSeeds["dns"]>> {
    if (this.dns) return this.dns;
    const module = (await import("node:dns")).promises;
    const resolver = this.options.servers.length === 0 ? null : new module.Resolver({ timeout: QUERY_TIMEOUT_MS, tries: 2 });
    resolver?.setServers([...this.options.servers]);
    return (this.dns = { module, resolver });
  }

  start(): void {
    this.stopped = false;
    if (this.options.seeds.length > 0) void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Resolves every name, joins every address found, and schedules the next round. */
  async refresh(): Promise<void> {
    const addresses = (await Promise.all(this.options.seeds.map((seed) => this.resolve(seed)))).flat();
    if (this.stopped) return;
    if (addresses.length > 0) {
      try {
        if ((await this.options.join(addresses)) > 0) this.joinedAnyone = true;
      } catch (error) {
        this.options.logger.warn(`could not join the addresses of the seed names: ${(error as Error).message}`);
      }
    }
    if (this.stopped) return;
    const delay = this.joinedAnyone ? this.options.refreshIntervalMs : Math.min(this.options.refreshIntervalMs, UNJOINED_RETRY_MS);
    this.timer = setTimeout(() => void this.refresh(), delay);
    this.timer.unref?.();
  }

  private async resolve(seed: NameSeed): Promise<string[]> {
    let ips: string[];
    try {
      ips = await this.lookup(seed.host);
    } catch (error) {
      this.noteFailure(seed.host, (error as Error).message);
      return [];
    }
    this.noteSuccess(seed.host, ips);
    return ips.map((ip) => dialAddress(ip, seed.port));
  }

  /** All A and AAAA records of `host`; throws when there is none. */
  private async lookup(host: string): Promise<string[]> {
    const { module, resolver } = await this.loadDns();
    if (!resolver) return (await module.lookup(host, { all: true })).map((found) => found.address);
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
    const ips = [...(v4.status === "fulfilled" ? v4.value : []), ...(v6.status === "fulfilled" ? v6.value : [])];
    if (ips.length > 0) return ips;
    throw (v4.status === "rejected" ? v4.reason : v6.status === "rejected" ? v6.reason : new Error(`no A or AAAA record for ${host}`)) as Error;
  }

  private noteFailure(host: string, message: string): void {
    const now = performance.now();
    const log = this.failures.get(host);
    if (log && now - log.lastLoggedMs < this.options.retryLogIntervalMs) {
      log.unlogged++;
      return;
    }
    const since = log && log.unlogged > 0 ? ` (${log.unlogged + 1} failures since the last report)` : "";
    this.options.logger.warn(`could not resolve seed name ${host}: ${message}${since}; retrying`);
    this.failures.set(host, { lastLoggedMs: now, unlogged: 0 });
  }

  private noteSuccess(host: string, ips: string[]): void {
    if (this.failures.delete(host)) this.options.logger.info(`seed name ${host} resolves again`);
    const listed = [...ips].sort().join(", ");
    if (this.lastResolved.get(host) === listed) return;
    this.lastResolved.set(host, listed);
    this.options.logger.info(`seed name ${host} resolves to ${listed}`);
  }
}

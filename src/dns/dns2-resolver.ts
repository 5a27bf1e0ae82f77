// The project Resolver on dns2: name servers from config or resolv.conf, timeout and retries per query,
// an LRU cache honouring answer TTLs (capped), negative caching by the SOA (RFC 2308 §5), and
// coalescing of identical in-flight questions. Metrics go to the registry passed in.
import { LRUCache } from 'lru-cache';
import dns2 from 'dns2';
import type { Registry } from 'prom-client';
import { counter, histogram } from '../metrics/registry.ts';
import type { Clock } from '../util/clock.ts';
import { systemClock } from '../util/clock.ts';
import type { DnsResult, MxRecord, RecordData, RecordType, Resolver } from './resolver.ts';
import { resolveNameServers, type NameServer } from './servers.ts';
import { query, TransportError, type DnsPacket } from './transport.ts';

const { Packet } = dns2;

export interface ResolverOptions {
  /** "ip" or "ip:port" entries; default: /etc/resolv.conf. */
  servers?: readonly string[];
  /** Per-attempt timeout (default 2000 ms). */
  timeoutMs?: number;
  /** Further attempts after the first, rotating through the servers (default 1). */
  retries?: number;
  /** Cached questions (default 10 000). */
  cacheSize?: number;
  /** Estimated bytes the cache may hold (default 32 MiB); an answer over 1 MiB is not cached. */
  cacheBytes?: number;
  /** Upper bound on positive TTLs (default 1 day) and on negative TTLs (default 1 hour). */
  maxTtl?: number;
  maxNegativeTtl?: number;
  registry?: Registry;
  clock?: Clock;
}

export interface CachingResolver extends Resolver {
  readonly servers: readonly NameServer[];
  /** Drops every cached answer. */
  clear(): void;
  readonly cacheEntries: number;
}

interface CacheEntry {
  result: DnsResult<RecordType>;
  expires: number;
}

const DEFAULT_CACHE_BYTES = 32 * 1024 * 1024;
const MAX_ENTRY_BYTES = 1024 * 1024;

/** Heap an answer takes, roughly: strings at two bytes a character plus per-record overhead. */
function approxBytes(result: DnsResult<RecordType>): number {
  if (result.status !== 'ok') return 64;
  let n = 64;
  for (const r of result.records) n += 48 + (typeof r === 'string' ? r.length * 2 : r.exchange.length * 2 + 16);
  return n;
}

export function createResolver(opts: ResolverOptions = {}): CachingResolver {
  const servers = resolveNameServers(opts.servers);
  const timeoutMs = opts.timeoutMs ?? 2000;
  const attempts = (opts.retries ?? 1) + 1;
  const maxTtl = opts.maxTtl ?? 86_400;
  const maxNegativeTtl = opts.maxNegativeTtl ?? 3_600;
  const clock = opts.clock ?? systemClock;
  // Bounded by count and by (estimated) bytes: one answer can hold thousands of records.
  const cache = new LRUCache<string, CacheEntry>({
    max: opts.cacheSize ?? 10_000,
    maxSize: opts.cacheBytes ?? DEFAULT_CACHE_BYTES,
    maxEntrySize: MAX_ENTRY_BYTES,
    sizeCalculation: (entry, key) => key.length + approxBytes(entry.result),
  });
  const inflight = new Map<string, Promise<DnsResult<RecordType>>>();
  let next = 0;

  const metrics = opts.registry
    ? {
        queries: counter(opts.registry, 'spamgate_dns_queries_total', 'DNS questions sent to name servers, by record type and result', ['type', 'result']),
        duration: histogram(opts.registry, 'spamgate_dns_query_duration_seconds', 'Time to answer one DNS question from the network, retries included', ['type']),
        cache: counter(opts.registry, 'spamgate_dns_cache_lookups_total', 'DNS cache lookups, by hit or miss', ['result']),
        timeouts: counter(opts.registry, 'spamgate_dns_timeouts_total', 'DNS attempts that got no answer in time'),
      }
    : undefined;

  async function resolveNetwork(name: string, type: RecordType): Promise<DnsResult<RecordType>> {
    const started = clock.now();
    let reason = 'no name server';
    let result: DnsResult<RecordType> | undefined;
    // One step of the rotation per question; its retries then go to the following servers in turn.
    const first = next++;
    for (let attempt = 0; attempt < attempts && !result; attempt++) {
      const server = servers[(first + attempt) % servers.length] as NameServer;
      try {
        const { reply } = await query(server, name, type, timeoutMs);
        const mapped = mapReply(reply, type);
        if (mapped.status === 'temperror') reason = mapped.reason;
        else result = mapped;
      } catch (err) {
        if (err instanceof TransportError && err.kind === 'badname') {
          // A name that cannot be encoded cannot exist in the DNS.
          result = { status: 'nxdomain', ttl: 0 };
        } else {
          if (err instanceof TransportError && err.kind === 'timeout') metrics?.timeouts.inc();
          reason = err instanceof TransportError && err.kind === 'timeout' ? 'timeout' : (err as Error).message;
        }
      }
    }
    result ??= { status: 'temperror', reason };
    metrics?.queries.inc({ type, result: result.status === 'temperror' && reason === 'timeout' ? 'timeout' : result.status });
    metrics?.duration.observe({ type }, (clock.now() - started) / 1000);
    return result;
  }

  function remember(key: string, result: DnsResult<RecordType>): void {
    if (result.status === 'temperror') return;
    const cap = result.status === 'ok' ? maxTtl : maxNegativeTtl;
    const ttl = Math.min(result.ttl, cap);
    if (ttl <= 0) return;
    cache.set(key, { result, expires: clock.now() + ttl * 1000 });
  }

  return {
    servers,
    get cacheEntries() {
      return cache.size;
    },
    clear: () => cache.clear(),
    lookup<T extends RecordType>(rawName: string, type: T): Promise<DnsResult<T>> {
      const name = rawName.toLowerCase().replace(/\.$/, '');
      const key = `${type} ${name}`;
      const hit = cache.get(key);
      if (hit && hit.expires > clock.now()) {
        metrics?.cache.inc({ result: 'hit' });
        const left = Math.max(1, Math.ceil((hit.expires - clock.now()) / 1000));
        return Promise.resolve({ ...hit.result, ttl: left } as DnsResult<T>);
      }
      if (hit) cache.delete(key);
      metrics?.cache.inc({ result: 'miss' });
      let pending = inflight.get(key);
      if (!pending) {
        pending = resolveNetwork(name, type).then((result) => {
          inflight.delete(key);
          remember(key, result);
          return result;
        });
        inflight.set(key, pending);
      }
      return pending as Promise<DnsResult<T>>;
    },
  };
}

/** Maps a reply to a result; answers are followed along CNAME chains from the question name. */
export function mapReply(reply: DnsPacket, type: RecordType): DnsResult<RecordType> {
  const rcode = reply.header.rcode;
  if (rcode === Packet.RCODE.NXDOMAIN) return { status: 'nxdomain', ttl: negativeTtl(reply) };
  if (rcode !== Packet.RCODE.NOERROR) return { status: 'temperror', reason: `rcode ${rcode}` };
  // dns2 skips records it cannot decode and lists them in `errors`; an answer section with holes is
  // not an answer (an MX set read as empty would send mail to the implicit MX), so it is a temperror.
  const broken = (reply.errors ?? []).find((e) => e.section === undefined || e.section === 'questions' || e.section === 'answers');
  if (broken) return { status: 'temperror', reason: `malformed answer: ${broken.message.slice(0, 120)}` };
  const wanted = Packet.TYPE[type];
  const cname = Packet.TYPE.CNAME;
  let owner = (reply.questions[0]?.name ?? '').toLowerCase().replace(/\.$/, '');
  let ttl = Number.POSITIVE_INFINITY;
  const records: RecordData<RecordType>[] = [];
  for (let hop = 0; hop < 10; hop++) {
    const here = reply.answers.filter((r) => r.name.toLowerCase().replace(/\.$/, '') === owner);
    const own = here.filter((r) => r.type === wanted);
    if (own.length) {
      for (const r of own) {
        ttl = Math.min(ttl, r.ttl);
        records.push(recordOf(r, type));
      }
      break;
    }
    const alias = here.find((r) => r.type === cname);
    if (!alias?.domain || type === 'CNAME') break;
    ttl = Math.min(ttl, alias.ttl);
    owner = alias.domain.toLowerCase().replace(/\.$/, '');
  }
  if (!records.length) {
    // An alias whose target lies outside the answer: we cannot chase it further here.
    if (reply.answers.some((r) => r.type === cname) && type !== 'CNAME') return { status: 'temperror', reason: 'unresolved CNAME chain' };
    return { status: 'nodata', ttl: negativeTtl(reply) };
  }
  return { status: 'ok', records, ttl: Number.isFinite(ttl) ? ttl : 0 };
}

function recordOf(r: dns2.Packet.Resource, type: RecordType): RecordData<RecordType> {
  switch (type) {
    case 'A':
    case 'AAAA':
      return r.address ?? '';
    case 'MX':
      return { exchange: (r.exchange ?? '').replace(/\.$/, ''), priority: r.priority ?? 0 } satisfies MxRecord;
    case 'TXT':
    case 'SPF': {
      // RFC 7208 §3.3: the character-strings of one record are concatenated without spaces.
      const d = r.data;
      return Array.isArray(d) ? d.join('') : Buffer.isBuffer(d) ? d.toString('utf8') : (d ?? '');
    }
    case 'NS':
      return (r.ns ?? '').replace(/\.$/, '');
    default:
      return (r.domain ?? '').replace(/\.$/, '');
  }
}

/** RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM); without an SOA it is not cached. */
function negativeTtl(reply: DnsPacket): number {
  const soa = reply.authorities.find((r) => r.type === Packet.TYPE.SOA);
  if (!soa) return 0;
  return Math.max(0, Math.min(soa.ttl, soa.minimum ?? 0));
}

// Config sections of shared state: `redis:` (connection, which stores live in Redis, failure policy)
// and `greylist:` (RFC 6647 triplet greylisting, off by default).
import { z } from 'zod';
import { cidrList, domain, duration, host, timer } from '../units.ts';

const node = z.strictObject({ host: host(), port: z.number().int().min(1).max(65535) });

/**
 * TLS to Redis: present means every connection (the server, Sentinel's master and sentinels, every Cluster
 * node) is TLS, verified against `ca` (PEM; Node's built-in CAs without it) for `servername` (default: the
 * host connected to; Sentinel's master and Cluster's nodes are connected to by the IPs they announce, so
 * their certificates name those IPs, or `servername` gives the one name every server's certificate has).
 * `cert` / `key`: a client certificate, for a server with tls-auth-clients. Read once, at start.
 */
const redisTls = z
  .strictObject({
    ca: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    servername: host().optional(),
  })
  .refine((t) => (t.cert === undefined) === (t.key === undefined), { message: 'redis.tls.cert and redis.tls.key must be given together' });
export type RedisTlsConfig = z.output<typeof redisTls>;

/** The stores that can move from in-process memory to Redis. */
export const SHARED_STORES = ['rate', 'bayes', 'greylist', 'fuzzy', 'reputation'] as const;
export type SharedStoreName = (typeof SHARED_STORES)[number];

/** A URL ioredis can connect to: redis: or rediss: with a host, and a numeric db path if any. */
function isRedisUrl(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '' && /^\/?(\d+)?$/.test(url.pathname);
}

export const redisSection = z
  .strictObject({
    /** redis://[user:pass@]host:port/db; wins over host/port. */
    url: z.string().refine(isRedisUrl, { message: 'expected redis://[user:pass@]host[:port][/db] or rediss://…' }).optional(),
    host: host().default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(6379),
    db: z.number().int().min(0).default(0),
    username: z.string().optional(),
    password: z.string().optional(),
    /** Sentinel: the sentinels to ask and the master group name. */
    sentinels: z.array(node).min(1).optional(),
    sentinel_name: z.string().default('mymaster'),
    /** Credentials the sentinels themselves require (Redis 6+ `requirepass` / ACL on a sentinel). */
    sentinel_username: z.string().optional(),
    sentinel_password: z.string().optional(),
    tls: redisTls.optional(),
    /** Cluster: startup nodes (url/host/port are then ignored; exclusive with sentinels). */
    cluster: z.array(node).min(1).optional(),
    key_prefix: z.string().default('spamgate:'),
    /** Per-command limit; a slower Redis counts as down for that call. */
    timeout: timer().prefault('250ms'),
    connect_timeout: timer().prefault('2s'),
    /** Longest pause between reconnect attempts. */
    reconnect_max: timer().prefault('2s'),
    /** When Redis is down: tempfail the checks that need it, or skip them. */
    on_error: z.enum(['tempfail', 'skip']).default('tempfail'),
    /** Stores kept in Redis; the others stay in-process (the default is all in-process). */
    use_for: z.array(z.enum(SHARED_STORES)).default([]),
  })
  .prefault({})
  .refine((r) => !(r.sentinels && r.cluster), { message: 'redis.sentinels and redis.cluster are exclusive' });

export const greylistSection = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** A retry earlier than this after first sight is deferred again. */
    delay: duration().prefault('5m'),
    /**
     * A first sight not retried within this is forgotten (the next attempt starts over). 2 days, as
     * postgrey: MTAs space their retries out, and a shorter window kept deferring a slow retrier until it
     * bounced.
     */
    max_wait: duration().prefault('2d'),
    /** How long a passed triplet (or network) stays whitelisted; refreshed on each use. */
    whitelist_for: duration().prefault('36d'),
    /** What a successful retry whitelists: the triplet, or the whole client network. */
    auto_whitelist: z.enum(['triplet', 'network']).default('triplet'),
    /**
     * Greylist only when the score so far (connect..rcpt symbols) is at or above this; unset: always. Not
     * 0 by default: an SPF pass (-1) is the sender's own claim, and a throwaway domain with `+all` made
     * every first attempt skip greylisting.
     */
    min_score: z.number().optional(),
    ipv4_prefix: z.number().int().min(8).max(32).default(24),
    ipv6_prefix: z.number().int().min(16).max(128).default(64),
    /** Client networks never greylisted (trusted networks and authenticated clients always skip). */
    whitelist_networks: cidrList().default([]),
    /** Sender domains never greylisted when SPF passes for them. */
    whitelist_spf_domains: z.array(domain()).default([]),
    /** In-process store: triplets kept (least recently used dropped first). */
    max_entries: z.number().int().positive().default(200_000),
    /** Time budget of the check (covers the Redis round trip). */
    timeout: timer().prefault('1s'),
  })
  .prefault({})
  .refine((g) => g.delay < g.max_wait, { message: 'greylist.delay must be below greylist.max_wait' });

export type RedisConfig = z.output<typeof redisSection>;
export type GreylistConfig = z.output<typeof greylistSection>;

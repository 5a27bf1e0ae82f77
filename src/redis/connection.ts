// The one ioredis client (standalone, Sentinel or Cluster) every shared store uses. Calls fail fast when
// Redis is down (no offline queue, per-command timeout, no per-request retries) or hung (a silent socket is
// dropped) while ioredis reconnects on its own; each failure is counted in spamgate_redis_errors_total{store},
// spamgate_redis_up follows the link.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConfig, RedisTlsConfig, SharedStoreName } from '../config/sections/redis.ts';
import { counter, gauge, type Registry } from '../metrics/registry.ts';
import type { Logger } from '../util/logger.ts';

export type RedisClient = Redis | Cluster;
export type RedisStoreLabel = SharedStoreName | 'bench';

/** Redis did not answer (down, slow, or refused the command) for one store operation. */
export class RedisUnavailableError extends Error {
  constructor(
    readonly store: RedisStoreLabel,
    cause: unknown,
  ) {
    super(`redis unavailable for the ${store} store: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'RedisUnavailableError';
  }
}

/** A Lua script run by SHA, loaded on first NOSCRIPT. */
export interface LuaScript {
  source: string;
  sha: string;
}

export function luaScript(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

export interface RedisLinkOptions {
  config: RedisConfig;
  log: Logger;
  registry: Registry;
  /** Stores that will use the link: their error counters start at 0, so rates and alerts have a series. */
  stores?: readonly RedisStoreLabel[];
}

export class RedisLink {
  readonly client: RedisClient;
  readonly prefix: string;
  readonly onError: RedisConfig['on_error'];
  private readonly timeoutMs: number;
  private readonly errors;
  private readonly log: Logger;
  private up = false;
  /** close() was called: the link going down is expected, not worth a warning. */
  private closing = false;
  /** A pending restart of a client that ended on its own. */
  private revive: NodeJS.Timeout | undefined;

  constructor(opts: RedisLinkOptions) {
    const cfg = opts.config;
    this.prefix = cfg.key_prefix;
    this.onError = cfg.on_error;
    this.timeoutMs = cfg.timeout;
    this.log = opts.log.child({ component: 'redis' });
    this.errors = counter(opts.registry, 'spamgate_redis_errors_total', 'Shared-store operations that failed because Redis was down, slow or refused them, by store.', ['store']);
    for (const store of opts.stores ?? []) this.errors.inc({ store }, 0);
    const upGauge = gauge(opts.registry, 'spamgate_redis_up', 'Whether the Redis connection of the shared stores is ready (1) or not (0).');
    upGauge.set(0);
    this.client = createClient(cfg);
    this.client.on('ready', () => {
      if (!this.up) this.log.info('redis connection ready');
      this.up = true;
      upGauge.set(1);
    });
    const down = (): void => {
      if (this.up && !this.closing) this.log.warn('redis connection lost; shared stores degrade until it is back');
      this.up = false;
      upGauge.set(0);
    };
    this.client.on('close', down);
    this.client.on('end', down);
    // ioredis can give up for good ("end") although its retry strategy never does: a Sentinel failover
    // announced while a reconnect is still asking the sentinels ends the client. Unless we closed it,
    // it is started again after reconnect_max, for as long as the link lives.
    this.client.on('end', () => {
      if (this.closing || this.revive) return;
      this.revive = setTimeout(() => {
        this.revive = undefined;
        if (!this.closing && this.client.status === 'end') this.client.connect().catch(() => undefined);
      }, cfg.reconnect_max);
      this.revive.unref();
    });
    // ioredis emits 'error' on every failed reconnect; the state is in the gauge, the log says it once.
    this.client.on('error', () => undefined);
  }

  get isUp(): boolean {
    return this.up;
  }

  /** Waits until the connection is ready, at most `ms`; false when it is not (the stores then degrade). */
  async waitReady(ms: number): Promise<boolean> {
    if (this.up) return true;
    let timer: NodeJS.Timeout | undefined;
    let onReady: (() => void) | undefined;
    const ready = await Promise.race([
      new Promise<boolean>((resolve) => {
        onReady = () => resolve(true);
        this.client.once('ready', onReady);
      }),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
    clearTimeout(timer);
    if (onReady) this.client.off('ready', onReady);
    return ready || this.up;
  }

  /** Runs one store operation under the per-command deadline; any failure becomes RedisUnavailableError. */
  async run<T>(store: RedisStoreLabel, op: (client: RedisClient) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no reply within ${this.timeoutMs} ms`)), this.timeoutMs + 25);
    });
    try {
      return await Promise.race([op(this.client), deadline]);
    } catch (err) {
      this.errors.inc({ store });
      throw new RedisUnavailableError(store, err);
    } finally {
      clearTimeout(timer);
    }
  }

  /** EVALSHA, falling back to EVAL (which caches the script) when the server does not know it yet. */
  async eval(script: LuaScript, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await this.client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return this.client.eval(script.source, keys.length, ...keys, ...args);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.revive);
    try {
      if (this.client.status === 'ready') await this.client.quit();
    } catch {
      // disconnect below
    } finally {
      // Also after QUIT: only disconnect() closes the Sentinel failover detector's subscriptions, which
      // would otherwise outlive the link (and keep the process alive, redialling the sentinels).
      this.client.disconnect();
    }
  }
}

/** Node TLS options from redis.tls (files read once, when the client is made); undefined without TLS. */
export function redisTlsOptions(tls: RedisTlsConfig | undefined): ConnectionOptions | undefined {
  if (!tls) return undefined;
  return {
    ...(tls.ca !== undefined ? { ca: readFileSync(tls.ca) } : {}),
    ...(tls.cert !== undefined ? { cert: readFileSync(tls.cert) } : {}),
    ...(tls.key !== undefined ? { key: readFileSync(tls.key) } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
  };
}

/** How long a socket with commands in flight may stay silent before it is dropped: 4 × redis.timeout, at least 1 s. */
export function socketTimeoutOf(timeoutMs: number): number {
  return Math.max(1000, 4 * timeoutMs);
}

function createClient(cfg: RedisConfig): RedisClient {
  // a rediss:// URL turns TLS on by itself; redis.tls adds the CA and the rest (and turns it on otherwise)
  const tls = redisTlsOptions(cfg.tls);
  const common: RedisOptions = {
    ...(tls ? { tls } : {}),
    commandTimeout: cfg.timeout,
    // A hung Redis (stopped, or a host that vanished) keeps the socket open: commandTimeout rejects the
    // callers, but their commands stay queued on the socket and would all run once Redis resumes. With no
    // byte read for socketTimeout the socket is dropped instead (its unanswered commands rejected, never
    // resent), and until a reconnect is ready new calls fail at once (no offline queue).
    socketTimeout: socketTimeoutOf(cfg.timeout),
    autoResendUnfulfilledCommands: false,
    keepAlive: 10_000,
    connectTimeout: cfg.connect_timeout,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), cfg.reconnect_max),
    ...(cfg.username !== undefined ? { username: cfg.username } : {}),
    ...(cfg.password !== undefined ? { password: cfg.password } : {}),
  };
  if (cfg.cluster) {
    const { retryStrategy: _r, enableOfflineQueue: _q, ...redisOptions } = common;
    const options: ClusterOptions = {
      redisOptions,
      enableOfflineQueue: false,
      clusterRetryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), cfg.reconnect_max),
    };
    return new Cluster(cfg.cluster, options);
  }
  if (cfg.sentinels) {
    // failoverDetector: follow the sentinels' +switch-master. Without it a master that hangs (or is cut
    // off) instead of dying keeps the socket open, and every command times out on it after the failover.
    return new Redis({
      ...common,
      sentinels: cfg.sentinels,
      name: cfg.sentinel_name,
      db: cfg.db,
      failoverDetector: true,
      // TLS to the sentinels too, and to the master and replicas they name
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      ...(cfg.sentinel_username !== undefined ? { sentinelUsername: cfg.sentinel_username } : {}),
      ...(cfg.sentinel_password !== undefined ? { sentinelPassword: cfg.sentinel_password } : {}),
    });
  }
  if (cfg.url !== undefined) return new Redis(cfg.url, common);
  return new Redis({ ...common, host: cfg.host, port: cfg.port, db: cfg.db });
}

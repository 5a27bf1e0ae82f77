// Rate counters in Redis, shared by every gateway: the same two-bucket sliding window as MemoryRateStore,
// one atomic Lua call per hit, each fixed bucket a key that expires by TTL two windows after its last hit.
import type { RateStore } from '../limits/rate-store.ts';
import type { Clock } from '../util/clock.ts';
import { luaScript, type RedisLink } from './connection.ts';

/**
 * KEYS[1] current bucket, KEYS[2] previous bucket; ARGV amount, TTL (ms), elapsed fraction of the window.
 * Returns the weighted count as a string (Lua numbers would be truncated to integers on the way out).
 */
const HIT = luaScript(`
local cur = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
return tostring(cur + prev * (1 - tonumber(ARGV[3])))
`);

export class RedisRateStore implements RateStore {
  readonly kind = 'redis';

  constructor(
    private readonly link: RedisLink,
    private readonly clock: Clock,
  ) {}

  /**
   * Counts the hit in Redis. When Redis does not answer in time the limit degrades per redis.on_error:
   * `skip` counts nothing (0: never over the limit), `tempfail` throws the RedisUnavailableError so the
   * rate check reports RATE_STORE_UNAVAILABLE (a deferral that says why) until Redis is back.
   */
  async hit(key: string, windowMs: number, amount = 1): Promise<number> {
    const now = this.clock.now();
    const bucket = Math.floor(now / windowMs);
    const elapsed = (now % windowMs) / windowMs;
    // One hash tag per counter: both bucket keys live in one Cluster slot.
    const base = `${this.link.prefix}{rate:${windowMs}:${key}}:`;
    try {
      const raw = await this.link.run('rate', () => this.link.eval(HIT, [base + bucket, base + (bucket - 1)], [amount, windowMs * 2, elapsed.toFixed(6)]));
      return Math.ceil(Number(raw) - 1e-9);
    } catch (err) {
      if (this.link.onError === 'skip') return 0;
      throw err;
    }
  }

  /** The link is shared with the other stores; openSharedStores closes it. */
  async close(): Promise<void> {}
}

// Rate counters in Redis, shared by every gateway: the same two-bucket sliding window as MemoryRateStore,
// one atomic Lua call per hit, each fixed bucket a key that expires by TTL two windows after its last hit.
// The time is Redis' own (TIME, in the script): gateways whose clocks disagree still share one window.
// A hit over the caller's limit is not counted, in the same script.
import type { HitOptions, RateStore } from '../limits/rate-store.ts';
import type { Clock } from '../util/clock.ts';
import { luaScript, type RedisLink } from './connection.ts';

/**
 * KEYS[1] the counter's key prefix (its hash tag names the Cluster slot; the bucket keys are it plus the
 * bucket number); ARGV amount, window (ms), now (ms; empty: Redis' TIME), limit (empty: none). Redis 7
 * replicates a script's effects, not the script, so reading TIME before writing is allowed. The hit is
 * counted only when the count with it stays within the limit. Returns the weighted count with the hit as a
 * string (Lua numbers would be truncated to integers on the way out).
 */
const HIT = luaScript(`
local amount, window, now, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local bucket = math.floor(now / window)
local key = KEYS[1] .. string.format('%d', bucket)
local cur = tonumber(redis.call('GET', key) or '0')
local prev = tonumber(redis.call('GET', KEYS[1] .. string.format('%d', bucket - 1)) or '0')
local n = cur + amount + prev * (1 - (now % window) / window)
if not limit or math.ceil(n - 1e-9) <= limit then
  redis.call('INCRBY', key, amount)
  redis.call('PEXPIRE', key, window * 2)
end
return tostring(n)
`);

export class RedisRateStore implements RateStore {
  readonly kind = 'redis';

  /** `clock`: a test's own time line instead of Redis' TIME (production leaves it out). */
  constructor(
    private readonly link: RedisLink,
    private readonly clock?: Clock,
  ) {}

  /**
   * Counts the hit in Redis. When Redis does not answer in time the limit degrades per redis.on_error:
   * `skip` counts nothing (0: never over the limit), `tempfail` throws the RedisUnavailableError so the
   * rate check reports RATE_STORE_UNAVAILABLE (a deferral that says why) until Redis is back.
   */
  async hit(key: string, windowMs: number, opts: HitOptions = {}): Promise<number> {
    const now = this.clock ? String(Math.floor(this.clock.now())) : '';
    const amount = opts.amount ?? 1;
    const limit = opts.limit === undefined ? '' : String(opts.limit);
    // One hash tag per counter: both bucket keys live in one Cluster slot.
    const base = `${this.link.prefix}{rate:${windowMs}:${key}}:`;
    try {
      const raw = await this.link.run('rate', () => this.link.eval(HIT, [base], [amount, windowMs, now, limit]));
      return Math.ceil(Number(raw) - 1e-9);
    } catch (err) {
      if (this.link.onError === 'skip') return 0;
      throw err;
    }
  }

  /** The link is shared with the other stores; openSharedStores closes it. */
  async close(): Promise<void> {}
}

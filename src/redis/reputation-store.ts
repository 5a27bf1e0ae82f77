// The reputation store in Redis, shared by every gateway: one hash per key ({rep}:<kind>:<value>: s = sum,
// c = count, t = as of) updated by a Lua script that decays it to now and adds the observation in one step,
// expiring eight half-lives after its last update (by then under 1/256 of its weight is left), and a sorted
// set of ids by last update ({rep}:all) for the count and the bound: past reputation.max_entries keys the
// least recently updated go, record and all, as from the in-process LRU (a spammer walking through IPv6
// /64s would otherwise add a key a message, each kept eight half-lives). Every key carries the {rep} hash
// tag (one Cluster slot: the script may delete the records it names from the set).
import type { ReputationRecord } from '../reputation/math.ts';
import type { ReputationStore } from '../reputation/store.ts';
import type { Clock } from '../util/clock.ts';
import { luaScript, type RedisLink } from './connection.ts';

const OBSERVE = luaScript(`
local now = tonumber(ARGV[1])
local s = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
local c = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
local t = tonumber(redis.call('HGET', KEYS[1], 't') or ARGV[1])
-- a record that is no number (nil, nan, inf) or counts nothing starts afresh
if not s or not c or not t or s ~= s or c ~= c or t ~= t or c <= 0 or s == math.huge or s == -math.huge or c == math.huge then
  s, c, t = 0, 0, now
end
if now > t then
  local f = math.pow(2, -(now - t) / tonumber(ARGV[4]))
  s = s * f
  c = c * f
end
t = now
s = s + tonumber(ARGV[2]) * tonumber(ARGV[3])
c = c + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 's', tostring(s), 'c', tostring(c), 't', tostring(t))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
local max = tonumber(ARGV[7])
if max > 0 then
  local over = redis.call('ZCARD', KEYS[2]) - max
  if over > 0 then
    for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
      redis.call('DEL', ARGV[8] .. id)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  end
end
return {tostring(s), tostring(c), tostring(t)}
`);

export class RedisReputationStore implements ReputationStore {
  private readonly base: string;

  constructor(
    private readonly link: RedisLink,
    private readonly clock: Clock,
    private readonly halfLifeMs: number,
    /** Keys kept (0: no bound but their expiry). */
    private readonly maxEntries = 0,
  ) {
    this.base = `${link.prefix}{rep}:`;
  }

  private key = (id: string): string => this.base + id;
  private get all(): string {
    return `${this.base}all`;
  }
  private get ttlMs(): number {
    return Math.round(this.halfLifeMs * 8);
  }

  async get(id: string): Promise<ReputationRecord | undefined> {
    const h = await this.link.run('reputation', (c) => c.hgetall(this.key(id)));
    if (h.s === undefined || h.c === undefined || h.t === undefined) return undefined;
    const rec = { sum: Number(h.s), count: Number(h.c), at: Number(h.t) };
    // no number (edited by hand, another writer): no history; the next observation starts it afresh
    return Number.isFinite(rec.sum + rec.count + rec.at) && rec.count > 0 ? rec : undefined;
  }

  async observe(id: string, score: number, weight: number, now: number): Promise<ReputationRecord> {
    const r = await this.link.run('reputation', () => this.link.eval(OBSERVE, [this.key(id), this.all], [now, score, weight, this.halfLifeMs, this.ttlMs, id, this.maxEntries, this.base]));
    const [s, c, t] = Array.isArray(r) ? r.map(Number) : [];
    return { sum: s ?? 0, count: c ?? 0, at: t ?? now };
  }

  async reset(id: string): Promise<boolean> {
    return this.link.run('reputation', async (c) => {
      const replies = (await c.multi().del(this.key(id)).zrem(this.all, id).exec()) ?? [];
      return Number(replies[0]?.[1] ?? 0) > 0;
    });
  }

  async size(): Promise<number> {
    return this.link.run('reputation', async (c) => {
      const replies = (await c.multi().zremrangebyscore(this.all, '-inf', this.clock.now() - this.ttlMs).zcard(this.all).exec()) ?? [];
      return Number(replies[1]?.[1] ?? 0);
    });
  }

  async close(): Promise<void> {
    // the link is closed by its owner (shared-stores.ts)
  }
}

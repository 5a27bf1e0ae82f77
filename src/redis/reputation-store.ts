// The reputation store in Redis, shared by every gateway: one hash per key ({rep}:<kind>:<value>: s = sum,
// c = count, t = as of) updated by a Lua script that decays it to now and adds the observation in one step,
// expiring eight half-lives after its last update (by then under 1/256 of its weight is left).
import type { ReputationRecord } from '../reputation/math.ts';
import type { ReputationStore } from '../reputation/store.ts';
import { luaScript, type RedisLink } from './connection.ts';

const OBSERVE = luaScript(`
local s = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
local c = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
local t = tonumber(redis.call('HGET', KEYS[1], 't') or ARGV[1])
local now = tonumber(ARGV[1])
if now > t then
  local f = math.pow(2, -(now - t) / tonumber(ARGV[4]))
  s = s * f
  c = c * f
  t = now
end
s = s + tonumber(ARGV[2]) * tonumber(ARGV[3])
c = c + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 's', tostring(s), 'c', tostring(c), 't', tostring(t))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {tostring(s), tostring(c), tostring(t)}
`);

export class RedisReputationStore implements ReputationStore {
  private readonly base: string;

  constructor(
    private readonly link: RedisLink,
    private readonly halfLifeMs: number,
  ) {
    this.base = `${link.prefix}{rep}:`;
  }

  private key = (id: string): string => this.base + id;

  async get(id: string): Promise<ReputationRecord | undefined> {
    const h = await this.link.run('reputation', (c) => c.hgetall(this.key(id)));
    if (h.s === undefined || h.c === undefined || h.t === undefined) return undefined;
    return { sum: Number(h.s), count: Number(h.c), at: Number(h.t) };
  }

  async observe(id: string, score: number, weight: number, now: number): Promise<ReputationRecord> {
    const r = await this.link.run('reputation', () => this.link.eval(OBSERVE, [this.key(id)], [now, score, weight, this.halfLifeMs, Math.round(this.halfLifeMs * 8)]));
    const [s, c, t] = Array.isArray(r) ? r.map(Number) : [];
    return { sum: s ?? 0, count: c ?? 0, at: t ?? now };
  }

  async reset(id: string): Promise<boolean> {
    return (await this.link.run('reputation', (c) => c.del(this.key(id)))) > 0;
  }

  async size(): Promise<number> {
    // SCAN of the store's keys, bounded (100 rounds of 1,000): the owner asks at most once a minute
    return this.link.run('reputation', async (c) => {
      let cursor = '0';
      let n = 0;
      let rounds = 0;
      do {
        const [next, keys] = await c.scan(cursor, 'MATCH', `${this.base}*`, 'COUNT', 1000);
        cursor = next;
        n += keys.length;
      } while (cursor !== '0' && ++rounds < 100);
      return n;
    });
  }

  async close(): Promise<void> {
    // the link is closed by its owner (shared-stores.ts)
  }
}

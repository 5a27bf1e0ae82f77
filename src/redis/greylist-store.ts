// The greylist in Redis, shared by every gateway: the same transition as MemoryGreylistStore, run as one
// Lua call so two gateways seeing one triplet at once agree. Keys expire by TTL (max_wait, whitelist_for).
// The time is Redis' own (TIME, in the script): a gateway with a slow or fast clock cannot shorten the delay.
import type { GreylistDecision, GreylistPolicy, GreylistStore } from '../greylist/store.ts';
import type { Triplet } from '../greylist/triplet.ts';
import { luaScript, type RedisLink } from './connection.ts';

/**
 * KEYS[1] triplet ("p:<first seen ms>" or "w:<whitelisted until ms>"), KEYS[2] network whitelist
 * ("<until ms>"); ARGV now (ms; empty: Redis' TIME), delay, max wait, whitelist time (ms), scope. Every
 * gateway reads the one clock of the server holding the keys (Redis 7 replicates a script's effects, so
 * TIME before a write is allowed); TTLs only clean up.
 */
const CHECK = luaScript(`
local now, delay, maxwait, wl, scope = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local n = redis.call('GET', KEYS[2])
if n and tonumber(n) > now then
  redis.call('SET', KEYS[2], string.format('%d', now + wl), 'PX', wl)
  return {'whitelisted', 0}
end
local t = redis.call('GET', KEYS[1])
if t then
  local kind, at = string.sub(t, 1, 1), tonumber(string.sub(t, 3))
  if kind == 'w' and at and at > now then
    redis.call('SET', KEYS[1], 'w:' .. string.format('%d', now + wl), 'PX', wl)
    return {'whitelisted', 0}
  end
  if kind == 'p' and at then
    local age = now - at
    if age >= delay and age <= maxwait then
      redis.call('SET', KEYS[1], 'w:' .. string.format('%d', now + wl), 'PX', wl)
      if scope == 'network' then redis.call('SET', KEYS[2], string.format('%d', now + wl), 'PX', wl) end
      return {'passed', age}
    end
    if age < delay then return {'early', delay - age} end
  end
end
redis.call('SET', KEYS[1], 'p:' .. string.format('%d', now), 'PX', maxwait)
return {'new', delay}
`);

export class RedisGreylistStore implements GreylistStore {
  readonly kind = 'redis';

  /** `time`: 'redis' (production) reads Redis' TIME; 'caller' takes `now` as given (a test's own time line). */
  constructor(
    private readonly link: RedisLink,
    private readonly time: 'redis' | 'caller' = 'redis',
  ) {}

  /**
   * `now` (the gateway's clock) is used only with time 'caller'. Throws RedisUnavailableError when Redis
   * does not answer; the greylist check applies redis.on_error.
   */
  async check(triplet: Triplet, now: number, policy: GreylistPolicy): Promise<GreylistDecision> {
    // One hash tag per client network: the triplet and the network key share a Cluster slot.
    const base = `${this.link.prefix}{gl:${triplet.network}}:`;
    const keys = [`${base}t:${triplet.sender}|${triplet.recipient}`, `${base}n`];
    const args = [this.time === 'caller' ? String(Math.floor(now)) : '', policy.delayMs, policy.maxWaitMs, policy.whitelistMs, policy.scope];
    const reply = await this.link.run('greylist', () => this.link.eval(CHECK, keys, args));
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error(`unexpected greylist script reply ${JSON.stringify(reply)}`);
    const [status, ms] = reply as [unknown, unknown];
    const value = Number(ms);
    switch (status) {
      case 'whitelisted':
        return { status: 'whitelisted' };
      case 'passed':
        return { status: 'passed', waitedMs: value };
      case 'early':
        return { status: 'deferred', retryInMs: value, first: false };
      case 'new':
        return { status: 'deferred', retryInMs: value, first: true };
      default:
        throw new Error(`unexpected greylist status ${String(status)}`);
    }
  }

  /** The link is shared with the other stores; openSharedStores closes it. */
  async close(): Promise<void> {}
}

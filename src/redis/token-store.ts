// The Bayes token store in Redis, shared by every gateway: one hash per token (fields s, h), the totals hash,
// one key per learned-message digest and the seed's digest hash. A lookup of any number of tokens is one round
// trip (one script); a change is one atomic Lua call that also makes relearning idempotent across gateways.
import { randomUUID } from 'node:crypto';
import type { MessageClass } from '../bayes/learner.ts';
import type { ModelData } from '../bayes/model-file.ts';
import type { LearnedTotals, StoreChange, TokenCounts, TokenStore } from '../bayes/token-store.ts';
import { luaScript, type RedisLink } from './connection.ts';

/**
 * KEYS[1] totals, KEYS[2] the seed's digest hash, KEYS[3] the seeding lock, KEYS[4] this message's digest key,
 * KEYS[5..] token hashes; ARGV field (s|h), delta, digest, class, ttl (seconds, 0: none). A token learned here
 * expires ttl after it was last learned; a token of the seed (no expiry set) stays, so the shipped model does not
 * fade on a quiet site. The digest of a message learned here is a key of its own with the same ttl (a hash field
 * cannot expire before Redis 7.4), so the digests stay bounded like the tokens; the seed's digests stay in the
 * hash, and one found there is moved to its own key when the message is learned again. While a gateway seeds the
 * store nothing is learned (returns -1: the caller waits), so the seed can be written as plain values, the same
 * again if it is retried. +1 for a digest already learned as this class, or -1 for one not learned as it, changes
 * nothing (two gateways learning one message at once count it once). +1 for a digest learned as the other class
 * moves it: the other class's counts are taken off in the same step (two gateways learning one message as
 * opposite classes at once leave it counted once, as the later one). Counts never go below zero; a token whose
 * counts both reach zero disappears.
 */
const UPDATE = luaScript(`
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
local field, delta, digest, cls, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5]) or 0
local prev = redis.call('GET', KEYS[4]) or redis.call('HGET', KEYS[2], digest)
if delta > 0 and prev == cls then return 0 end
if delta < 0 and prev ~= cls then return 0 end
local function down(f)
  for i = 5, #KEYS do
    local v = tonumber(redis.call('HGET', KEYS[i], f) or '0')
    if v > 1 then redis.call('HINCRBY', KEYS[i], f, -1) elseif v == 1 then redis.call('HDEL', KEYS[i], f) end
  end
  local t = tonumber(redis.call('HGET', KEYS[1], f) or '0') - 1
  if t < 0 then t = 0 end
  redis.call('HSET', KEYS[1], f, t)
end
if delta > 0 then
  if prev then down(prev == 'spam' and 's' or 'h') end
  for i = 5, #KEYS do
    -- TTL -2: a new token, > 0: one learned here before; -1: a seeded token, kept for ever
    local expiring = ttl > 0 and redis.call('TTL', KEYS[i]) ~= -1
    redis.call('HINCRBY', KEYS[i], field, 1)
    if expiring then redis.call('EXPIRE', KEYS[i], ttl) end
  end
  redis.call('HINCRBY', KEYS[1], field, 1)
  redis.call('HDEL', KEYS[2], digest)
  if ttl > 0 then redis.call('SET', KEYS[4], cls, 'EX', ttl) else redis.call('SET', KEYS[4], cls) end
else
  down(field)
  redis.call('HDEL', KEYS[2], digest)
  redis.call('DEL', KEYS[4])
end
return 1
`);

/** KEYS[1] the seeding lock, ARGV[1] its holder: removed only by its holder (another may hold it after expiry). */
const RELEASE = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

/**
 * KEYS: token hashes. Returns s, h for each key in order (nil for a missing count). One server-side
 * loop: a 500-token message is one round trip, and costs the client one reply instead of 500.
 */
const GET_MANY = luaScript(`
local r = {}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 's', 'h')
  r[2 * i - 1] = v[1]
  r[2 * i] = v[2]
end
return r
`);

const FIELD: Record<MessageClass, 's' | 'h'> = { spam: 's', ham: 'h' };

/** How long a seeding gateway holds the seeding lock at most (a crashed one lets another try after that). */
const SEED_LOCK_SECONDS = 600;
/** A learn waits up to SEED_WAIT_ROUNDS × SEED_WAIT_MS for a seeding to end. */
const SEED_WAIT_ROUNDS = 100;
const SEED_WAIT_MS = 100;

function count(v: string | null | undefined): number {
  const n = v ? Number(v) : 0;
  return Number.isFinite(n) && n > 0 ? n : 0;
}

export class RedisTokenStore implements TokenStore {
  readonly kind = 'redis';
  /** Every key shares one hash tag: pipelines and scripts stay in one Cluster slot. */
  private readonly base: string;

  constructor(
    private readonly link: RedisLink,
    /** Seconds a token learned here lives after it was last learned (bayes.token_ttl); 0: for ever. */
    private readonly tokenTtlSeconds = 0,
  ) {
    this.base = `${link.prefix}{bayes}:`;
  }

  private tokenKey(token: string): string {
    return `${this.base}t:${token}`;
  }

  private digestKey(digest: string): string {
    return `${this.base}d:${digest}`;
  }

  /** Reads degrade per redis.on_error: `skip` answers "nothing learned" (the classifier stays silent). */
  private async read<T>(op: () => Promise<T>, skipped: () => T): Promise<T> {
    try {
      return await this.link.run('bayes', op);
    } catch (err) {
      if (this.link.onError === 'skip') return skipped();
      throw err;
    }
  }

  async totals(): Promise<LearnedTotals> {
    return this.read(
      async () => {
        const [s, h] = await this.link.client.hmget(`${this.base}totals`, 's', 'h');
        return { spam: count(s), ham: count(h) };
      },
      () => ({ spam: 0, ham: 0 }),
    );
  }

  async getMany(tokens: readonly string[]): Promise<(TokenCounts | undefined)[]> {
    if (tokens.length === 0) return [];
    return this.read(
      async () => {
        const reply = await this.link.eval(GET_MANY, tokens.map((t) => this.tokenKey(t)), []);
        if (!Array.isArray(reply) || reply.length !== tokens.length * 2) throw new Error('unexpected token lookup reply');
        const flat = reply as Array<string | null>;
        return tokens.map((_, i) => {
          const s = flat[2 * i] ?? null;
          const h = flat[2 * i + 1] ?? null;
          return s === null && h === null ? undefined : { spam: count(s), ham: count(h) };
        });
      },
      () => tokens.map(() => undefined),
    );
  }

  /** Writes never degrade: a learn that did not reach Redis fails, so the caller can say so. */
  async update(change: StoreChange): Promise<void> {
    const keys = [`${this.base}totals`, `${this.base}digests`, `${this.base}seeding`, this.digestKey(change.digest), ...change.tokens.map((t) => this.tokenKey(t))];
    // Bounded wait while another gateway seeds the store (seconds, after Redis came back empty).
    for (let round = 0; round < SEED_WAIT_ROUNDS; round++) {
      const done = await this.link.run('bayes', () => this.link.eval(UPDATE, keys, [FIELD[change.cls], change.delta, change.digest, change.cls, this.tokenTtlSeconds]));
      if (done !== -1) return;
      await new Promise((resolve) => setTimeout(resolve, SEED_WAIT_MS));
    }
    throw new Error('the shared Bayes store is being seeded by another gateway; nothing learned, try again later');
  }

  async learnedAs(digest: string): Promise<MessageClass | undefined> {
    const v =
      (await this.link.run('bayes', () => this.link.client.get(this.digestKey(digest)))) ??
      (await this.link.run('bayes', () => this.link.client.hget(`${this.base}digests`, digest)));
    return v === 'spam' || v === 'ham' ? v : undefined;
  }

  /** Writes go through: nothing pending. */
  async flush(): Promise<void> {}

  /** The link is shared with the other stores; openSharedStores closes it. */
  async close(): Promise<void> {}

  /** True when nothing was ever learned into this Redis store (no totals hash). */
  async isEmpty(): Promise<boolean> {
    return (await this.link.run('bayes', () => this.link.client.exists(`${this.base}totals`))) === 0;
  }

  /**
   * Seeds an empty Redis store from a model (the shipped one, or a gateway's memory store), in pipelined
   * batches. Returns false and changes nothing when the store already holds data, or when another gateway
   * is seeding it. The lock key also holds learning back (see UPDATE), so the seed is written as plain
   * values: a seeding cut short and done again writes the same, never twice the counts.
   */
  async importModel(model: ModelData, batch = 1000): Promise<boolean> {
    if (!(await this.isEmpty())) return false;
    const lock = `${this.base}seeding`;
    const holder = `${process.pid}:${randomUUID()}`;
    const taken = await this.link.run('bayes', () => this.link.client.set(lock, holder, 'EX', SEED_LOCK_SECONDS, 'NX'));
    if (taken !== 'OK') return false;
    try {
      if (!(await this.isEmpty())) return false;
      const entries = [...model.tokens];
      for (let i = 0; i < entries.length; i += batch) {
        const pipe = this.link.client.pipeline();
        for (const [token, c] of entries.slice(i, i + batch)) {
          const fields: Record<string, number> = {};
          if (c.spam > 0) fields.s = c.spam;
          if (c.ham > 0) fields.h = c.ham;
          if (Object.keys(fields).length) pipe.hset(this.tokenKey(token), fields);
        }
        await this.link.run('bayes', () => pipe.exec());
      }
      const digests = [...model.digests];
      for (let i = 0; i < digests.length; i += batch) {
        const chunk = Object.fromEntries(digests.slice(i, i + batch));
        await this.link.run('bayes', () => this.link.client.hset(`${this.base}digests`, chunk));
      }
      // Totals last: a store with totals is a complete one (isEmpty() keys on it).
      await this.link.run('bayes', () => this.link.client.hset(`${this.base}totals`, { s: model.totals.spam, h: model.totals.ham }));
      return true;
    } finally {
      await this.link.run('bayes', () => this.link.eval(RELEASE, [lock], [holder])).catch(() => undefined);
    }
  }

}

// The fuzzy store in Redis, shared by every gateway: one hash per digest ({fz}:e:<id>: slots, time added,
// hits) expiring after the TTL, one set per (slot, value) of the digest ids holding it ({fz}:i:<slot>:<v>),
// and a sorted set of ids by time added ({fz}:all) for the count and eviction past max_entries (an evicted
// id leaves its index sets too). Every key
// carries the {fz} hash tag, so a Cluster keeps them in one slot and pipelines stay valid. An index set
// may name an expired digest: a look-up checks the hash exists and its time added is within the TTL.
import { FUZZY_SLOTS, type FuzzyDigest } from '../fuzzy/digest.ts';
import type { FuzzyMatch, FuzzyStats, FuzzyStore } from '../fuzzy/store.ts';
import type { Clock } from '../util/clock.ts';
import type { RedisLink } from './connection.ts';

export class RedisFuzzyStore implements FuzzyStore {
  private readonly base: string;

  constructor(
    private readonly link: RedisLink,
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {
    this.base = `${link.prefix}{fz}:`;
  }

  private entryKey = (id: string): string => `${this.base}e:${id}`;
  private indexKey = (slot: number, value: number): string => `${this.base}i:${slot}:${value}`;

  async add(digest: FuzzyDigest): Promise<'added' | 'exists'> {
    const now = this.clock.now();
    return this.link.run('fuzzy', async (c) => {
      const all = `${this.base}all`;
      const p = c.multi();
      p.exists(this.entryKey(digest.id));
      p.hset(this.entryKey(digest.id), { s: digest.slots.join(','), a: String(now) });
      p.hsetnx(this.entryKey(digest.id), 'h', '0');
      p.pexpire(this.entryKey(digest.id), this.ttlMs);
      digest.slots.forEach((v, slot) => {
        p.sadd(this.indexKey(slot, v), digest.id);
        p.pexpire(this.indexKey(slot, v), this.ttlMs);
      });
      p.zadd(all, now, digest.id);
      p.zremrangebyscore(all, '-inf', now - this.ttlMs);
      p.zcard(all);
      const replies = (await p.exec()) ?? [];
      const existed = Number(replies[0]?.[1] ?? 0) === 1;
      const count = Number(replies[replies.length - 1]?.[1] ?? 0);
      if (count > this.maxEntries) {
        // the oldest go: their hashes and their ids in the index sets (each new report extends the sets' TTL,
        // so ids left there would pile up for as long as reports come)
        const popped = (await c.zpopmin(all, count - this.maxEntries)).filter((_, i) => i % 2 === 0);
        if (popped.length > 0) {
          const g = c.multi();
          for (const id of popped) g.hget(this.entryKey(id), 's');
          const slotsOf = ((await g.exec()) ?? []).map((r) => (typeof r[1] === 'string' ? r[1].split(',').map(Number) : undefined));
          const d = c.multi();
          popped.forEach((id, i) => slotsOf[i]?.forEach((v, slot) => d.srem(this.indexKey(slot, v), id)));
          d.del(...popped.map(this.entryKey));
          await d.exec();
        }
      }
      return existed ? 'exists' : 'added';
    });
  }

  async remove(digest: FuzzyDigest, threshold: number): Promise<number> {
    return this.link.run('fuzzy', async (c) => {
      const ids = new Set<string>([digest.id]);
      for (const m of await this.matches(c, digest, threshold)) ids.add(m.id);
      const p = c.multi();
      for (const id of ids) p.hget(this.entryKey(id), 's');
      const slotsOf = ((await p.exec()) ?? []).map((r) => (typeof r[1] === 'string' ? r[1].split(',').map(Number) : undefined));
      const d = c.multi();
      let removed = 0;
      [...ids].forEach((id, i) => {
        const slots = slotsOf[i];
        if (!slots) return;
        removed++;
        d.del(this.entryKey(id));
        d.zrem(`${this.base}all`, id);
        slots.forEach((v, slot) => d.srem(this.indexKey(slot, v), id));
      });
      if (removed > 0) await d.exec();
      return removed;
    });
  }

  async lookup(digest: FuzzyDigest, threshold: number, countHit: boolean): Promise<FuzzyMatch | undefined> {
    return this.link.run('fuzzy', async (c) => {
      const best = (await this.matches(c, digest, threshold))[0];
      if (best && countHit) await c.hincrby(this.entryKey(best.id), 'h', 1);
      return best;
    });
  }

  async stats(): Promise<FuzzyStats> {
    const now = this.clock.now();
    return this.link.run('fuzzy', async (c) => {
      await c.zremrangebyscore(`${this.base}all`, '-inf', now - this.ttlMs);
      return { entries: await c.zcard(`${this.base}all`) };
    });
  }

  async close(): Promise<void> {
    // the link is closed by its owner (shared-stores.ts)
  }

  /** Live digests with at least `threshold` equal slots, best first. */
  private async matches(c: RedisLink['client'], digest: FuzzyDigest, threshold: number): Promise<FuzzyMatch[]> {
    const p = c.pipeline();
    digest.slots.forEach((v, slot) => p.smembers(this.indexKey(slot, v)));
    const counts = new Map<string, number>();
    for (const [, members] of (await p.exec()) ?? []) {
      if (!Array.isArray(members)) continue;
      for (const id of members) if (typeof id === 'string') counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const candidates = [...counts].filter(([, same]) => same / FUZZY_SLOTS >= threshold).sort((a, b) => b[1] - a[1]);
    if (candidates.length === 0) return [];
    // live: the hash exists and was added within the TTL (Redis expires it by its own clock too)
    const since = this.clock.now() - this.ttlMs;
    const e = c.pipeline();
    for (const [id] of candidates) e.hget(this.entryKey(id), 'a');
    const added = (await e.exec()) ?? [];
    return candidates.filter((_, i) => {
      const a = added[i]?.[1];
      return typeof a === 'string' && Number(a) > since;
    }).map(([id, same]) => ({ id, similarity: same / FUZZY_SLOTS }));
  }
}

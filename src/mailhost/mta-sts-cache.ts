// The MTA-STS policy cache (RFC 8461 §3.3, §5.1): policies by domain until their max_age runs out,
// persisted in the data directory (atomic write, mode 0600) so a restart keeps enforcing what it
// learnt. Bounded in domains; an unreadable file is logged and the cache starts empty.
import { z } from 'zod';
import { readBounded } from '../util/read-bounded.ts';
import { removeDeadTempsSync, writeFileAtomic } from '../util/atomic-file.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { MAX_AGE_LIMIT, type StsPolicy } from './mta-sts-policy.ts';

export interface CachedPolicy extends StsPolicy {
  /** Epoch ms of the fetch; max_age counts from here. */
  fetchedAt: number;
  /** Epoch ms after which the policy no longer applies (RFC 8461 §3.2 max_age, capped). */
  expiresAt: number;
  /** Epoch ms of the last delivery to the domain that looked the policy up (to the hour); the refresher's guide. */
  usedAt?: number;
}

export interface PolicyCacheOptions {
  /** The state file; memory only without one. */
  file?: string;
  maxEntries: number;
  clock: Clock;
  log: Logger;
}

export interface PolicyCache {
  /** The policy of a domain while it has not expired. */
  get(domain: string): CachedPolicy | undefined;
  /** Stores a fetched policy; the domain's last use is kept. */
  set(domain: string, policy: StsPolicy): CachedPolicy;
  /** Notes a delivery's use of the domain's policy (saved at most once an hour per domain). */
  markUsed(domain: string): void;
  /**
   * Domains whose policies were fetched `olderThanMs` ago or more and used within `usedWithinMs`, unexpired, the
   * soonest to expire first, at most `limit`.
   */
  dueForRefresh(olderThanMs: number, usedWithinMs: number, limit: number): string[];
  readonly size: number;
  /** Waits for pending writes of the state file. */
  flush(): Promise<void>;
}

const FILE_VERSION = 1;
/** A use is written down only when the last one noted is older than this (a busy domain is no write per message). */
const USE_RESOLUTION_MS = 3600 * 1000;
/** Bytes a state file of the largest cache takes, with room: more is not a file we wrote. */
const bytesPerEntry = 4096;

/**
 * What a cached policy may hold, at load as when it is cached: what a fetch can produce (a TXT string's id, the mx
 * lines a 64 KiB policy file has room for), so a restart never drops a policy it was enforcing.
 */
const MAX_ID = 1024;
const MAX_MX = 10_000;
const entrySchema = z.object({
  id: z.string().min(1).max(MAX_ID),
  mode: z.enum(['enforce', 'testing', 'none']),
  mx: z.array(z.string().min(1).max(255)).max(MAX_MX),
  maxAge: z.number().int().min(0).max(MAX_AGE_LIMIT),
  fetchedAt: z.number().int().min(0),
  expiresAt: z.number().int().min(0),
  usedAt: z.number().int().min(0).optional(),
});
const fileSchema = z.object({ version: z.literal(FILE_VERSION), policies: z.record(z.string(), z.unknown()) });

export function createPolicyCache(opts: PolicyCacheOptions): PolicyCache {
  const entries = new Map<string, CachedPolicy>();
  const log = opts.log;
  let writing: Promise<void> | undefined;
  let dirty = false;

  const load = (file: string): void => {
    removeDeadTempsSync(file); // a save cut short by a crash leaves its temp file
    let text: string;
    try {
      const max = opts.maxEntries * bytesPerEntry + 1024;
      const buf = readBounded(file, max + 1);
      if (buf.length > max) throw new Error(`larger than ${max} bytes`);
      text = buf.toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      log.warn('MTA-STS policy cache unreadable: starting empty', { file, err });
      return;
    }
    let parsed: z.infer<typeof fileSchema>;
    try {
      parsed = fileSchema.parse(JSON.parse(text));
    } catch (err) {
      log.warn('MTA-STS policy cache corrupt: starting empty', { file, err: err instanceof z.ZodError ? z.prettifyError(err) : err });
      return;
    }
    const now = opts.clock.now();
    let dropped = 0;
    for (const [domain, value] of Object.entries(parsed.policies)) {
      const e = entrySchema.safeParse(value);
      // a clock set back or a hand-edited file: no entry outlives a max_age from now
      const expiresAt = e.success ? Math.min(e.data.expiresAt, e.data.fetchedAt + e.data.maxAge * 1000, now + MAX_AGE_LIMIT * 1000) : 0;
      if (!e.success || expiresAt <= now || entries.size >= opts.maxEntries) {
        dropped++;
        continue;
      }
      entries.set(domain.toLowerCase(), { ...e.data, expiresAt });
    }
    if (dropped) log.info('MTA-STS policy cache: expired or invalid entries dropped', { file, dropped, kept: entries.size });
  };

  const save = (): void => {
    const file = opts.file;
    if (!file) return;
    dirty = true;
    if (writing) return;
    writing = (async () => {
      while (dirty) {
        dirty = false;
        const body = JSON.stringify({ version: FILE_VERSION, policies: Object.fromEntries(entries) });
        try {
          await writeFileAtomic(file, body, { mode: 0o600 });
        } catch (err) {
          log.warn('MTA-STS policy cache not saved', { file, err });
        }
      }
    })().finally(() => {
      writing = undefined;
    });
  };

  /** Room for one more: expired entries go first, then `none` policies, then those expiring soonest. */
  const makeRoom = (): void => {
    const now = opts.clock.now();
    for (const [d, p] of entries) if (p.expiresAt <= now) entries.delete(d);
    while (entries.size >= opts.maxEntries) {
      let victim: [string, CachedPolicy] | undefined;
      for (const e of entries) {
        const rank = (p: CachedPolicy): [number, number] => [p.mode === 'none' ? 0 : 1, p.expiresAt];
        if (!victim) victim = e;
        else {
          const [a, b] = [rank(e[1]), rank(victim[1])];
          if (a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])) victim = e;
        }
      }
      if (!victim) break;
      entries.delete(victim[0]);
    }
  };

  if (opts.file) load(opts.file);

  return {
    get(domain) {
      const p = entries.get(domain);
      return p && p.expiresAt > opts.clock.now() ? p : undefined;
    },
    set(domain, policy) {
      const fetchedAt = opts.clock.now();
      // RFC 8461 §3.2: max_age is at most 31557600 s; the policy applies that long from the fetch. An empty mx
      // pattern matches no host: left out, as the load would refuse the entry for it.
      const mx = policy.mx.filter((m) => m.length > 0 && m.length <= 255).slice(0, MAX_MX);
      const usedAt = entries.get(domain)?.usedAt;
      const entry: CachedPolicy = { ...policy, mx, fetchedAt, expiresAt: fetchedAt + Math.min(policy.maxAge, MAX_AGE_LIMIT) * 1000, ...(usedAt !== undefined ? { usedAt } : {}) };
      entries.delete(domain);
      makeRoom();
      entries.set(domain, entry);
      save();
      return entry;
    },
    markUsed(domain) {
      const p = entries.get(domain);
      const now = opts.clock.now();
      if (!p || (p.usedAt !== undefined && now - p.usedAt < USE_RESOLUTION_MS && now >= p.usedAt)) return;
      p.usedAt = now;
      save();
    },
    dueForRefresh(olderThanMs, usedWithinMs, limit) {
      const now = opts.clock.now();
      const due: [string, CachedPolicy][] = [];
      for (const e of entries) {
        const p = e[1];
        if (p.expiresAt > now && now - p.fetchedAt >= olderThanMs && p.usedAt !== undefined && now - p.usedAt <= usedWithinMs) due.push(e);
      }
      return due
        .sort((a, b) => a[1].expiresAt - b[1].expiresAt)
        .slice(0, limit)
        .map(([d]) => d);
    },
    get size() {
      return entries.size;
    },
    flush: async () => {
      while (writing) await writing;
    },
  };
}

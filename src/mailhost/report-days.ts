// Daily report counters shared by TLS reports (RFC 8460) and DMARC aggregate reports (RFC 7489 §7.2): one entry per
// UTC day and reported domain, at most `domainsPerDay` domains a day and MAX_DAYS days (a day leaves once its domains
// are all done; only past MAX_DAYS is one with reports still to send evicted, oldest first, logged), saved in the data directory
// (atomic write, mode 0600) at most once per `saveEveryMs` and at close, so a restart keeps the day. An unreadable
// file is logged and the counters start empty; the entry's own bounds are the caller's (its schema and `trim`).
import { z } from 'zod';
import { removeDeadTempsSync, writeFileAtomic } from '../util/atomic-file.ts';
import { readBounded } from '../util/read-bounded.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';

/**
 * Days kept at most. A day is held only while some domain's report of it is not done (its round not yet run, or a
 * destination's retry pending): normally today, yesterday and the day before (retries run up to 24 hours past its
 * round). After downtime the days saved before it are still to be reported when a new day starts: they stay, up to
 * this cap; past it (rounds not finishing for days) the oldest day is evicted, its reports lost, with a warning.
 */
export const MAX_DAYS = 5;
const SAVE_EVERY_MS = 60_000;
const FILE_VERSION = 1;

/** The UTC day (YYYY-MM-DD) of an instant. */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export interface DayStoreOptions<T> {
  /** The state file; memory only without one. */
  file?: string;
  /** What one domain's entry is in the file. */
  entrySchema: z.ZodType<T>;
  /** Cuts a loaded entry to the caller's bounds (a file written with larger limits). */
  trim?: (entry: T) => T;
  domainsPerDay: number;
  /** The largest file read (larger: logged, counters start empty). */
  maxFileBytes: number;
  /** What the counters are, for log lines ("TLS report counters"). */
  what: string;
  clock: Clock;
  log: Logger;
  /** How often changed counters are written (SAVE_EVERY_MS); 0: only at flush and close. */
  saveEveryMs?: number;
}

export interface DayStore<T> {
  /** The entry of `domain` on the UTC day of `at`, made by `create` when new; undefined past domainsPerDay. Marks the store changed. */
  entry(at: number, domain: string, create: () => T): T | undefined;
  /** Days with data, oldest first (YYYY-MM-DD). */
  days(): string[];
  domainsOf(day: string): Map<string, T>;
  /** Forgets a domain's entry of a day (its report went, or will not). */
  drop(day: string, domain: string): void;
  /** Writes the counters now if they changed; resolves when written: true when the file holds them (or there is none). */
  flush(): Promise<boolean>;
  close(): Promise<void>;
}

export function createDayStore<T>(opts: DayStoreOptions<T>): DayStore<T> {
  const days = new Map<string, Map<string, T>>();
  const fileSchema = z.strictObject({
    version: z.literal(FILE_VERSION),
    days: z.record(z.string().regex(/^\d{4}-\d{2}-\d{2}$/), z.record(z.string().min(1).max(253), opts.entrySchema)),
  });
  let dirty = false;
  /** The last write failed: the file holds older counters. */
  let stale = false;
  let writing: Promise<void> | undefined;

  const load = (file: string): void => {
    removeDeadTempsSync(file);
    let parsed: z.infer<typeof fileSchema>;
    try {
      const buf = readBounded(file, opts.maxFileBytes + 1);
      if (buf.length > opts.maxFileBytes) throw new Error(`larger than ${opts.maxFileBytes} bytes`);
      parsed = fileSchema.parse(JSON.parse(buf.toString('utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      opts.log.warn(`${opts.what} unreadable: starting empty`, { file, err: err instanceof z.ZodError ? z.prettifyError(err) : err });
      return;
    }
    for (const day of Object.keys(parsed.days).sort().slice(-MAX_DAYS)) {
      const domains = new Map<string, T>();
      for (const [domain, entry] of Object.entries(parsed.days[day] ?? {})) {
        if (domains.size >= opts.domainsPerDay) break;
        domains.set(domain, opts.trim ? opts.trim(entry as T) : (entry as T));
      }
      days.set(day, domains);
    }
  };

  const write = (): Promise<void> => {
    const file = opts.file;
    if (!file || !dirty) return writing ?? Promise.resolve();
    writing ??= (async () => {
      while (dirty) {
        dirty = false;
        const body = JSON.stringify({ version: FILE_VERSION, days: Object.fromEntries([...days].map(([d, m]) => [d, Object.fromEntries(m)])) });
        try {
          await writeFileAtomic(file, body, { mode: 0o600 });
          stale = false;
        } catch (err) {
          stale = true;
          opts.log.warn(`${opts.what} not saved`, { file, err });
        }
      }
    })().finally(() => (writing = undefined));
    return writing;
  };

  if (opts.file) load(opts.file);
  const every = opts.saveEveryMs ?? SAVE_EVERY_MS;
  const timer = opts.file && every > 0 ? setInterval(() => void write(), every) : undefined;
  timer?.unref();

  return {
    entry(at, domain, create) {
      const day = utcDay(at);
      let domains = days.get(day);
      if (!domains) {
        domains = new Map();
        days.set(day, domains);
        // every day held has a report still to send (a day goes once its domains are done): evicted only past the cap
        for (const old of [...days.keys()].sort().slice(0, Math.max(0, days.size - MAX_DAYS))) {
          opts.log.warn(`${opts.what}: a day with reports not yet sent evicted (more than ${MAX_DAYS} days held): its reports are not sent`, { day: old, domains: days.get(old)?.size ?? 0 });
          days.delete(old);
          dirty = true;
        }
      }
      let entry = domains.get(domain);
      if (entry === undefined) {
        if (domains.size >= opts.domainsPerDay) return undefined;
        entry = create();
        domains.set(domain, entry);
      }
      dirty = true;
      return entry;
    },
    days: () => [...days.keys()].sort(),
    domainsOf: (day) => days.get(day) ?? new Map(),
    drop(day, domain) {
      const domains = days.get(day);
      if (!domains?.delete(domain)) return;
      if (!domains.size) days.delete(day);
      dirty = true;
    },
    flush: async () => {
      await write();
      return !stale;
    },
    close: async () => {
      if (timer) clearInterval(timer);
      await write();
    },
  };
}

// The progress of one day's report round, kept so a restart neither resends nor loses a report: an append-only file
// of small JSON lines (a destination that took the report, failed so far, or will not be tried again; a domain
// finished), each fsynced before the round goes on. Read back at start (a torn last line of a crash is skipped),
// removed when the day's round is over. Bounded: past MAX_JOURNAL_BYTES it is rewritten from its state (one line a
// destination and domain); a state larger still is kept in memory only (a crash may then resend that day).
import { mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { removeDeadTempsSync, writeFileAtomic } from '../util/atomic-file.ts';
import { readBounded } from '../util/read-bounded.ts';
import type { Logger } from '../util/logger.ts';
import type { Failures } from './report-retry.ts';

export const MAX_JOURNAL_BYTES = 8 * 1024 * 1024;
/**
 * Destinations a domain's report has at most (the rua URIs a record gives, a few more for a record that changed). A
 * destination past it is not sent to at all (hasRoom): one sent but not journaled would be sent again at each retry
 * round and after a restart.
 */
export const MAX_DESTINATIONS = 16;

/** Where a report stands at one destination. */
/**
 * never: refused for good (a 4xx, too large, no key to sign); unverified: an external DMARC rua without consent (RFC
 * 7489 §7.1); found: a step before the destinations that went through after failing (the TLSRPT record look-up).
 */
export type DestState = { s: 'sent' } | { s: 'never' } | { s: 'unverified' } | { s: 'given_up' } | { s: 'found' } | ({ s: 'failed' } & Failures);

/** A domain, or a rua URI as its key (a URI of 2048 characters, longer once normalised). */
const name = z.string().min(1).max(8192);
const lineSchema = z.union([
  z.strictObject({ d: name, done: z.literal(true) }),
  z.strictObject({ d: name, u: name, s: z.enum(['sent', 'never', 'unverified', 'given_up', 'found']) }),
  z.strictObject({ d: name, u: name, s: z.literal('failed'), tries: z.number().int().min(1).max(1000), firstAt: z.number().int(), lastAt: z.number().int() }),
]);
type Line = z.infer<typeof lineSchema>;

export interface DayJournal {
  /** The domain's report was finished this round (sent, given up, or nothing to send). */
  isDone(domain: string): boolean;
  destinations(domain: string): ReadonlyMap<string, DestState>;
  /** True when where the report stands at `dest` can be kept: known already, or the domain has fewer than MAX_DESTINATIONS. */
  hasRoom(domain: string, dest: string): boolean;
  /** Records (durably, when the journal has a file) where the report stands at a destination. */
  mark(domain: string, dest: string, state: DestState): Promise<void>;
  finish(domain: string): Promise<void>;
  /** The round is over: the file goes. */
  remove(): Promise<void>;
}

interface DomainProgress {
  done: boolean;
  dests: Map<string, DestState>;
}

/** The journal of `day` in `file` (memory only without one), with what an earlier process wrote there. */
export function openDayJournal(file: string | undefined, log: Logger): DayJournal {
  const domains = new Map<string, DomainProgress>();
  let bytes = 0;
  let durable = file !== undefined;
  /** The file ends in a line a crash cut short: the next line must not be glued onto it. */
  let torn = false;

  const progress = (domain: string): DomainProgress => {
    let p = domains.get(domain);
    if (!p) domains.set(domain, (p = { done: false, dests: new Map() }));
    return p;
  };
  const hasRoom = (domain: string, dest: string): boolean => {
    const dests = domains.get(domain)?.dests;
    return !dests || dests.has(dest) || dests.size < MAX_DESTINATIONS;
  };
  /** Takes a line into the state; false for a destination past the bound (not kept, so not written either). */
  const apply = (l: Line): boolean => {
    const p = progress(l.d);
    if ('done' in l) {
      p.done = true;
      p.dests.clear();
      return true;
    }
    if (!hasRoom(l.d, l.u)) return false;
    p.dests.set(l.u, l.s === 'failed' ? { s: 'failed', tries: l.tries, firstAt: l.firstAt, lastAt: l.lastAt } : { s: l.s });
    return true;
  };
  const lineOf = (l: Line): string => `${JSON.stringify(l)}\n`;
  const stateLines = (): string =>
    [...domains]
      .flatMap(([d, p]) => (p.done ? [lineOf({ d, done: true })] : [...p.dests].map(([u, st]) => lineOf({ d, u, ...st }))))
      .join('');

  if (file) {
    try {
      // a rewrite cut short by a crash: its temp file goes, the journal it was replacing is read
      removeDeadTempsSync(file);
      const buf = readBounded(file, MAX_JOURNAL_BYTES + 1);
      bytes = buf.length;
      torn = buf.length > 0 && buf[buf.length - 1] !== 0x0a;
      for (const text of buf.toString('utf8').split('\n')) {
        if (!text) continue;
        try {
          apply(lineSchema.parse(JSON.parse(text)));
        } catch {
          // the line a crash cut short (or one damaged): what it said is redone
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('report journal unreadable: the round starts over', { file, err });
    }
  }

  const append = async (l: Line): Promise<void> => {
    if (!apply(l) || !file || !durable) return;
    const text = lineOf(l);
    try {
      if (bytes + text.length > MAX_JOURNAL_BYTES) {
        const all = stateLines();
        if (all.length > MAX_JOURNAL_BYTES / 2) {
          durable = false;
          log.warn('report journal full: kept in memory only for the rest of the round', { file });
          return;
        }
        await writeFileAtomic(file, all, { mode: 0o600 });
        bytes = all.length;
        torn = false;
        return;
      }
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      const fh = await open(file, 'a', 0o600);
      // after a torn last line, a newline first: the fragment stays a line of its own (skipped), this one is whole
      const out = torn ? `\n${text}` : text;
      try {
        await fh.appendFile(out);
        // the line is on disk before the round goes on: a crash after it never redoes what it records
        await fh.sync();
      } finally {
        await fh.close();
      }
      bytes += out.length;
      torn = false;
    } catch (err) {
      // a write that failed part way may have left a fragment: the next line starts on a line of its own
      torn = true;
      log.warn('report journal not written: a crash now may resend a report', { file, err });
    }
  };

  return {
    isDone: (domain) => domains.get(domain)?.done ?? false,
    destinations: (domain) => domains.get(domain)?.dests ?? new Map(),
    hasRoom,
    mark: (d, u, state) => append({ d, u, ...state }),
    finish: (d) => append({ d, done: true }),
    remove: async () => {
      domains.clear();
      bytes = 0;
      if (file) await unlink(file).catch(() => undefined);
    },
  };
}

// The daily round shared by TLS reports (RFC 8460 §4.1) and DMARC aggregate reports (RFC 7489 §7.2): once a UTC
// day has ended plus a random delay (so reporters do not all send at 00:00), each domain with data of that day is
// handed to `report`; a domain done (sent, or given up) is dropped from the store, one to retry stays for a later
// sweep. A failure of one never stops the others. Time comes from the injected clock; tests call sendDue().
// The round's progress is journaled (report-journal.ts): a domain finished, and the destinations a report reached,
// are on disk before the round goes on, so a restart after a crash sends only what was not sent (no second copy of
// a Report-ID); the journal goes once the day's domains are all done and the store saved without them.
import { readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { DayStore } from './report-days.ts';
import { openDayJournal, type DayJournal } from './report-journal.ts';

const DAY_MS = 86_400_000;
/** The longest delay after 00:00 UTC before a day's reports go: up to four hours. */
export const MAX_DELAY_MS = 4 * 3600 * 1000;
export const SWEEP_MS = 5 * 60 * 1000;

/** When reports go: tests pass a fixed randomness, no delay or no timer. */
export interface DailyTiming {
  /** Randomness for the delay after midnight. */
  random?: () => number;
  /** The longest delay after 00:00 UTC before a day's reports go (MAX_DELAY_MS). */
  maxDelayMs?: number;
  /** How often the timer started by start() looks for a day to report (SWEEP_MS); 0: no timer (tests call sendDue). */
  sweepMs?: number;
}

export interface DailyReportOptions<T> extends DailyTiming {
  store: Pick<DayStore<T>, 'days' | 'domainsOf' | 'drop' | 'flush' | 'close'>;
  /** Where the round journals go: `<dir>/<prefix><day>.journal`; memory only without. */
  journal?: { dir: string; prefix: string };
  /**
   * One domain's report of `day`; resolves false when it should be tried again on a later sweep. `closing` is
   * aborted by close(): work under way (an https POST) ends then, and a report it cut short resolves false to be
   * kept for the next start. `progress` holds (and keeps durably) where the report stands at each destination.
   */
  report(day: string, domain: string, data: T, closing: AbortSignal, progress: DayJournal): Promise<boolean>;
  /** A report that threw (counted and logged by the caller); the domain is dropped. */
  failed(day: string, domain: string, err: unknown): void;
  clock: Clock;
  log: Logger;
}

export interface DailyReports {
  /** Looks for reports due at once (a restart after the delay sends them), then on the timer. */
  start(): void;
  /** Sends the reports of every ended day whose delay has passed; resolves to the number of domains handled. */
  sendDue(): Promise<number>;
  close(): Promise<void>;
}

export function createDailyReports<T>(opts: DailyReportOptions<T>): DailyReports {
  const random = opts.random ?? Math.random;
  const maxDelay = opts.maxDelayMs ?? MAX_DELAY_MS;
  /** The delay after the end of each day (chosen once per day and process). */
  const delays = new Map<string, number>();
  let sending: Promise<number> | undefined;
  let closed = false;
  /** Aborted by close(): a report under way ends then instead of holding the shutdown up to its timeouts. */
  const closing = new AbortController();
  const journals = new Map<string, DayJournal>();
  const jopt = opts.journal;
  const journalFile = (day: string): string | undefined => (jopt ? path.join(jopt.dir, `${jopt.prefix}${day}.journal`) : undefined);
  const journalOf = (day: string): DayJournal => {
    let j = journals.get(day);
    if (!j) journals.set(day, (j = openDayJournal(journalFile(day), opts.log)));
    return j;
  };
  /** Journals of days the store no longer holds (their round ended; a crash came before the file went). */
  let staleChecked = false;
  const removeStaleJournals = async (): Promise<void> => {
    if (!jopt || staleChecked) return;
    staleChecked = true;
    const held = new Set(opts.store.days());
    const names = await readdir(jopt.dir).catch(() => [] as string[]);
    for (const name of names) {
      const m = /^(\d{4}-\d{2}-\d{2})\.journal$/.exec(name.startsWith(jopt.prefix) ? name.slice(jopt.prefix.length) : '');
      if (m?.[1] && !held.has(m[1])) await unlink(path.join(jopt.dir, name)).catch(() => undefined);
    }
  };

  const sendDue = (): Promise<number> => {
    sending ??= (async () => {
      let n = 0;
      await removeStaleJournals();
      const now = opts.clock.now();
      const today = new Date(now).toISOString().slice(0, 10);
      for (const day of opts.store.days()) {
        if (day >= today || closed) continue;
        let delay = delays.get(day);
        if (delay === undefined) delays.set(day, (delay = Math.floor(random() * maxDelay)));
        if (now < Date.parse(`${day}T00:00:00Z`) + DAY_MS + delay) continue;
        const journal = journalOf(day);
        for (const [domain, data] of [...opts.store.domainsOf(day)]) {
          if (closed) break;
          // finished before a restart whose store had not been saved since: not sent again
          if (journal.isDone(domain)) {
            opts.store.drop(day, domain);
            continue;
          }
          let done = true;
          try {
            done = await opts.report(day, domain, data, closing.signal, journal);
          } catch (err) {
            opts.failed(day, domain, err);
          }
          if (done) {
            await journal.finish(domain);
            opts.store.drop(day, domain);
          }
          n++;
        }
        if (!opts.store.domainsOf(day).size) delays.delete(day);
      }
      const saved = await opts.store.flush();
      // a day's round is over once the store is saved without its domains: its journal goes
      for (const [day, journal] of [...journals]) {
        if (opts.store.domainsOf(day).size || !saved) continue;
        await journal.remove();
        journals.delete(day);
      }
      return n;
    })().finally(() => (sending = undefined));
    return sending;
  };

  const sweep = opts.sweepMs ?? SWEEP_MS;
  let timer: NodeJS.Timeout | undefined;
  return {
    start() {
      if (closed || timer) return;
      void sendDue();
      if (sweep > 0) {
        timer = setInterval(() => void sendDue(), sweep);
        timer.unref();
      }
    },
    sendDue,
    close: async () => {
      closed = true;
      closing.abort();
      if (timer) clearInterval(timer);
      await sending;
      await opts.store.close();
    },
  };
}

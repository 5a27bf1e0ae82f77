// Who each user's out-of-office reply went to, and when (RFC 3834 §2: no more than one reply per sender within
// a period): one JSON file per user in <data_dir>/vacation/, rewritten atomically, at most MAX_SENDERS entries
// (the oldest dropped first). The administrator's reply keys an entry by the sender, a Sieve vacation action by
// sender and handle (RFC 5230 §4.2); each entry keeps its own period. `spamgate users vacation` removes a
// user's file when it sets or ends a vacation.
import { readFile } from 'node:fs/promises';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { VACATION_MAX_DAYS } from '../config/sections/mailhost.ts';
import { KeyedMutex } from '../store/mutex.ts';
import { writeFileAtomic, writeFileAtomicSync } from '../util/atomic-file.ts';

/** Senders remembered per user; past this the oldest replies are forgotten. */
export const MAX_SENDERS = 10_000;
/** A file bigger than this is not read (a wrong file put there): the memory starts again. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;
const DAY_MS = 86_400_000;

export function vacationDir(dataDir: string): string {
  return path.join(dataDir, 'vacation');
}

/** The file of one user (user names are safe as one path component: see checkUserName). */
export function vacationFile(dataDir: string, user: string): string {
  return path.join(vacationDir(dataDir), `${user}.json`);
}

/**
 * Forgets whom the administrator's reply of a user went to (a new vacation starts afresh); the replies of the
 * user's Sieve vacation actions (keys with a handle) are theirs and stay. A file that cannot be read goes.
 */
export function forgetVacationReplies(dataDir: string, user: string): void {
  const file = vacationFile(dataDir, user);
  let kept: Array<[string, unknown]> = [];
  try {
    const text = readFileSync(file, 'utf8');
    const parsed: unknown = text.length > MAX_FILE_BYTES ? undefined : JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) kept = Object.entries(parsed).filter(([k]) => k.includes('\0'));
  } catch {
    // missing or damaged: nothing to keep
  }
  if (kept.length) writeFileAtomicSync(file, JSON.stringify(Object.fromEntries(kept)), { mode: 0o600 });
  else rmSync(file, { force: true });
}

export interface VacationStore {
  /**
   * True (and the reply recorded, durably) when `sender` had no reply from `user` within `days`; false when it
   * had one. Recorded before the reply is queued: a crash in between loses one reply, never sends two.
   * `handle` tells apart the replies of different Sieve vacation actions (absent: the administrator's reply).
   */
  claim(user: string, sender: string, days: number, nowMs: number, handle?: string): Promise<boolean>;
}

/** When the reply went, and for how many days it holds (absent in files written before entries had their own period). */
interface Entry {
  at: number;
  days?: number;
}

async function readEntries(file: string): Promise<Map<string, Entry>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
  if (text.length > MAX_FILE_BYTES) return new Map();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return new Map(); // a damaged file: start again (at worst one more reply per sender)
  }
  const out = new Map<string, Entry>();
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
    for (const [k, v] of Object.entries(parsed)) {
      if (typeof v === 'number' && Number.isFinite(v)) out.set(k, { at: v });
      else if (Array.isArray(v) && typeof v[0] === 'number' && Number.isFinite(v[0]) && typeof v[1] === 'number' && Number.isFinite(v[1])) out.set(k, { at: v[0], days: v[1] });
    }
  }
  return out;
}

/**
 * The newest entries (the list is oldest first) whose file is at most MAX_FILE_BYTES: a larger one would not be
 * read back, and every reply would be forgotten (long senders or Sieve handles of 4,096 characters reach it).
 */
function withinBytes(entries: Array<[string, number | number[]]>): Array<[string, number | number[]]> {
  let bytes = 2;
  let from = entries.length;
  while (from > 0) {
    const [k, v] = entries[from - 1] as [string, number | number[]];
    const size = Buffer.byteLength(JSON.stringify(k), 'utf8') + JSON.stringify(v).length + 2;
    if (bytes + size > MAX_FILE_BYTES) break;
    bytes += size;
    from--;
  }
  return entries.slice(from);
}

export function createVacationStore(dataDir: string, fsync: boolean): VacationStore {
  const perUser = new KeyedMutex();
  return {
    claim(user, sender, days, nowMs, handle) {
      return perUser.run(user, async () => {
        const file = vacationFile(dataDir, user);
        const entries = await readEntries(file);
        // NUL cannot be in an address: a Sieve entry never reads as the administrator's
        const key = handle === undefined ? sender.toLowerCase() : `${sender.toLowerCase()}\0${handle}`;
        // an entry of an older file (no period of its own) is an administrator reply: its period is the one an
        // administrator claim gives; a Sieve claim does not know it, so keeps it for the longest one
        const legacyDays = handle === undefined ? days : VACATION_MAX_DAYS;
        const live = (e: Entry): boolean => nowMs - e.at < (e.days ?? legacyDays) * DAY_MS && e.at <= nowMs;
        const last = entries.get(key);
        if (last !== undefined && nowMs - last.at < days * DAY_MS && last.at <= nowMs) return false;
        entries.delete(key);
        entries.set(key, { at: nowMs, days });
        // expired entries go; then the oldest, down to the bound
        const kept = [...entries].filter(([, e]) => live(e)).sort((a, b) => a[1].at - b[1].at);
        const bounded = withinBytes(kept.slice(Math.max(0, kept.length - MAX_SENDERS)).map(([k, e]): [string, number | number[]] => [k, e.days === undefined ? e.at : [e.at, e.days]]));
        await writeFileAtomic(file, JSON.stringify(Object.fromEntries(bounded)), { mode: 0o600, fsync });
        return true;
      });
    },
  };
}

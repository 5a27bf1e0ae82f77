// Who each user's out-of-office reply went to, and when (RFC 3834 §2: no more than one reply per sender within
// a period): one JSON file per user in <data_dir>/vacation/, rewritten atomically, at most MAX_SENDERS entries
// (the oldest dropped first). `spamgate users vacation` removes a user's file when it sets or ends a vacation.
import { readFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { KeyedMutex } from '../store/mutex.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';

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

/** Forgets whom a user's reply went to (a new vacation starts afresh). */
export function forgetVacationReplies(dataDir: string, user: string): void {
  rmSync(vacationFile(dataDir, user), { force: true });
}

export interface VacationStore {
  /**
   * True (and the reply recorded, durably) when `sender` had no reply from `user` within `days`; false when it
   * had one. Recorded before the reply is queued: a crash in between loses one reply, never sends two.
   */
  claim(user: string, sender: string, days: number, nowMs: number): Promise<boolean>;
}

async function readEntries(file: string): Promise<Map<string, number>> {
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
  const out = new Map<string, number>();
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
    for (const [k, v] of Object.entries(parsed)) if (typeof v === 'number' && Number.isFinite(v)) out.set(k, v);
  }
  return out;
}

export function createVacationStore(dataDir: string, fsync: boolean): VacationStore {
  const perUser = new KeyedMutex();
  return {
    claim(user, sender, days, nowMs) {
      return perUser.run(user, async () => {
        const file = vacationFile(dataDir, user);
        const entries = await readEntries(file);
        const key = sender.toLowerCase();
        const last = entries.get(key);
        if (last !== undefined && nowMs - last < days * DAY_MS && last <= nowMs) return false;
        entries.delete(key);
        entries.set(key, nowMs);
        // expired entries go; then the oldest, down to the bound
        const kept = [...entries].filter(([, at]) => nowMs - at < days * DAY_MS && at <= nowMs).sort((a, b) => a[1] - b[1]);
        const bounded = kept.slice(Math.max(0, kept.length - MAX_SENDERS));
        await writeFileAtomic(file, JSON.stringify(Object.fromEntries(bounded)), { mode: 0o600, fsync });
        return true;
      });
    },
  };
}

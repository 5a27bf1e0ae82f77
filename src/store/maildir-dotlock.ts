// Dovecot-compatible dotlocks (dovecot-uidlist.lock, …): linked into place already holding "<pid>:<host>"
// as Dovecot's file-dotlock.c writes and reads them, so a lock left by a process that died (SIGKILL,
// crash) is broken at once instead of stalling every delivery to the folder until it ages out.
import { hostname } from 'node:os';
import { readFile, stat, unlink } from 'node:fs/promises';
import { createFileExclusive, createFileExclusiveSync } from '../util/atomic-file.ts';
import { pidAlive } from '../util/process-identity.ts';
import { KeyedMutex } from './mutex.ts';

/** A lock older than this is stale whatever it holds (Dovecot's default). */
const STALE_AGE_MS = 120_000;
const ATTEMPTS = 200;
const RETRY_MS = 10;

const host = hostname();
/**
 * Holders of one lock within this process take turns here first, so while one of them looks at the
 * file no other holder of ours exists: our own pid in it is a previous incarnation's (a restarted
 * container often gets the same pid), hence stale.
 */
const local = new KeyedMutex();

/** What this process writes into a lock file it creates. */
export const lockContent = (): string => `${process.pid}:${host}`;

export type LockOwner = { pid: number; host: string };

/** The owner written in a lock file, or undefined when it holds none (empty, foreign format). */
export function parseLockOwner(text: string): LockOwner | undefined {
  const m = /^(\d+):(.*)$/.exec(text.trim());
  if (!m?.[1] || m[2] === undefined) return undefined;
  const pid = Number(m[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? { pid, host: m[2] } : undefined;
}

/** True when the lock at `lock` can be broken: its owner on this host is gone, or it is too old. */
async function isStale(lock: string): Promise<boolean> {
  const st = await stat(lock).catch(() => undefined);
  if (!st) return false;
  if (Date.now() - st.mtimeMs > STALE_AGE_MS) return true;
  const owner = parseLockOwner(await readFile(lock, 'utf8').catch(() => ''));
  if (!owner || owner.host !== host) return false;
  return owner.pid === process.pid || !pidAlive(owner.pid);
}

const tryCreate = (lock: string): Promise<boolean> => createFileExclusive(lock, lockContent());

/** tryCreate without awaits, for callers that take the lock uncontended in one synchronous step. */
export const tryCreateSync = (lock: string): boolean => createFileExclusiveSync(lock, lockContent());

/**
 * Runs fn holding the dotlock. A live holder is waited for (about 2 s); after that fn runs anyway, as
 * before: a lock that outlives that is more likely left over than held.
 */
export function withDotlock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  return local.run(lock, async () => {
    let got = false;
    for (let attempt = 0; attempt < ATTEMPTS && !got; attempt++) {
      got = await tryCreate(lock).catch(() => false);
      if (got) break;
      if (await isStale(lock)) await unlink(lock).catch(() => undefined);
      else await new Promise<void>((r) => setTimeout(r, RETRY_MS));
    }
    try {
      return await fn();
    } finally {
      if (got) await unlink(lock).catch(() => undefined);
    }
  });
}

// Dovecot-compatible dotlocks (dovecot-uidlist.lock, …): linked into place already holding "<pid>:<host>"
// as Dovecot's file-dotlock.c writes and reads them, so a lock left by a process that died (SIGKILL,
// crash) is broken at once instead of stalling every delivery to the folder until it ages out.
import { hostname } from 'node:os';
import { linkSync, unlinkSync, writeFileSync } from 'node:fs';
import { link, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the lock at `lock` can be broken: its owner on this host is gone, or it is too old. */
async function isStale(lock: string): Promise<boolean> {
  const st = await stat(lock).catch(() => undefined);
  if (!st) return false;
  if (Date.now() - st.mtimeMs > STALE_AGE_MS) return true;
  const owner = parseLockOwner(await readFile(lock, 'utf8').catch(() => ''));
  if (!owner || owner.host !== host) return false;
  return owner.pid === process.pid || !alive(owner.pid);
}

/** Where the owner is written before the lock is linked into place (Dovecot's ".temp.<host>.<pid>" way). */
const tempFor = (lock: string, tag: string): string => join(dirname(lock), `.temp.${host}.${process.pid}.${tag}.${basename(lock)}`);

/**
 * Creates the lock already holding its owner: written aside, then link(2)ed to the lock name, which
 * fails if the lock exists. A plain O_EXCL create and a write after it would leave an empty lock
 * when the process is killed in between, and an empty lock says nothing about its owner.
 */
async function tryCreate(lock: string): Promise<boolean> {
  const tmp = tempFor(lock, 'a');
  await writeFile(tmp, lockContent(), { mode: 0o600 });
  try {
    await link(tmp, lock);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** tryCreate without awaits, for callers that take the lock uncontended in one synchronous step. */
export function tryCreateSync(lock: string): boolean {
  const tmp = tempFor(lock, 's');
  writeFileSync(tmp, lockContent(), { mode: 0o600 });
  try {
    linkSync(tmp, lock);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // Already gone.
    }
  }
}

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

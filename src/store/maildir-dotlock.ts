// Dovecot-compatible dotlocks (dovecot-uidlist.lock, …): linked into place already holding "<pid>:<host>"
// as Dovecot's file-dotlock.c writes and reads them, so a lock left by a process that died (SIGKILL,
// crash) is broken at once instead of stalling every delivery to the folder until it ages out.
import { hostname } from 'node:os';
import { readFile, stat, unlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { createFileExclusive, createFileExclusiveSync } from '../util/atomic-file.ts';
import { pidAlive } from '../util/process-identity.ts';
import { MailboxError } from './mailbox-store.ts';
import { KeyedMutex } from './mutex.ts';

/** A lock older than this is stale whatever it holds (Dovecot's default). */
const STALE_AGE_MS = 120_000;
const RETRY_MS = 10;
/** An optional lock's live holder is waited for this long. */
const OPTIONAL_WAIT_MS = 2000;

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

export interface DotlockOptions {
  /**
   * fn never runs without the lock: after waitMs for a live holder the call fails (MailboxError INUSE, RFC 5530)
   * rather than going ahead. For dovecot-uidlist.lock, which hands out UIDs: two writers in it at once could give
   * two messages one UID (RFC 3501 §2.3.1.1).
   */
  required?: boolean;
  /** How long a live holder is waited for (default about 2 s). */
  waitMs?: number;
}

/** A required lock waits this long for a live holder (Dovecot waits until the lock is stale and breaks it). */
export const REQUIRED_WAIT_MS = 30_000;

/**
 * Runs fn holding the dotlock. A lock whose owner is gone is broken at once, one older than STALE_AGE_MS whoever
 * holds it. A live holder is waited for (about 2 s); after that fn runs anyway unless the lock is `required`:
 * for an optional lock, one that outlives that is more likely left over than held.
 */
export function withDotlock<T>(lock: string, fn: () => Promise<T>, opts: DotlockOptions = {}): Promise<T> {
  const waitMs = opts.waitMs ?? (opts.required ? REQUIRED_WAIT_MS : OPTIONAL_WAIT_MS);
  return local.run(lock, async () => {
    let got = false;
    const until = Date.now() + waitMs;
    for (;;) {
      // a required lock that cannot be made at all (folder gone, no permission) fails at once
      got = await tryCreate(lock).catch((err: unknown) => {
        if (opts.required) throw err;
        return false;
      });
      if (got || Date.now() >= until) break;
      if (await isStale(lock)) await unlink(lock).catch(() => undefined);
      else await new Promise<void>((r) => setTimeout(r, RETRY_MS));
    }
    if (!got && opts.required) throw new MailboxError('INUSE', `${basename(lock)} is held by another process; try again later`);
    try {
      return await fn();
    } finally {
      if (got) await unlink(lock).catch(() => undefined);
    }
  });
}

// Dovecot-compatible dotlocks (dovecot-uidlist.lock, …): linked into place already holding "<pid>:<host>"
// as Dovecot's file-dotlock.c writes and reads them, so a lock left by a process that died (SIGKILL,
// crash) is broken at once instead of stalling every delivery to the folder until it ages out.
import { hostname } from 'node:os';
import { stat, unlink, utimes } from 'node:fs/promises';
import { basename } from 'node:path';
import { createFileExclusive, createFileExclusiveSync } from '../util/atomic-file.ts';
import { pidAlive } from '../util/process-identity.ts';
import { MailboxError } from './mailbox-store.ts';
import { KeyedMutex } from './mutex.ts';
import { readRegularSync, readRegularText } from '../util/read-regular.ts';

/** A lock untouched this long is stale unless its owner is a live process on this host (Dovecot's default). */
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

/** What a lock file was when it was judged: breaking it is only right while it is still that file. */
export interface LockSnapshot {
  ino: bigint;
  ctimeNs: bigint;
  mtimeNs: bigint;
  content: string;
}

async function snapshotOf(lock: string): Promise<LockSnapshot | undefined> {
  const st = await stat(lock, { bigint: true }).catch(() => undefined);
  if (!st) return undefined;
  const content = await readRegularText(lock, 64 * 1024).catch(() => undefined);
  return content === undefined ? undefined : { ino: st.ino, ctimeNs: st.ctimeNs, mtimeNs: st.mtimeNs, content };
}

/**
 * The lock at `lock` as it is now when it can be broken, else undefined: its owner on this host is gone, or (an owner
 * we cannot check: another host, none written) it has not been touched for STALE_AGE_MS. A live owner on this host
 * keeps its lock however old it is, as Dovecot's dotlocks have it: a slow writer is still a writer, and breaking its
 * lock makes two.
 */
export async function staleLock(lock: string, now = Date.now()): Promise<LockSnapshot | undefined> {
  const snap = await snapshotOf(lock);
  if (!snap) return undefined;
  const owner = parseLockOwner(snap.content);
  if (owner && owner.host === host) return owner.pid === process.pid || !pidAlive(owner.pid) ? snap : undefined;
  return now - Number(snap.mtimeNs / 1_000_000n) > STALE_AGE_MS ? snap : undefined;
}

/**
 * Removes the stale lock judged as `judged`, unless it has changed since: another waiter that judged it too may
 * have broken it already and made a lock of its own in its place (often on the same inode), which must stay. The
 * file is looked at again right before the unlink, as Dovecot does, so the window left is that of two system calls
 * rather than that of the whole judgement (reads, a process check). True when it was removed.
 */
export async function breakStaleLock(lock: string, judged: LockSnapshot): Promise<boolean> {
  const now = await snapshotOf(lock);
  if (!now || now.ino !== judged.ino || now.ctimeNs !== judged.ctimeNs || now.mtimeNs !== judged.mtimeNs || now.content !== judged.content) return false;
  return unlink(lock).then(
    () => true,
    () => false,
  );
}

/** How often a holder touches its lock (well within STALE_AGE_MS), so a long hold is not taken for a left-over one. */
const TOUCH_MS = STALE_AGE_MS / 4;

/**
 * True while the lock file is still the one we made: it holds our owner (holders of ours take turns, so no other
 * lock of ours can be there). An inode would not tell: a lock removed and made anew often gets the one just freed.
 */
function stillOurs(lock: string): boolean {
  // synchronous: a few bytes, read at every release, cost less than thread-pool round trips on the delivery path
  try {
    return readRegularSync(lock, 64 * 1024).toString('utf8') === lockContent();
  } catch {
    return false;
  }
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
  /** How often the holder touches the lock while fn runs (default TOUCH_MS; tests make it short). */
  touchMs?: number;
}

/** A required lock waits this long for a live holder (Dovecot waits until the lock is stale and breaks it). */
export const REQUIRED_WAIT_MS = 30_000;

/**
 * Runs fn holding the dotlock, touching it every TOUCH_MS. A lock whose owner on this host is gone is broken at
 * once, one with an owner we cannot check once untouched for STALE_AGE_MS. A live holder is waited for (about 2 s);
 * after that fn runs anyway unless the lock is `required`: for an optional lock, one that outlives that is more
 * likely left over than held.
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
      const stale = await staleLock(lock);
      if (!stale || !(await breakStaleLock(lock, stale))) await new Promise<void>((r) => setTimeout(r, RETRY_MS));
    }
    if (!got && opts.required) throw new MailboxError('INUSE', `${basename(lock)} is held by another process; try again later`);
    // A lock that replaced ours (another writer broke it) is neither touched nor removed by us.
    const touch = got
      ? setInterval(() => {
          const t = new Date();
          if (stillOurs(lock)) utimes(lock, t, t).catch(() => undefined);
        }, opts.touchMs ?? TOUCH_MS)
      : undefined;
    touch?.unref();
    try {
      return await fn();
    } finally {
      if (touch) clearInterval(touch);
      if (got && stillOurs(lock)) await unlink(lock).catch(() => undefined);
    }
  });
}

// Changes to one user's sender lists in data_dir/user-lists.json, shared by `spamgate users allow|block|unlist` and
// the digest's list links: one writer at a time (a pid lock file beside the lists file, between processes, and a
// queue within this one, since a pid lock is re-entrant for its own process), the per-user and total bounds checked,
// the file rewritten atomically. An entry is on one list at a time: the later change stands.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { releasePidLock, takePidLock } from '../util/pid-lock.ts';
import { countEntries, MAX_ENTRIES_PER_USER, MAX_ENTRIES_TOTAL, readUserLists, writeUserLists, type UserListKind, type UserListsData } from './user-list-file.ts';

export type AddResult = 'added' | 'moved' | 'already' | 'user_full' | 'total_full' | 'no_user';
export type RemoveResult = 'removed' | 'not_listed';

/** The lists of every user; a broken file is an error naming it (nothing is changed). */
export function readOrThrow(file: string): UserListsData {
  const r = readUserLists(file);
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return r.data;
}

/** Thrown when another process holds the lock. */
export class ListsBusyError extends Error {}

/** How long a lock held by another process is waited for before the change is refused. */
const LOCK_WAIT_MS = 3000;

/** The tail of this process's queue of writers. */
let queue: Promise<unknown> = Promise.resolve();

/** Runs fn as the one writer of the lists file (this process's queue, then the lock file). */
export function withListsLock<T>(file: string, fn: () => T): Promise<T> {
  const run = async (): Promise<T> => {
    const lock = `${file}.lock`;
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // another process (a `spamgate users`, or the server serving a list link) holds it for milliseconds: wait a
    // little rather than fail (a `users del` refused here would leave the deleted user's lists to a later namesake),
    // but never for ever
    let held = await takePidLock(lock);
    for (const until = Date.now() + LOCK_WAIT_MS; !held.ok && Date.now() < until; ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      held = await takePidLock(lock);
    }
    if (!held.ok) throw new ListsBusyError(`another process (pid ${held.pid}) is changing ${file}; try again when it is done`);
    try {
      return fn();
    } finally {
      await releasePidLock(lock);
    }
  };
  const next = queue.then(run, run);
  queue = next.catch(() => undefined);
  return next;
}

/**
 * Puts a normalised entry on `kind` of user `name` (lower case), taking it off the other list. `exists` is asked
 * again under the lock: a user deleted meanwhile gets no entries a later user of that name would inherit.
 */
export function addEntry(file: string, name: string, kind: UserListKind, entry: string, exists: () => boolean): Promise<AddResult> {
  return withListsLock(file, (): AddResult => {
    if (!exists()) return 'no_user';
    const data = readOrThrow(file);
    const mine = data[name] ?? { allow: [], block: [] };
    if (mine[kind].includes(entry)) return 'already';
    const other: UserListKind = kind === 'allow' ? 'block' : 'allow';
    const moved = mine[other].includes(entry);
    const next = { ...mine, [kind]: [...mine[kind], entry], [other]: mine[other].filter((e) => e !== entry) };
    if (!moved && next.allow.length + next.block.length > MAX_ENTRIES_PER_USER) return 'user_full';
    if (!moved && countEntries(data) + 1 > MAX_ENTRIES_TOTAL) return 'total_full';
    writeUserLists(file, { ...data, [name]: next });
    return moved ? 'moved' : 'added';
  });
}

/** Takes a normalised entry off whichever list of user `name` holds it. */
export function removeEntry(file: string, name: string, entry: string): Promise<RemoveResult> {
  return withListsLock(file, (): RemoveResult => {
    const data = readOrThrow(file);
    const mine = data[name] ?? { allow: [], block: [] };
    const next = { allow: mine.allow.filter((e) => e !== entry), block: mine.block.filter((e) => e !== entry) };
    if (next.allow.length + next.block.length === mine.allow.length + mine.block.length) return 'not_listed';
    writeUserLists(file, { ...data, [name]: next });
    return 'removed';
  });
}

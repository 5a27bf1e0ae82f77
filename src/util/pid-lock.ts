// A lock file owned by one process: linked into place already holding its owner (pid, then boot id and
// start time where /proc tells), so of several processes taking it at once exactly one gets it; a lock whose
// owner is gone (crash, Ctrl-C, reboot, pid reused) is taken over. Used by the spool and the Bayes store.
import { randomInt } from 'node:crypto';
import { link, open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { createFileExclusive } from './atomic-file.ts';
import { lockHolderAlive, processIdentity } from './process-identity.ts';

/** The pid in the lock file if that process is alive and is the one that wrote it (see lockHolderAlive), else undefined. */
export async function lockOwner(file: string): Promise<number | undefined> {
  const seen = await readLock(file);
  return seen === undefined ? undefined : ownerIn(seen.text);
}

/** The live owner named by a lock's text, else undefined. */
function ownerIn(text: string): number | undefined {
  const [pidLine, identity] = text.split('\n');
  const pid = Number(pidLine?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return lockHolderAlive(pid, identity?.trim() || undefined) ? pid : undefined;
}

/** The lock's text and inode (read from one open file, so they belong together), or undefined when there is none. */
async function readLock(file: string): Promise<{ text: string; ino: number | undefined; isFile: boolean } | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // there but unreadable: no owner to tell
    const st = await stat(file).catch(() => undefined);
    return { text: '', ino: st?.ino, isFile: st?.isFile() ?? true };
  }
  try {
    const [text, st] = await Promise.all([fh.readFile('utf8').catch(() => ''), fh.stat()]);
    return { text, ino: st.ino, isFile: st.isFile() };
  } finally {
    await fh.close();
  }
}

/**
 * Removes the lock looked at (inode `ino`) and no other: moved aside first, so a lock released and taken anew since
 * it was read (its new owner alive) is not deleted but put back. Unlinking the path instead would delete whatever
 * lock is there by now, and two processes would hold it.
 */
async function removeStaleLock(file: string, ino: number | undefined): Promise<void> {
  const aside = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomInt(1, 2 ** 47)}.tmp`);
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // gone already
    throw err;
  }
  try {
    const moved = await stat(aside);
    // not the one looked at: a new owner's, put back (link fails only if yet another lock was made meanwhile)
    if (ino === undefined || moved.ino !== ino) await link(aside, file).catch(() => undefined);
  } finally {
    await unlink(aside).catch(() => undefined);
  }
}

/** What a lock file holds: our pid, then (where /proc tells) who we are, against pid reuse. */
function lockContent(): string {
  return `${process.pid}\n${processIdentity(process.pid) ?? ''}\n`;
}

export type LockResult = { ok: true } | { ok: false; pid: number };

/**
 * Takes the lock at `file`, or tells which live process holds it. link(2) fails with EEXIST when the lock
 * exists, so two processes never both create it; a lock left by a dead owner (or by this process before,
 * reopening) is removed (that very file, not one made since) and the link tried again. Throws when the file
 * cannot be created at all, or something else than a file is in its place.
 */
export async function takePidLock(file: string): Promise<LockResult> {
  const content = lockContent();
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createFileExclusive(file, content)) return { ok: true };
    const seen = await readLock(file);
    if (seen === undefined) continue; // released since: take it
    if (!seen.isFile) throw new Error(`${file} is not a lock file: cannot take the lock`);
    const other = ownerIn(seen.text);
    if (other !== undefined && other !== process.pid) return { ok: false, pid: other };
    await removeStaleLock(file, seen.ino);
  }
  throw new Error(`could not take the lock ${file}`);
}

/** Removes the lock if this process holds it. */
export async function releasePidLock(file: string): Promise<void> {
  if ((await lockOwner(file)) === process.pid) await unlink(file).catch(() => undefined);
}

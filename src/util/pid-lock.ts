// A lock file owned by one process: linked into place already holding its owner (pid, then boot id and
// start time where /proc tells), so of several processes taking it at once exactly one gets it; a lock whose
// owner is gone (crash, Ctrl-C, reboot, pid reused) is taken over. Used by the spool and the Bayes store.
import { readFile, unlink } from 'node:fs/promises';
import { createFileExclusive } from './atomic-file.ts';
import { lockHolderAlive, processIdentity } from './process-identity.ts';

/** The pid in the lock file if that process is alive and is the one that wrote it (see lockHolderAlive), else undefined. */
export async function lockOwner(file: string): Promise<number | undefined> {
  const [pidLine, identity] = (await readFile(file, 'utf8').catch(() => '')).split('\n');
  const pid = Number(pidLine?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return lockHolderAlive(pid, identity?.trim() || undefined) ? pid : undefined;
}

/** What a lock file holds: our pid, then (where /proc tells) who we are, against pid reuse. */
function lockContent(): string {
  return `${process.pid}\n${processIdentity(process.pid) ?? ''}\n`;
}

export type LockResult = { ok: true } | { ok: false; pid: number };

/**
 * Takes the lock at `file`, or tells which live process holds it. link(2) fails with EEXIST when the lock
 * exists, so two processes never both create it; a lock left by a dead owner (or by this process before,
 * reopening) is removed and the link tried again. Throws when the file cannot be created at all.
 */
export async function takePidLock(file: string): Promise<LockResult> {
  const content = lockContent();
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createFileExclusive(file, content)) return { ok: true };
    const other = await lockOwner(file);
    if (other !== undefined && other !== process.pid) return { ok: false, pid: other };
    await unlink(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
  throw new Error(`could not take the lock ${file}`);
}

/** Removes the lock if this process holds it. */
export async function releasePidLock(file: string): Promise<void> {
  if ((await lockOwner(file)) === process.pid) await unlink(file).catch(() => undefined);
}

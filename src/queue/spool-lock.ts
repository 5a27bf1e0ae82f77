// The spool's lock file: one spamgate process owns a spool. The lock is linked into place already holding
// its owner (pid, then boot id and start time where /proc tells), so of several processes starting at once
// exactly one gets it; a lock whose owner is gone (crash, reboot, pid reused) is taken over.
import { readFile, unlink } from 'node:fs/promises';
import { createFileExclusive } from '../util/atomic-file.ts';
import { lockHolderAlive, processIdentity } from '../util/process-identity.ts';
import type { SpoolPaths } from './spool-format.ts';

/** The pid in the lock file if that process is alive and is the one that wrote it (see lockHolderAlive), else undefined. */
export async function runningPid(p: SpoolPaths): Promise<number | undefined> {
  const [pidLine, identity] = (await readFile(p.lock, 'utf8').catch(() => '')).split('\n');
  const pid = Number(pidLine?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return lockHolderAlive(pid, identity?.trim() || undefined) ? pid : undefined;
}

/** What the lock file holds: our pid, then (where /proc tells) who we are, against pid reuse. */
function lockContent(): string {
  return `${process.pid}\n${processIdentity(process.pid) ?? ''}\n`;
}

const ignoreMissing = (err: NodeJS.ErrnoException): void => {
  if (err.code !== 'ENOENT') throw err;
};

/**
 * Takes the spool's lock or throws "spool DIR is in use by process PID". link(2) fails with EEXIST when
 * the lock exists, so two processes never both create it; a lock left by a dead owner (or by this process
 * before, reopening) is removed and the link tried again.
 */
export async function takeSpoolLock(p: SpoolPaths, dir: string): Promise<void> {
  const content = lockContent();
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createFileExclusive(p.lock, content)) return;
    const other = await runningPid(p);
    if (other !== undefined && other !== process.pid) throw new Error(`spool ${dir} is in use by process ${other}`);
    await unlink(p.lock).catch(ignoreMissing);
  }
  throw new Error(`spool ${dir}: could not take its lock ${p.lock}`);
}

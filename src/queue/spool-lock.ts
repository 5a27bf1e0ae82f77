// The spool's lock file: one spamgate process owns a spool (see util/pid-lock.ts: linked into place holding
// its owner, so of several processes starting at once exactly one gets it; a dead owner's lock is taken over).
import { lockOwner, takePidLock } from '../util/pid-lock.ts';
import type { SpoolPaths } from './spool-format.ts';

/** The pid in the lock file if that process is alive and is the one that wrote it, else undefined. */
export function runningPid(p: SpoolPaths): Promise<number | undefined> {
  return lockOwner(p.lock);
}

/** Takes the spool's lock or throws "spool DIR is in use by process PID". */
export async function takeSpoolLock(p: SpoolPaths, dir: string): Promise<void> {
  const r = await takePidLock(p.lock);
  if (!r.ok) throw new Error(`spool ${dir} is in use by process ${r.pid}`);
}

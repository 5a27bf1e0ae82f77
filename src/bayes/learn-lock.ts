// The lock on a data directory's in-process Bayes store (bayes/learn.lock). Whoever writes the store file
// from what it holds in memory takes it first: a `spamgate train` or `forget` from before it reads the store
// until it has saved it, and `serve` for as long as it runs (it saves its in-memory store now and then, over
// anything learned beside it). A holder that is gone (Ctrl-C, a crash) leaves a stale lock, taken over.
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../util/logger.ts';
import { releasePidLock, takePidLock } from '../util/pid-lock.ts';

export const LEARN_LOCK_FILE = 'bayes/learn.lock';

/** Takes the lock, or says which live process holds it. Creates bayes/ (an unwritable data directory fails here). */
export async function takeLearnLock(dataDir: string): Promise<{ ok: true; release: () => Promise<void> } | { ok: false; pid: number }> {
  const file = path.join(dataDir, LEARN_LOCK_FILE);
  // the store's directory holds words of the users' mail: the server's own, like the spool (0700)
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const r = await takePidLock(file);
  return r.ok ? { ok: true, release: () => releasePidLock(file) } : r;
}

/**
 * For serve: waits while a train or forget holds the lock (logged once), then takes it; checked once a
 * second while that command runs (its holder's death frees it at once), for at most a day. A `spamgate
 * serve` holding it runs on this data directory already and holds it until it stops: that is refused at
 * once, not waited for as if it were learning.
 */
export async function waitForLearnLock(dataDir: string, log: Logger, pollMs = 1000, maxWaitMs = 86_400_000): Promise<() => Promise<void>> {
  let told = false;
  for (let waited = 0; ; waited += pollMs) {
    const r = await takeLearnLock(dataDir);
    if (r.ok) return r.release;
    if (await isServe(r.pid)) throw new Error(`spamgate serve (pid ${r.pid}) already runs on the data directory ${dataDir}: one serve per data directory (stop it, or give this one another data_dir)`);
    if (waited >= maxWaitMs) throw new Error(`the Bayes store in ${dataDir} is still in use by process ${r.pid} after a day of waiting`);
    if (!told) {
      told = true;
      log.warn('waiting for another process to finish learning into the Bayes store before opening it (its work would be overwritten)', { pid: r.pid, lock: path.join(dataDir, LEARN_LOCK_FILE) });
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Whether `pid` runs `spamgate serve` (its command line has the word serve), where /proc tells. */
async function isServe(pid: number): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').includes('serve');
}

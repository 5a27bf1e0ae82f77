// The spool's lock file: one spamgate process owns a spool (see util/pid-lock.ts: linked into place holding
// its owner, so of several processes starting at once exactly one gets it; a dead owner's lock is taken over).
// `spamgate queue` and `spamgate quarantine` take it for a moment on a stopped instance: a serve starting then
// waits for them rather than exit "in use".
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { lockOwner, takePidLock } from '../util/pid-lock.ts';
import type { SpoolPaths } from './spool-format.ts';

/** The commands that hold the spool's lock for a moment (a stopped instance's queue and quarantine changes). */
const BRIEF_HOLDERS = new Set(['queue', 'quarantine']);
/** How long a start waits for such a command; they take well under a second. */
const BRIEF_WAIT_MS = 15_000;
/** Without /proc nothing tells a brief holder from a serve: the start refuses at once, as for a serve. */
const HAS_PROC = existsSync('/proc/self/cmdline');

/** The pid in the lock file if that process is alive and is the one that wrote it, else undefined. */
export function runningPid(p: SpoolPaths): Promise<number | undefined> {
  return lockOwner(p.lock);
}

/**
 * Whether `pid` is a `spamgate queue …` or `spamgate quarantine …` command (where /proc tells), or `gone`: it
 * ended (or is ending: a zombie's cmdline is empty) since the lock was read, so the lock is to be tried again.
 */
async function holderKind(pid: number): Promise<'brief' | 'other' | 'gone'> {
  if (!HAS_PROC) return 'other';
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (cmdline === '') return 'gone';
  const args = cmdline.split('\0');
  return !args.includes('serve') && args.some((a) => BRIEF_HOLDERS.has(a)) ? 'brief' : 'other';
}

/**
 * Takes the spool's lock or throws "spool DIR is in use by process PID": at once when another serve (or anything
 * else) holds it, after up to `waitMs` while a brief holder does.
 */
export async function takeSpoolLock(p: SpoolPaths, dir: string, waitMs = BRIEF_WAIT_MS): Promise<void> {
  const until = Date.now() + waitMs;
  for (;;) {
    const r = await takePidLock(p.lock);
    if (r.ok) return;
    // a brief holder that released the lock and ended between the two reads is no reason to refuse the start
    if (Date.now() >= until || (await holderKind(r.pid)) === 'other') throw new Error(`spool ${dir} is in use by process ${r.pid}`);
    await sleep(100);
  }
}

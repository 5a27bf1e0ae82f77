// A lock file owned by one process: linked into place already holding its owner (pid, then boot id and
// start time where /proc tells, then a random token of this lock), so of several processes taking it at once
// exactly one gets it; a lock whose owner is gone (crash, Ctrl-C, reboot, pid reused) is taken over by one process
// holding a claim on it (takeOver). Used by the spool, the Bayes store and the list and user commands.
import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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

/** Takeover claims one stale lock may get: each is left only by a process that died while taking it over. */
const MAX_CLAIMS = 32;
/** Tries of one take: a takeover by another live process takes a few file operations, waited for in between. */
const MAX_ATTEMPTS = 50;

/** One lock as written, for good: its inode and text (which holds its writer's random token) hashed (exported for tests). */
export const generationOf = (seen: { text: string; ino: number | undefined }): string => createHash('sha256').update(`${seen.ino ?? ''}\0${seen.text}`).digest('hex').slice(0, 16);

/** The k-th claim to take over the lock `generation` (hidden, beside the lock). */
export const claimFile = (file: string, generation: string, k: number): string => path.join(path.dirname(file), `.${path.basename(file)}.${generation}.t${k}`);

/** The claims this process holds now: one naming our pid that is not among them is a predecessor's (same pid, dead). */
const heldClaims = new Map<string, number>(); // counted: tried or held by several takes of this process

function forgetClaim(claim: string): void {
  const n = (heldClaims.get(claim) ?? 1) - 1;
  if (n > 0) heldClaims.set(claim, n);
  else heldClaims.delete(claim);
}

/** The claim's text names a live taker: another process, or this one taking over now (not one that had our pid before). */
function claimLive(claim: string, text: string): boolean {
  const owner = ownerIn(text);
  return owner !== undefined && (owner !== process.pid || heldClaims.has(claim));
}

/** The lock's text names no live owner other than this process: left by a dead one (or by us before, reopening). */
function isStale(text: string): boolean {
  const owner = ownerIn(text);
  return owner === undefined || owner === process.pid;
}

/**
 * Removes the stale lock looked at, that very one and never a lock made since. Only the process that holds a claim
 * on it (a file beside it made with link(2), which fails with EEXIST for all but one) may remove it: it looks again
 * while holding the claim and unlinks the lock only if it is still that one, still stale. Nothing else can change
 * it then: a lock is made only where there is none, a live owner's lock is never removed, and this one's owner is
 * gone. A claim left by a process that died holding it is not removed (a second claimant could then act beside a
 * live first): the next claim in the row is taken instead, so no leftover blocks (a row of MAX_CLAIMS dead
 * claimants does, named in the error). Once the lock is gone for good the row goes too. `busy`: another live
 * process is taking it over; `done`: the lock looked at is gone.
 */
async function takeOver(file: string, seen: { text: string; ino: number | undefined }): Promise<'busy' | 'done'> {
  const generation = generationOf(seen);
  // bounded: each claim of the row looked at once, each looked at again at most once when it went meanwhile
  for (let k = 1, again = 0; k <= MAX_CLAIMS && again <= MAX_CLAIMS; ) {
    const claim = claimFile(file, generation, k);
    // counted as ours from before it is there, so a take of this process at the same time never finds it unowned
    heldClaims.set(claim, (heldClaims.get(claim) ?? 0) + 1);
    const made = await createFileExclusive(claim, lockContent()).catch((err: unknown) => {
      forgetClaim(claim);
      throw err;
    });
    if (!made) forgetClaim(claim);
    else {
      try {
        const now = await readLock(file);
        if (now === undefined || generationOf(now) !== generation) return 'done';
        if (!now.isFile || !isStale(now.text)) return 'busy';
        await unlink(file).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
        // this lock is never seen again: the claims on it (of processes that died taking it over) go
        for (let j = 1; j < k; j++) await unlink(claimFile(file, generation, j)).catch(() => undefined);
        return 'done';
      } finally {
        await unlink(claim).catch(() => undefined);
        forgetClaim(claim);
      }
    }
    const held = await readLock(claim);
    if (held === undefined) {
      again++; // released since: tried again
      continue;
    }
    if (claimLive(claim, held.text)) return 'busy';
    k++;
  }
  throw new Error(`could not take over the stale lock ${file}: remove it and ${claimFile(file, generation, 1).replace(/1$/, '*')} if no process holds it`);
}

/** Claims on locks gone for good (their takers died after removing them): removed by a holder of the lock. */
async function sweepClaims(file: string): Promise<void> {
  const prefix = `.${path.basename(file)}.`;
  const names = await readdir(path.dirname(file)).catch(() => [] as string[]);
  for (const name of names) {
    if (name.startsWith(prefix) && /^[0-9a-f]{16}\.t\d+$/.test(name.slice(prefix.length))) await unlink(path.join(path.dirname(file), name)).catch(() => undefined);
  }
}

/** What a lock file holds: our pid, then (where /proc tells) who we are, against pid reuse, then a token of this lock. */
function lockContent(): string {
  return `${process.pid}\n${processIdentity(process.pid) ?? ''}\n${randomBytes(8).toString('hex')}\n`;
}

export type LockResult = { ok: true } | { ok: false; pid: number };

/**
 * Takes the lock at `file`, or tells which live process holds it. link(2) fails with EEXIST when the lock
 * exists, so two processes never both create it; a lock left by a dead owner (or by this process before,
 * reopening) is taken over (takeOver: that very file removed by one process, never one made since) and the link
 * tried again. Throws when the file cannot be created at all, or something else than a file is in its place.
 */
export async function takePidLock(file: string): Promise<LockResult> {
  const content = lockContent();
  let tookOver = false;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (await createFileExclusive(file, content)) {
      // ours now, so no claim beside it can be on a lock still to be taken over
      if (tookOver) await sweepClaims(file);
      return { ok: true };
    }
    const seen = await readLock(file);
    if (seen === undefined) continue; // released since: take it
    if (!seen.isFile) throw new Error(`${file} is not a lock file: cannot take the lock`);
    const other = ownerIn(seen.text);
    if (other !== undefined && other !== process.pid) return { ok: false, pid: other };
    tookOver = true;
    if ((await takeOver(file, seen)) === 'busy') await sleep(1 + attempt);
  }
  throw new Error(`could not take the lock ${file}`);
}

/** Removes the lock if this process holds it. */
export async function releasePidLock(file: string): Promise<void> {
  if ((await lockOwner(file)) === process.pid) await unlink(file).catch(() => undefined);
}

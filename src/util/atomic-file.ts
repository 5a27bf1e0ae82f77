// Atomic file replacement shared by every component that rewrites a state file: write a temp file
// in the same directory, fsync it, rename it over the old one, fsync the directory. Readers and a
// crash see the old or the new file, never half of one. Also the exclusive create of lock files: the
// content is written aside and link(2)ed into place, so a lock is never seen (or left) empty. A writer
// killed before its rename (Ctrl-C during a save) leaves its temp file: removeDeadTempsSync clears those.
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { link, mkdir, open, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pidAlive } from './process-identity.ts';

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0600: state files may hold secrets). */
  mode?: number;
  /** fsync file and directory (default true); false for caches that can be rebuilt. */
  fsync?: boolean;
}

let counter = 0;
/** Temp files this process is writing now (named with its pid). */
const inFlight = new Set<string>();
const tempName = (file: string): string => path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++counter}.tmp`);

/**
 * Removes the temp files of `file` (`.NAME.PID.N.tmp`) left by writers that are gone: the pid runs no process,
 * or it is this process's pid and the file is not one it is writing (an earlier process given the same pid, as a
 * container's pid 1 is). A live writer's file is left alone. Returns the names removed.
 */
export function removeDeadTempsSync(file: string): string[] {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // no directory yet: nothing left in it
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.\d+\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    const full = path.join(dir, name);
    if (pid === process.pid ? inFlight.has(full) : pid <= 0 || pidAlive(pid)) continue;
    try {
      unlinkSync(full);
      removed.push(name);
    } catch {
      // removed meanwhile (another process cleaning up), or not ours to remove: left as it is
    }
  }
  return removed;
}

export function writeFileAtomicSync(file: string, data: Buffer | string, opts: AtomicWriteOptions = {}): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = tempName(file);
  const fd = openSync(tmp, 'wx', opts.mode ?? 0o600);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let off = 0, guard = 0; off < buf.length && guard < 1_000_000; guard++) off += writeSync(fd, buf, off, buf.length - off);
    if (opts.fsync !== false) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (err) {
    // the name is taken by what a file cannot replace (a directory): the temp file is not left behind
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
  if (opts.fsync !== false) syncDirSync(dir);
}

export async function writeFileAtomic(file: string, data: Buffer | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = tempName(file);
  inFlight.add(tmp);
  try {
    const fh = await open(tmp, 'wx', opts.mode ?? 0o600);
    try {
      await fh.writeFile(data);
      if (opts.fsync !== false) await fh.sync();
    } catch (err) {
      await fh.close();
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    try {
      await rename(tmp, file);
    } catch (err) {
      // the name is taken by what a file cannot replace (a directory): the temp file is not left behind
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  } finally {
    inFlight.delete(tmp);
  }
  if (opts.fsync !== false) await syncDir(dir);
}

/**
 * Creates `file` holding `data` unless it exists (then false): written aside, then linked to its name,
 * which fails with EEXIST when the name is taken. A plain O_EXCL create followed by a write would leave
 * an empty file if the process died in between.
 */
export async function createFileExclusive(file: string, data: string, mode = 0o600): Promise<boolean> {
  const tmp = tempName(file);
  inFlight.add(tmp);
  try {
    await writeFile(tmp, data, { mode });
  } catch (err) {
    inFlight.delete(tmp);
    throw err;
  }
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
    inFlight.delete(tmp);
  }
}

/** createFileExclusive in one synchronous step. */
export function createFileExclusiveSync(file: string, data: string, mode = 0o600): boolean {
  const tmp = tempName(file);
  writeFileSync(tmp, data, { mode });
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // Already gone.
    }
  }
}

function syncDirSync(dir: string): void {
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself is still atomic.
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // As above.
  }
}

// Where each user's Sieve script lives (<data_dir>/mail/<domain>/<local>/sieve/active.sieve, beside the Maildir,
// as Pigeonhole keeps ~/sieve), writing and removing it, and reading it compiled at delivery, cached by the
// file's stamp (inode, size, mtime) so an unchanged script is compiled once.
import { mkdirSync, rmSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { compileSieve, MAX_SCRIPT_BYTES, type CompileResult } from '../sieve/compile.ts';
import { writeFileAtomicSync } from '../util/atomic-file.ts';
import { userHome } from './mail-root.ts';

/** The script of one user; the name is validated before any path is made of it (MailboxError INVALID otherwise). */
export function sieveScriptFile(dataDir: string, user: string): string {
  return path.join(userHome(dataDir, user), 'sieve', 'active.sieve');
}

/** Writes the script atomically (temp file, fsync, rename). The caller compiled it first. */
export function writeSieveScript(dataDir: string, user: string, text: string): string {
  const file = sieveScriptFile(dataDir, user);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomicSync(file, text, { mode: 0o600 });
  return file;
}

/** Removes the script; false when there was none. */
export function removeSieveScript(dataDir: string, user: string): boolean {
  const file = sieveScriptFile(dataDir, user);
  try {
    rmSync(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export type LoadedScript = { kind: 'none' } | ({ kind: 'script' } & CompileResult) | { kind: 'unreadable'; reason: string };

export interface SieveScripts {
  /** The user's script, compiled (cached while the file is unchanged). */
  load(user: string): Promise<LoadedScript>;
}

/** Compiled scripts kept; past this the cache starts again (users with scripts are few next to messages). */
const MAX_CACHED = 10_000;

export function createSieveScripts(dataDir: string): SieveScripts {
  const cache = new Map<string, { stamp: string; result: LoadedScript }>();
  return {
    async load(user) {
      const file = sieveScriptFile(dataDir, user);
      const st = await stat(file).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ENOTDIR' ? undefined : Promise.reject(err)));
      if (!st) {
        cache.delete(user);
        return { kind: 'none' };
      }
      if (!st.isFile()) return { kind: 'unreadable', reason: `${file} is not a regular file` };
      const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
      const hit = cache.get(user);
      if (hit?.stamp === stamp) return hit.result;
      let result: LoadedScript;
      if (st.size > MAX_SCRIPT_BYTES) result = { kind: 'script', ok: false, problems: [{ line: 1, col: 1, message: `script larger than ${MAX_SCRIPT_BYTES} bytes` }] };
      else {
        const fh = await open(file, 'r');
        try {
          // at most one byte past the bound: a file that grew since stat is refused by the compiler's size check
          const buf = Buffer.alloc(MAX_SCRIPT_BYTES + 1);
          let got = 0;
          for (let n = 1; n > 0 && got < buf.length; got += n) n = (await fh.read(buf, got, buf.length - got, got)).bytesRead;
          result = { kind: 'script', ...compileSieve(buf.subarray(0, got).toString('utf8')) };
        } finally {
          await fh.close();
        }
      }
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(user, { stamp, result });
      return result;
    },
  };
}

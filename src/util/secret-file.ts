// Secret files (the relay password, SRS secrets, BATV keys, the reputation seal): read as a regular file only
// (a named pipe or a device would block the read, a directory is a wrong path), small (a secret file is a few
// lines), and readable by its owner and group alone, since whoever reads it can act as this host; made once
// (32 random bytes, base64, mode 0600) without ever leaving a partial one under its name.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

export interface SecretFileRules {
  /** Larger than this is not such a file: a wrong path. */
  maxBytes: number;
  /** What a reader of the file could do, for the error when others may read it ("can make bounce tags that pass"). */
  exposure: string;
  /** The chmod advice in that error (default "chmod 600"). */
  chmod?: string;
}

/** The file's text, or why it cannot be used (missing, unreadable, not a regular file, open to others, too large). */
export function readSecretFile(file: string, rules: SecretFileRules): { text: string } | { error: string } {
  try {
    const st = statSync(file);
    if (!st.isFile()) return { error: `${file} is not a regular file` };
    if (process.platform !== 'win32' && (st.mode & 0o007) !== 0) {
      return { error: `${file} is open to other users (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): whoever reads it ${rules.exposure}; ${rules.chmod ?? 'chmod 600'}` };
    }
    if (st.size > rules.maxBytes) return { error: `${file} is larger than ${rules.maxBytes} bytes: not a secrets file` };
    return { text: readFileSync(file, 'utf8') };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'does not exist' : e.code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${e.code ?? e.message})`;
    return { error: `${file} ${why}` };
  }
}

/** Writes a new secrets file without ever leaving a partial one under its name (link fails if one appeared meanwhile). */
export function createSecretFile(file: string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(32).toString('base64')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  const dir = openSync(path.dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

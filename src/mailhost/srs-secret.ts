// The SRS secrets file, in postsrsd's format: one secret a line, the first signs new addresses, every line
// verifies returning ones (rotation: put a new line first). Without srs.secret_file, `srs.secret` in the data
// directory is made at first start (32 random bytes, base64; mode 0600) and kept across restarts.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

export const DEFAULT_SECRET_FILE = 'srs.secret';
/** Shorter secrets are warned about (postsrsd takes any, so a migrated file must still work). */
export const WEAK_SECRET_LENGTH = 16;

export interface SrsSecrets {
  file: string;
  /** The first signs; all verify. */
  secrets: string[];
  /** The file was made now. */
  created: boolean;
  /** Secrets shorter than WEAK_SECRET_LENGTH characters. */
  weak: number;
}

/** Writes a new secrets file without ever leaving a partial one under its name (link fails if one appeared meanwhile). */
function createSecretFile(file: string): void {
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

/**
 * Reads (or, for the default file, makes) the secrets. Throws with the file named when it is missing (a named
 * file is never made: a wrong path must not silently void every address out there), open to other users, or
 * holds no usable secret.
 */
export function loadSrsSecrets(dataDir: string, secretFile: string | undefined): SrsSecrets {
  const file = path.resolve(dataDir, secretFile ?? DEFAULT_SECRET_FILE);
  let created = false;
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || secretFile !== undefined) throw new Error(`srs.secret_file: ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    createSecretFile(file);
    created = true;
    mode = statSync(file).mode;
  }
  if (process.platform !== 'win32' && (mode & 0o007) !== 0) {
    throw new Error(`srs.secret_file: ${file} is open to other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): whoever reads it can make addresses spamgate forwards; chmod 600`);
  }
  const secrets = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (secrets.length === 0) throw new Error(`srs.secret_file: ${file} holds no secret (one a line)`);
  return { file, secrets, created, weak: secrets.filter((s) => s.length < WEAK_SECRET_LENGTH).length };
}

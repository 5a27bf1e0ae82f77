// The SRS secrets file, in postsrsd's format: one secret a line, the first signs new addresses, every line
// verifies returning ones (rotation: put a new line first). Without srs.secret_file, `srs.secret` in the data
// directory is made at first start (32 random bytes, base64; mode 0600) and kept across restarts; a named file
// is checked with the other files the config names (check-config says what is wrong with it).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createSecretFile, readSecretFile } from '../util/secret-file.ts';

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

/** Reads a secrets file: its secrets, or why it cannot be used (missing, open to other users, no secret in it). */
export function readSrsSecretsFile(file: string): { secrets: string[] } | { error: string } {
  const read = readSecretFile(file, { maxBytes: 64 * 1024, exposure: 'can make addresses spamgate forwards to' });
  if ('error' in read) return read;
  const { text } = read;
  const secrets = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (secrets.length === 0) return { error: `${file} holds no secret (one a line)` };
  return { secrets };
}

/**
 * Reads (or, for the default file, makes) the secrets. `secretFile` is srs.secret_file, absolute (config
 * paths are resolved against the config file's directory); a relative one is taken in the data dir. Throws
 * with the file named when it is missing (a named file is never made: a wrong path must not silently void
 * every address out there), open to other users, or holds no secret.
 */
export function loadSrsSecrets(dataDir: string, secretFile: string | undefined): SrsSecrets {
  const file = path.resolve(dataDir, secretFile ?? DEFAULT_SECRET_FILE);
  let created = false;
  if (secretFile === undefined && !existsSync(file)) {
    createSecretFile(file);
    created = true;
  }
  const read = readSrsSecretsFile(file);
  if ('error' in read) throw new Error(`srs.secret_file: ${read.error}`);
  return { file, secrets: read.secrets, created, weak: read.secrets.filter((s) => s.length < WEAK_SECRET_LENGTH).length };
}

// BATV keys: inline in the config (batv.keys) or a file (batv.key_file) of one key a line, `K secret` (K the
// key number 0-9 written into each tag), the first line signing and every line validating returning tags, so a
// key is rotated by putting a new line with another number first and dropping the old one after batv.max_age.
// Blank lines and lines starting with # are skipped. A file others may read is refused (whoever reads it can
// make tags that pass), as are short secrets, repeated key numbers and a file without a key.
import { readSecretFile } from '../util/secret-file.ts';
import type { PrvsKey } from './prvs.ts';

/** HMAC-SHA1 tags cut to 24 bits are only as good as the secret: shorter ones are refused. */
export const MIN_SECRET_LENGTH = 16;

/** Problems with a list of keys (inline or read from a file), each a sentence; empty when usable. */
export function keyProblems(keys: readonly PrvsKey[]): string[] {
  const problems: string[] = [];
  if (keys.length === 0) problems.push('holds no key');
  const seen = new Set<number>();
  for (const k of keys) {
    if (seen.has(k.id)) problems.push(`key number ${k.id} is given twice (each key needs its own number 0-9: it is written into the tags)`);
    seen.add(k.id);
    if (k.secret.length < MIN_SECRET_LENGTH) problems.push(`the secret of key ${k.id} has ${k.secret.length} characters; at least ${MIN_SECRET_LENGTH} are needed (tags are short, the secret must not be guessable)`);
  }
  return problems;
}

/** Reads a key file: its keys in order (the first signs), or what is wrong with it. */
export function readBatvKeyFile(file: string): { keys: PrvsKey[] } | { error: string } {
  const read = readSecretFile(file, { maxBytes: 64 * 1024, exposure: 'can make bounce tags that pass' });
  if ('error' in read) return read;
  const { text } = read;
  const keys: PrvsKey[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([0-9])\s+(\S.*)$/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined) return { error: `${file} line ${i + 1}: expected "K secret" (a key number 0-9, a space, the secret)` };
    keys.push({ id: Number(m[1]), secret: m[2].trim() });
  }
  const problems = keyProblems(keys);
  if (problems.length) return { error: `${file}: ${problems.join('; ')}` };
  return { keys };
}

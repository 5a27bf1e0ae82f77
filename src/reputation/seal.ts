// The seal on X-Spamgate-Reputation: the keys a user report teaches are only those spamgate itself wrote
// at DATA. A mailbox holds what its user put there too (IMAP APPEND of any text, then a move into Junk), so
// the header carries a nonce and an HMAC of the keys and nonce under a secret of this host
// (data_dir/reputation.secret, made at first start, mode 0600): a header written by anyone else, or edited,
// teaches nothing. The nonce names the delivered message, so copies of one report count once (learner.ts).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createSecretFile, readSecretFile } from '../util/secret-file.ts';
import { formatKeysHeader, parseKeysHeader, type ReputationKey } from './keys.ts';

export const SEAL_FILE = 'reputation.secret';

export interface SealedKeys {
  keys: ReputationKey[];
  nonce: string;
}

export interface ReputationSeal {
  /** The header value: the keys, a fresh nonce and their HMAC. */
  write(keys: readonly ReputationKey[]): string;
  /** The keys and nonce of a header value this host sealed; undefined for any other. */
  read(value: string): SealedKeys | undefined;
}

export function sealWith(secret: string): ReputationSeal {
  const mac = (keysText: string, nonce: string): Buffer => createHmac('sha256', secret).update(`${keysText}\n${nonce}`).digest();
  return {
    write(keys) {
      const text = formatKeysHeader(keys);
      const nonce = randomBytes(9).toString('base64url');
      return `${text}; seal=${nonce}.${mac(text, nonce).subarray(0, 18).toString('base64url')}`;
    },
    read(value) {
      const m = /^(.*);\s*seal=([A-Za-z0-9_-]{12})\.([A-Za-z0-9_-]{24})\s*$/.exec(value.replace(/\r?\n[ \t]+/g, ' ').trim());
      if (!m?.[1] || !m[2] || !m[3]) return undefined;
      const keys = parseKeysHeader(m[1]);
      if (keys.length === 0) return undefined;
      const want = mac(formatKeysHeader(keys), m[2]).subarray(0, 18);
      const got = Buffer.from(m[3], 'base64url');
      return got.length === want.length && timingSafeEqual(got, want) ? { keys, nonce: m[2] } : undefined;
    },
  };
}

/** The seal of this data directory (the secret made when missing). Throws with the file named when it cannot be used. */
export function loadReputationSeal(dataDir: string): ReputationSeal {
  const file = path.join(dataDir, SEAL_FILE);
  if (!existsSync(file)) createSecretFile(file);
  const read = readSecretFile(file, { maxBytes: 4096, exposure: 'can report any sender to its reputation' });
  if ('error' in read) throw new Error(`reputation: ${read.error}`);
  const secret = read.text.trim();
  if (secret === '') throw new Error(`reputation: ${file} holds no secret`);
  return sealWith(secret);
}

// A cache of passwords recently verified, as Dovecot's auth_cache: a mail client that logs in again and again
// (one IMAP connection per folder, a POP3 poll every minute) costs one scrypt derivation per TTL instead of
// one per login. Only successes are kept, as an HMAC under a key made at start (never the password), and
// keyed by the stored hash itself: a changed password is a new hash, so the old entry can never match.
// A wrong password always takes the full derivation.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { verifyPassword } from './password.ts';

/** Entries kept at most: each about 100 bytes (the hash string and a 32-byte HMAC). */
export const AUTH_CACHE_MAX_ENTRIES = 10_000;

export interface VerifiedPasswords {
  /** verifyPassword (src/mailhost/password.ts), answered from the cache when this hash was verified with this password within the TTL. */
  verify(password: string, hash: string | undefined): Promise<boolean>;
}

/**
 * A cache kept for `ttlMs` after each successful verification; 0 turns it off (every login derives).
 * `derive` is the verification it saves (scrypt's; a test counts its calls).
 */
export function verifiedPasswords(ttlMs: number, maxEntries = AUTH_CACHE_MAX_ENTRIES, derive: typeof verifyPassword = verifyPassword): VerifiedPasswords {
  if (ttlMs <= 0) return { verify: derive };
  const key = randomBytes(32);
  const seal = (password: string): Buffer => createHmac('sha256', key).update(password.normalize('NFC'), 'utf8').digest();
  // the TTL counts from the verification that filled the entry, not from the last use: a password taken
  // away elsewhere (a users file replaced by hand with the same hash) is asked of scrypt again in time
  const cache = new LRUCache<string, Buffer>({ max: maxEntries, ttl: ttlMs, updateAgeOnGet: false });
  return {
    async verify(password, hash) {
      if (hash !== undefined) {
        const known = cache.get(hash);
        if (known && timingSafeEqual(known, seal(password))) return true;
      }
      const ok = await derive(password, hash);
      if (ok && hash !== undefined) cache.set(hash, seal(password));
      return ok;
    },
  };
}

// The tokens of the digest's release and delete links: a quarantine id, one recipient and an expiry, signed with
// HMAC-SHA256 (RFC 2104) under the secret of link-secret.ts. Whoever holds a token may act on that one message for
// that one recipient until it expires; it grants nothing else. Verification compares the MAC in constant time.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isQuarantineId } from './format.ts';

export interface LinkClaim {
  id: string;
  recipient: string;
  /** Expiry, ms since the epoch (kept to the second). */
  expires: number;
}

export type TokenCheck = { ok: true; claim: LinkClaim } | { ok: false; reason: 'invalid' | 'expired' };

/** Longer is no token of ours (an id, an address of at most 254 octets, a time and a MAC fit well within). */
export const MAX_TOKEN_LENGTH = 1024;
/** Domain separation: a MAC made for something else under the same key never passes as a link. */
const CONTEXT = 'spamgate quarantine link v1\n';

const b64url = (b: Buffer): string => b.toString('base64url');

export interface LinkTokens {
  sign(claim: LinkClaim): string;
  verify(token: string, now: number): TokenCheck;
}

export function createLinkTokens(secret: Buffer): LinkTokens {
  if (secret.length < 16) throw new Error('quarantine link secret: expected at least 16 bytes');
  const mac = (payload: Buffer): Buffer => createHmac('sha256', secret).update(CONTEXT).update(payload).digest();
  return {
    sign({ id, recipient, expires }) {
      const payload = Buffer.from(`${id}\n${recipient}\n${Math.floor(expires / 1000).toString(36)}`, 'utf8');
      return `${b64url(payload)}.${b64url(mac(payload))}`;
    },
    verify(token, now) {
      const invalid: TokenCheck = { ok: false, reason: 'invalid' };
      if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/.test(token)) return invalid;
      const [p, m] = token.split('.') as [string, string];
      const payload = Buffer.from(p, 'base64url');
      const given = Buffer.from(m, 'base64url');
      const expected = mac(payload);
      // both 32 bytes (43 base64url characters checked above); timingSafeEqual throws on a length mismatch
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid;
      const [id, recipient, exp, extra] = payload.toString('utf8').split('\n');
      if (extra !== undefined || !id || !recipient || !exp || !isQuarantineId(id) || !/^[0-9a-z]{1,10}$/.test(exp)) return invalid;
      const expires = parseInt(exp, 36) * 1000;
      if (now >= expires) return { ok: false, reason: 'expired' };
      return { ok: true, claim: { id, recipient, expires } };
    },
  };
}

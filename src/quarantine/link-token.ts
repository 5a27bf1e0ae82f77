// The tokens of the digest's links: an action, a quarantine id (none for the lists page), one recipient and an
// expiry, signed with HMAC-SHA256 (RFC 2104) under the secret of link-secret.ts. Whoever holds a token may do that
// one action on that one message for that one recipient (or, for `lists`, see and shorten that recipient's sender
// lists) until it expires; it grants nothing else: verify() is told the action its route does and refuses a token
// made for another. Tokens of the first format (no action, in digests sent before) still work for release and
// delete alone until they expire. Verification compares the MAC in constant time.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isQuarantineId } from './format.ts';

/** What a token lets its holder do: release or delete one message, also allow or block its sender, or manage the lists. */
export const TOKEN_ACTIONS = ['release', 'delete', 'allow', 'block', 'lists'] as const;
export type TokenAction = (typeof TOKEN_ACTIONS)[number];

export interface LinkClaim {
  action: TokenAction;
  /** The quarantine id; '' for `lists`. */
  id: string;
  recipient: string;
  /** Expiry, ms since the epoch (kept to the second). */
  expires: number;
}

export type TokenCheck = { ok: true; claim: LinkClaim } | { ok: false; reason: 'invalid' | 'expired' };

/** Longer is no token of ours (an id, an address of at most 254 octets, a time and a MAC fit well within). */
export const MAX_TOKEN_LENGTH = 1024;
/** Domain separation: a MAC made for something else under the same key never passes as a link; nor a v1 one as v2. */
const CONTEXT_V1 = 'spamgate quarantine link v1\n';
const CONTEXT = 'spamgate quarantine link v2\n';
const isTokenAction = (a: string): a is TokenAction => (TOKEN_ACTIONS as readonly string[]).includes(a);

const b64url = (b: Buffer): string => b.toString('base64url');

export interface LinkTokens {
  sign(claim: LinkClaim): string;
  /** The claim of a token made for `action` (a v1 token: for release or delete); any other is invalid. */
  verify(token: string, now: number, action: TokenAction): TokenCheck;
}

export function createLinkTokens(secret: Buffer): LinkTokens {
  if (secret.length < 16) throw new Error('quarantine link secret: expected at least 16 bytes');
  const mac = (context: string, payload: Buffer): Buffer => createHmac('sha256', secret).update(context).update(payload).digest();
  return {
    sign({ action, id, recipient, expires }) {
      const payload = Buffer.from(`${action}\n${id}\n${recipient}\n${Math.floor(expires / 1000).toString(36)}`, 'utf8');
      return `${b64url(payload)}.${b64url(mac(CONTEXT, payload))}`;
    },
    verify(token, now, want) {
      const invalid: TokenCheck = { ok: false, reason: 'invalid' };
      if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/.test(token)) return invalid;
      const [p, m] = token.split('.') as [string, string];
      const payload = Buffer.from(p, 'base64url');
      const given = Buffer.from(m, 'base64url');
      const fields = payload.toString('utf8').split('\n');
      // four fields: v2 (action first); three: v1, which only release and delete links ever had
      const v1 = fields.length === 3;
      if (v1 && want !== 'release' && want !== 'delete') return invalid;
      const expected = mac(v1 ? CONTEXT_V1 : CONTEXT, payload);
      // both 32 bytes (43 base64url characters checked above); timingSafeEqual throws on a length mismatch
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid;
      const [action, id, recipient, exp, extra] = v1 ? [want, ...fields] : fields;
      if (extra !== undefined || action === undefined || id === undefined || !recipient || !exp || !/^[0-9a-z]{1,10}$/.test(exp)) return invalid;
      if (!isTokenAction(action) || action !== want) return invalid;
      if (action === 'lists' ? id !== '' : !isQuarantineId(id)) return invalid;
      const expires = parseInt(exp, 36) * 1000;
      if (now >= expires) return { ok: false, reason: 'expired' };
      return { ok: true, claim: { action, id, recipient, expires } };
    },
  };
}

// RFC 1939 §7 APOP: "APOP name digest", digest = MD5(banner timestamp + shared secret) as 32 hex digits.
import { apopDigest, digestsEqual } from '../mailhost/password.ts';
import type { Pop3Users } from './context.ts';

/** The name and digest of an APOP argument, or undefined when it is malformed. */
export function parseApop(arg: string): { name: string; digest: string } | undefined {
  const m = /^(\S+) ([0-9a-fA-F]{32})$/.exec(arg);
  return m?.[1] && m[2] ? { name: m[1], digest: m[2] } : undefined;
}

/** The canonical user name when the digest matches the user's APOP secret for this timestamp. */
export function verifyApop(users: Pop3Users, timestamp: string, name: string, digest: string): string | undefined {
  const rec = users.lookup(name);
  const secret = rec?.apopSecret;
  return rec && secret !== undefined && digestsEqual(apopDigest(timestamp, secret), digest) ? rec.name : undefined;
}

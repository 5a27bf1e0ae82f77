// BATV `prvs` tags (draft-levine-smtp-batv-01 §4): the envelope sender local@domain of mail we send becomes
// prvs=KDDDSSSSSS=local@domain, where K is the key number (one digit), DDD the day the tag expires (days since
// 1970-01-01, mod 1000) and SSSSSS the first six hex digits of HMAC-SHA1 (RFC 2104) with key K over "KDDD" and
// the address, as Exim's ${prvs} computes it (so tags Exim signed with the same secret stay valid here). Pure
// functions: time is passed in; parsing is bounded (one anchored regex over at most an address's length).
import { createHmac, timingSafeEqual } from 'node:crypto';

const DAY_MS = 86_400_000;
/** RFC 5321 §4.5.3.1.1: a local part is at most 64 octets; we read prvs ones up to a whole path's length. */
const MAX_ADDRESS = 256;
const TAGGED = /^prvs=([0-9])([0-9]{3})([0-9a-f]{6})=(.+)$/is;

export interface PrvsKey {
  /** The K of the tag: 0-9. */
  id: number;
  secret: string;
}

export type PrvsParse =
  /** No prvs= local part: an ordinary address. */
  | { kind: 'plain' }
  /** Starts with prvs= but is not KDDDSSSSSS=local@domain (or is too long to be one of ours). */
  | { kind: 'malformed' }
  | { kind: 'tagged'; key: number; day: number; hash: string; address: string };

export type PrvsCheck = { kind: 'valid'; address: string } | { kind: 'invalid'; reason: 'bad_hash' | 'expired' | 'unknown_key'; address: string };

/** Days since the epoch (UTC). */
export function dayNumber(nowMs: number): number {
  return Math.floor(nowMs / DAY_MS);
}

function split(address: string): { local: string; domain: string } | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

/** The address hashed: domain in lower case (domains are case-insensitive, RFC 5321 §2.4), local part as given. */
function canonical(address: string): string {
  const parts = split(address);
  return parts ? `${parts.local}@${parts.domain.toLowerCase()}` : address;
}

/** SSSSSS: the first six hex digits (lower case) of HMAC-SHA1(secret, K DDD address). */
export function prvsHash(key: PrvsKey, day: number, address: string): string {
  const ddd = String(day % 1000).padStart(3, '0');
  return createHmac('sha1', key.secret).update(`${key.id}${ddd}${canonical(address)}`, 'utf8').digest('hex').slice(0, 6);
}

/**
 * draft-levine-smtp-batv-01 §4.1: prvs=KDDDSSSSSS=local@domain, expiring validityDays after nowMs. The address
 * keeps its case but is hashed in lower case: the check tries the address as it comes back and in lower case, so
 * a bounce from an MTA that changed the case (all upper, all lower) of a sender written with capitals passes.
 */
export function prvsSign(address: string, key: PrvsKey, nowMs: number, validityDays: number): string {
  const parts = split(address);
  if (!parts) return address;
  const day = (dayNumber(nowMs) + validityDays) % 1000;
  return `prvs=${key.id}${String(day).padStart(3, '0')}${prvsHash(key, day, address.toLowerCase())}=${parts.local}@${parts.domain}`;
}

/** Whether the local part of `address` is a prvs= one (well formed or not). */
export function isPrvsAddress(address: string): boolean {
  return address.slice(0, 5).toLowerCase() === 'prvs=';
}

export function parsePrvs(address: string): PrvsParse {
  if (!isPrvsAddress(address)) return { kind: 'plain' };
  if (address.length > MAX_ADDRESS) return { kind: 'malformed' };
  const m = TAGGED.exec(address);
  if (!m) return { kind: 'malformed' };
  const [, k, ddd, hash, rest] = m as unknown as [string, string, string, string, string];
  // the inner address must be one: a local part and a domain, and not itself tagged
  const parts = split(rest);
  if (!parts || isPrvsAddress(rest)) return { kind: 'malformed' };
  return { kind: 'tagged', key: Number(k), day: Number(ddd), hash: hash.toLowerCase(), address: rest };
}

/**
 * The tag of a parsed prvs address against the keys: its key known, its hash matching (compared in constant time,
 * hex without regard to case), and not expired: the days left until DDD, counted mod 1000 so that day 999 → 002
 * wraps, are at most validityDays (more is a tag that expired up to 1000 − validityDays days ago).
 */
export function checkPrvs(parsed: Extract<PrvsParse, { kind: 'tagged' }>, keys: readonly PrvsKey[], nowMs: number, validityDays: number): PrvsCheck {
  const { address } = parsed;
  const key = keys.find((k) => k.id === parsed.key);
  if (!key) return { kind: 'invalid', reason: 'unknown_key', address };
  const given = Buffer.from(parsed.hash, 'latin1');
  // The address as it came back (tags Exim signed over a local part with capitals), and in lower case (ours are
  // signed so: some MTAs change the case of the whole bounce address). At most two HMACs, in constant time.
  const lower = address.toLowerCase();
  let match = false;
  for (const candidate of lower === address ? [address] : [address, lower]) {
    const expected = Buffer.from(prvsHash(key, parsed.day, candidate), 'latin1');
    if (given.length === expected.length && timingSafeEqual(given, expected)) match = true;
  }
  if (!match) return { kind: 'invalid', reason: 'bad_hash', address };
  const left = (((parsed.day - dayNumber(nowMs)) % 1000) + 1000) % 1000;
  if (left > validityDays) return { kind: 'invalid', reason: 'expired', address };
  return { kind: 'valid', address };
}

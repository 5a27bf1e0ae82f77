// SRS, the Sender Rewriting Scheme (Shevek's "guarded" scheme of Mail::SRS and libsrs2, as postsrsd writes it):
//   SRS0=HHHH=TT=orig-domain=orig-local@srs-domain                          a forwarded plain sender
//   SRS1=HHHH=first-forwarder-domain==HHHH=TT=orig-domain=orig-local@srs-domain   a forwarded SRS0 sender
// HHHH: the first 4 characters of base64(HMAC-SHA1(secret, the fields lower-cased and concatenated)), compared
// case-insensitively on the way back; TT: the day number mod 1024 in two base32 characters. Encoding and
// decoding only: the caller passes the time, secrets and domains.
import { createHmac } from 'node:crypto';

export const SRS_HASH_LENGTH = 4;
/** Day stamps wrap after 1024 days (10 bits, two base32 characters). */
export const SRS_TIME_SLOTS = 1024;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const DAY_MS = 86_400_000;
/** RFC 5321 §4.5.3.1.1: the maximum total length of a local part is 64 octets. */
export const MAX_LOCAL_PART_OCTETS = 64;
/** What may follow the SRS0/SRS1 tag (libsrs2 accepts all three; it writes '='). */
const TAG = /^SRS([01])[=+-]/i;

/** The libsrs2 lower-casing: ASCII letters only, as C's tolower does in the C locale. */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

export function srsHash(secret: string, fields: readonly string[]): string {
  const hmac = createHmac('sha1', secret);
  for (const f of fields) hmac.update(asciiLower(f), 'utf8');
  return hmac.digest('base64').slice(0, SRS_HASH_LENGTH);
}

/** The day stamp of a moment: days since the epoch mod 1024, two base32 characters. */
export function srsTimestamp(nowMs: number): string {
  const day = Math.floor(nowMs / DAY_MS) % SRS_TIME_SLOTS;
  return `${BASE32[day >> 5]}${BASE32[day & 31]}`;
}

/** Days from a stamp to now (0 to 1023; a stamp "in the future" reads as almost 1024 days old), undefined when malformed. */
export function stampAgeDays(stamp: string, nowMs: number): number | undefined {
  if (stamp.length !== 2) return undefined;
  const hi = BASE32.indexOf(stamp[0]?.toUpperCase() ?? '');
  const lo = BASE32.indexOf(stamp[1]?.toUpperCase() ?? '');
  if (hi < 0 || lo < 0) return undefined;
  const then = (hi << 5) | lo;
  const now = Math.floor(nowMs / DAY_MS) % SRS_TIME_SLOTS;
  return (now - then + SRS_TIME_SLOTS) % SRS_TIME_SLOTS;
}

export type SrsForward =
  | { kind: 'rewritten'; address: string; scheme: 'SRS0' | 'SRS1' }
  /**
   * null-sender: `<>` is never rewritten. local-sender: our own domains pass SPF as they are. too-long: the
   * result's local part would pass 64 octets. unsupported: a quoted local part, an address literal, routing
   * characters (% ! @) or no domain: no valid SRS address can carry it.
   */
  | { kind: 'unchanged'; reason: 'null-sender' | 'local-sender' | 'too-long' | 'unsupported' };

export interface SrsForwardOptions {
  /** The domain of the SRS addresses (one of ours: bounces to it must reach us). */
  domain: string;
  /** The signing secret (the first one configured). */
  secret: string;
  nowMs: number;
  isLocalDomain(domain: string): boolean;
}

/** Splits an SRS1 local part's body (after "SRS1=") into hash, first forwarder's domain and the SRS0 remainder. */
function splitSrs1(body: string): { hash: string; host: string; user: string } | undefined {
  const a = body.indexOf('=');
  const b = a < 0 ? -1 : body.indexOf('=', a + 1);
  if (a <= 0 || b <= a + 1 || b === body.length - 1) return undefined;
  return { hash: body.slice(0, a), host: body.slice(a + 1, b), user: body.slice(b + 1) };
}

/** The envelope sender for a copy of a message forwarded to another domain. */
export function srsForward(sender: string, opts: SrsForwardOptions): SrsForward {
  if (sender === '') return { kind: 'unchanged', reason: 'null-sender' };
  const at = sender.lastIndexOf('@');
  const local = at < 0 ? '' : sender.slice(0, at);
  const domain = at < 0 ? '' : sender.slice(at + 1);
  if (!local || !domain || local.startsWith('"') || domain.startsWith('[') || /[%!@\s]/.test(local)) return { kind: 'unchanged', reason: 'unsupported' };
  if (opts.isLocalDomain(domain) || asciiLower(domain) === asciiLower(opts.domain)) return { kind: 'unchanged', reason: 'local-sender' };
  const tag = TAG.exec(local);
  let out: { local: string; scheme: 'SRS0' | 'SRS1' };
  const srs1 = tag?.[1] === '1' ? splitSrs1(local.slice(5)) : undefined;
  if (srs1) {
    // Already forwarded twice or more: keep the first forwarder's part, sign it anew (libsrs2 srs_compile_guarded).
    out = { local: `SRS1=${srsHash(opts.secret, [srs1.host, srs1.user])}=${srs1.host}=${srs1.user}`, scheme: 'SRS1' };
  } else if (tag?.[1] === '0') {
    // Another forwarder's SRS0: "SRS1=HHHH=its-domain==HHHH=TT=orig-domain=orig-local" (its own part stays as it is).
    const user = local.slice(4);
    out = { local: `SRS1=${srsHash(opts.secret, [domain, user])}=${domain}=${user}`, scheme: 'SRS1' };
  } else {
    const stamp = srsTimestamp(opts.nowMs);
    out = { local: `SRS0=${srsHash(opts.secret, [stamp, domain, local])}=${stamp}=${domain}=${local}`, scheme: 'SRS0' };
  }
  if (Buffer.byteLength(out.local, 'utf8') > MAX_LOCAL_PART_OCTETS) return { kind: 'unchanged', reason: 'too-long' };
  return { kind: 'rewritten', address: `${out.local}@${opts.domain}`, scheme: out.scheme };
}

/** An SRS0 or SRS1 local part (any case, any of the separators libsrs2 reads). */
export function isSrsLocalPart(local: string): boolean {
  return TAG.test(local);
}

/**
 * The original sender an SRS0 or SRS1 address stands for, read without checking its hash or stamp (they are
 * another forwarder's, under its secret): what a user means by "this sender" when the envelope sender is a
 * forwarder's SRS address of the day. Undefined for anything that is not a well-formed SRS address.
 */
export function srsOriginalSender(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  let local = at < 0 ? '' : address.slice(0, at);
  const tag = TAG.exec(local);
  if (!tag) return undefined;
  if (tag[1] === '1') {
    const p = splitSrs1(local.slice(5));
    // its SRS0 remainder still starts with the separator ("=HHHH=TT=orig-domain=orig-local")
    if (!p || !/^[=+-]/.test(p.user)) return undefined;
    local = `SRS0${p.user}`;
  }
  const parts = local.slice(5).split('=');
  if (parts.length < 4) return undefined;
  const host = parts[2] ?? '';
  const user = parts.slice(3).join('=');
  return host && user ? `${user}@${host}` : undefined;
}

export type SrsReverse =
  | { kind: 'ok'; address: string; scheme: 'SRS0' | 'SRS1' }
  | { kind: 'malformed' }
  | { kind: 'bad-hash' }
  | { kind: 'expired'; ageDays: number };

export interface SrsReverseOptions {
  /** Every secret accepted (the signing one and older ones kept for rotation). */
  secrets: readonly string[];
  maxAgeDays: number;
  nowMs: number;
}

function hashMatches(given: string, fields: readonly string[], secrets: readonly string[]): boolean {
  if (given.length !== SRS_HASH_LENGTH) return false;
  // Case-insensitive, as libsrs2 and Mail::SRS compare: some MTAs change the case of local parts.
  const lower = asciiLower(given);
  return secrets.some((s) => asciiLower(srsHash(s, fields)) === lower);
}

/**
 * The address an SRS local part (at our SRS domain) stands for: SRS0 → the original sender, SRS1 → the first
 * forwarder's SRS0 address. The hash is checked before the stamp, so "expired" is said only of our own addresses.
 */
export function srsReverse(local: string, opts: SrsReverseOptions): SrsReverse {
  const tag = TAG.exec(local);
  if (!tag) return { kind: 'malformed' };
  const body = local.slice(5);
  if (tag[1] === '1') {
    const p = splitSrs1(body);
    if (!p) return { kind: 'malformed' };
    if (!hashMatches(p.hash, [p.host, p.user], opts.secrets)) return { kind: 'bad-hash' };
    return { kind: 'ok', address: `SRS0${p.user}@${p.host}`, scheme: 'SRS1' };
  }
  const parts = body.split('=');
  if (parts.length < 4) return { kind: 'malformed' };
  const [hash = '', stamp = '', host = ''] = parts;
  const user = parts.slice(3).join('=');
  if (!hash || !host || !user) return { kind: 'malformed' };
  const age = stampAgeDays(stamp, opts.nowMs);
  if (age === undefined) return { kind: 'malformed' };
  if (!hashMatches(hash, [stamp, host, user], opts.secrets)) return { kind: 'bad-hash' };
  if (age > opts.maxAgeDays) return { kind: 'expired', ageDays: age };
  return { kind: 'ok', address: `${user}@${host}`, scheme: 'SRS0' };
}

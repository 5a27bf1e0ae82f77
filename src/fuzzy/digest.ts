// Fuzzy digests of a message, as rspamd's shingles: each decoded text (text/plain, then HTML as text)
// of at least minWords words becomes a fixed number of min-hashes over its word 3-gram shingles, so two
// near-copies (a changed greeting, a few words inserted, other tracking numbers) share most slots and
// similarity = the fraction of equal slots. Numbers and the variable parts of URLs are dropped first.
// An attachment's digest is exact: its slots all derive from the SHA-256 of its decoded bytes, so it
// matches only itself (similarity 1) and lives in the same store and index as the text digests.
import { createHash } from 'node:crypto';
import type { ParsedMail } from '../mime/parse.ts';

/** Min-hash slots per digest. */
export const FUZZY_SLOTS = 32;
/** Words per shingle. */
const SHINGLE_WORDS = 3;
/** Words read from one text at most (bounds the work on a huge body). */
export const MAX_WORDS = 5000;
/** Characters of one text read at most. */
const MAX_CHARS = 256 * 1024;

export interface FuzzyDigest {
  /** A text's min-hashes, or an attachment's exact hash spread over the slots. */
  kind: 'text' | 'attachment';
  /** Short id: hex of a hash of the slots. */
  id: string;
  /** FUZZY_SLOTS unsigned 32-bit min-hashes. */
  slots: number[];
}

/** One seed per slot (fixed: digests must agree across processes and versions). */
const SEEDS: readonly number[] = Array.from({ length: FUZZY_SLOTS }, (_, i) => fmix32(0x9e3779b9 ^ Math.imul(i + 1, 0x85ebca6b)));

/** MurmurHash3's 32-bit finaliser: a good avalanche of one word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a 32-bit of a string's UTF-16 units. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A run of address characters and, when an @ and a domain follow, that domain. Every run is consumed whole
 * whether or not it is an address: a pattern for the address alone was tried again at each dot of a long run
 * without an @ (256 KiB of "a.a.a." took a minute of the event loop).
 */
const ADDRESS_OR_RUN = /[\w.+-]+(?:@([\w-]+(?:\.[\w-]+)+))?/g;

/** Lower-cased words of letters only: URLs keep their host, numbers and tokens of digits go. */
export function normalizedWords(text: string): string[] {
  const bounded = text.length > MAX_CHARS ? text.slice(0, MAX_CHARS) : text;
  const withoutUrls = bounded.replace(/\b(?:https?|ftp):\/\/([^\s/?#<>"']+)[^\s<>"']*/gi, ' $1 ').replace(ADDRESS_OR_RUN, (run, host: string | undefined) => (host ? ` ${host} ` : run));
  const words: string[] = [];
  for (const m of withoutUrls.toLowerCase().matchAll(/[\p{L}\p{M}]+/gu)) {
    words.push(m[0]);
    if (words.length >= MAX_WORDS) break;
  }
  return words;
}

/** The digest of one text, or undefined when it has fewer than minWords words. */
export function textDigest(text: string, minWords: number): FuzzyDigest | undefined {
  const words = normalizedWords(text);
  if (words.length < Math.max(minWords, SHINGLE_WORDS)) return undefined;
  const slots = new Array<number>(FUZZY_SLOTS).fill(0xffffffff);
  for (let i = 0; i + SHINGLE_WORDS <= words.length; i++) {
    const base = fnv1a(words.slice(i, i + SHINGLE_WORDS).join(' '));
    for (let s = 0; s < FUZZY_SLOTS; s++) {
      const v = fmix32((base ^ (SEEDS[s] ?? 0)) >>> 0);
      if (v < (slots[s] ?? 0xffffffff)) slots[s] = v;
    }
  }
  return { kind: 'text', id: digestId(slots), slots };
}

export function digestId(slots: readonly number[]): string {
  const h = createHash('sha256');
  for (const s of slots) h.update(s.toString(16).padStart(8, '0'));
  return h.digest('hex').slice(0, 16);
}

/** The exact digest of an attachment's decoded bytes, from their SHA-256 (hex). */
export function attachmentDigest(sha256: string): FuzzyDigest {
  const words = Array.from({ length: 8 }, (_, i) => Number.parseInt(sha256.slice(i * 8, i * 8 + 8), 16) >>> 0);
  // every slot differs from any text's by its own seed; all 32 must agree, so only the same bytes match
  const slots = Array.from({ length: FUZZY_SLOTS }, (_, s) => fmix32(((words[s % 8] ?? 0) ^ (SEEDS[s] ?? 0) ^ 0x5bd1e995) >>> 0));
  return { kind: 'attachment', id: sha256.slice(0, 16), slots };
}

/** Attachments digested per message at most (each is a look-up; the MIME limits bound the parts). */
export const MAX_ATTACHMENT_DIGESTS = 10;

/**
 * Exact digests of the first MAX_ATTACHMENT_DIGESTS attachments of at least minBytes decoded bytes (once each).
 * Inline parts (signature logos, images of the HTML) give none: a reported spam's logo would hit every
 * wanted message carrying the same logo.
 */
export function attachmentDigests(mail: ParsedMail, minBytes: number): FuzzyDigest[] {
  const out: FuzzyDigest[] = [];
  for (const a of mail.attachments) {
    if (out.length >= MAX_ATTACHMENT_DIGESTS) break;
    if (a.inline || a.size < minBytes || out.some((o) => o.id === a.sha256.slice(0, 16))) continue;
    out.push(attachmentDigest(a.sha256));
  }
  return out;
}

/** Fraction of equal slots of two digests. */
export function similarity(a: FuzzyDigest, b: FuzzyDigest): number {
  let same = 0;
  for (let i = 0; i < FUZZY_SLOTS; i++) if (a.slots[i] === b.slots[i]) same++;
  return same / FUZZY_SLOTS;
}

/** Digests of a parsed message: its plain text and its HTML text, each when long enough (duplicates once). */
export function mailDigests(mail: ParsedMail, minWords: number): FuzzyDigest[] {
  const out: FuzzyDigest[] = [];
  for (const text of [mail.text, mail.htmlText]) {
    if (!text) continue;
    const d = textDigest(text, minWords);
    if (d && !out.some((o) => o.id === d.id)) out.push(d);
  }
  return out;
}

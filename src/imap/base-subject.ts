// The base subject of a message (RFC 5256 §2.1), which SORT SUBJECT and both THREAD algorithms compare: encoded
// words decoded, white space collapsed, then "Re:"/"Fwd:" leaders, "[list]" blobs, "(fwd)" trailers and "[fwd: …]"
// wrappers stripped in the RFC's loop. Index arithmetic only, so a hostile subject costs time linear in its length.
import { decodeWords } from 'postal-mime';

export interface BaseSubject {
  /** The base subject, as written (case kept). */
  text: string;
  /** A subj-refwd leader, a "(fwd)" trailer or a "[fwd: …]" wrapper was removed (RFC 5256 §3 REFERENCES step 5). */
  replyOrForward: boolean;
}

const SPACE = 32;

/** RFC 5256 §2.1 step (1): encoded words decoded (RFC 2047), tabs and continuations as space, runs of spaces as one. */
function normalize(value: string): string {
  let text = value;
  // cached values are the message's bytes as latin1 code units: 8-bit text is read as UTF-8 (RFC 6532)
  if (/[\x80-\xff]/.test(text)) text = Buffer.from(text, 'latin1').toString('utf8');
  if (text.includes('=?')) {
    try {
      text = decodeWords(text);
    } catch {
      // an encoded word that does not decode stays as written
    }
  }
  return text.replace(/[\t\r\n ]+/g, ' ');
}

const lower = (t: string, at: number): number => t.charCodeAt(at) | 0x20;

/** End of a subj-blob ("[" *BLOBCHAR "]" *WSP) starting at `at`, or -1. */
function blobEnd(t: string, at: number, end: number): number {
  if (t.charCodeAt(at) !== 0x5b) return -1;
  for (let i = at + 1; i < end; i++) {
    const c = t.charCodeAt(i);
    if (c === 0x5b) return -1; // BLOBCHAR excludes "[" and "]"
    if (c === 0x5d) {
      let j = i + 1;
      while (j < end && t.charCodeAt(j) === SPACE) j++;
      return j;
    }
  }
  return -1;
}

/** End of a subj-refwd (("re" / "fw" ["d"]) *WSP [subj-blob] ":") starting at `at`, or -1. */
function refwdEnd(t: string, at: number, end: number): number {
  let i: number;
  if (at + 1 < end && lower(t, at) === 0x72 && lower(t, at + 1) === 0x65) i = at + 2; // "re"
  else if (at + 1 < end && lower(t, at) === 0x66 && lower(t, at + 1) === 0x77) i = at + 2 < end && lower(t, at + 2) === 0x64 ? at + 3 : at + 2; // "fw" ["d"]
  else return -1;
  while (i < end && t.charCodeAt(i) === SPACE) i++;
  const blob = blobEnd(t, i, end);
  if (blob >= 0) i = blob;
  return i < end && t.charCodeAt(i) === 0x3a ? i + 1 : -1;
}

/** RFC 5256 §2.1: "All servers and disconnected clients MUST use exactly this algorithm to determine the base subject." */
export function baseSubject(value: string): BaseSubject {
  const t = normalize(value);
  let start = 0;
  let end = t.length;
  let replyOrForward = false;
  for (;;) {
    // (2) trailers: "(fwd)" and white space, repeatedly
    for (;;) {
      if (end > start && t.charCodeAt(end - 1) === SPACE) end--;
      else if (end - start >= 5 && t.slice(end - 5, end).toLowerCase() === '(fwd)') {
        end -= 5;
        replyOrForward = true;
      } else break;
    }
    // (3)-(5) leaders, and a blob when something is left after it, until neither matches
    for (;;) {
      if (start < end && t.charCodeAt(start) === SPACE) {
        start++;
        continue;
      }
      // a run of blobs, then (3) a subj-refwd removes them all; without one, (4) removes them one by one (each leaving
      // a non-empty rest, the last only when text follows it) and (3) fails again at each: so all go at once here,
      // or the run would be scanned again for each of its blobs (quadratic in a subject of many "[a] ")
      let last = start;
      let after = start;
      for (let blob = blobEnd(t, after, end); blob >= 0; blob = blobEnd(t, after, end)) {
        last = after;
        after = blob;
      }
      const lead = refwdEnd(t, after, end);
      if (lead >= 0) {
        replyOrForward = true;
        start = lead;
        continue;
      }
      const next = after < end ? after : last;
      if (next > start) {
        start = next;
        continue;
      }
      break;
    }
    // (6) "[fwd:" … "]" around the rest: unwrap and start again from (2)
    if (end - start >= 6 && t.slice(start, start + 5).toLowerCase() === '[fwd:' && t.charCodeAt(end - 1) === 0x5d) {
      start += 5;
      end -= 1;
      replyOrForward = true;
      continue;
    }
    return { text: t.slice(start, end), replyOrForward };
  }
}

/**
 * i;ascii-casemap (RFC 4790 §9.2): "a" to "z" read as "A" to "Z", other characters as they are. Upper case, as the
 * RFC says: folding to lower case would sort "[", "\\", "]", "^", "_" and "`" before the letters instead of after.
 */
export function asciiFold(text: string): string {
  return /[a-z]/.test(text) ? text.replace(/[a-z]+/g, (m) => m.toUpperCase()) : text;
}

/** Digraphs whose simple titlecase (RFC 5051 step 1) differs from their upper case: DŽ Dž dž → Dž, and so on. */
const DIGRAPH_TITLE: Record<string, string> = {
  '\u01c4': '\u01c5', '\u01c6': '\u01c5', '\u01c7': '\u01c8', '\u01c9': '\u01c8', '\u01ca': '\u01cb', '\u01cc': '\u01cb', '\u01f1': '\u01f2', '\u01f3': '\u01f2',
};

/**
 * i;unicode-casemap (RFC 5051 §2): each character's simple titlecase mapping, then NFKD; compared by code point
 * (compareText). RFC 5256 §1: SORT and THREAD "MUST collate strings in accordance with the requirements of
 * I18NLEVEL=1" (RFC 5255 §4.1: this collation). On ASCII it is i;ascii-casemap. A character whose upper case is
 * more than one character (ß, ligatures) has no simple mapping and stays as it is before NFKD.
 */
export function unicodeFold(text: string): string {
  if (/^[\x00-\x7f]*$/.test(text)) return asciiFold(text);
  let out = '';
  for (const ch of text) {
    const title = DIGRAPH_TITLE[ch];
    if (title !== undefined) {
      out += title;
      continue;
    }
    const upper = ch.toUpperCase();
    out += upper.length === 1 || (upper.length === 2 && upper.codePointAt(0) !== upper.charCodeAt(0)) ? upper : ch; // one code point
  }
  return out.normalize('NFKD');
}

const COMPARE_CHUNK = 4096;

/** Compares strings by code point, as octets of UTF-8 compare (UTF-16 code unit order puts U+E000-U+FFFF above astral characters). */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let i = 0;
  // equal stretches skipped natively (=== on two slices compares at memcmp speed): a long common prefix (subjects of a
  // megabyte differing at the end, a spam folder's) costs a step per chunk, not per character, in every comparison
  while (i + COMPARE_CHUNK <= n && a.slice(i, i + COMPARE_CHUNK) === b.slice(i, i + COMPARE_CHUNK)) i += COMPARE_CHUNK;
  for (; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x < 0xe000 ? x + 0x2000 : x - 0x800;
    if (y >= 0xd800) y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    return x - y;
  }
  return a.length - b.length;
}

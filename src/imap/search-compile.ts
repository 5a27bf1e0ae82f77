// SEARCH keys compiled to a synchronous predicate over metadata and cached header fields (no message text):
// flags, dates, sizes, sequence/UID sets, and header keys on the fields the store caches (RFC 3501 §6.4.4).
import { decodeWords } from 'postal-mime';
import type { HeaderField, MessageMeta } from '../store/mailbox-store.ts';
import { inRanges, parseSearchDate } from './encode.ts';
import { metaKeyMatches, type SearchKey } from './search.ts';

/** One message as the compiled predicate sees it; `recent` is the session's view (RFC 3501 §2.3.2). */
export interface CachedCandidate {
  seq: number;
  meta: MessageMeta;
  recent: boolean;
  fields: readonly HeaderField[] | undefined;
  /** THREADID (RFC 8474 §5.2), given when the key has a THREADID key (needsThreads). */
  thread?: string | undefined;
}

export type Predicate = (m: CachedCandidate) => boolean;

const DAY = 86_400_000;
/** 8-bit bytes (UTF-8 read as latin1) or an RFC 2047 encoded word. */
const NEEDS_DECODING = /[\x80-\xff]|=\?/;

/**
 * Runs of white space as one space. Unfolding (RFC 5322 §2.2.3) removes only the CRLF, leaving the TAB or spaces
 * that folded the line: header text and needle are compared with each run of white space as one space.
 */
export const squashSpace = (s: string): string => s.replace(/[ \t\r\n]+/g, ' ');

/** Builds the predicate; call only when cachedFieldsSuffice(key) (header keys read `fields`). */
export function compileSearch(key: SearchKey): Predicate {
  switch (key.k) {
    case 'all':
      return () => true;
    case 'flag': {
      const exact = key.flag;
      const want = exact.toLowerCase();
      const has = key.has;
      return (m) => {
        const flags = m.meta.flags;
        for (let i = 0; i < flags.length; i++) {
          const f = flags[i] as string;
          if (f === exact || (f.length === want.length && f.toLowerCase() === want)) return has;
        }
        return !has;
      };
    }
    case 'new':
      return (m) => m.recent && !m.meta.flags.includes('\\Seen');
    case 'recent': {
      const has = key.has;
      return (m) => m.recent === has;
    }
    case 'size': {
      const { op, n } = key;
      return op === 'larger' ? (m) => m.meta.size > n : (m) => m.meta.size < n;
    }
    case 'seq': {
      const r = key.ranges;
      return (m) => inRanges(r, m.seq);
    }
    case 'uid': {
      const r = key.ranges;
      return (m) => inRanges(r, m.meta.uid);
    }
    case 'modseq': {
      const n = key.n;
      return (m) => (m.meta.modseq ?? 0) >= n;
    }
    case 'age':
    case 'saved':
    case 'savedatesupported':
    case 'objectid':
      return (m) => metaKeyMatches(key, m.meta);
    case 'threadid': {
      const id = key.id;
      return (m) => m.thread === id; // RFC 8474 §6
    }
    case 'not': {
      const inner = compileSearch(key.key);
      return (m) => !inner(m);
    }
    case 'or': {
      const a = compileSearch(key.a);
      const b = compileSearch(key.b);
      return (m) => a(m) || b(m);
    }
    case 'and': {
      // Cheap metadata tests first, header tests last.
      const parts = [...key.keys].sort((x, y) => cost(x) - cost(y)).map(compileSearch);
      return (m) => {
        for (const p of parts) if (!p(m)) return false;
        return true;
      };
    }
    case 'date': {
      const { op, day, sent } = key;
      const test = op === 'before' ? (d: number) => d < day : op === 'on' ? (d: number) => d === day : (d: number) => d >= day;
      if (!sent) return (m) => test(Math.floor(m.meta.internalDate / DAY) * DAY); // RFC 3501 §6.4.4: disregarding time
      return (m) => {
        const value = m.fields?.find((f) => f[0] === 'date')?.[1];
        const d = sentDay(value ?? '');
        return !Number.isNaN(d) && test(Math.floor(d / DAY) * DAY);
      };
    }
    case 'header': {
      const field = key.field;
      const want = squashSpace(key.value.toLowerCase());
      // An ASCII needle: one native case-insensitive search per value finds the needle (any run of white space for
      // each space) or a value that needs decoding; the usual miss (a plain value without the needle) costs nothing more.
      const needle = /^[\x20-\x7e]*$/.test(key.value)
        ? want.split(' ').map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[ \\t\\r\\n]+')
        : undefined;
      const quick = needle === undefined ? undefined : new RegExp(needle, 'i');
      const candidate = needle === undefined ? undefined : new RegExp(`${needle}|${NEEDS_DECODING.source}`, 'i');
      // Indexed loops: this runs once per message, often before the optimizing compiler has looked at it.
      return (m) => {
        const fields = m.fields;
        if (!fields) return false;
        for (let i = 0; i < fields.length; i++) {
          const f = fields[i] as HeaderField;
          if (f[0] !== field) continue;
          const value = f[1];
          if (candidate && !candidate.test(value)) continue;
          if (quick && !NEEDS_DECODING.test(value) ? quick.test(value) : headerContains(value, want)) return true;
        }
        return false;
      };
    }
    default:
      return () => false;
  }
}

/**
 * Text that some cached field value of every message the key can match holds (FieldQuery.mentions): the longest word
 * of the needle of a header key the whole key requires (white space in a value may differ: squashSpace). None when
 * there is no such key, or when the needle is not printable ASCII without quote and backslash.
 */
export function requiredText(key: SearchKey): string | undefined {
  if (key.k === 'and') {
    for (const k of key.keys) {
      const r = requiredText(k);
      if (r !== undefined) return r;
    }
    return undefined;
  }
  if (key.k !== 'header' || !/^[\x20-\x7e]*$/.test(key.value) || /["\\]/.test(key.value)) return undefined;
  return key.value.split(' ').reduce((a, b) => (b.length > a.length ? b : a), '');
}

/** The one header field a key reads, when it reads exactly one (SUBJECT x): the store then hands out only that field. */
export function soleField(key: SearchKey): string | undefined {
  const names = new Set<string>();
  const walk = (k: SearchKey): void => {
    if (k.k === 'header') names.add(k.field);
    else if (k.k === 'date' && k.sent) names.add('date');
    else if (k.k === 'not') walk(k.key);
    else if (k.k === 'or') [k.a, k.b].forEach(walk);
    else if (k.k === 'and') k.keys.forEach(walk);
  };
  walk(key);
  return names.size === 1 ? [...names][0] : undefined;
}

const cost = (k: SearchKey): number => (k.k === 'header' || (k.k === 'date' && k.sent) ? 2 : k.k === 'and' || k.k === 'or' || k.k === 'not' ? 1 : 0);

/**
 * Case-insensitive substring test on a cached value (latin1 code units of the message bytes), `want` lower case and
 * squashed (squashSpace). Plain ASCII values are compared as they are; 8-bit text is read as UTF-8 and encoded words
 * are decoded first (RFC 2047).
 */
export function headerContains(value: string, want: string): boolean {
  let text = value;
  for (let i = 0; i < value.length; i++)
    if (value.charCodeAt(i) > 0x7f) {
      text = Buffer.from(value, 'latin1').toString('utf8');
      break;
    }
  if (text.includes('=?')) text = decodeWords(text);
  return squashSpace(text.toLowerCase()).includes(want);
}

/** The calendar day written in the Date header, in its own zone (RFC 3501 §6.4.4 disregards time and timezone). */
export function sentDay(value: string): number {
  const m = /(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})/.exec(value);
  const day = m ? parseSearchDate(`${m[1]}-${m[2]}-${m[3]}`) : undefined;
  return day ?? Date.parse(value);
}

// SEARCH keys compiled to a synchronous predicate over metadata and cached header fields (no message text):
// flags, dates, sizes, sequence/UID sets, and header keys on the fields the store caches (RFC 3501 §6.4.4).
import { decodeWords } from 'postal-mime';
import type { HeaderField, MessageMeta } from '../store/mailbox-store.ts';
import { inRanges, parseSearchDate } from './encode.ts';
import type { SearchKey } from './search.ts';

/** One message as the compiled predicate sees it; `recent` is the session's view (RFC 3501 §2.3.2). */
export interface CachedCandidate {
  seq: number;
  meta: MessageMeta;
  recent: boolean;
  fields: readonly HeaderField[] | undefined;
}

export type Predicate = (m: CachedCandidate) => boolean;

const DAY = 86_400_000;
/** 8-bit bytes (UTF-8 read as latin1) or an RFC 2047 encoded word. */
const NEEDS_DECODING = /[\x80-\xff]|=\?/;

/** Builds the predicate; call only when cachedFieldsSuffice(key) (header keys read `fields`). */
export function compileSearch(key: SearchKey): Predicate {
  switch (key.k) {
    case 'all':
      return () => true;
    case 'flag': {
      const want = key.flag.toLowerCase();
      const has = key.has;
      return (m) => {
        for (const f of m.meta.flags) if (f.length === want.length && f.toLowerCase() === want) return has;
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
      const want = key.value.toLowerCase();
      // An ASCII needle on a plain ASCII value is one native case-insensitive search (no lower-cased copy).
      const quick = /^[\x20-\x7e]*$/.test(key.value) ? new RegExp(key.value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i') : undefined;
      return (m) => {
        const fields = m.fields;
        if (!fields) return false;
        for (const [name, value] of fields) {
          if (name !== field) continue;
          if (quick && !NEEDS_DECODING.test(value) ? quick.test(value) : headerContains(value, want)) return true;
        }
        return false;
      };
    }
    default:
      return () => false;
  }
}

const cost = (k: SearchKey): number => (k.k === 'header' || (k.k === 'date' && k.sent) ? 2 : k.k === 'and' || k.k === 'or' || k.k === 'not' ? 1 : 0);

/**
 * Case-insensitive substring test on a cached value (latin1 code units of the message bytes). Plain ASCII values
 * are compared as they are; 8-bit text is read as UTF-8 and encoded words are decoded first (RFC 2047).
 */
export function headerContains(value: string, want: string): boolean {
  let text = value;
  for (let i = 0; i < value.length; i++)
    if (value.charCodeAt(i) > 0x7f) {
      text = Buffer.from(value, 'latin1').toString('utf8');
      break;
    }
  if (text.includes('=?')) text = decodeWords(text);
  return text.toLowerCase().includes(want);
}

/** The calendar day written in the Date header, in its own zone (RFC 3501 §6.4.4 disregards time and timezone). */
export function sentDay(value: string): number {
  const m = /(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})/.exec(value);
  const day = m ? parseSearchDate(`${m[1]}-${m[2]}-${m[3]}`) : undefined;
  return day ?? Date.parse(value);
}

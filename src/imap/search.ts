// SEARCH keys (every RFC 3501 §6.4.4 key, CHARSET US-ASCII/UTF-8): parsing to a tree and matching one message.
import { decodeWords } from 'postal-mime';
import { idsIn, type MessageIds, type MessageMeta, type ObjectIds } from '../store/mailbox-store.ts';
import { inRanges, parseSearchDate, parseSequenceSet, type SeqRange } from './encode.ts';
import { parseHeaders } from './mime.ts';
import { sentDay, squashSpace } from './search-compile.ts';
import { searchableBody } from './search-text.ts';
import { ImapSyntaxError, type Cursor } from './parser.ts';
import { modseqArg } from './condstore.ts';

export type SearchKey =
  | { k: 'all' }
  | { k: 'flag'; flag: string; has: boolean }
  | { k: 'new' }
  | { k: 'old' }
  | { k: 'recent'; has: boolean }
  | { k: 'header'; field: string; value: string }
  | { k: 'body' | 'text'; value: string }
  | { k: 'date'; op: 'before' | 'on' | 'since'; sent: boolean; day: number }
  | { k: 'size'; op: 'larger' | 'smaller'; n: number }
  | { k: 'seq' | 'uid'; ranges: SeqRange[] }
  /** RFC 7162 §3.1.5: mod-sequence at least n. */
  | { k: 'modseq'; n: number }
  /** RFC 5032 OLDER/YOUNGER: INTERNALDATE before `cutoff` (older), or at or after it (younger); `cutoff` is now less the interval. */
  | { k: 'age'; older: boolean; cutoff: number }
  /** RFC 8514 §4 SAVEDBEFORE/SAVEDON/SAVEDSINCE; `saveDate` is the store's (MessageIds.saveDate). */
  | { k: 'saved'; op: 'before' | 'on' | 'since'; day: number; saveDate: (m: MessageMeta) => number | undefined }
  /** RFC 8514 §4 SAVEDATESUPPORTED: every message, the store tells save dates for all its mailboxes. */
  | { k: 'savedatesupported' }
  /** RFC 8474 §6 EMAILID. */
  | { k: 'objectid'; id: string; emailId: (m: MessageMeta) => string | undefined }
  /** RFC 8474 §6 THREADID: matched against Candidate.thread, which the caller gives (header-keys-cache.ts). */
  | { k: 'threadid'; id: string }
  | { k: 'not'; key: SearchKey }
  | { k: 'or'; a: SearchKey; b: SearchKey }
  | { k: 'and'; keys: SearchKey[] };

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true], DELETED: ['\\Deleted', true], DRAFT: ['\\Draft', true], FLAGGED: ['\\Flagged', true], SEEN: ['\\Seen', true],
  UNANSWERED: ['\\Answered', false], UNDELETED: ['\\Deleted', false], UNDRAFT: ['\\Draft', false], UNFLAGGED: ['\\Flagged', false], UNSEEN: ['\\Seen', false],
};
const ADDRESS_KEYS = new Set(['BCC', 'CC', 'FROM', 'SUBJECT', 'TO']);
const DATE_KEYS: Record<string, ['before' | 'on' | 'since', boolean]> = {
  BEFORE: ['before', false], ON: ['on', false], SINCE: ['since', false], SENTBEFORE: ['before', true], SENTON: ['on', true], SENTSINCE: ['since', true],
};

export interface SearchContext {
  /** Largest sequence number and UID, for '*'. */
  maxSeq: number;
  maxUid: number;
  /** The search result variable "$" as UID ranges (RFC 5182 §2.1); absent or empty: no message. */
  saved?: SeqRange[];
  /** UTF8=ACCEPT is on (RFC 6855 §3): strings are UTF-8, and a CHARSET argument is refused. */
  utf8?: boolean;
  /** IMAP4rev2 is on: RFC 9051 §6.4.4 keeps [CHARSET] in SEARCH (US-ASCII and UTF-8 MUST be supported), UTF-8 strings or not. */
  rev2?: boolean;
  /** The time OLDER and YOUNGER count back from (RFC 5032 §3), ms; Date.now() when absent. */
  now?: number;
  /** The store's EMAILID and SAVEDATE: the keys of OBJECTID and SAVEDATE are known only with them. */
  ids?: MessageIds;
}

/** SearchContext.ids for the mailbox of this UIDVALIDITY, where the store tells ids. */
export function idsOption(ids: ObjectIds | undefined, uidValidity: number): { ids?: MessageIds } {
  const bound = idsIn(ids, uidValidity);
  return bound ? { ids: bound } : {};
}

const SAVED_KEYS: Record<string, 'before' | 'on' | 'since'> = { SAVEDBEFORE: 'before', SAVEDON: 'on', SAVEDSINCE: 'since' };
/** RFC 8474 §4 objectid. */
const OBJECTID = /^[A-Za-z0-9_-]{1,255}$/;

/** "$" as a search key, alone or after UID (RFC 5182 §3: seq-last-command stands alone, "$,1" is BAD). */
function savedKey(c: Cursor, ctx: SearchContext): SearchKey {
  if (c.listChars() !== '$') throw new ImapSyntaxError('"$" must stand alone');
  return { k: 'uid', ranges: ctx.saved ?? [] };
}

/** Parses "[CHARSET x] key *(SP key)" up to the end of the command. */
export function parseSearch(c: Cursor, ctx: SearchContext): SearchKey {
  if (/^CHARSET /i.test(c.rest())) {
    // RFC 6855 §3 (erratum 4029): after ENABLE UTF8=ACCEPT the client MUST NOT send a charset; BAD for the conflict
    if (ctx.utf8 === true && ctx.rev2 !== true) throw new ImapSyntaxError('SEARCH CHARSET is not allowed after ENABLE UTF8=ACCEPT');
    c.atom();
    c.sp();
    const cs = c.astring().toUpperCase();
    if (cs !== 'UTF-8' && cs !== 'US-ASCII') throw new BadCharset(cs); // RFC 3501 §6.4.4: NO [BADCHARSET]
    c.sp();
  }
  const budget = { keys: 0 };
  const keys: SearchKey[] = [parseKey(c, ctx, 0, budget)];
  while (!c.atEnd()) {
    c.sp();
    keys.push(parseKey(c, ctx, 0, budget)); // bounded: each key spends the budget
  }
  return keys.length === 1 ? (keys[0] as SearchKey) : { k: 'and', keys };
}

export class BadCharset extends Error {}

/** Keys one SEARCH may hold: each is tested against every message, so their number bounds the work. */
const MAX_KEYS = 1000;

function parseKey(c: Cursor, ctx: SearchContext, depth: number, budget: { keys: number }): SearchKey {
  if (depth > 50) throw new ImapSyntaxError('search too deeply nested');
  if (++budget.keys > MAX_KEYS) throw new ImapSyntaxError(`search has more than ${MAX_KEYS} keys`);
  if (c.peek() === '(') {
    const keys: SearchKey[] = [];
    c.list(() => keys.push(parseKey(c, ctx, depth + 1, budget)));
    if (keys.length === 0) throw new ImapSyntaxError('empty search list');
    return { k: 'and', keys };
  }
  if (c.peek() === '$') return savedKey(c, ctx);
  if (/^[\d*]/.test(c.peek())) return { k: 'seq', ranges: parseSequenceSet(c.listChars(), ctx.maxSeq) };
  const word = c.atom().toUpperCase();
  const arg = (): string => {
    c.sp();
    return c.astring();
  };
  const flag = FLAG_KEYS[word];
  if (flag) return { k: 'flag', flag: flag[0], has: flag[1] };
  if (ADDRESS_KEYS.has(word)) return { k: 'header', field: word.toLowerCase(), value: arg() };
  const date = DATE_KEYS[word];
  if (date) {
    const day = parseSearchDate(arg());
    if (day === undefined) throw new ImapSyntaxError('bad date');
    return { k: 'date', op: date[0], sent: date[1], day };
  }
  const ids = ctx.ids;
  const saved = SAVED_KEYS[word];
  if (saved && ids) {
    const day = parseSearchDate(arg());
    if (day === undefined) throw new ImapSyntaxError('bad date');
    return { k: 'saved', op: saved, day, saveDate: (m) => ids.saveDate(m) };
  }
  switch (word) {
    case 'ALL':
      return { k: 'all' };
    case 'OLDER':
    case 'YOUNGER': {
      // RFC 5032 §4: interval is nz-number, in seconds
      c.sp();
      const n = c.number();
      if (n === 0) throw new ImapSyntaxError(`${word} needs an interval of at least 1 second`);
      return { k: 'age', older: word === 'OLDER', cutoff: (ctx.now ?? Date.now()) - n * 1000 };
    }
    case 'SAVEDATESUPPORTED':
      if (!ids) break;
      return { k: 'savedatesupported' };
    case 'EMAILID':
    case 'THREADID': {
      if (!ids) break;
      // RFC 8474 §6: "EMAILID" SP objectid / "THREADID" SP objectid; anything else is BAD
      c.sp();
      const id = c.atom();
      if (!OBJECTID.test(id)) throw new ImapSyntaxError(`bad ${word}`);
      return word === 'EMAILID' ? { k: 'objectid', id, emailId: (m) => ids.emailId(m) } : { k: 'threadid', id };
    }
    case 'NEW':
      return { k: 'new' };
    case 'OLD':
      return { k: 'recent', has: false };
    case 'RECENT':
      return { k: 'recent', has: true };
    case 'KEYWORD':
    case 'UNKEYWORD':
      c.sp();
      return { k: 'flag', flag: c.atom(), has: word === 'KEYWORD' };
    case 'BODY':
    case 'TEXT':
      return { k: word === 'BODY' ? 'body' : 'text', value: arg() };
    case 'HEADER': {
      const field = arg().toLowerCase();
      return { k: 'header', field, value: arg() };
    }
    case 'LARGER':
    case 'SMALLER':
      c.sp();
      return { k: 'size', op: word === 'LARGER' ? 'larger' : 'smaller', n: c.number() };
    case 'UID':
      c.sp();
      if (c.peek() === '$') return savedKey(c, ctx);
      return { k: 'uid', ranges: parseSequenceSet(c.listChars(), ctx.maxUid) };
    case 'NOT':
      c.sp();
      return { k: 'not', key: parseKey(c, ctx, depth + 1, budget) };
    case 'MODSEQ': {
      // RFC 7162 §3.1.5: MODSEQ [entry-name entry-type-req] mod-sequence-valzer. The store keeps one mod-sequence
      // per message, which the entry (one flag's) is compared against, as the RFC allows.
      c.sp();
      if (c.peek() === '"') {
        if (!/^\/flags\/\\?[!#-'*+\--Z^-z|~]+$/i.test(c.quoted())) throw new ImapSyntaxError('bad MODSEQ entry name');
        c.sp();
        if (!['PRIV', 'SHARED', 'ALL'].includes(c.atom().toUpperCase())) throw new ImapSyntaxError('bad MODSEQ entry type');
        c.sp();
      }
      return { k: 'modseq', n: modseqArg(c, true) };
    }
    case 'OR': {
      c.sp();
      const a = parseKey(c, ctx, depth + 1, budget);
      c.sp();
      return { k: 'or', a, b: parseKey(c, ctx, depth + 1, budget) };
    }
  }
  throw new ImapSyntaxError(`unknown search key ${word}`);
}

/** True when some leaf of the key (below NOT, OR and AND) is one `leaf` picks. */
function someLeaf(key: SearchKey, leaf: (k: SearchKey) => boolean): boolean {
  switch (key.k) {
    case 'not':
      return someLeaf(key.key, leaf);
    case 'or':
      return someLeaf(key.a, leaf) || someLeaf(key.b, leaf);
    case 'and':
      return key.keys.some((k) => someLeaf(k, leaf));
    default:
      return leaf(key);
  }
}

/** True when matching needs the message text. */
export const needsText = (key: SearchKey): boolean => someLeaf(key, (k) => k.k === 'header' || k.k === 'body' || k.k === 'text' || (k.k === 'date' && k.sent));

/** True when matching reads each message's THREADID (Candidate.thread, CachedCandidate.thread). */
export const needsThreads = (key: SearchKey): boolean => someLeaf(key, (k) => k.k === 'threadid');

/** True when the key holds a MODSEQ criterion (RFC 7162 §3.1.5: the result then tells the highest mod-sequence). */
export const usesModseq = (key: SearchKey): boolean => someLeaf(key, (k) => k.k === 'modseq');

/** True when matching reads INTERNALDATE (BEFORE, ON, SINCE; the SENT* keys read the Date header instead). */
export const needsInternalDate = (key: SearchKey): boolean => someLeaf(key, (k) => (k.k === 'date' && !k.sent) || k.k === 'age');

/** Header fields the store caches (see MailboxStore.headerFields); keys on other fields need the message. */
const CACHED = new Set(['date', 'subject', 'from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'in-reply-to', 'message-id']);

/** True when every text the key needs is in the cached header fields (no BODY/TEXT, no other header). */
export function cachedFieldsSuffice(key: SearchKey): boolean {
  switch (key.k) {
    case 'header':
      return CACHED.has(key.field);
    case 'body':
    case 'text':
      return false;
    case 'not':
      return cachedFieldsSuffice(key.key);
    case 'or':
      return cachedFieldsSuffice(key.a) && cachedFieldsSuffice(key.b);
    case 'and':
      return key.keys.every(cachedFieldsSuffice);
    default:
      return true;
  }
}

export interface Candidate {
  seq: number;
  meta: MessageMeta;
  /** Cached header fields (latin1 code units), used instead of the message when cachedFieldsSuffice. */
  fields?: readonly (readonly [string, string])[];
  /** THREADID (RFC 8474 §5.2), given when needsThreads. */
  thread?: string;
  /** Loads the message (only called when needsText). */
  raw?: () => Promise<Buffer>;
}

interface Loaded {
  headers?: { name: string; value: string }[];
  body?: string;
}

const DAY = 86_400_000;
const fold = (s: string): string => s.toLowerCase();

export async function matches(key: SearchKey, m: Candidate, cache: Loaded = {}): Promise<boolean> {
  const flags = m.meta.flags;
  switch (key.k) {
    case 'all':
      return true;
    case 'flag':
      return flags.some((f) => f.toLowerCase() === key.flag.toLowerCase()) === key.has;
    case 'new':
      return m.meta.recent && !flags.includes('\\Seen');
    case 'recent':
      return m.meta.recent === key.has;
    case 'size':
      return key.op === 'larger' ? m.meta.size > key.n : m.meta.size < key.n;
    case 'seq':
      return inRanges(key.ranges, m.seq);
    case 'uid':
      return inRanges(key.ranges, m.meta.uid);
    case 'modseq':
      return (m.meta.modseq ?? 0) >= key.n;
    case 'age':
    case 'saved':
    case 'savedatesupported':
    case 'objectid':
      return metaKeyMatches(key, m.meta);
    case 'not':
      return !(await matches(key.key, m, cache));
    case 'or':
      return (await matches(key.a, m, cache)) || (await matches(key.b, m, cache));
    case 'and':
      for (const k of key.keys) if (!(await matches(k, m, cache))) return false;
      return true;
    case 'threadid':
      return m.thread === key.id;
    case 'date': {
      let t = m.meta.internalDate;
      if (key.sent) {
        const d = sentDay((await headersOf(m, cache)).find((h) => h.name === 'date')?.value ?? '');
        if (Number.isNaN(d)) return false;
        t = d;
      }
      const day = Math.floor(t / DAY) * DAY; // RFC 3501 §6.4.4: dates compare disregarding time
      return key.op === 'before' ? day < key.day : key.op === 'on' ? day === key.day : day >= key.day;
    }
    case 'header': {
      const want = squashSpace(fold(key.value));
      return (await headersOf(m, cache)).some((h) => h.name === key.field && squashSpace(fold(decoded(h.value))).includes(want));
    }
    case 'body':
      return fold(await bodyOf(m, cache)).includes(fold(key.value));
    case 'text': {
      const want = fold(key.value);
      const inHeader = squashSpace(want);
      if ((await headersOf(m, cache)).some((h) => squashSpace(fold(decodeWords(h.value))).includes(inHeader))) return true;
      return fold(await bodyOf(m, cache)).includes(want);
    }
    default:
      return false;
  }
}

/**
 * The keys of WITHIN, SAVEDATE and OBJECTID, read from the message's metadata alone (shared with search-compile.ts).
 * A message whose save date the store cannot tell matches no SAVED* key.
 */
export function metaKeyMatches(key: Extract<SearchKey, { k: 'age' | 'saved' | 'savedatesupported' | 'objectid' }>, meta: MessageMeta): boolean {
  switch (key.k) {
    case 'age':
      return key.older ? meta.internalDate < key.cutoff : meta.internalDate >= key.cutoff;
    case 'saved': {
      const t = key.saveDate(meta);
      if (t === undefined) return false;
      const day = Math.floor(t / DAY) * DAY; // RFC 8514 §4: disregarding time and timezone, as BEFORE/ON/SINCE
      return key.op === 'before' ? day < key.day : key.op === 'on' ? day === key.day : day >= key.day;
    }
    case 'savedatesupported':
      return true;
    case 'objectid':
      return key.emailId(meta) === key.id;
  }
}

const decoded = (v: string): string => (v.includes('=?') ? decodeWords(v) : v);

async function headersOf(m: Candidate, cache: Loaded): Promise<{ name: string; value: string }[]> {
  if (cache.headers) return cache.headers;
  if (m.fields) {
    // The same text parseHeaders gives from the UTF-8 decoded header block.
    cache.headers = m.fields.map(([name, v]) => ({ name, value: /[\x80-\xff]/.test(v) ? Buffer.from(v, 'latin1').toString('utf8') : v }));
    return cache.headers;
  }
  const raw = m.raw ? await m.raw() : Buffer.alloc(0);
  const end = raw.indexOf('\r\n\r\n');
  cache.headers = parseHeaders(raw.subarray(0, end < 0 ? raw.length : end + 2).toString('utf8'));
  return cache.headers;
}

async function bodyOf(m: Candidate, cache: Loaded): Promise<string> {
  if (cache.body !== undefined) return cache.body;
  const raw = m.raw ? await m.raw() : Buffer.alloc(0);
  try {
    cache.body = await searchableBody(raw);
  } catch {
    const end = raw.indexOf('\r\n\r\n');
    cache.body = raw.subarray(end < 0 ? raw.length : end + 4).toString('utf8');
  }
  return cache.body;
}

// SORT, THREAD and their UID forms (RFC 5256): the search keys go through SEARCH's matcher, then the matching
// messages' keys are taken from the store's cached header fields (no message file is opened on a cache hit) and
// ordered (sort.ts) or threaded (thread.ts).
import { enableCondstore } from './condstore.ts';
import { highestModseq, keepingSaved, searchSeqs, sendResult } from './commands-message.ts';
import { parseReturn } from './search-return.ts';
import { headerKeysOf } from './header-keys-cache.ts';
import { messageKeys, type MessageKeys } from './message-keys.ts';
import { ImapSyntaxError, type Cursor } from './parser.ts';
import { BadCharset, idsOption, parseSearch, usesModseq, type SearchContext, type SearchKey } from './search.ts';
import { isReply, metasNow, savedRanges, selected } from './selection.ts';
import { parseSortCriteria, sortMessages } from './sort.ts';
import type { Handler, Reply, Selected, Session } from './session.ts';
import { formatThreads, orderedSubject, referencesThreads, THREAD_ALGORITHMS, type ThreadAlgorithm } from './thread.ts';

/** Messages whose cached header fields are asked for at once. */
const FIELDS_SLICE = 2048;
/** Response text handed to the socket at once. */
const WRITE_CHARS = 64 * 1024;

/** charset SP search-key *(SP search-key): the charset is required (RFC 5256 §5); SEARCH's two are supported. */
function charsetAndKeys(c: Cursor, sel: Selected, utf8: boolean, extra: Pick<SearchContext, 'now' | 'ids'> = {}): SearchKey {
  c.sp();
  const charset = c.astring().toUpperCase();
  // a missing charset ("SORT (DATE) ALL") is a syntax error: the search keys must follow it
  if (c.atEnd()) throw new ImapSyntaxError('expected charset and search keys');
  c.sp();
  const key = parseSearch(c, { maxSeq: sel.uids.length, maxUid: sel.uids[sel.uids.length - 1] ?? 0, saved: savedRanges(sel), ...extra });
  // RFC 6855 §3 (erratum 4029): once UTF8=ACCEPT is on, a mandatory charset other than UTF-8 is BAD (not after
  // IMAP4rev2, which turns on UTF-8 names without asking the client to drop charsets, as SEARCH CHARSET in search.ts)
  if (utf8 && charset !== 'UTF-8') throw new ImapSyntaxError('only CHARSET UTF-8 is allowed after ENABLE UTF8=ACCEPT');
  if (charset !== 'UTF-8' && charset !== 'US-ASCII') throw new BadCharset(charset); // RFC 5256 §3: NO [BADCHARSET]
  return key;
}

/**
 * The keys of the messages with these sequence numbers (messages expunged meanwhile are left out, as SEARCH does):
 * from the context's cache by UID, else from the store's cached header fields (header-keys-cache.ts).
 */
async function keysOf(s: Session, sel: Selected, seqs: readonly number[]): Promise<MessageKeys[]> {
  const metas = await metasNow(s, sel, true);
  const out: MessageKeys[] = [];
  for (let i = 0; i < seqs.length; i += FIELDS_SLICE) {
    const slice = seqs.slice(i, i + FIELDS_SLICE);
    const keys = await headerKeysOf(s, sel, slice.map((n) => sel.uids[n - 1] ?? 0));
    for (const n of slice) {
      const u = sel.uids[n - 1] ?? 0;
      const meta = metas.get(u);
      const k = keys.get(u);
      if (meta && k) out.push(messageKeys(n, meta, k));
    }
  }
  return out;
}

async function sort(s: Session, tag: string, c: Cursor, uid: boolean): Promise<Reply> {
  const sel = selected(s);
  if (isReply(sel)) return sel;
  return keepingSaved(sel, c, () => sortIn(s, sel, tag, c, uid));
}

async function sortIn(s: Session, sel: Selected, tag: string, c: Cursor, uid: boolean): Promise<Reply> {
  // RFC 5267 §3.1 (ESORT): SORT RETURN (…) criteria charset keys
  const opts = parseReturn(c);
  const criteria = parseSortCriteria(c);
  const key = charsetAndKeys(c, sel, s.utf8 && !s.rev2, { now: s.ctx.opts.clock.now(), ...idsOption(s.ctx.opts.store.objectIds, sel.uidValidity) });
  const withModseq = usesModseq(key);
  if (withModseq) await enableCondstore(s); // RFC 7162 §3.1
  const seqs = await searchSeqs(s, sel, key);
  const sorted = sortMessages(await keysOf(s, sel, seqs), criteria);
  if (opts) {
    // MIN and MAX are the first and last in sort order, ALL keeps the order (RFC 5267 §3.1)
    await sendResult(s, sel, tag, uid, opts, sorted.map((m) => m.seq), withModseq);
    return { status: 'OK', text: `${uid ? 'UID ' : ''}SORT completed` };
  }
  // RFC 7162 §3.1.5 (and §7's sort-data): with a MODSEQ criterion, the highest mod-sequence of the result
  const top = withModseq ? await highestModseq(s, sel, seqs) : 0;
  let out = '* SORT';
  for (const m of sorted) {
    out += ` ${uid ? m.uid : m.seq}`;
    if (out.length >= WRITE_CHARS) {
      await s.sendAsync(out);
      out = '';
    }
  }
  await s.sendAsync(`${out}${top > 0 ? ` (MODSEQ ${top})` : ''}\r\n`);
  return { status: 'OK', text: `${uid ? 'UID ' : ''}SORT completed` };
}

async function thread(s: Session, c: Cursor, uid: boolean): Promise<Reply> {
  const sel = selected(s);
  if (isReply(sel)) return sel;
  const name = c.atom().toUpperCase();
  const algorithm = THREAD_ALGORITHMS.find((a): a is ThreadAlgorithm => a === name);
  if (algorithm === undefined) throw new ImapSyntaxError(`unknown THREAD algorithm ${name}`); // RFC 5256 §3: BAD
  const key = charsetAndKeys(c, sel, s.utf8 && !s.rev2, { now: s.ctx.opts.clock.now(), ...idsOption(s.ctx.opts.store.objectIds, sel.uidValidity) });
  if (usesModseq(key)) await enableCondstore(s); // RFC 7162 §3.1
  const messages = await keysOf(s, sel, await searchSeqs(s, sel, key));
  const roots = algorithm === 'REFERENCES' ? referencesThreads(messages) : orderedSubject(messages);
  const threads = formatThreads(roots, uid ? (m) => m.uid : (m) => m.seq);
  for (let i = 0; i < threads.length; i += WRITE_CHARS) await s.sendAsync(`${i === 0 ? '* THREAD' + (threads ? ' ' : '') : ''}${threads.slice(i, i + WRITE_CHARS)}`);
  await s.sendAsync(threads ? '\r\n' : '* THREAD\r\n');
  return { status: 'OK', text: `${uid ? 'UID ' : ''}THREAD completed` };
}

export const sortHandlers: Record<string, Handler> = {
  SORT: (s, tag, c, uid) => sort(s, tag, c, uid),
  THREAD: (s, _t, c, uid) => thread(s, c, uid),
};

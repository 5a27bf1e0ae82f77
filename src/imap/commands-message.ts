// Selected-state message commands: FETCH (commands-fetch.ts), STORE, SEARCH, COPY, MOVE, EXPUNGE and their UID forms (RFC 3501 §6.4, RFC 4315, RFC 6851).
import { compactSet } from './encode.ts';
import { enableCondstore, expungeModseqCode, modseqItem, storeModifiers } from './condstore.ts';
import { fetch } from './commands-fetch.ts';
import { mailboxArg } from './commands-mailbox.ts';
import { flagsResponses, newKeywords } from './flags-response.ts';
import { learnTransfer } from './junk.ts';
import { addWithinQuota } from './quota.ts';
import { ImapSyntaxError, type Cursor } from './parser.ts';
import { cachedFieldsSuffice, idsOption, matches, needsInternalDate, needsText, needsThreads, parseSearch, usesModseq, type SearchKey } from './search.ts';
import { threadIdsOf } from './header-keys-cache.ts';
import { compileSearch, requiredText, soleField } from './search-compile.ts';
import { isReply, metasNow, resolve, savedRanges, selected, type Target } from './selection.ts';
import { asksSave, esearchLine, parseReturn, savedPart, sendsEsearch, type ReturnOption, type ReturnOptions } from './search-return.ts';
import { flagKey, type Handler, type Reply, type Selected, type Session } from './session.ts';
import { idsIn, type FlagChange } from '../store/mailbox-store.ts';

const ok = (text: string): Reply => ({ status: 'OK', text });
const no = (text: string): Reply => ({ status: 'NO', text });
/** Messages whose cached header fields SEARCH asks for at once (when the store cannot rule messages out). */
const FIELDS_SLICE = 2048;
async function storeCmd(s: Session, c: Cursor, uid: boolean): Promise<Reply> {
  const sel = selected(s);
  if (isReply(sel)) return sel;
  const targets = resolve(sel, c.listChars(), uid);
  c.sp();
  // RFC 7162 §3.1.3: STORE set (UNCHANGEDSINCE n) item value
  const cond = c.peek() === '(' ? storeModifiers(c) : undefined;
  if (cond) c.sp();
  const item = c.atom().toUpperCase();
  const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(item);
  if (!m) throw new ImapSyntaxError(`unknown STORE item ${item}`);
  c.sp();
  let flags: string[] = [];
  if (c.peek() === '(') flags = c.flagList();
  else for (let i = 0; i < 100; i++) {
    flags.push(c.flag());
    if (c.atEnd()) break;
    c.sp();
  }
  c.end();
  if (sel.readOnly) return no('[READ-ONLY] Mailbox is read-only');
  flags = flags.filter((f) => f.toLowerCase() !== '\\recent');
  if (cond) await enableCondstore(s); // RFC 7162 §3.1
  const metas = await metasNow(s, sel, false);
  const present: Target[] = [];
  // Applied by the store to the flags as they are at that moment (under the folder lock), so two sessions
  // adding different flags to the same messages keep both (RFC 3501 §6.4.6 +FLAGS / -FLAGS).
  const change: FlagChange = m[1] === '+' ? { add: flags } : m[1] === '-' ? { remove: flags } : { replace: [...new Set(flags)] };
  const kept = new Map<number, readonly string[]>();
  const modseqs = new Map<number, number | undefined>();
  const changed = new Set<number>();
  /** RFC 7162 §3.1.3: messages changed since UNCHANGEDSINCE, left alone (sequence numbers, or UIDs for UID STORE). */
  const modified: number[] = [];
  const live = targets.filter((t) => metas.has(t.uid));
  // one store call for the whole set: the store changes them a batch at a time under one lock (RFC 7162 §3.1)
  const results = await s.ctx.opts.store.storeFlags(s.user, sel.name, live.map((t) => t.uid), change, cond);
  for (let i = 0; i < live.length; i++) {
    const t = live[i] as Target;
    const res = results[i];
    if (res?.kind === 'modified') modified.push(uid ? t.uid : t.seq);
    if (res?.kind !== 'done') continue;
    present.push(t);
    kept.set(t.uid, res.flags);
    modseqs.set(t.uid, res.modseq);
    if (res.changed) changed.add(t.uid);
  }
  // The flags the store kept, not those asked for: flags outside PERMANENTFLAGS are ignored (RFC 3501 §7.1),
  // duplicates and case variants fold into one (§2.3.2), and the FETCH response tells the result (§6.4.6).
  let out = '';
  // most messages share a few flag combinations: the expected result is worked out once per combination told
  const expectedOf = new Map<string | undefined, string>();
  const expected = (told: string | undefined): string => {
    let key = expectedOf.get(told);
    if (key === undefined) expectedOf.set(told, (key = flagKey(applyChange(told, change))));
    return key;
  };
  // A keyword new to this mailbox: the client learns it is defined before it sees it on a message (RFC 3501 §7.2.6).
  if (newKeywords([...kept.values()].map((flags) => ({ flags })), sel.keywords)) out += flagsResponses(sel.keywords, sel.readOnly);
  for (const t of present) {
    const now = kept.get(t.uid);
    if (!now) continue;
    const key = flagKey(now);
    // .SILENT: the client takes the flags it was told, with its change applied; a result that differs holds a
    // change by another session it has not been told of, and is told all the same (RFC 3501 §7.4.2; so does Dovecot)
    const tell = !m[2] || key !== expected(sel.flags.get(t.uid));
    sel.flags.set(t.uid, key);
    // RFC 7162 §3.1: once CONDSTORE is on, every untagged FETCH carries UID and MODSEQ, a silent STORE's too
    const ms = modseqItem(s, modseqs.get(t.uid));
    if (tell) out += `* ${t.seq} FETCH (${uid || s.condstore ? `UID ${t.uid} ` : ''}FLAGS (${[...now, ...(sel.recent.has(t.uid) ? ['\\Recent'] : [])].join(' ')})${ms})\r\n`;
    else if (s.condstore && changed.has(t.uid)) out += `* ${t.seq} FETCH (UID ${t.uid}${ms})\r\n`;
  }
  await s.sendAsync(out);
  if (modified.length > 0) return ok(`[MODIFIED ${compactSet(modified)}] Conditional STORE failed`); // RFC 7162 §3.1.3
  return ok(`${uid ? 'UID ' : ''}STORE completed`);
}

/** The flags a client expects after a STORE: those it was told (a flagKey), changed as asked (case-insensitively). */
function applyChange(told: string | undefined, change: FlagChange): string[] {
  if ('replace' in change) return [...new Set(change.replace)];
  const has = (list: readonly string[], f: string): boolean => list.some((x) => x.toLowerCase() === f.toLowerCase());
  const next = (told ? told.split(' ') : []).filter((f) => !has(change.remove ?? [], f));
  for (const f of change.add ?? []) if (!has(next, f)) next.push(f);
  return next;
}

async function search(s: Session, tag: string, c: Cursor, uid: boolean): Promise<Reply> {
  const sel = selected(s);
  if (isReply(sel)) return sel;
  return keepingSaved(sel, c, () => searchIn(s, sel, tag, c, uid));
}

/**
 * Runs a SEARCH or SORT; when it asks for SAVE and fails (NO or BAD), "$" is left empty (RFC 5182 §2.1), so a
 * pipelined "FETCH $" cannot act on the result of an older search.
 */
export async function keepingSaved(sel: Selected, c: Cursor, run: () => Promise<Reply>): Promise<Reply> {
  const saving = asksSave(c.rest());
  try {
    const reply = await run();
    if (saving && reply.status !== 'OK') sel.saved = [];
    return reply;
  } catch (err) {
    if (saving) sel.saved = [];
    throw err;
  }
}

async function searchIn(s: Session, sel: Selected, tag: string, c: Cursor, uid: boolean): Promise<Reply> {
  // RFC 9051 §6.4.4, §7.3.4: IMAP4rev2 answers every SEARCH with ESEARCH; no RETURN means RETURN (ALL)
  const opts = parseReturn(c) ?? (s.rev2 ? new Set<ReturnOption>(['ALL']) : undefined);
  const key = parseSearch(c, { maxSeq: sel.uids.length, maxUid: sel.uids[sel.uids.length - 1] ?? 0, saved: savedRanges(sel), now: s.ctx.opts.clock.now(), ...idsOption(s.ctx.opts.store.objectIds, sel.uidValidity), utf8: s.utf8, rev2: s.rev2 });
  const withModseq = usesModseq(key);
  if (withModseq) await enableCondstore(s); // RFC 7162 §3.1
  const seqs = await searchSeqs(s, sel, key);
  const uidOf = (n: number): number => sel.uids[n - 1] ?? 0;
  const hits = uid ? seqs.map(uidOf) : seqs;
  if (opts) {
    await sendResult(s, sel, tag, uid, opts, seqs, withModseq);
    return ok(`${uid ? 'UID ' : ''}SEARCH completed${opts.has('SAVE') ? ', result saved' : ''}`);
  }
  const top = withModseq ? await highestModseq(s, sel, seqs) : 0;
  await s.sendAsync(`* SEARCH${hits.length ? ' ' + hits.join(' ') : ''}${top > 0 ? ` (MODSEQ ${top})` : ''}\r\n`);
  return ok(`${uid ? 'UID ' : ''}SEARCH completed`);
}

/**
 * The result of a SEARCH or SORT with RETURN: saved for "$" (RFC 5182 §2.1) and told in one ESEARCH response
 * (RFC 4731 §3.1, RFC 5267 §3.1), unless SAVE is all that was asked. `seqs` are in result order.
 */
export async function sendResult(s: Session, sel: Selected, tag: string, uid: boolean, opts: ReturnOptions, seqs: readonly number[], withModseq: boolean): Promise<void> {
  const uidOf = (n: number): number => sel.uids[n - 1] ?? 0;
  if (opts.has('SAVE')) sel.saved = savedPart(opts, seqs).map(uidOf).sort((a, b) => a - b);
  if (!sendsEsearch(opts)) return;
  // RFC 4731 §3.2: with a MODSEQ criterion, the highest mod-sequence of the messages the response names
  const top = withModseq ? await highestModseq(s, sel, savedPart(opts, seqs)) : 0;
  await s.sendAsync(esearchLine(tag, uid, opts, uid ? seqs.map(uidOf) : seqs, top));
}

/** RFC 7162 §3.1.5: with a MODSEQ criterion, a non-empty result ends with the highest mod-sequence of its messages (0: none). */
export async function highestModseq(s: Session, sel: Selected, seqs: readonly number[]): Promise<number> {
  let top = 0;
  if (seqs.length === 0) return top;
  const metas = await metasNow(s, sel, false);
  for (const n of seqs) top = Math.max(top, metas.get(sel.uids[n - 1] ?? 0)?.modseq ?? 0);
  return top;
}

/** The sequence numbers of the messages of the session's view that match the key, ascending (SEARCH, SORT, THREAD). */
export async function searchSeqs(s: Session, sel: Selected, key: SearchKey): Promise<number[]> {
  // ALL is the session's view as it stands (RFC 3501 §7.4.1: messages expunged elsewhere stay until announced).
  if (key.k === 'all') return sel.uids.map((_, i) => i + 1);
  const metas = await metasNow(s, sel, needsInternalDate(key));
  const text = needsText(key);
  const { store } = s.ctx.opts;
  const hits: number[] = [];
  // RFC 8474 §6 THREADID: each message's id from the context's cache, else the store's cached header fields
  const withThreads = needsThreads(key);
  const ids = idsIn(store.objectIds, sel.uidValidity);
  if (!text || (cachedFieldsSuffice(key) && store.headerFields)) {
    // Metadata and cached header fields (Subject, From, To, Cc, Bcc, Date, Message-ID …): no message file is opened.
    const test = compileSearch(key);
    // The store may rule out messages without the needle unparsed: nothing is allocated for them, so the whole
    // mailbox goes in one call; otherwise fields are asked for a slice at a time, garbage again before the next.
    const query = { only: soleField(key), mentions: requiredText(key) };
    const step = query.mentions !== undefined ? Math.max(1, sel.uids.length) : FIELDS_SLICE;
    for (let from = 0; from < sel.uids.length; from += step) {
      const slice = sel.uids.slice(from, from + step);
      const fields = text && store.headerFields ? await store.headerFields(s.user, sel.name, slice, query) : undefined;
      // only for the messages the store left in: those it ruled out by the needle need no id made (nor their fields)
      const threads = withThreads ? await threadIdsOf(s, sel, fields ? slice.filter((_, j) => { const f = fields[j]; return f !== undefined && (query.mentions === undefined || f.length > 0); }) : slice, metas, ids) : undefined;
      for (let j = 0; j < slice.length; j++) {
        const u = slice[j] as number;
        const f = fields?.[j];
        if (fields && (!f || (query.mentions !== undefined && f.length === 0))) continue; // expunged, or ruled out by the store
        const meta = metas.get(u);
        if (!meta) continue;
        if (test({ seq: from + j + 1, meta, recent: sel.recent.has(u), fields: f, thread: threads?.get(u) })) hits.push(from + j + 1);
      }
    }
    return hits;
  }
  const threads = withThreads ? await threadIdsOf(s, sel, sel.uids, metas, ids) : undefined;
  for (let i = 0; i < sel.uids.length; i++) {
    const u = sel.uids[i] ?? 0;
    const meta = metas.get(u);
    if (!meta) continue;
    const thread = threads?.get(u);
    const cand = { seq: i + 1, meta: sel.recent.has(u) === meta.recent ? meta : { ...meta, recent: sel.recent.has(u) }, raw: () => store.read(s.user, sel.name, u), ...(thread !== undefined ? { thread } : {}) };
    if (await matches(key, cand)) hits.push(i + 1);
  }
  return hits;
}

async function copyOrMove(s: Session, c: Cursor, uid: boolean, move: boolean): Promise<Reply> {
  const sel = selected(s);
  if (isReply(sel)) return sel;
  const targets = resolve(sel, c.listChars(), uid);
  c.sp();
  const dest = mailboxArg(c, s.utf8);
  c.end();
  if (move && sel.readOnly) return no('[READ-ONLY] Mailbox is read-only');
  const { store } = s.ctx.opts;
  if (!(await store.listMailboxes(s.user)).some((b) => b.name === dest)) return no('[TRYCREATE] No such mailbox'); // RFC 3501 §6.4.7
  const metas = await metasNow(s, sel, false);
  const uids = targets.map((t) => t.uid).filter((u) => metas.has(u));
  if (uids.length === 0) return targets.length === 0 ? ok('Nothing to do') : no('Messages no longer exist');
  // A MOVE within the user's mailboxes leaves usage as it was (the originals go), so only COPY is checked.
  const copy = (): ReturnType<typeof store.copy> => store.copy(s.user, sel.name, uids, dest);
  const added = move ? { done: await copy() } : await addWithinQuota(s, uids.reduce((sum, u) => sum + (metas.get(u)?.size ?? 0), 0), copy);
  if ('refused' in added) return added.refused;
  const res = added.done;
  learnTransfer(s, sel.name, dest, res.uids);
  if (res.uids.length === 0) return no('Messages no longer exist');
  // Only the messages copied (another program may have removed some meanwhile), source and target aligned.
  const code = `[COPYUID ${res.uidValidity} ${compactSet(res.from)} ${compactSet(res.uids)}]`; // RFC 4315 §3
  if (!move) return ok(`${code} ${uid ? 'UID ' : ''}COPY completed`);
  s.send(`* OK ${code} Moved\r\n`); // RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs
  // RFC 6851 §3.3: the originals go, also when the target is this mailbox (the copies carry the new UIDs).
  await store.expunge(s.user, sel.name, res.from);
  return ok(`${uid ? 'UID ' : ''}MOVE completed`);
}

async function expunge(s: Session, c: Cursor, uid: boolean): Promise<Reply> {
  const sel = selected(s);
  if (isReply(sel)) return sel;
  const only = uid ? new Set(resolve(sel, c.listChars(), true).map((t) => t.uid)) : undefined; // RFC 4315 §2.1 UID EXPUNGE
  c.end();
  if (sel.readOnly) return no('[READ-ONLY] Mailbox is read-only');
  const metas = await metasNow(s, sel, false);
  const doomed = [...metas.values()].filter((m) => m.flags.includes('\\Deleted') && (!only || only.has(m.uid))).map((m) => m.uid);
  if (doomed.length > 0) await s.ctx.opts.store.expunge(s.user, sel.name, doomed);
  return ok(`${await expungeModseqCode(s, sel.name)}${uid ? 'UID ' : ''}EXPUNGE completed`);
}

export const messageHandlers: Record<string, Handler> = {
  FETCH: (s, _t, c, uid) => fetch(s, c, uid),
  STORE: (s, _t, c, uid) => storeCmd(s, c, uid),
  SEARCH: (s, tag, c, uid) => search(s, tag, c, uid),
  COPY: (s, _t, c, uid) => copyOrMove(s, c, uid, false),
  MOVE: (s, _t, c, uid) => copyOrMove(s, c, uid, true),
  EXPUNGE: (s, _t, c, uid) => expunge(s, c, uid),
};

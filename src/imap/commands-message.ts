// Selected-state message commands: FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE and their UID forms (RFC 3501 §6.4, RFC 4315, RFC 6851).
import type { MessageMeta } from '../store/mailbox-store.ts';
import { compactSet, inRanges, parseSequenceSet } from './encode.ts';
import { envelopeOf, fetchItems, needsEnvelope, needsParse, needsRaw, parseFetchAtts, setsSeen, summarize, type FetchAtt, type Summary } from './fetch.ts';
import { mailboxArg } from './commands-mailbox.ts';
import { learnTransfer } from './junk.ts';
import { ImapSyntaxError, type Cursor } from './parser.ts';
import { cachedFieldsSuffice, matches, needsText, parseSearch } from './search.ts';
import { compileSearch } from './search-compile.ts';
import { flagKey, type Handler, type Reply, type Selected, type Session } from './session.ts';

const ok = (text: string): Reply => ({ status: 'OK', text });
const no = (text: string): Reply => ({ status: 'NO', text });
const bad = (text: string): Reply => ({ status: 'BAD', text });
const BATCH = 64;

const mapCache = new WeakMap<readonly MessageMeta[], Map<number, MessageMeta>>();

/** Current metadata without announcing anything (announcements wait for the sync point). */
async function metasNow(s: Session, sel: Selected): Promise<Map<number, MessageMeta>> {
  const list = await s.ctx.opts.store.list(s.user, sel.name);
  let map = mapCache.get(list);
  if (!map) mapCache.set(list, (map = new Map(list.map((m) => [m.uid, m]))));
  return map;
}

interface Target {
  seq: number;
  uid: number;
}

/** Resolves a sequence set or UID set against the session's view (RFC 3501 §6.4.8 for UID ranges with '*'). */
function resolve(sel: Selected, text: string, uid: boolean): Target[] {
  const out: Target[] = [];
  if (uid) {
    const ranges = parseSequenceSet(text, sel.uids[sel.uids.length - 1] ?? 0);
    sel.uids.forEach((u, i) => {
      if (inRanges(ranges, u)) out.push({ seq: i + 1, uid: u });
    });
    return out;
  }
  const ranges = parseSequenceSet(text, sel.uids.length);
  for (const [a, b] of ranges) if (b > sel.uids.length || a < 1) throw new ImapSyntaxError('invalid message sequence number');
  sel.uids.forEach((u, i) => {
    if (inRanges(ranges, i + 1)) out.push({ seq: i + 1, uid: u });
  });
  return out;
}

function selected(s: Session): Selected | Reply {
  return s.state === 'selected' && s.sel ? s.sel : bad('Select a mailbox first');
}
const isReply = (x: Selected | Reply): x is Reply => 'status' in x;

async function fetch(s: Session, c: Cursor, uid: boolean): Promise<Reply> {
  const sel = selected(s);
  if (isReply(sel)) return sel;
  const targets = resolve(sel, c.listChars(), uid);
  c.sp();
  let atts: FetchAtt[] = parseFetchAtts(c);
  c.end();
  if (uid && !atts.some((a) => a.kind === 'UID')) atts = [{ kind: 'UID' }, ...atts]; // RFC 3501 §6.4.8
  const { store } = s.ctx.opts;
  const markSeen = !sel.readOnly && setsSeen(atts);
  const wantRaw = needsRaw(atts);
  // ENVELOPE alone comes from the store's header cache; BODY/BODYSTRUCTURE need the parsed message.
  const fromFields = needsEnvelope(atts) && !needsParse(atts) && store.headerFields !== undefined;
  const wantParse = needsParse(atts) || (needsEnvelope(atts) && !fromFields);
  const metas = await metasNow(s, sel);
  const cacheKey = (u: number): string => `${s.user}\u0000${sel.name}\u0000${sel.uidValidity}\u0000${u}`;
  let missing = false;
  const size = wantRaw || wantParse ? BATCH : 1024;
  for (let i = 0; i < targets.length; i += size) {
    const batch = targets.slice(i, i + size);
    const envelopes = fromFields ? await envelopesFor(s, sel, batch.map((t) => t.uid), cacheKey) : undefined;
    const loaded = await Promise.all(
      batch.map(async (t) => {
        let meta = metas.get(t.uid);
        if (!meta) return undefined;
        let withFlags = atts;
        if (markSeen && !meta.flags.includes('\\Seen')) {
          meta = { ...meta, flags: [...meta.flags, '\\Seen'] };
          await store.setFlags(s.user, sel.name, t.uid, meta.flags);
          if (!atts.some((a) => a.kind === 'FLAGS')) withFlags = [...atts, { kind: 'FLAGS' }];
        }
        const envelope = envelopes?.get(t.uid);
        if (envelopes && envelope === undefined) return undefined;
        const key = cacheKey(t.uid);
        let summary: Summary | undefined = wantParse ? s.ctx.summaries.get(key) : undefined;
        let raw: Buffer | undefined;
        if (wantRaw || (wantParse && !summary)) raw = await store.read(s.user, sel.name, t.uid).catch(() => undefined);
        if ((wantRaw || wantParse) && !raw && !summary) return undefined;
        if (wantParse && !summary && raw) s.ctx.summaries.set(key, (summary = summarize(raw)));
        return { t, meta, atts: withFlags, summary, raw, envelope };
      }),
    );
    const chunks: (string | Buffer)[] = [];
    for (const m of loaded) {
      if (!m) {
        missing = true;
        continue;
      }
      if (m.atts.some((a) => a.kind === 'FLAGS')) sel.flags.set(m.t.uid, flagKey(m.meta.flags));
      const meta = sel.recent.has(m.t.uid) ? { ...m.meta, recent: true } : { ...m.meta, recent: false };
      const input = { meta, ...(m.summary ? { summary: m.summary } : {}), ...(m.raw ? { raw: m.raw } : {}), ...(m.envelope !== undefined ? { envelope: m.envelope } : {}) };
      chunks.push(`* ${m.t.seq} FETCH (`, ...fetchItems(m.atts, input), ')\r\n');
    }
    // Back-pressure: the next batch is read only once the socket has taken this one.
    await s.sendAsync(chunks.every((x) => typeof x === 'string') ? chunks.join('') : Buffer.concat(chunks.map((x) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : x))));
  }
  // RFC 2180 §4.1.2: messages expunged by another session are left out of the response.
  return missing ? no('Some of the requested messages no longer exist') : ok(`${uid ? 'UID ' : ''}FETCH completed`);
}

/** ENVELOPEs for a batch: the session-wide cache first, then the store's cached header fields. */
async function envelopesFor(s: Session, sel: Selected, uids: readonly number[], cacheKey: (u: number) => string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const misses: number[] = [];
  for (const u of uids) {
    const env = s.ctx.envelopes.get(cacheKey(u));
    if (env === undefined) misses.push(u);
    else out.set(u, env);
  }
  if (misses.length === 0) return out;
  const fields = (await s.ctx.opts.store.headerFields?.(s.user, sel.name, misses)) ?? new Map();
  for (const [u, f] of fields) {
    const env = envelopeOf(f, s.ctx.addresses);
    s.ctx.envelopes.set(cacheKey(u), env);
    out.set(u, env);
  }
  return out;
}

async function storeCmd(s: Session, c: Cursor, uid: boolean): Promise<Reply> {
  const sel = selected(s);
  if (isReply(sel)) return sel;
  const targets = resolve(sel, c.listChars(), uid);
  c.sp();
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
  const metas = await metasNow(s, sel);
  let out = '';
  for (const t of targets) {
    const meta = metas.get(t.uid);
    if (!meta) continue;
    const has = (f: string): boolean => flags.some((x) => x.toLowerCase() === f.toLowerCase());
    const next =
      m[1] === '+' ? [...meta.flags, ...flags.filter((f) => !meta.flags.some((x) => x.toLowerCase() === f.toLowerCase()))]
      : m[1] === '-' ? meta.flags.filter((f) => !has(f))
      : [...new Set(flags)];
    if (next.join(' ') !== meta.flags.join(' ')) await s.ctx.opts.store.setFlags(s.user, sel.name, t.uid, next);
    const now = next;
    sel.flags.set(t.uid, flagKey(now));
    if (!m[2]) out += `* ${t.seq} FETCH (${uid ? `UID ${t.uid} ` : ''}FLAGS (${[...now, ...(sel.recent.has(t.uid) ? ['\\Recent'] : [])].join(' ')}))\r\n`;
  }
  await s.sendAsync(out);
  return ok(`${uid ? 'UID ' : ''}STORE completed`);
}

async function search(s: Session, c: Cursor, uid: boolean): Promise<Reply> {
  const sel = selected(s);
  if (isReply(sel)) return sel;
  const key = parseSearch(c, { maxSeq: sel.uids.length, maxUid: sel.uids[sel.uids.length - 1] ?? 0 });
  const done = async (hits: readonly number[]): Promise<Reply> => {
    await s.sendAsync(`* SEARCH${hits.length ? ' ' + hits.join(' ') : ''}\r\n`);
    return ok(`${uid ? 'UID ' : ''}SEARCH completed`);
  };
  // ALL is the session's view as it stands (RFC 3501 §7.4.1: messages expunged elsewhere stay until announced).
  if (key.k === 'all') return done(uid ? sel.uids : sel.uids.map((_, i) => i + 1));
  const metas = await metasNow(s, sel);
  const text = needsText(key);
  const { store } = s.ctx.opts;
  const hits: number[] = [];
  if (!text || (cachedFieldsSuffice(key) && store.headerFields)) {
    // Metadata and cached header fields (Subject, From, To, Cc, Bcc, Date, Message-ID …): no message file is opened.
    const fields = text && store.headerFields ? await store.headerFields(s.user, sel.name, sel.uids) : undefined;
    const test = compileSearch(key);
    for (let i = 0; i < sel.uids.length; i++) {
      const u = sel.uids[i] ?? 0;
      const meta = metas.get(u);
      if (!meta) continue;
      const f = fields?.get(u);
      if (fields && !f) continue;
      if (test({ seq: i + 1, meta, recent: sel.recent.has(u), fields: f })) hits.push(uid ? u : i + 1);
    }
    return done(hits);
  }
  for (let i = 0; i < sel.uids.length; i++) {
    const u = sel.uids[i] ?? 0;
    const meta = metas.get(u);
    if (!meta) continue;
    const cand = { seq: i + 1, meta: sel.recent.has(u) === meta.recent ? meta : { ...meta, recent: sel.recent.has(u) }, raw: () => store.read(s.user, sel.name, u) };
    if (await matches(key, cand)) hits.push(uid ? u : i + 1);
  }
  return done(hits);
}

async function copyOrMove(s: Session, c: Cursor, uid: boolean, move: boolean): Promise<Reply> {
  const sel = selected(s);
  if (isReply(sel)) return sel;
  const targets = resolve(sel, c.listChars(), uid);
  c.sp();
  const dest = mailboxArg(c);
  c.end();
  if (move && sel.readOnly) return no('[READ-ONLY] Mailbox is read-only');
  const { store } = s.ctx.opts;
  if (!(await store.listMailboxes(s.user)).some((b) => b.name === dest)) return no('[TRYCREATE] No such mailbox'); // RFC 3501 §6.4.7
  const metas = await metasNow(s, sel);
  const uids = targets.map((t) => t.uid).filter((u) => metas.has(u));
  if (uids.length === 0) return targets.length === 0 ? ok('Nothing to do') : no('Messages no longer exist');
  const res = await store.copy(s.user, sel.name, uids, dest);
  learnTransfer(s, sel.name, dest, res.uids);
  const code = `[COPYUID ${res.uidValidity} ${compactSet(uids)} ${compactSet(res.uids)}]`; // RFC 4315 §3
  if (!move) return ok(`${code} ${uid ? 'UID ' : ''}COPY completed`);
  s.send(`* OK ${code} Moved\r\n`); // RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs
  if (dest !== sel.name) await store.expunge(s.user, sel.name, uids);
  return ok(`${uid ? 'UID ' : ''}MOVE completed`);
}

async function expunge(s: Session, c: Cursor, uid: boolean): Promise<Reply> {
  const sel = selected(s);
  if (isReply(sel)) return sel;
  const only = uid ? new Set(resolve(sel, c.listChars(), true).map((t) => t.uid)) : undefined; // RFC 4315 §2.1 UID EXPUNGE
  c.end();
  if (sel.readOnly) return no('[READ-ONLY] Mailbox is read-only');
  const metas = await metasNow(s, sel);
  const doomed = [...metas.values()].filter((m) => m.flags.includes('\\Deleted') && (!only || only.has(m.uid))).map((m) => m.uid);
  if (doomed.length > 0) await s.ctx.opts.store.expunge(s.user, sel.name, doomed);
  return ok(`${uid ? 'UID ' : ''}EXPUNGE completed`);
}

export const messageHandlers: Record<string, Handler> = {
  FETCH: (s, _t, c, uid) => fetch(s, c, uid),
  STORE: (s, _t, c, uid) => storeCmd(s, c, uid),
  SEARCH: (s, _t, c, uid) => search(s, c, uid),
  COPY: (s, _t, c, uid) => copyOrMove(s, c, uid, false),
  MOVE: (s, _t, c, uid) => copyOrMove(s, c, uid, true),
  EXPUNGE: (s, _t, c, uid) => expunge(s, c, uid),
};

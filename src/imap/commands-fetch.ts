// FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8). Metadata-only requests (UID, FLAGS, INTERNALDATE, RFC822.SIZE, and
// ENVELOPE and THREADID from the store's cached header fields) become one string per line, written in large pieces;
// requests that need the message text load and parse messages a few at a time.
import { idsIn, type FlagOutcome, type MessageMeta } from '../store/mailbox-store.ts';
import type { EnvelopeCache, EnvelopeTable } from './envelope-cache.ts';
import { envelopeOf } from './envelope.ts';
import { binaryRefused, fetchItems, metadataOnly, metaLine, needsDates, needsEnvelope, needsParse, needsRaw, needsThread, parseFetchAtts, setsSeen, summarize, type FetchAtt, type Summary } from './fetch.ts';
import { threadIdsOf } from './header-keys-cache.ts';
import { enableCondstore, fetchModifiers, type FetchModifiers } from './condstore.ts';
import { ImapSyntaxError } from './parser.ts';
import { ANY_UID, vanishedSet } from './qresync.ts';
import type { Cursor } from './parser.ts';
import { isReply, metasNow, resolve, selected, setRanges, type Target } from './selection.ts';
import { flagKey, type Reply, type Selected, type Session } from './session.ts';

/** Messages loaded at once when the text is needed. */
const BATCH = 64;
/** Message bytes loaded at once (a batch holds at least one message): 64 large messages must not exhaust memory. */
const BATCH_BYTES = 8 * 1024 * 1024;
/** Messages whose envelopes are asked of the store at once. */
const META_BATCH = 1024;
/** Response text handed to the socket at once; the next piece waits until the socket has taken it. */
const WRITE_CHARS = 64 * 1024;

export async function fetch(s: Session, c: Cursor, uid: boolean): Promise<Reply> {
  const sel = selected(s);
  if (isReply(sel)) return sel;
  const setText = c.listChars();
  let targets = resolve(sel, setText, uid);
  c.sp();
  let atts: FetchAtt[] = parseFetchAtts(c, { objectIds: s.ctx.opts.store.objectIds !== undefined });
  let mods: FetchModifiers = {};
  if (c.peek() === ' ') {
    c.sp();
    mods = fetchModifiers(c);
  }
  c.end();
  if (uid && !atts.some((a) => a.kind === 'UID')) atts = [{ kind: 'UID' }, ...atts]; // RFC 3501 §6.4.8
  const { changedSince } = mods;
  // RFC 7162 §3.2.6: VANISHED only in UID FETCH, with CHANGEDSINCE, once QRESYNC is on; otherwise BAD
  if (mods.vanished && (!uid || changedSince === undefined || !s.qresync)) throw new ImapSyntaxError('VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled');
  if (changedSince !== undefined || atts.some((a) => a.kind === 'MODSEQ')) await enableCondstore(s); // RFC 7162 §3.1
  if (mods.vanished && changedSince !== undefined) {
    // the UIDs of the set gone from the session's view and expunged since CHANGEDSINCE (every one gone where the
    // store's history does not reach back: see qresync.ts); "*" is read as any UID (the set stops below UIDNEXT),
    // not the last one left: "1:*" asks about the messages expunged from the end of the mailbox too
    const history = await s.ctx.opts.store.expungedSince?.(s.user, sel.name, changedSince);
    const gone = vanishedSet(sel.uids, setRanges(sel, setText, ANY_UID), sel.uidNext - 1, history);
    if (gone !== '') s.send(`* VANISHED (EARLIER) ${gone}\r\n`);
  }
  if (changedSince !== undefined) {
    // RFC 7162 §3.1.4.1: only messages changed since, and CHANGEDSINCE implies MODSEQ
    if (!atts.some((a) => a.kind === 'MODSEQ')) atts = [...atts, { kind: 'MODSEQ' }];
    const metas = await metasNow(s, sel, false);
    targets = targets.filter((t) => (metas.get(t.uid)?.modseq ?? 0) > changedSince);
  }
  const fromFields = needsEnvelope(atts) && s.ctx.opts.store.headerFields !== undefined;
  const missing = metadataOnly(atts) && (fromFields || !needsEnvelope(atts)) ? await fetchMetadata(s, sel, targets, atts) : await fetchMessages(s, sel, targets, atts, fromFields);
  // RFC 2180 §4.1.2: messages expunged by another session are left out of the response.
  return missing ? { status: 'NO', text: 'Some of the requested messages no longer exist' } : { status: 'OK', text: `${uid ? 'UID ' : ''}FETCH completed` };
}

/** The fast path: no message file is opened and nothing is allocated per message but its line. Returns "some missing". */
async function fetchMetadata(s: Session, sel: Selected, targets: readonly Target[], atts: readonly FetchAtt[]): Promise<boolean> {
  const metas = await metasNow(s, sel, needsDates(atts));
  const table = needsEnvelope(atts) ? envelopeCache(s).table(s.user, sel.name, sel.uidValidity) : undefined;
  const tellsFlags = atts.some((a) => a.kind === 'FLAGS');
  const ids = idsIn(s.ctx.opts.store.objectIds, sel.uidValidity);
  const threads = needsThread(atts);
  let missing = false;
  let out = '';
  for (let i = 0; i < targets.length; i += META_BATCH) {
    const batch = targets.slice(i, i + META_BATCH);
    const fresh = table ? await envelopesFor(s, sel, table, batch) : undefined;
    const threadIds = threads ? await threadIdsOf(s, sel, batch.map((t) => t.uid), metas, ids) : undefined;
    for (const t of batch) {
      const meta = metas.get(t.uid);
      const envelope = table ? (table.get(t.uid) ?? fresh?.get(t.uid)) : undefined;
      const thread = threadIds?.get(t.uid);
      if (!meta || (table && envelope === undefined) || (threadIds && thread === undefined)) {
        missing = true;
        continue;
      }
      if (tellsFlags) sel.flags.set(t.uid, flagKey(meta.flags));
      out += metaLine(t.seq, atts, meta, sel.recent.has(t.uid), envelope, ids, thread);
      if (out.length >= WRITE_CHARS) {
        await s.sendAsync(out);
        out = '';
      }
    }
  }
  if (out !== '') await s.sendAsync(out);
  return missing;
}

/** The session's form of ENVELOPE (RFC 6855 §3): UTF-8 once enabled, downgraded to 7-bit before. */
function envelopeCache(s: Session): EnvelopeCache {
  return s.utf8 ? s.ctx.envelopesUtf8 : s.ctx.envelopes;
}

/** ENVELOPEs the table lacks for a batch, built from the store's cached header fields (and kept in the table). */
async function envelopesFor(s: Session, sel: Selected, table: EnvelopeTable, batch: readonly Target[]): Promise<Map<number, string> | undefined> {
  const misses: number[] = [];
  for (const t of batch) if (table.get(t.uid) === undefined) misses.push(t.uid);
  if (misses.length === 0) return undefined;
  const fields = (await s.ctx.opts.store.headerFields?.(s.user, sel.name, misses)) ?? [];
  const out = new Map<number, string>();
  for (let i = 0; i < misses.length; i++) {
    const f = fields[i];
    if (f === undefined) continue; // expunged meanwhile
    const u = misses[i] as number;
    const envelope = envelopeOf(f, s.ctx.addresses, s.utf8);
    table.set(u, envelope);
    out.set(u, envelope);
  }
  return out;
}

interface Loaded {
  t: Target;
  meta: MessageMeta;
  atts: readonly FetchAtt[];
  summary: Summary | undefined;
  raw: Buffer | undefined;
  envelope: string | undefined;
  /** THREADID, when asked. */
  thread?: string;
}

/** The general path: message text read (and parsed for BODY/BODYSTRUCTURE) a batch at a time; \Seen set as needed. */
async function fetchMessages(s: Session, sel: Selected, targets: readonly Target[], atts: readonly FetchAtt[], fromFields: boolean): Promise<boolean> {
  const { store } = s.ctx.opts;
  const markSeen = !sel.readOnly && setsSeen(atts);
  const binaryAsked = atts.some((a) => a.kind === 'BINARY' || a.kind === 'BINARY.SIZE');
  const wantRaw = needsRaw(atts);
  // ENVELOPE alone comes from the store's header cache; BODY/BODYSTRUCTURE need the parsed message.
  const envelopeFromFields = fromFields && !needsParse(atts);
  const wantParse = needsParse(atts) || (needsEnvelope(atts) && !envelopeFromFields);
  const metas = await metasNow(s, sel, needsDates(atts));
  const table = envelopeFromFields ? envelopeCache(s).table(s.user, sel.name, sel.uidValidity) : undefined;
  const summaryKey = (u: number): string => `${s.user}\u0000${sel.name}\u0000${sel.uidValidity}\u0000${u}`;
  let missing = false;
  for (const batch of batches(targets, metas, wantRaw || wantParse)) {
    const fresh = table ? await envelopesFor(s, sel, table, batch) : undefined;
    const threadIds = needsThread(atts) ? await threadIdsOf(s, sel, batch.map((t) => t.uid), metas, idsIn(store.objectIds, sel.uidValidity)) : undefined;
    const loaded = await Promise.all(
      batch.map(async (t): Promise<Loaded | undefined> => {
        const meta = metas.get(t.uid);
        if (!meta) return undefined;
        const envelope = table ? (table.get(t.uid) ?? fresh?.get(t.uid)) : undefined;
        if (table && envelope === undefined) return undefined;
        const thread = threadIds?.get(t.uid);
        if (threadIds && thread === undefined) return undefined;
        const key = summaryKey(t.uid);
        let summary: Summary | undefined = wantParse ? s.ctx.summaries.get(key) : undefined;
        let raw: Buffer | undefined;
        if (wantRaw || (wantParse && !summary)) raw = await store.read(s.user, sel.name, t.uid).catch(() => undefined);
        if ((wantRaw || wantParse) && !raw && !summary) return undefined;
        if (wantParse && !summary && raw) s.ctx.summaries.set(key, (summary = summarize(raw)));
        return { t, meta, atts, summary, raw, envelope, ...(thread !== undefined ? { thread } : {}) };
      }),
    );
    // RFC 3516 §4.3: the FETCH fails at the first message whose BINARY part cannot be decoded; that message and those
    // after it are not sent, so not marked \Seen either
    let sent = loaded.length;
    if (markSeen && binaryAsked) {
      const refused = loaded.findIndex((m) => m?.raw !== undefined && binaryRefused(atts, m.raw));
      if (refused >= 0) sent = refused;
    }
    // \Seen added to the batch's unseen messages in one store call, to the flags as they are now (another session
    // may have changed them since metas were read)
    const unseen = markSeen ? loaded.slice(0, sent).flatMap((m) => (m && !m.meta.flags.includes('\\Seen') ? [m.t.uid] : [])) : [];
    const seen = new Map<number, FlagOutcome>();
    if (unseen.length > 0) (await store.storeFlags(s.user, sel.name, unseen, { add: ['\\Seen'] })).forEach((r, i) => seen.set(unseen[i] as number, r));
    for (const m of loaded) {
      const set = m && seen.get(m.t.uid);
      if (!m || !set) continue;
      m.meta = set.kind === 'done' ? { ...m.meta, flags: set.flags, ...(set.modseq !== undefined ? { modseq: set.modseq } : {}) } : { ...m.meta, flags: [...m.meta.flags, '\\Seen'] };
      if (!m.atts.some((a) => a.kind === 'FLAGS')) m.atts = [...m.atts, { kind: 'FLAGS' }];
      // RFC 7162 §3.1: once CONDSTORE is on, a FETCH that sets \Seen tells UID and MODSEQ with the flags
      if (s.condstore) for (const kind of ['UID', 'MODSEQ'] as const) if (!m.atts.some((a) => a.kind === kind)) m.atts = [...m.atts, { kind }];
    }
    const out = new PieceWriter(s);
    for (const m of loaded) {
      if (!m) {
        missing = true;
        continue;
      }
      const meta = { ...m.meta, recent: sel.recent.has(m.t.uid) };
      const ids = idsIn(store.objectIds, sel.uidValidity);
      const input = { meta, utf8: s.utf8, ...(ids ? { ids } : {}), ...(m.summary ? { summary: m.summary } : {}), ...(m.raw ? { raw: m.raw } : {}), ...(m.envelope !== undefined ? { envelope: m.envelope } : {}), ...(m.thread !== undefined ? { thread: m.thread } : {}) };
      let items: (string | Buffer)[];
      try {
        // built before any of the line is written: a part BINARY cannot decode fails the command (NO [UNKNOWN-CTE],
        // RFC 3516 §4.3) after the complete responses before it, never leaving half a line on the wire
        items = fetchItems(m.atts, input);
      } catch (err) {
        await out.flush();
        throw err;
      }
      if (m.atts.some((a) => a.kind === 'FLAGS')) sel.flags.set(m.t.uid, flagKey(m.meta.flags));
      await out.write(`* ${m.t.seq} FETCH (`);
      for (const piece of items) await out.write(piece);
      await out.write(')\r\n');
    }
    // Back-pressure: the next batch is read only once the socket has taken this one.
    await out.flush();
  }
  return missing;
}

/** Splits targets into batches of at most BATCH messages and, when their text is loaded, about BATCH_BYTES. */
function* batches(targets: readonly Target[], metas: ReadonlyMap<number, MessageMeta>, text: boolean): Generator<readonly Target[]> {
  for (let start = 0; start < targets.length; ) {
    let end = start;
    let bytes = 0;
    while (end < targets.length && end - start < BATCH) {
      const size = text ? (metas.get((targets[end] as Target).uid)?.size ?? 0) : 0;
      if (end > start && bytes + size > BATCH_BYTES) break;
      bytes += size;
      end++;
    }
    yield targets.slice(start, end);
    start = end;
  }
}

/**
 * Response pieces to the socket: small ones gathered into writes of about WRITE_CHARS, large literal bodies handed
 * over as they are. Nothing is concatenated beyond that, so "FETCH 1:* (BODY[] BODY[] …)" cannot build a response
 * of many copies of a large message in memory; each write waits for the socket (back-pressure).
 */
class PieceWriter {
  private pending: (string | Buffer)[] = [];
  private bytes = 0;
  constructor(private readonly s: Session) {}

  async write(piece: string | Buffer): Promise<void> {
    if (Buffer.isBuffer(piece) && piece.length >= WRITE_CHARS) {
      await this.flush();
      await this.s.sendAsync(piece);
      return;
    }
    this.pending.push(piece);
    this.bytes += piece.length;
    if (this.bytes >= WRITE_CHARS) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const p = this.pending;
    this.pending = [];
    this.bytes = 0;
    await this.s.sendAsync(p.every((x) => typeof x === 'string') ? p.join('') : Buffer.concat(p.map((x) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : x))));
  }
}

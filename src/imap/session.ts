// One IMAP connection: byte stream → command frames, state machine, dispatch, and mailbox sync points (RFC 3501 §3, §5.2).
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { MailboxError, type MessageMeta } from '../store/mailbox-store.ts';
import type { Logger } from '../util/logger.ts';
import type { ImapContext } from './context.ts';
import { ImapSyntaxError, Cursor } from './parser.ts';
import { DeflateStream } from './deflate-stream.ts';
import { CommandReader, type FramePart, type TooLong } from './reader.ts';
import { BadCharset } from './search.ts';
import { UnknownCte } from './binary.ts';
import { SelectedGone } from './selection.ts';
import { syncSelected } from './sync.ts';
import type { ToldFlags, UidSet } from './uid-state.ts';

export type Reply = { status: 'OK' | 'NO' | 'BAD'; text: string } | { status: 'NONE' };
export type Handler = (s: Session, tag: string, c: Cursor, uid: boolean) => Promise<Reply>;

export interface Selected {
  name: string;
  readOnly: boolean;
  uidValidity: number;
  /** The session's view: seq n ↔ uids[n-1]. Expunges by others stay until announced. */
  uids: number[];
  /** Above every UID the view has held: UIDs below it that the view lacks are gone (RFC 7162 §3.2.6 VANISHED). */
  uidNext: number;
  /** Flags last told to the client (flagKey strings). */
  flags: ToldFlags;
  /** UIDs that are \Recent in this session. */
  recent: UidSet;
  /** UIDs this session claimed as \Recent before it saw them (delivered between its list and its claim): recent once seen. */
  recentAhead?: Set<number>;
  metas: Map<number, MessageMeta>;
  listRef: readonly MessageMeta[] | undefined;
  dirty: boolean;
  /** Keywords named in the last FLAGS response: a STORE that adds another sends FLAGS again (RFC 3501 §7.2.6). */
  keywords: Set<string>;
  /** Expunges seen at a point that could not report them (FETCH, STORE, SEARCH): owed at the next one that can. */
  expungeOwed?: boolean;
  /** HIGHESTMODSEQ told at SELECT/EXAMINE: below every expunge the view may still owe (condstore.ts). */
  selectModseq?: number;
  /**
   * The search result variable "$" (RFC 5182 §2.1) as UIDs, ascending; empty until a SEARCH or SORT with RETURN
   * (SAVE). It lives with the selection, so SELECT, EXAMINE, CLOSE and UNSELECT start it empty again; expunged
   * messages drop out as their UIDs leave the view.
   */
  saved?: readonly number[];
  unwatch: () => void;
}

const EMPTY = Buffer.alloc(0);
/** How long an ended connection may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 30_000;
/** Literal bytes one command may carry before login: enough for LOGIN, too little to tie up memory unauthenticated. */
const PREAUTH_LITERAL_BYTES = 64 * 1024;

const flagKeys = new WeakMap<readonly string[], string>();

/** Order-independent form of a flag list, to tell real changes from reordering (memoized for the store's frozen lists). */
export function flagKey(flags: readonly string[]): string {
  if (flags.length < 2) return flags[0] ?? '';
  let key = flagKeys.get(flags);
  if (key === undefined) {
    key = [...flags].sort().join(' ');
    if (Object.isFrozen(flags)) flagKeys.set(flags, key);
  }
  return key;
}

/** Commands during which no untagged EXPUNGE may be sent (RFC 3501 §7.4.1; SORT and THREAD answer with sequence numbers too, RFC 5256). */
const NO_EXPUNGE = new Set(['FETCH', 'STORE', 'SEARCH', 'SORT', 'THREAD']);

/** Queued commands (or their bytes) at which the session stops reading, and where it starts again. */
const PAUSE_FRAMES = 64;
const RESUME_FRAMES = 8;
const PAUSE_BYTES = 16 * 1024 * 1024;

/**
 * The refusal of a command over the reader's limits. TOOBIG only where one literal is over APPENDLIMIT (RFC 7889 §4);
 * messages that each fit but together exceed what one command may carry are an implementation limit (RFC 5530 §3
 * LIMIT), so a client does not take a message for too big that goes in on its own.
 */
function tooLongReply(what: TooLong): string {
  if (what === 'literal') return 'NO [TOOBIG] Literal too large';
  if (what === 'literals') return 'NO [LIMIT] Literals of one command together too large; send fewer messages per APPEND';
  return 'BAD Command line too long';
}

/**
 * resp-text is TEXT-CHAR, 7-bit (RFC 3501 §9): a reason that quotes a client's name or words (decoded from modified
 * UTF-7, or UTF-8) tells characters beyond ASCII as \uXXXX, and controls too, so no client is sent 8-bit text.
 */
function textChars(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (ch) => '\\u' + (ch.charCodeAt(0) + 0x10000).toString(16).slice(1));
}

function frameBytes(parts: readonly FramePart[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

export class Session {
  state: 'notauth' | 'auth' | 'selected' | 'logout' = 'notauth';
  user = '';
  sel: Selected | undefined;
  secure: boolean;
  /** The tag of the IDLE under way (see startIdle). */
  idleTag: string | undefined;
  private idlePoll: NodeJS.Timeout | undefined;
  authFailures = 0;
  /** A CONDSTORE enabling command was issued (RFC 7162 §3.1): untagged FETCH responses carry UID and MODSEQ. */
  condstore = false;
  /** ENABLE QRESYNC was issued (RFC 7162 §3.2.3): expunges are told as VANISHED, SELECT takes (QRESYNC …). */
  qresync = false;
  /** ENABLE UTF8=ACCEPT was issued (RFC 6855 §3): names and quoted strings are UTF-8, ENVELOPE is not downgraded. */
  utf8 = false;
  /** ENABLE IMAP4rev2 was issued (RFC 9051 §6.3.1): no \Recent or RECENT, SEARCH answered with ESEARCH, UTF-8 names. */
  rev2 = false;
  /** COMPRESS=DEFLATE is active (RFC 4978): the stream inflates and deflates. */
  compressed: DeflateStream | undefined;
  /** Inflated bytes since the reader last completed, refused or paused on a command (see input). */
  private sinceEvent = 0;
  /** The next line answers a "+" continuation (AUTHENTICATE without SASL-IR). */
  continuation: ((parts: FramePart[]) => Promise<void>) | undefined;
  readonly log: Logger;
  private stream: Duplex;
  private readonly reader: CommandReader;
  private readonly frames: FramePart[][] = [];
  /** Bytes of the queued frames (literals included); with frames.length, what pauses reading. */
  private queuedBytes = 0;
  private paused = false;
  private busy = false;
  private tokens: number;
  private lastRefill: number;
  private readonly onData = (chunk: Buffer): void => this.input(chunk);

  constructor(
    readonly ctx: ImapContext,
    socket: Duplex,
    readonly remoteIp: string,
    secure: boolean,
    readonly handlers: Record<string, Handler>,
    readonly id: string,
  ) {
    this.stream = socket;
    this.secure = secure;
    this.log = ctx.opts.log.child({ imap: id, ip: remoteIp });
    const { maxLineBytes, maxLiteralBytes } = ctx.limits;
    const preauth = Math.min(maxLiteralBytes, PREAUTH_LITERAL_BYTES);
    const state = (): Session['state'] => this.state;
    this.reader = new CommandReader({
      maxLineBytes,
      get maxLiteralBytes() {
        return state() === 'notauth' ? preauth : maxLiteralBytes;
      },
    });
    this.tokens = ctx.limits.commandsPerSecond * 2;
    this.lastRefill = ctx.opts.clock.now();
    socket.on('data', this.onData);
  }

  get loopback(): boolean {
    return this.remoteIp === '127.0.0.1' || this.remoteIp === '::1' || this.remoteIp.startsWith('127.') || this.remoteIp === '::ffff:127.0.0.1';
  }

  /** LOGIN/AUTHENTICATE allowed: over TLS, from loopback, or when configured (RFC 3501 §6.2.3 LOGINDISABLED). */
  get authAllowed(): boolean {
    return this.secure || this.loopback || this.ctx.opts.allowInsecureAuth === true;
  }

  capabilities(): string {
    const caps = ['IMAP4rev1', 'IMAP4rev2', 'LITERAL+', 'SASL-IR', 'IDLE', 'UIDPLUS', 'MOVE', 'NAMESPACE', 'ID', 'SPECIAL-USE', 'ENABLE', 'UNSELECT', 'CHILDREN', 'QUOTA', 'QUOTA=RES-STORAGE', 'CONDSTORE', 'QRESYNC', 'ESEARCH', 'SEARCHRES', 'LIST-EXTENDED', 'LIST-STATUS', 'STATUS=SIZE'];
    // RFC 5256: only after login (as Dovecot), where they can be used; LOGIN's OK tells the list anew
    if (this.state !== 'notauth') caps.push('SORT', 'THREAD=ORDEREDSUBJECT', 'THREAD=REFERENCES', 'ESORT');
    // RFC 6855 §3: enabled with ENABLE, which only logged-in clients may use
    if (this.state !== 'notauth') caps.push('UTF8=ACCEPT');
    // RFC 3516 BINARY, RFC 5032 WITHIN, RFC 6154 §3 CREATE-SPECIAL-USE (special uses go by name: see CREATE)
    caps.push('BINARY', 'WITHIN', 'CREATE-SPECIAL-USE');
    // RFC 8474 OBJECTID, RFC 8514 SAVEDATE: where the store tells the ids and save dates
    if (this.ctx.opts.store.objectIds) caps.push('OBJECTID', 'SAVEDATE');
    // RFC 3502 MULTIAPPEND; RFC 7889 APPENDLIMIT: the literal bound APPEND is held to (CATENATE is not offered)
    caps.push('MULTIAPPEND', `APPENDLIMIT=${this.ctx.limits.maxLiteralBytes}`);
    // RFC 4978 §3: offered where it can be used (after login), and only until it is on
    if (this.state !== 'notauth' && this.ctx.opts.compress !== false && !this.compressed) caps.push('COMPRESS=DEFLATE');
    if (this.state === 'notauth') {
      if (!this.secure && this.ctx.secureContext) caps.push('STARTTLS');
      caps.push(...(this.authAllowed ? ['AUTH=PLAIN'] : ['LOGINDISABLED']));
    }
    return caps.join(' ');
  }

  greet(): void {
    this.send(`* OK [CAPABILITY ${this.capabilities()}] ${this.ctx.opts.hostname} spamgate IMAP4rev1 ready\r\n`);
  }

  send(data: string | Buffer): boolean {
    if (this.stream.destroyed || !this.stream.writable) return false;
    return this.stream.write(data);
  }

  /** Writes and waits for the socket buffer to drain (large FETCH responses). */
  async sendAsync(data: string | Buffer): Promise<void> {
    if (this.send(data)) return;
    if (this.stream.destroyed) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        resolve();
      };
      this.stream.once('drain', done);
      this.stream.once('close', done);
    });
  }

  close(bye?: string): void {
    if (bye) this.send(`* BYE ${bye}\r\n`);
    this.state = 'logout';
    const stream = this.stream;
    stream.end();
    // A peer that stops reading would hold the ended socket and its unsent replies forever.
    const timer = setTimeout(() => stream.destroy(), CLOSE_GRACE_MS).unref();
    stream.once('close', () => clearTimeout(timer));
  }

  /** RFC 3501 §6.2.1: negotiate TLS after the tagged OK; nothing pipelined in clear survives. */
  startTls(): void {
    const ctx = this.ctx.secureContext;
    if (!ctx) return;
    this.stream.off('data', this.onData);
    this.reader.reset();
    this.frames.length = 0;
    this.queuedBytes = 0;
    const tls = new TLSSocket(this.stream as import('node:net').Socket, { isServer: true, secureContext: ctx });
    // a failed handshake or a refused renegotiation (see util/tls-server.ts): the session is over
    tls.on('error', (err) => {
      this.log.debug('imap tls error', { err });
      tls.destroy();
    });
    tls.on('data', this.onData);
    this.stream = tls;
    this.secure = true;
  }

  /**
   * RFC 4978 §3: compression starts right after the CRLF of the tagged OK, both ways. Commands the client sent in
   * clear after COMPRESS (before our OK) are not kept, as after STARTTLS.
   */
  startCompress(): void {
    this.stream.off('data', this.onData);
    this.reader.reset();
    this.frames.length = 0;
    this.queuedBytes = 0;
    // reading paused for a full queue (commands sent after COMPRESS, which RFC 4978 §3 forbids, and dropped here):
    // the paused socket goes on under the inflater, or drain() would resume only the new stream and the session hang
    if (this.paused) {
      this.paused = false;
      this.stream.resume();
    }
    const z = new DeflateStream(this.stream, (err) => this.log.info('imap compression failed', { err }));
    z.on('data', this.onData);
    this.stream = z;
    this.compressed = z;
    this.ctx.metrics.compressed.inc();
    this.log.info('imap compression on');
  }

  /**
   * A decompression bomb cannot use the server: inflated input that in all makes no command the limits allow (a
   * line and its literals, or a refused one being skipped) ends the session, long before it could fill memory.
   */
  private overInflated(chunk: Buffer, events: number): boolean {
    if (!this.compressed) return false;
    this.sinceEvent = events > 0 ? 0 : this.sinceEvent + chunk.length;
    const { maxLineBytes, maxLiteralBytes } = this.ctx.limits;
    // the reader counts a line's text with its CR, not its LF: a command at both limits also carries one LF per
    // line piece (each piece but the last ends in "{n}", so fewer than max_line of them), hence max_line twice
    if (this.sinceEvent <= 2 * maxLineBytes + maxLiteralBytes) return false;
    this.log.warn('imap compressed input over the limits', { bytesIn: this.compressed.bytesIn, inflated: this.compressed.bytesInflated });
    this.compressed.stopReading();
    this.close('Compressed input exceeds the command size limits');
    return true;
  }

  /**
   * Feeds bytes to the reader and queues the commands. A loop, not recursion: every "+" go-ahead lets the reader go
   * on with what is buffered, and a client sending thousands of "{0}" lines at once must not exhaust the stack.
   */
  private input(chunk: Buffer): void {
    if (this.state === 'logout') return;
    let data = chunk;
    let events = 0;
    for (let round = 0; round < 1_000_000; round++) {
      let resumed = false;
      const evs = this.reader.push(data);
      events += evs.length;
      for (const ev of evs) {
        if (ev.kind === 'continue') {
          this.send('+ Ready for literal data\r\n'); // RFC 3501 §7.5
          this.reader.answer(true);
          resumed = true;
        } else if (ev.kind === 'toolong') {
          this.send(`${ev.tag} ${tooLongReply(ev.what)}\r\n`);
        } else {
          this.frames.push(ev.parts);
          this.queuedBytes += frameBytes(ev.parts);
        }
      }
      data = EMPTY;
      if (!resumed) break;
    }
    if (this.overInflated(chunk, events)) return;
    // Backpressure, not refusal: a client that pipelines (mbsync sends a UID FETCH per message) is read
    // no further until the queue has gone down; what one session holds stays bounded.
    if (!this.paused && (this.frames.length >= PAUSE_FRAMES || this.queuedBytes >= PAUSE_BYTES)) {
      this.paused = true;
      this.stream.pause();
    }
    if (!this.busy) void this.drain();
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      for (let frame = this.frames.shift(); frame && this.state !== 'logout'; frame = this.frames.shift()) {
        this.queuedBytes -= frameBytes(frame);
        await this.run(frame);
        if (this.paused && this.frames.length <= RESUME_FRAMES && this.queuedBytes < PAUSE_BYTES / 2) {
          this.paused = false;
          this.stream.resume();
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /** Takes a token of the per-session command rate, waiting for one if need be (a slow-down, never a refusal). */
  private async rateLimit(): Promise<void> {
    const rate = this.ctx.limits.commandsPerSecond;
    for (let round = 0; round < 100; round++) {
      const now = this.ctx.opts.clock.now();
      this.tokens = Math.min(rate * 2, this.tokens + ((now - this.lastRefill) / 1000) * rate);
      this.lastRefill = now;
      if (this.tokens >= 1) break;
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(((1 - this.tokens) / rate) * 1000)));
    }
    this.tokens--;
  }

  /** Runs one command; every failure becomes a tagged reply and the session goes on. */
  private async run(parts: FramePart[]): Promise<void> {
    if (this.idleTag !== undefined) return this.idleInput(parts);
    const k = this.continuation;
    if (k) {
      this.continuation = undefined;
      return k(parts);
    }
    let tag = '*';
    let name = '';
    try {
      const c = new Cursor(parts);
      tag = c.tag();
      c.sp();
      name = c.atom().toUpperCase();
      let uid = false;
      if (name === 'UID') {
        c.sp();
        name = c.atom().toUpperCase();
        uid = true;
        if (!['FETCH', 'SEARCH', 'STORE', 'COPY', 'MOVE', 'EXPUNGE', 'SORT', 'THREAD'].includes(name)) throw new ImapSyntaxError(`UID ${name} is not a command`);
      }
      await this.rateLimit();
      const handler = this.handlers[name];
      if (!handler) throw new ImapSyntaxError(`unknown command ${name}`);
      if (c.peek() === ' ') c.sp();
      // UID commands may report expunges (RFC 3501 §7.4.1): reporting them first keeps a UID another session
      // expunged out of the command, which then just ignores it (§6.4.8) instead of failing
      if (uid && this.state === 'selected') await this.sync(true, false);
      const reply = await handler(this, tag, c, uid);
      if (reply.status === 'NONE') return;
      const done = `${tag} ${reply.status} ${reply.text}\r\n`;
      try {
        if (this.state === 'selected' && reply.status !== 'BAD') await this.sync(uid || !NO_EXPUNGE.has(name), false);
      } catch (err) {
        // the command itself was carried out: its completion follows the BYE (as LOGOUT's does)
        if (this.selectedGone(err, done)) return;
        throw err;
      }
      this.send(done);
    } catch (err) {
      if (!this.selectedGone(err, `${tag} NO [NONEXISTENT] Selected mailbox was deleted or replaced\r\n`)) this.send(`${tag} ${this.errorReply(err, name)}\r\n`);
    }
  }

  /**
   * The selected mailbox was deleted or replaced (see SelectedGone): BYE, as its view cannot go on, then the
   * completion of the command under way, if any. False (nothing sent) for any other error.
   */
  private selectedGone(err: unknown, completion?: string): boolean {
    if (!(err instanceof SelectedGone)) return false;
    this.log.info('imap selected mailbox gone', { mailbox: this.sel?.name });
    this.send(`* BYE Selected mailbox was deleted or replaced; please log in again\r\n${completion ?? ''}`);
    this.stopIdle();
    this.deselect();
    this.close();
    return true;
  }

  errorReply(err: unknown, name: string): string {
    if (err instanceof ImapSyntaxError) return `BAD ${textChars(err.message)}`;
    if (err instanceof BadCharset) return 'NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset';
    if (err instanceof UnknownCte) return 'NO [UNKNOWN-CTE] Cannot decode the content transfer encoding of that part'; // RFC 3516 §4.3
    if (err instanceof MailboxError) {
      const code = { NONEXISTENT: 'NONEXISTENT', ALREADYEXISTS: 'ALREADYEXISTS', INVALID: 'CANNOT', NOPERM: 'NOPERM', OVERQUOTA: 'OVERQUOTA', INUSE: 'INUSE', LIMIT: 'LIMIT', HASCHILDREN: this.rev2 ? 'HASCHILDREN' : 'INUSE' }[err.code]; // RFC 9051 §7.1: HASCHILDREN is rev2's
      return `NO [${code}] ${textChars(err.message)}`;
    }
    // A path the file system refuses (a name checks did not foresee, a deep user directory): the client's doing, not ours.
    if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENAMETOOLONG') return 'NO [CANNOT] Name too long for the file system';
    // RFC 9208 §4.3 / RFC 5530 §3: a full disk is told as over quota (as Dovecot does), so the client keeps the message.
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      this.log.warn('imap command failed: no space left', { command: name, code });
      return 'NO [OVERQUOTA] Not enough disk space';
    }
    this.log.error('imap command failed', { err, command: name });
    return `NO [SERVERBUG] Internal error; see server log (session ${this.id})`;
  }

  private async idleInput(parts: FramePart[]): Promise<void> {
    const tag = this.idleTag ?? '*';
    this.stopIdle();
    const line = typeof parts[0] === 'string' ? parts[0].trim().toUpperCase() : '';
    if (line !== 'DONE') {
      this.send(`${tag} BAD Expected DONE\r\n`);
      return;
    }
    try {
      if (this.state === 'selected') await this.sync(true, false);
    } catch (err) {
      if (!this.selectedGone(err, `${tag} OK IDLE terminated\r\n`)) this.send(`${tag} ${this.errorReply(err, 'IDLE')}\r\n`);
      return;
    }
    this.send(`${tag} OK IDLE terminated\r\n`);
  }

  /** Mailbox changes by others reach the client here (RFC 3501 §5.2, §7.3.1, §7.4.1); see sync.ts. */
  sync(allowExpunge: boolean, force: boolean): Promise<void> {
    return syncSelected(this, allowExpunge, force);
  }

  /** Leaves the selected state (CLOSE, UNSELECT, SELECT of another mailbox, LOGOUT). */
  deselect(): void {
    this.sel?.unwatch();
    this.sel = undefined;
    if (this.state === 'selected') this.state = 'auth';
  }

  /** IDLE (RFC 2177): changes are reported as they happen until DONE; the folder is looked at now and then, too. */
  startIdle(tag: string): void {
    this.idleTag = tag;
    // listing the folder finds what changed on disk (the store then tells its watchers); unchanged, it costs two stats
    if (this.state !== 'selected') return;
    this.idlePoll = setInterval(() => {
      if (!this.busy) void this.idleSync();
    }, this.ctx.limits.idlePollMs).unref();
  }

  private stopIdle(): void {
    this.idleTag = undefined;
    clearInterval(this.idlePoll);
    this.idlePoll = undefined;
  }

  /** Called by the store's watch on every change of the selected mailbox: marks it dirty, and while idling reports at once. */
  onMailboxChange(): void {
    if (!this.sel) return;
    this.sel.dirty = true;
    if (this.idleTag !== undefined && !this.busy) void this.idleSync();
  }

  /**
   * Sends changes while idling (RFC 2177 §3). A change heard while a report is being made only marks the mailbox
   * dirty (the report may have listed the mailbox before it): another round follows, or it would wait for the next.
   */
  private async idleSync(): Promise<void> {
    this.busy = true;
    try {
      do await this.sync(true, false);
      while (this.idleTag !== undefined && this.sel?.dirty === true);
    } catch (err) {
      if (!this.selectedGone(err)) this.log.warn('imap idle sync failed', { err });
    } finally {
      this.busy = false;
      if (this.frames.length > 0) void this.drain();
    }
  }

  ended(): void {
    this.stopIdle();
    this.deselect();
    this.state = 'logout';
  }
}

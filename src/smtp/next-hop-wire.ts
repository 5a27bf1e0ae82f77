// The byte level of the next-hop client: replies read off the socket (multi-line, one waiter at a
// time, bounded by a timeout), reply parsing with enhanced status codes, and dot-stuffing of the data.
import type net from 'node:net';
import type { NextHopReply } from '../queue/types.ts';
import { toCrlf } from './line-endings.ts';

/** Why TLS failed where it was required or verified: no STARTTLS offered, STARTTLS refused, certificate, handshake. */
export type TlsFailure = 'not_offered' | 'refused' | 'certificate' | 'handshake';

/** The connection failed, timed out or the peer broke the protocol: try elsewhere or later. */
export class NextHopConnectionError extends Error {
  /** The message body had gone out when the connection broke: the next hop may have it (set by sendPooled). */
  afterBody = false;
  /** Set when TLS that was required (or verified) failed, so a caller can tell this from a plain connection failure. */
  tlsFailure?: TlsFailure;
  /** With tlsFailure 'certificate': node's code for what was wrong (CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, …). */
  tlsCode?: string;
  /** The local address the connection left from, when it got that far (for TLS reports, RFC 8460 §4.4). */
  localAddress?: string;
  /** Set when SMTP AUTH failed (refused, or impossible: no mechanism, no encryption): the server answered, it did not break. */
  authFailure = false;

  constructor(
    message: string,
    readonly reply?: NextHopReply,
  ) {
    super(message);
    this.name = 'NextHopConnectionError';
  }
}

const DOT = 0x2e;
const LINE_THEN_DOT = Buffer.from('\r\n.');

/**
 * RFC 5321 §4.5.2: a line starting with "." gets one more "."; the data ends with CRLF.CRLF.
 * RFC 5321 §2.3.8: CR and LF only ever go out as CRLF, so a spooled message with bare ones is mended.
 * The message is copied once when some line starts with "." (into one buffer, never a piece per
 * line), and not at all otherwise.
 */
export function dotStuff(input: Buffer): Buffer[] {
  const message = toCrlf(input);
  const endsWithCrlf = message.length >= 2 && message[message.length - 2] === 0x0d && message[message.length - 1] === 0x0a;
  const end = Buffer.from(endsWithCrlf || message.length === 0 ? '.\r\n' : '\r\n.\r\n');
  const first = message.indexOf(LINE_THEN_DOT);
  if (first < 0 && message[0] !== DOT) return [message, end];
  let dots = message[0] === DOT ? 1 : 0;
  for (let i = Math.max(first, 0) + 2; i < message.length; i++) if (message[i] === DOT && message[i - 1] === 0x0a && message[i - 2] === 0x0d) dots++;
  const out = Buffer.allocUnsafe(message.length + dots);
  let o = 0;
  let lineStart = true;
  for (let i = 0; i < message.length; i++) {
    const b = message[i] as number;
    if (lineStart && b === DOT) out[o++] = DOT;
    out[o++] = b;
    lineStart = b === 0x0a && message[i - 1] === 0x0d;
  }
  return [out, end];
}

/** More continuation lines than this in one reply is a broken or hostile peer. */
const MAX_REPLY_LINES = 1000;

/**
 * Characters of one reply, all its lines together (RFC 5321 §4.5.3.1.5 allows 512 octets a line; real servers
 * send a few kilobytes at most): a peer sending more is broken or hostile. Without it each of the 1000 lines
 * could be a megabyte long.
 */
export const MAX_REPLY_CHARS = 1_000_000;

/** A reply whose lines disagree on the code (RFC 5321 §4.2.1: they MUST all carry the same) is malformed: code 0. */
export function parseReplyLines(lines: string[]): NextHopReply {
  const first = lines[0] ?? '';
  const code = Number(first.slice(0, 3));
  if (lines.some((l) => l.slice(0, 3) !== first.slice(0, 3))) return { code: 0, text: `reply codes differ: ${lines.map((l) => l.slice(0, 3)).join(',')}` };
  const texts = lines.map((l) => l.slice(4));
  const enh = /^([245]\.\d{1,3}\.\d{1,3})\s+/.exec(texts[0] ?? '');
  if (enh?.[1] && enh[1][0] === String(code)[0]) {
    texts[0] = (texts[0] ?? '').slice(enh[0].length);
    return { code, enhanced: enh[1], text: texts.join(' ') };
  }
  return { code, text: texts.join(' ') };
}

const malformed = (r: NextHopReply): NextHopConnectionError => new NextHopConnectionError(`malformed reply: ${r.text.slice(0, 100)}`);

/** Collects complete replies from a socket; read() hands them out in order (a malformed one as an error). */
export class ReplyReader {
  private buffer = '';
  private partial: string[] = [];
  /** Characters in `partial`. */
  private partialChars = 0;
  private readonly queued: NextHopReply[] = [];
  /** Characters of the lines of each reply in `queued` (received, not yet read). */
  private readonly queuedSizes: number[] = [];
  /** Their sum: replies nobody has read yet count against MAX_REPLY_CHARS with the one being received. */
  private queuedChars = 0;
  private waiter: ((r: NextHopReply | Error) => void) | undefined;
  private closedError: Error | undefined;
  /** The lines of the last complete reply (the EHLO keywords are read from them). */
  lastLines: string[] = [];

  /** hangUp: gives the connection up (a reply did not come in time, or passed MAX_REPLY_CHARS or MAX_REPLY_LINES). */
  constructor(private readonly hangUp: () => void) {}

  /** Bytes or replies received but not yet read (after STARTTLS's 220 there must be none). */
  get hasUnread(): boolean {
    return this.buffer.length > 0 || this.partial.length > 0 || this.queued.length > 0;
  }

  /** Why the connection can no longer be used, once it cannot. */
  get closed(): Error | undefined {
    return this.closedError;
  }

  attach(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by peer')));
  }

  /** Marks the connection unusable without waking a pending read (the socket's close event will). */
  markClosed(err: Error): void {
    this.closedError ??= err;
  }

  /** Marks the connection unusable; a pending read fails with the first reason given. */
  fail(err: Error): void {
    this.closedError ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(this.closedError);
  }

  read(timeout: number): Promise<NextHopReply> {
    const queued = this.queued.shift();
    this.queuedChars -= this.queuedSizes.shift() ?? 0;
    if (queued) return queued.code === 0 ? Promise.reject(malformed(queued)) : Promise.resolve(queued);
    if (this.closedError) return Promise.reject(new NextHopConnectionError(this.closedError.message));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        this.hangUp();
        reject(new NextHopConnectionError(`timeout after ${timeout} ms waiting for a reply`));
      }, timeout);
      this.waiter = (r) => {
        clearTimeout(timer);
        if (r instanceof Error) reject(new NextHopConnectionError(r.message));
        else if (r.code === 0) reject(malformed(r));
        else resolve(r);
      };
    });
  }

  /**
   * A peer past the bounds is hung up on and what it sent dropped: with no read waiting (an idle pooled
   * connection) nothing else would close the socket, and each further chunk would be kept.
   */
  private overflow(err: Error): void {
    this.buffer = '';
    this.partial = [];
    this.partialChars = 0;
    this.queued.length = 0;
    this.queuedSizes.length = 0;
    this.queuedChars = 0;
    this.fail(err);
    this.hangUp();
  }

  private onData(chunk: Buffer): void {
    // the connection is given up: what still comes is not kept
    if (this.closedError) return;
    const text = chunk.toString('latin1');
    this.buffer += text;
    if (this.buffer.length + this.partialChars > MAX_REPLY_CHARS) return this.overflow(new Error('reply too long'));
    if (this.buffer.length + this.partialChars + this.queuedChars > MAX_REPLY_CHARS) return this.overflow(new Error('too many replies nobody asked for'));
    // a line still without its end: only the new text can hold one (searching the whole buffer again on
    // every chunk was quadratic in a long line)
    if (!text.includes('\n')) return;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      this.partial.push(line);
      this.partialChars += line.length;
      if (/^\d{3}-/.test(line)) {
        if (this.partial.length > MAX_REPLY_LINES) return this.overflow(new Error(`reply of more than ${MAX_REPLY_LINES} lines`));
        if (this.partialChars > MAX_REPLY_CHARS) return this.overflow(new Error('reply too long'));
        continue;
      }
      this.lastLines = this.partial;
      // with its line ends: an empty "250" still counts
      const size = this.partialChars + 2 * this.partial.length;
      this.partial = [];
      this.partialChars = 0;
      const reply = /^\d{3}/.test(line) ? parseReplyLines(this.lastLines) : { code: 0, text: line };
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w(reply);
      else {
        this.queued.push(reply);
        this.queuedSizes.push(size);
        this.queuedChars += size;
      }
    }
  }
}

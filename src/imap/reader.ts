// Splits the client byte stream into IMAP command frames: lines with their literals (RFC 3501 §4.3, RFC 7888 LITERAL+).

export type FramePart = string | Buffer;

export type ReaderEvent =
  /** A complete command: line text pieces (each piece before a literal ends in "{n}"), literals in between. */
  | { kind: 'frame'; parts: FramePart[] }
  /** A synchronising literal was announced: the server must answer "+" (or refuse). */
  | { kind: 'continue'; size: number }
  /**
   * Line or literals over the limits; the reader skipped the command. 'literal': one literal is over the bound by
   * itself; 'literals': each fits, all of the command's together do not (a MULTIAPPEND of several messages).
   */
  | { kind: 'toolong'; what: TooLong; tag: string };

export type TooLong = 'line' | 'literal' | 'literals';

export interface ReaderLimits {
  /** All line text of one command, bytes. */
  readonly maxLineBytes: number;
  /** All literals of one command together, bytes (read on every announcement, so it may change with the state). */
  readonly maxLiteralBytes: number;
}

/** Bytes kept from the end of text being discarded, so a "{n+}" split across packets is still recognised. */
const TAIL = 24;

/** "{n}" or "{n+}" at the end of a line. */
function literalAt(line: string): { size: number; plus: boolean } | undefined {
  const lit = /\{(\d{1,12})(\+?)\}$/.exec(line);
  return lit?.[1] ? { size: Number(lit[1]), plus: lit[2] === '+' } : undefined;
}

export class CommandReader {
  private buf: Buffer = Buffer.alloc(0);
  private parts: FramePart[] = [];
  private literalLeft = 0;
  private literalChunks: Buffer[] = [];
  private skipLeft = 0;
  /** Dropping the rest of a refused command: everything up to the next line end (and its LITERAL+ data). */
  private discarding = false;
  private frameBytes = 0;
  private literalBytes = 0;
  /** True while a synchronising literal awaits the server's go-ahead. */
  waiting = false;

  constructor(private readonly limits: ReaderLimits) {}

  /** Drops buffered input (RFC 3501 §6.2.1: after STARTTLS nothing sent in clear is kept). */
  reset(): void {
    this.buf = Buffer.alloc(0);
    this.skipLeft = 0;
    this.discarding = false;
    this.waiting = false;
    this.abandon();
  }

  /** Accepts the announced synchronising literal (after "+ ..."), or refuses it and abandons the command. */
  answer(accept: boolean): void {
    this.waiting = false;
    if (!accept) this.abandon();
  }

  private abandon(): void {
    this.parts = [];
    this.literalLeft = 0;
    this.literalChunks = [];
    this.frameBytes = 0;
    this.literalBytes = 0;
  }

  /** Refuses the command being read; the LITERAL+ data the client sends anyway is swallowed (RFC 7888 §4). */
  private refuse(events: ReaderEvent[], what: TooLong, lastLine: string, tagText = lastLine): void {
    const first = this.parts[0];
    events.push({ kind: 'toolong', what, tag: this.tagOf(typeof first === 'string' ? first : tagText) });
    this.abandon();
    const lit = literalAt(lastLine);
    if (lit?.plus) {
      this.skipLeft = lit.size;
      this.discarding = true; // then the rest of the command line
    }
  }

  push(chunk: Buffer): ReaderEvent[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const events: ReaderEvent[] = [];
    for (let guard = 0; guard < 100_000 && this.buf.length > 0 && !this.waiting; guard++) {
      if (this.skipLeft > 0) {
        const n = Math.min(this.skipLeft, this.buf.length);
        this.skipLeft -= n;
        this.buf = this.buf.subarray(n);
        continue;
      }
      if (this.literalLeft > 0) {
        const n = Math.min(this.literalLeft, this.buf.length);
        this.literalChunks.push(Buffer.from(this.buf.subarray(0, n)));
        this.literalLeft -= n;
        this.buf = this.buf.subarray(n);
        if (this.literalLeft === 0) {
          this.parts.push(Buffer.concat(this.literalChunks));
          this.literalChunks = [];
        }
        continue;
      }
      const nl = this.buf.indexOf(10);
      if (nl < 0) {
        if (this.discarding) this.buf = Buffer.from(this.buf.subarray(Math.max(0, this.buf.length - TAIL)));
        else if (this.buf.length + this.frameBytes > this.limits.maxLineBytes) {
          this.refuse(events, 'line', '', this.buf.subarray(0, 80).toString('latin1'));
          this.discarding = true;
          this.buf = Buffer.from(this.buf.subarray(this.buf.length - TAIL));
        }
        break;
      }
      const lineBuf = this.buf.subarray(0, nl);
      this.buf = this.buf.subarray(nl + 1);
      const line = lineBuf.toString('utf8').replace(/\r$/, '');
      if (this.discarding) {
        this.discarding = false; // the rest of a refused command's line; its LITERAL+ data goes too
        const lit = literalAt(line);
        if (lit?.plus) {
          this.skipLeft = lit.size;
          this.discarding = true;
        }
        continue;
      }
      this.frameBytes += lineBuf.length;
      if (this.frameBytes > this.limits.maxLineBytes) {
        this.refuse(events, 'line', line);
        continue;
      }
      this.parts.push(line);
      const lit = literalAt(line);
      if (!lit) {
        events.push({ kind: 'frame', parts: this.parts });
        this.parts = [];
        this.frameBytes = 0;
        this.literalBytes = 0;
        continue;
      }
      this.literalBytes += lit.size;
      if (this.literalBytes > this.limits.maxLiteralBytes) {
        this.refuse(events, lit.size > this.limits.maxLiteralBytes ? 'literal' : 'literals', line);
        continue;
      }
      this.literalLeft = lit.size;
      if (lit.size === 0) this.parts.push(Buffer.alloc(0));
      if (!lit.plus) {
        this.waiting = true;
        events.push({ kind: 'continue', size: lit.size });
      }
    }
    return events;
  }

  private tagOf(text: string): string {
    const m = /^([^\x00-\x20\x7f-\uffff(){%*"\\+]{1,64}) /.exec(text.slice(0, 80));
    return m?.[1] ?? '*';
  }
}

// Splits the client byte stream into IMAP command frames: lines with their literals (RFC 3501 §4.3, RFC 7888 LITERAL+).

export type FramePart = string | Buffer;

export type ReaderEvent =
  /** A complete command: line text pieces (each piece before a literal ends in "{n}"), literals in between. */
  | { kind: 'frame'; parts: FramePart[] }
  /** A synchronising literal was announced: the server must answer "+" (or refuse). */
  | { kind: 'continue'; size: number }
  /** Line or literal over the limits; the reader skipped it. */
  | { kind: 'toolong'; what: 'line' | 'literal'; tag: string };

export interface ReaderLimits {
  maxLineBytes: number;
  maxLiteralBytes: number;
}

export class CommandReader {
  private buf: Buffer = Buffer.alloc(0);
  private parts: FramePart[] = [];
  private literalLeft = 0;
  private literalChunks: Buffer[] = [];
  private skipLeft = 0;
  private skipping = false;
  private frameBytes = 0;
  /** True while a synchronising literal awaits the server's go-ahead. */
  waiting = false;

  constructor(private readonly limits: ReaderLimits) {}

  /** Drops buffered input (RFC 3501 §6.2.1: after STARTTLS nothing sent in clear is kept). */
  reset(): void {
    this.buf = Buffer.alloc(0);
    this.parts = [];
    this.literalLeft = 0;
    this.literalChunks = [];
    this.skipLeft = 0;
    this.skipping = false;
    this.waiting = false;
    this.frameBytes = 0;
  }

  /** Accepts the announced synchronising literal (after "+ ..."), or refuses it and abandons the command. */
  answer(accept: boolean): void {
    this.waiting = false;
    if (!accept) {
      this.parts = [];
      this.literalLeft = 0;
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
        if (this.buf.length + this.frameBytes > this.limits.maxLineBytes) {
          events.push({ kind: 'toolong', what: 'line', tag: this.tagOf(this.buf) });
          this.skipping = true;
          this.parts = [];
          this.frameBytes = 0;
          this.buf = Buffer.alloc(0);
        }
        break;
      }
      const lineBuf = this.buf.subarray(0, nl);
      this.buf = this.buf.subarray(nl + 1);
      if (this.skipping) {
        this.skipping = false; // the rest of an over-long line
        continue;
      }
      const line = lineBuf.toString('utf8').replace(/\r$/, '');
      this.frameBytes += lineBuf.length;
      if (this.frameBytes > this.limits.maxLineBytes) {
        events.push({ kind: 'toolong', what: 'line', tag: this.tagOf(Buffer.from(String(this.parts[0] ?? line))) });
        this.parts = [];
        this.frameBytes = 0;
        continue;
      }
      const lit = /\{(\d{1,12})(\+?)\}$/.exec(line);
      this.parts.push(line);
      if (!lit?.[1]) {
        events.push({ kind: 'frame', parts: this.parts });
        this.parts = [];
        this.frameBytes = 0;
        continue;
      }
      const size = Number(lit[1]);
      const plus = lit[2] === '+';
      if (size > this.limits.maxLiteralBytes) {
        events.push({ kind: 'toolong', what: 'literal', tag: this.tagOf(Buffer.from(String(this.parts[0]))) });
        this.parts = [];
        this.frameBytes = 0;
        if (plus) this.skipLeft = size; // RFC 7888 §4: the client sends it anyway; swallow it
        continue;
      }
      this.literalLeft = size;
      if (size === 0) this.parts.push(Buffer.alloc(0));
      if (!plus) {
        this.waiting = true;
        events.push({ kind: 'continue', size });
      }
    }
    return events;
  }

  private tagOf(b: Buffer): string {
    const m = /^([^\s(){%*"\\\]]{1,64}) /.exec(b.subarray(0, 80).toString('latin1'));
    return m?.[1] ?? '*';
  }
}

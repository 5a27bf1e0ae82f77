// ManageSieve input (RFC 5804 §1.2, §4): splits the byte stream into commands of atoms and strings (quoted or
// literal, {n+} sent at once, {n} after our continuation), bounding the line length and each literal's size.
import { isUtf8 } from 'node:buffer';

export type Token = { kind: 'atom'; value: string } | { kind: 'string'; value: string };

export type ReadEvent =
  | { kind: 'command'; tokens: Token[] }
  /** The command could not be read; its bytes up to its end were skipped. `tooBig`: a literal past the size bound. */
  | { kind: 'bad'; reason: string; tooBig?: boolean }
  /** A synchronizing literal {n} waits for the server's go-ahead. */
  | { kind: 'continue' };

export interface ReaderLimits {
  maxLine: number;
  maxLiteral: number;
}

const LITERAL_AT_END = /\{(\d{1,10})(\+?)\}$/;

export class CommandReader {
  private buf: Buffer = Buffer.alloc(0);
  private tokens: Token[] = [];
  /** Bytes of literal still to come; `skip` when it is being dropped (too big, or the command already failed). */
  private literal: { left: number; parts: Buffer[]; skip: boolean } | undefined;
  /** The rest of the command is dropped up to its end (an overlong line, a bad literal). */
  private failed: { reason: string; tooBig?: boolean } | undefined;
  private discardingLine = false;
  /** Octets of the command so far, lines and literals: bounded by one script and one line, so many literals, each
   * within the bound, cannot pile up in memory. */
  private size = 0;

  constructor(private readonly limits: ReaderLimits) {}

  reset(): void {
    this.buf = Buffer.alloc(0);
    this.tokens = [];
    this.literal = undefined;
    this.failed = undefined;
    this.discardingLine = false;
    this.size = 0;
  }

  push(chunk: Buffer): ReadEvent[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: ReadEvent[] = [];
    for (;;) {
      if (this.literal) {
        const take = Math.min(this.literal.left, this.buf.length);
        if (!this.literal.skip) this.literal.parts.push(this.buf.subarray(0, take));
        this.literal.left -= take;
        this.buf = this.buf.subarray(take);
        if (this.literal.left > 0) return out;
        const bytes = Buffer.concat(this.literal.parts);
        const skipped = this.literal.skip;
        this.literal = undefined;
        if (!skipped) {
          if (isUtf8(bytes)) this.tokens.push({ kind: 'string', value: bytes.toString('utf8') });
          else this.failed = { reason: 'literal is not UTF-8' };
        }
        continue;
      }
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) {
        if (this.buf.length > this.limits.maxLine) {
          // an overlong line: its bytes are dropped until its end
          this.buf = Buffer.alloc(0);
          this.failed ??= { reason: `line too long (limit ${this.limits.maxLine} octets)` };
          this.discardingLine = true;
        }
        return out;
      }
      const line = this.buf.subarray(0, nl).toString('utf8').replace(/\r$/, '');
      this.buf = this.buf.subarray(nl + 1);
      if (this.discardingLine || nl > this.limits.maxLine) {
        this.discardingLine = false;
        this.failed ??= { reason: `line too long (limit ${this.limits.maxLine} octets)` };
        out.push(this.end());
        continue;
      }
      const event = this.line(line);
      if (event) out.push(event);
    }
  }

  private end(): ReadEvent {
    const failed = this.failed;
    const tokens = this.tokens;
    this.tokens = [];
    this.failed = undefined;
    this.size = 0;
    if (failed) return { kind: 'bad', ...failed };
    return { kind: 'command', tokens };
  }

  /** One line of a command: its tokens, then either the end of the command or a literal to read. */
  private line(text: string): ReadEvent | undefined {
    const lit = LITERAL_AT_END.exec(text);
    const body = lit ? text.slice(0, lit.index) : text;
    if (!this.failed) {
      const parsed = tokenize(body);
      if (typeof parsed === 'string') this.failed = { reason: parsed };
      else this.tokens.push(...parsed);
    }
    if (!lit) return this.end();
    const size = Number(lit[1]);
    const tooBig = size > this.limits.maxLiteral;
    if (tooBig && !this.failed) this.failed = { reason: `literal larger than ${this.limits.maxLiteral} octets`, tooBig: true };
    this.size += text.length + size;
    const maxCommand = this.limits.maxLiteral + this.limits.maxLine;
    if (this.size > maxCommand && !this.failed) {
      this.failed = { reason: `command larger than ${maxCommand} octets` };
      this.tokens = [];
    }
    if (lit[2] === '+') {
      this.literal = { left: size, parts: [], skip: this.failed !== undefined };
      return undefined;
    }
    // a synchronizing literal that will be refused is not invited: the client gets the NO in its place
    if (this.failed) return this.end();
    this.literal = { left: size, parts: [], skip: false };
    return { kind: 'continue' };
  }
}

/** RFC 5804 §4: `quoted = <"> *1024QUOTED-CHAR <">`; longer strings must be sent as literals. */
export const MAX_QUOTED_CHARS = 1024;

/** Atoms and quoted strings of one line (RFC 5804 §4: quoted strings escape only \\ and \"). */
export function tokenize(text: string): Token[] | string {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ') {
      i++;
      continue;
    }
    if (c === '"') {
      let value = '';
      let chars = 0;
      i++;
      for (;;) {
        const d = text[i];
        if (d === undefined) return 'unterminated quoted string';
        if (d === '"') break;
        // a character, escaped or not, counts once; a surrogate pair (one UTF-8 character) too
        if (!(d >= '\udc00' && d <= '\udfff') && ++chars > MAX_QUOTED_CHARS) return `quoted string longer than ${MAX_QUOTED_CHARS} characters: send it as a literal`;
        if (d === '\\') {
          const e = text[i + 1];
          if (e !== '\\' && e !== '"') return 'bad escape in quoted string';
          value += e;
          i += 2;
          continue;
        }
        value += d;
        i++;
      }
      i++;
      out.push({ kind: 'string', value });
      continue;
    }
    const m = /^[^\s"{}()]+/.exec(text.slice(i));
    if (!m) return `unexpected ${JSON.stringify(c)}`;
    out.push({ kind: 'atom', value: m[0] });
    i += m[0].length;
  }
  return out;
}

/** A string as the server sends it (RFC 5804 §4): quoted when it can be, a literal otherwise. */
export function wireString(s: string): string {
  if (s.length <= 1024 && !/[\r\n"\\\0]/.test(s)) return `"${s}"`;
  return `{${Buffer.byteLength(s, 'utf8')}}\r\n${s}`;
}

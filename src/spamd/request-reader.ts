// Reads one spamc request off a connection, bounded: the request line, at most MAX_HEADERS header lines of at
// most MAX_LINE bytes, then exactly Content-length bytes of message (inflated when Compress: zlib), never more
// than spamd.max_size. What does not fit the protocol is an ErrorReply (spamd/PROTOCOL, SpamAssassin).
import { inflateSync } from 'node:zlib';
import { badHeader, EX, isCommand, SCAN_COMMANDS, type Command, type ErrorReply } from './protocol.ts';

/** The longest request or header line taken (spamc's are short: "Content-length: 12345", "User: name"). */
export const MAX_LINE = 1024;
/** Header lines a request may have (spamc sends at most five or so). */
export const MAX_HEADERS = 32;

export interface SpamdRequest {
  command: Command;
  /** The protocol version the client spoke ("1.5"). */
  version: string;
  /** Header values by lower-case name. */
  headers: ReadonlyMap<string, string>;
  /** The message (inflated); empty for PING and SKIP. */
  body: Buffer;
}

export type Progress = { kind: 'more' } | { kind: 'done'; request: SpamdRequest } | { kind: 'error'; error: ErrorReply };

const MORE: Progress = { kind: 'more' };

export class RequestReader {
  private head: Buffer = Buffer.alloc(0);
  private lines: string[] = [];
  private command: Command | undefined;
  private version = '';
  private headers = new Map<string, string>();
  /** Set once the header block is complete: the body bytes expected, and those read so far. */
  private expected: number | undefined;
  private chunks: Buffer[] = [];
  private received = 0;
  private finished = false;

  constructor(private readonly maxSize: number) {}

  /** The command of the request line, once read (for the metrics of a request that failed later). */
  get verb(): Command | undefined {
    return this.command;
  }

  /** Bytes from the client. After 'done' or 'error' the reader takes nothing more. */
  push(bytes: Buffer): Progress {
    if (this.finished) return MORE;
    if (this.expected === undefined) return this.finish(this.readHead(bytes));
    return this.finish(this.readBody(bytes));
  }

  /** The client shut down its side: a request cut short is an error (spamd/PROTOCOL: Content-length counts the bytes). */
  end(): Progress {
    if (this.finished) return MORE;
    if (this.expected === undefined) return this.finish({ kind: 'error', error: badHeader(this.command ? '(end of input in the request headers)' : '(no request)') });
    return this.finish({ kind: 'error', error: badHeader(`(Content-Length mismatch: Expected ${this.expected} bytes, got ${this.received} bytes)`) });
  }

  private finish(p: Progress): Progress {
    if (p.kind !== 'more') {
      this.finished = true;
      this.chunks = [];
      this.head = Buffer.alloc(0);
    }
    return p;
  }

  private readHead(bytes: Buffer): Progress {
    this.head = this.head.length ? Buffer.concat([this.head, bytes]) : bytes;
    for (;;) {
      const nl = this.head.indexOf(0x0a);
      if (nl < 0) {
        if (this.head.length > MAX_LINE) return { kind: 'error', error: badHeader('(line too long)') };
        return MORE;
      }
      if (nl > MAX_LINE) return { kind: 'error', error: badHeader('(line too long)') };
      const line = this.head.toString('latin1', 0, nl).replace(/\r$/, '');
      this.head = this.head.subarray(nl + 1);
      if (line === '') {
        const rest = this.head;
        this.head = Buffer.alloc(0);
        return this.headDone(rest);
      }
      const bad = this.command === undefined ? this.requestLine(line) : this.headerLine(line);
      if (bad) return { kind: 'error', error: bad };
    }
  }

  /** "VERB SPAMC/1.x". */
  private requestLine(line: string): ErrorReply | undefined {
    const m = /^([A-Z_]{1,20}) SPAMC\/(1\.\d{1,3})$/.exec(line);
    if (!m) return badHeader(line);
    const verb = m[1] ?? '';
    if (!isCommand(verb)) return badHeader(`(unknown method ${verb})`);
    this.command = verb;
    this.version = m[2] ?? '';
    return undefined;
  }

  private headerLine(line: string): ErrorReply | undefined {
    this.lines.push(line);
    if (this.lines.length > MAX_HEADERS) return badHeader('(too many header lines)');
    const m = /^([A-Za-z][A-Za-z0-9_-]{0,63}):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!m) return badHeader(line);
    const name = (m[1] ?? '').toLowerCase();
    const value = m[2] ?? '';
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return badHeader(line);
    // "servers should ignore [headers they do not know]"; one we read twice with two values is ambiguous
    const before = this.headers.get(name);
    if (before !== undefined && before !== value && (name === 'content-length' || name === 'user' || name === 'compress')) return badHeader(`(${m[1] ?? name} given twice)`);
    this.headers.set(name, value);
    return undefined;
  }

  private headDone(rest: Buffer): Progress {
    const command = this.command;
    if (command === undefined) return { kind: 'error', error: badHeader('(empty request line)') };
    if (command === 'PING' || command === 'SKIP') return { kind: 'done', request: { command, version: this.version, headers: this.headers, body: Buffer.alloc(0) } };
    const length = this.headers.get('content-length');
    // spamgate requires Content-length of every request with a message (spamd 3.x fell back to reading to EOF)
    if (length === undefined) return { kind: 'error', error: badHeader('(Content-Length missing)') };
    if (!/^\d{1,12}$/.test(length)) return { kind: 'error', error: badHeader(`(Content-Length not a number: ${length})`) };
    const n = Number(length);
    if (n > this.maxSize) return { kind: 'error', error: { code: EX.DATAERR, text: `Message too big: Content-length ${n} is over the limit of ${this.maxSize} bytes` } };
    const compress = this.headers.get('compress');
    if (compress !== undefined && compress.toLowerCase() !== 'zlib') return { kind: 'error', error: badHeader(`(unsupported Compress: ${compress})`) };
    if (n === 0 && (SCAN_COMMANDS.includes(command) || command === 'TELL')) return { kind: 'error', error: { code: EX.DATAERR, text: 'Empty message' } };
    this.expected = n;
    return rest.length ? this.readBody(rest) : MORE;
  }

  private readBody(bytes: Buffer): Progress {
    const expected = this.expected ?? 0;
    const take = Math.min(bytes.length, expected - this.received);
    // bytes past Content-length are not part of the request: ignored (spamc sends none)
    if (take > 0) {
      this.chunks.push(bytes.subarray(0, take));
      this.received += take;
    }
    if (this.received < expected) return MORE;
    let body = Buffer.concat(this.chunks);
    if (this.headers.get('compress') !== undefined) {
      try {
        body = inflateSync(body, { maxOutputLength: this.maxSize });
      } catch (err) {
        const tooBig = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || /Cannot create a Buffer larger|maxOutputLength|buffer/i.test((err as Error).message);
        return { kind: 'error', error: tooBig ? { code: EX.DATAERR, text: `Message too big: over the limit of ${this.maxSize} bytes inflated` } : { code: EX.DATAERR, text: 'Compressed message could not be inflated' } };
      }
    }
    const command = this.command as Command;
    return { kind: 'done', request: { command, version: this.version, headers: this.headers, body } };
  }
}

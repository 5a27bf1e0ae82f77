// POP3 wire helpers: a CRLF line splitter with a length limit, and multi-line responses (CRLF, byte-stuffing, TOP).
const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from('\r\n');
const DOT_BUF = Buffer.from('.');
const TERMINATOR = Buffer.from('.\r\n');
const EMPTY = Buffer.alloc(0);

export type LineEvent = { kind: 'line'; text: string } | { kind: 'overlong' };

/** Splits the byte stream into lines (CRLF or bare LF); a line over `maxLength` octets is reported once and skipped. */
export class LineSplitter {
  private buf: Buffer = EMPTY;
  private skipping = false;
  constructor(private readonly maxLength: number) {}

  push(chunk: Buffer): LineEvent[] {
    const events: LineEvent[] = [];
    let data = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    // Bounded by the chunk: every turn consumes at least one byte.
    for (;;) {
      const nl = data.indexOf(LF);
      if (nl < 0) {
        if (data.length > this.maxLength) {
          if (!this.skipping) events.push({ kind: 'overlong' });
          this.skipping = true;
          data = EMPTY;
        }
        break;
      }
      if (this.skipping || nl + 1 > this.maxLength) {
        if (!this.skipping) events.push({ kind: 'overlong' });
        this.skipping = false;
      } else {
        const end = nl > 0 && data[nl - 1] === CR ? nl - 1 : nl;
        events.push({ kind: 'line', text: data.subarray(0, end).toString('utf8') });
      }
      data = data.subarray(nl + 1);
    }
    // a copy, so a partial line does not keep the whole chunk alive; none for the usual empty rest
    this.buf = data.length ? Buffer.from(data) : EMPTY;
    return events;
  }

  /** Drops buffered input (RFC 2595 §4: nothing sent before the TLS handshake may be used after it). */
  reset(): void {
    this.buf = EMPTY;
    this.skipping = false;
  }
}

/**
 * A message as a multi-line response body: bare LF becomes CRLF, lines starting with "." get one more
 * (RFC 1939 §3 byte-stuffing), a final CRLF is ensured and ".\r\n" ends it. Unchanged runs are not copied.
 */
export function encodeMultiline(raw: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let seg = 0;
  let pos = 0;
  if (raw.length && raw[0] === DOT) out.push(DOT_BUF);
  while (pos < raw.length) {
    const nl = raw.indexOf(LF, pos);
    if (nl < 0) {
      out.push(raw.subarray(seg), CRLF);
      seg = raw.length;
      break;
    }
    if (nl === 0 || raw[nl - 1] !== CR) {
      out.push(raw.subarray(seg, nl), CRLF);
      seg = nl + 1;
    }
    pos = nl + 1;
    if (pos < raw.length && raw[pos] === DOT) {
      out.push(raw.subarray(seg, pos), DOT_BUF);
      seg = pos;
    }
  }
  if (seg < raw.length) out.push(raw.subarray(seg));
  out.push(TERMINATOR);
  return out;
}

/** RFC 1939 §7 TOP: the header, the blank line after it, and the first `lines` lines of the body. */
export function topOf(raw: Buffer, lines: number): Buffer {
  let pos = 0;
  let inHeader = true;
  let bodyLines = 0;
  while (pos < raw.length) {
    if (!inHeader && bodyLines >= lines) return raw.subarray(0, pos);
    const nl = raw.indexOf(LF, pos);
    const end = nl < 0 ? raw.length : nl;
    if (inHeader) {
      const empty = end === pos || (end === pos + 1 && raw[pos] === CR);
      if (empty) inHeader = false;
    } else {
      bodyLines++;
    }
    if (nl < 0) break;
    pos = nl + 1;
  }
  return raw;
}

/** Total length of a list of buffers. */
export function totalLength(parts: readonly Buffer[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

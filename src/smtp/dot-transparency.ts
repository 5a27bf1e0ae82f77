// The receiver's half of SMTP data transparency (RFC 5321 §4.5.2) on the bytes as they arrive in DATA: "If the
// first character is a period and there are other characters on the line, the first character is deleted."
// smtp-server deletes it only when a second period follows ("..x" → ".x"), so a line ".x" from a client that does
// not dot-stuff stayed ".x". This deletes the period before anything else (a period followed by a character other
// than ".", CR or LF) before smtp-server reads the data: its "..x" unstuffing and its end-of-data test (CRLF "."
// CRLF) see the same bytes as before. A line starts after any LF, as smtp-server's unstuffing and toCrlf count lines.
const DOT = 0x2e;
const CR = 0x0d;
const LF = 0x0a;
const LF_DOT = Buffer.from('\n.');

/** One DATA phase's bytes: `feed` each chunk from the wire in order; `reset` when a new DATA starts. */
export class DotUnstuffer {
  /** The last two bytes read (-1: none this DATA). */
  private p1 = -1;
  private p2 = -1;
  /** A line-starting period (with a CR) at the end of the last chunk, waiting for what follows it. */
  private held: Buffer | undefined;
  /** The end of the data was seen: what follows is commands, passed as it is. */
  private ended = false;

  reset(): void {
    this.p1 = -1;
    this.p2 = -1;
    this.held = undefined;
    this.ended = false;
  }

  /** The chunk without the periods RFC 5321 §4.5.2 deletes; a period whose line is undecided waits for the next chunk. */
  feed(chunk: Buffer): Buffer {
    if (this.ended) return chunk;
    const data = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = undefined;
    if (data.length === 0) return data;
    // The common chunk: no line in it starts with a period, so nothing is deleted or held (a native search
    // instead of the byte loop below, which only acts at such a period).
    if (data.indexOf(LF_DOT) === -1 && !(data[0] === DOT && (this.p1 === -1 || this.p1 === LF))) {
      this.p2 = data.length >= 2 ? (data[data.length - 2] as number) : this.p1;
      this.p1 = data[data.length - 1] as number;
      return data;
    }
    let out: Buffer | undefined; // allocated at the first deleted period
    let o = 0;
    for (let i = 0; i < data.length; i++) {
      const b = data[i] as number;
      if (b === DOT && (this.p1 === -1 || this.p1 === LF)) {
        const next = data[i + 1];
        if (next === undefined || (next === CR && i + 2 === data.length)) {
          this.held = Buffer.from(data.subarray(i)); // decided with the next chunk
          return out ? out.subarray(0, o) : data.subarray(0, i);
        }
        if (next === CR && data[i + 2] === LF && (this.p1 === -1 || this.p2 === CR)) {
          this.ended = true; // "." CRLF after CRLF, or first: the end of the data, and commands after it
          if (!out) return data;
          data.copy(out, o, i);
          return out.subarray(0, o + data.length - i);
        }
        if (next !== DOT && next !== CR && next !== LF) {
          if (!out) {
            out = Buffer.allocUnsafe(data.length);
            data.copy(out, 0, 0, i);
          }
          this.p2 = this.p1;
          this.p1 = b;
          continue; // the period is deleted
        }
      }
      if (out) out[o++] = b;
      else o++;
      this.p2 = this.p1;
      this.p1 = b;
    }
    return out ? out.subarray(0, o) : data;
  }
}

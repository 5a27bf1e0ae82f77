// Cursor over one command frame: atoms, astrings, quoted strings, literals, lists (RFC 3501 §9 formal syntax).
import type { FramePart } from './reader.ts';

/** A tagged BAD: syntax errors in a command. */
export class ImapSyntaxError extends Error {
  override name = 'ImapSyntaxError';
}

const ATOM_SPECIALS = new Set(['(', ')', '{', ' ', '%', '*', '"', '\\', ']']);

export class Cursor {
  private part = 0;
  private pos = 0;

  constructor(private readonly parts: FramePart[]) {}

  private get text(): string {
    const p = this.parts[this.part];
    return typeof p === 'string' ? p : '';
  }

  atEnd(): boolean {
    return this.part >= this.parts.length - 1 && this.pos >= this.text.length;
  }

  peek(): string {
    return this.text[this.pos] ?? '';
  }

  /** Remaining text of the current line piece (for error messages and debugging). */
  rest(): string {
    return this.text.slice(this.pos);
  }

  expect(ch: string): void {
    if (this.peek() !== ch) throw new ImapSyntaxError(`expected ${JSON.stringify(ch)} at ${JSON.stringify(this.rest().slice(0, 20))}`);
    this.pos++;
  }

  sp(): void {
    this.expect(' ');
  }

  tryChar(ch: string): boolean {
    if (this.peek() !== ch) return false;
    this.pos++;
    return true;
  }

  end(): void {
    if (!this.atEnd()) throw new ImapSyntaxError(`unexpected ${JSON.stringify(this.rest().slice(0, 20))}`);
  }

  /** An atom; `extra` lists further characters that end it (e.g. '[' in fetch attributes). */
  atom(extra = ''): string {
    const start = this.pos;
    const t = this.text;
    while (this.pos < t.length) {
      const c = t[this.pos] ?? '';
      if (ATOM_SPECIALS.has(c) || extra.includes(c) || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) > 0x7e) break; // ATOM-CHAR is 7-bit (RFC 3501 §9)
      this.pos++;
    }
    if (this.pos === start) throw new ImapSyntaxError(`expected an atom at ${JSON.stringify(this.rest().slice(0, 20))}`);
    return t.slice(start, this.pos);
  }

  /** A command tag: ASTRING-CHARs (atom characters and ']') but '+' (RFC 3501 §9 tag). */
  tag(): string {
    const m = /^[^\x00-\x20\x7f-\uffff(){%*"\\+]+/.exec(this.rest());
    if (!m) throw new ImapSyntaxError('expected a tag');
    this.pos += m[0].length;
    return m[0];
  }

  /** Characters allowed in list-mailbox patterns and sequence sets: atom chars plus '%', '*', ']'. */
  listChars(): string {
    const start = this.pos;
    const t = this.text;
    while (this.pos < t.length && !/[(){ "\\\x00-\x1f\x7f]/.test(t[this.pos] ?? '')) this.pos++;
    if (this.pos === start) throw new ImapSyntaxError('expected a word');
    return t.slice(start, this.pos);
  }

  /** number: 32-bit unsigned (RFC 3501 §9); more digits or a larger value are a syntax error, not a wrap. */
  number(): number {
    const m = /^\d+/.exec(this.rest());
    if (!m || m[0].length > 10 || Number(m[0]) > 4294967295) throw new ImapSyntaxError('expected a 32-bit number');
    this.pos += m[0].length;
    return Number(m[0]);
  }

  /** quoted / literal → bytes */
  stringBuf(): Buffer {
    if (this.peek() === '"') return Buffer.from(this.quoted(), 'utf8');
    if (this.peek() === '{') return this.literal();
    throw new ImapSyntaxError('expected a string');
  }

  astring(): string {
    const c = this.peek();
    if (c === '"' || c === '{') return this.stringBuf().toString('utf8');
    return this.listChars().replace(/[%*]/g, (m) => {
      throw new ImapSyntaxError(`unexpected ${m}`);
    });
  }

  /** A mailbox name (astring) or list pattern (list-mailbox: wildcards allowed). */
  listMailbox(): string {
    const c = this.peek();
    if (c === '"' || c === '{') return this.stringBuf().toString('utf8');
    return this.listChars();
  }

  nstring(): string | undefined {
    if (/^NIL(?=[ )]|$)/i.test(this.rest())) {
      this.pos += 3;
      return undefined;
    }
    return this.stringBuf().toString('utf8');
  }

  quoted(): string {
    this.expect('"');
    let out = '';
    const t = this.text;
    while (this.pos < t.length) {
      const c = t[this.pos++] ?? '';
      if (c === '"') return out;
      if (c === '\\') {
        const n = t[this.pos++] ?? '';
        if (n !== '"' && n !== '\\') throw new ImapSyntaxError('bad escape in quoted string');
        out += n;
      } else out += c;
    }
    throw new ImapSyntaxError('unterminated quoted string');
  }

  literal(): Buffer {
    const m = /^\{(\d+)\+?\}$/.exec(this.rest());
    if (!m) throw new ImapSyntaxError('bad literal');
    const next = this.parts[this.part + 1];
    if (!Buffer.isBuffer(next)) throw new ImapSyntaxError('missing literal data');
    this.part += 2;
    this.pos = 0;
    return next;
  }

  /** "(" item *(SP item) ")" with a callback per item; empty lists allowed. */
  list(item: () => void): void {
    this.expect('(');
    if (this.tryChar(')')) return;
    for (let i = 0; i < 10_000; i++) {
      item();
      if (this.tryChar(')')) return;
      this.sp();
    }
    throw new ImapSyntaxError('list too long');
  }

  /** A flag: "\Seen" or a keyword atom. */
  flag(): string {
    if (this.tryChar('\\')) return '\\' + this.atom();
    return this.atom();
  }

  flagList(): string[] {
    const out: string[] = [];
    this.list(() => out.push(this.flag()));
    return out;
  }
}

// FETCH: attribute parsing (macros, BODY[section]<partial>) and response items per message (RFC 3501 §6.4.5, §7.4.2).
import type { MessageIds, MessageMeta } from '../store/mailbox-store.ts';
import { binarySection, literalPrefix, undecodable } from './binary.ts';
import { astr, flagList, internalDate } from './encode.ts';
import { bodyStructure, envelope, findPart, hasEightBitHeaders, parseMime, type MimePart } from './mime.ts';
import { ImapSyntaxError, type Cursor } from './parser.ts';

export type SectionSpec = '' | 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

export type FetchAtt =
  | { kind: 'UID' | 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODY' | 'BODYSTRUCTURE' | 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT' | 'MODSEQ' }
  /** RFC 8474 §5 and RFC 8514 §3: parsed only where the store tells them (FetchOptions.objectIds). */
  | { kind: 'EMAILID' | 'THREADID' | 'SAVEDATE' }
  | { kind: 'SECTION'; peek: boolean; path: number[]; spec: SectionSpec; fields: string[]; partial?: [number, number] }
  /** RFC 3516 §4.2 BINARY[.PEEK][section-part]<partial> and BINARY.SIZE[section-part]. */
  | { kind: 'BINARY'; peek: boolean; path: number[]; partial?: [number, number] }
  | { kind: 'BINARY.SIZE'; path: number[] };

const MACROS: Record<string, FetchAtt['kind'][]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};
const SIMPLE = new Set(['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY', 'BODYSTRUCTURE', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT', 'MODSEQ']);

/** What the server offers beyond RFC 3501: the attributes of extensions not offered are unknown (BAD). */
export interface FetchOptions {
  /** The store tells EMAILID and SAVEDATE (OBJECTID, SAVEDATE capabilities). */
  objectIds?: boolean;
}

export function parseFetchAtts(c: Cursor, opts: FetchOptions = {}): FetchAtt[] {
  const out: FetchAtt[] = [];
  if (c.peek() === '(') c.list(() => out.push(parseAtt(c, opts)));
  else {
    const macro = MACROS[c.rest().split(' ')[0]?.toUpperCase() ?? ''];
    if (macro) {
      c.atom();
      return macro.map((kind) => ({ kind }) as FetchAtt);
    }
    out.push(parseAtt(c, opts));
  }
  return out;
}

/** RFC 3516 §4.2 partial: "<" number "." nz-number ">". */
function partialOf(c: Cursor): [number, number] | undefined {
  if (!c.tryChar('<')) return undefined;
  const start = c.number();
  c.expect('.');
  const len = c.number();
  c.expect('>');
  if (len === 0) throw new ImapSyntaxError('partial length must be non-zero');
  return [start, len];
}

/** RFC 3516 §4.2 section-binary: "[" [section-part] "]", numbers only (no HEADER, TEXT, MIME). */
function binaryPath(c: Cursor): number[] {
  c.expect('[');
  if (c.tryChar(']')) return [];
  const word = c.atom('[<');
  if (!/^[1-9]\d{0,4}(\.[1-9]\d{0,4})*$/.test(word)) throw new ImapSyntaxError(`bad binary section ${word}`);
  c.expect(']');
  return word.split('.').map(Number);
}

function parseAtt(c: Cursor, opts: FetchOptions): FetchAtt {
  const name = c.atom('[<').toUpperCase();
  if (name === 'BINARY' || name === 'BINARY.PEEK') {
    const path = binaryPath(c);
    const partial = partialOf(c);
    return { kind: 'BINARY', peek: name === 'BINARY.PEEK', path, ...(partial ? { partial } : {}) };
  }
  if (name === 'BINARY.SIZE') return { kind: 'BINARY.SIZE', path: binaryPath(c) };
  if (opts.objectIds === true && (name === 'EMAILID' || name === 'THREADID' || name === 'SAVEDATE')) return { kind: name };
  if ((name === 'BODY' || name === 'BODY.PEEK') && c.peek() === '[') {
    c.expect('[');
    const path: number[] = [];
    let spec: SectionSpec = '';
    const fields: string[] = [];
    if (c.peek() !== ']') {
      const word = c.atom('[<').toUpperCase();
      if (word.endsWith('.') || word.includes('..')) throw new ImapSyntaxError(`bad section ${word}`); // RFC 3501 §9 section-spec
      const bits = word.split('.');
      while (bits.length > 0 && /^[1-9]\d{0,4}$/.test(bits[0] ?? '')) path.push(Number(bits.shift()));
      const rest = bits.join('.');
      if (!['', 'HEADER', 'HEADER.FIELDS', 'HEADER.FIELDS.NOT', 'TEXT', 'MIME'].includes(rest) || (rest === 'MIME' && path.length === 0))
        throw new ImapSyntaxError(`bad section ${word}`);
      spec = rest as SectionSpec;
      if (spec === 'HEADER.FIELDS' || spec === 'HEADER.FIELDS.NOT') {
        c.sp();
        c.list(() => fields.push(c.astring().toLowerCase()));
        if (fields.length === 0) throw new ImapSyntaxError('empty header list'); // RFC 3501 §9 header-list: 1 or more
      }
    }
    c.expect(']');
    const partial = partialOf(c);
    return { kind: 'SECTION', peek: name === 'BODY.PEEK', path, spec, fields, ...(partial ? { partial } : {}) };
  }
  if (!SIMPLE.has(name)) throw new ImapSyntaxError(`unknown fetch attribute ${name}`);
  return { kind: name } as FetchAtt;
}

/** Attributes answered from metadata and cached header fields alone; the FETCH fast path serves only these. */
const META_KINDS: ReadonlySet<FetchAtt['kind']> = new Set(['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'MODSEQ', 'EMAILID', 'THREADID', 'SAVEDATE']);
export function metadataOnly(atts: readonly FetchAtt[]): boolean {
  return atts.every((a) => META_KINDS.has(a.kind));
}
export function needsDates(atts: readonly FetchAtt[]): boolean {
  return atts.some((a) => a.kind === 'INTERNALDATE');
}

/** Attributes that need the message text, and those that set \Seen (RFC 3501 §6.4.5). */
export function needsParse(atts: readonly FetchAtt[]): boolean {
  return atts.some((a) => a.kind === 'BODY' || a.kind === 'BODYSTRUCTURE');
}
/** THREADID is made from the cached header fields (header-keys-cache.ts), the EMAILID of a message naming no root. */
export function needsThread(atts: readonly FetchAtt[]): boolean {
  return atts.some((a) => a.kind === 'THREADID');
}
export function needsEnvelope(atts: readonly FetchAtt[]): boolean {
  return atts.some((a) => a.kind === 'ENVELOPE');
}
export function needsRaw(atts: readonly FetchAtt[]): boolean {
  return atts.some((a) => a.kind === 'SECTION' || a.kind === 'BINARY' || a.kind === 'BINARY.SIZE' || (a.kind.startsWith('RFC822') && a.kind !== 'RFC822.SIZE'));
}
export function setsSeen(atts: readonly FetchAtt[]): boolean {
  // RFC 3516 §4.2: BINARY sets \Seen as BODY does; BINARY.PEEK and BINARY.SIZE do not
  return atts.some((a) => ((a.kind === 'SECTION' || a.kind === 'BINARY') && !a.peek) || a.kind === 'RFC822' || a.kind === 'RFC822.TEXT');
}

/** True when a BINARY or BINARY.SIZE of these attributes cannot be decoded in this message (the FETCH fails there). */
export function binaryRefused(atts: readonly FetchAtt[], raw: Buffer): boolean {
  const asked = atts.filter((a): a is Extract<FetchAtt, { kind: 'BINARY' | 'BINARY.SIZE' }> => a.kind === 'BINARY' || a.kind === 'BINARY.SIZE');
  if (asked.length === 0) return false;
  const root = parseMime(raw);
  return asked.some((a) => undecodable(root, a.path));
}

/** Parsed summaries cached per message (the text never changes under one UID). */
export interface Summary {
  /** 7-bit (UTF-8 text downgraded), for clients that have not enabled UTF8=ACCEPT. */
  envelope: string;
  /** UTF-8 (RFC 6855 §3); the same string as envelope when the header is 7-bit. */
  envelopeUtf8: string;
  /** BODY and BODYSTRUCTURE as ENVELOPE: 7-bit (parameters, descriptions and embedded envelopes downgraded)… */
  body: string;
  bodystructure: string;
  /** …and UTF-8 (RFC 6855 §3), the same strings when no header of any part is 8-bit. */
  bodyUtf8: string;
  bodystructureUtf8: string;
}

export function summarize(raw: Buffer): Summary {
  const root = parseMime(raw);
  const legacy = envelope(root);
  const eightBit = root.headers.some((h) => /[\x00\x80-\xff]/.test(h.value)); // a NUL too: the forms differ
  const body = bodyStructure(raw, root, false);
  const bodystructure = bodyStructure(raw, root, true);
  const partsEightBit = hasEightBitHeaders(root);
  return {
    envelope: legacy,
    envelopeUtf8: eightBit ? envelope(root, undefined, true) : legacy,
    body,
    bodystructure,
    bodyUtf8: partsEightBit ? bodyStructure(raw, root, false, true) : body,
    bodystructureUtf8: partsEightBit ? bodyStructure(raw, root, true, true) : bodystructure,
  };
}

export interface FetchInput {
  meta: MessageMeta;
  summary?: Summary;
  /** ENVELOPE when it came from cached header fields rather than a parsed summary. */
  envelope?: string;
  raw?: Buffer;
  /** The client enabled UTF8=ACCEPT: the summary's UTF-8 ENVELOPE is sent. */
  utf8?: boolean;
  /** The store's EMAILID and SAVEDATE (asked for only where it has them). */
  ids?: MessageIds;
  /** The message's THREADID (header-keys-cache.ts), given when it is asked for. */
  thread?: string;
}

/**
 * "ITEM value" of a metadata attribute (UID, FLAGS, INTERNALDATE, RFC822.SIZE; ENVELOPE when given), or undefined
 * for the others. `recent` is the session's view (RFC 3501 §2.3.2), not the store's.
 */
export function metaItem(kind: FetchAtt['kind'], meta: MessageMeta, recent: boolean, envelope: string | undefined, ids?: MessageIds, thread?: string): string | undefined {
  switch (kind) {
    case 'UID':
      return 'UID ' + meta.uid;
    case 'FLAGS':
      return 'FLAGS ' + flagList(meta.flags, recent);
    case 'INTERNALDATE':
      return 'INTERNALDATE ' + internalDate(meta.internalDate);
    case 'RFC822.SIZE':
      return 'RFC822.SIZE ' + meta.size;
    case 'ENVELOPE':
      return envelope === undefined ? undefined : 'ENVELOPE ' + envelope;
    case 'MODSEQ':
      return 'MODSEQ (' + (meta.modseq ?? 0) + ')'; // RFC 7162 §3.1.4.2 (only asked for when the store keeps them)
    case 'EMAILID': {
      // RFC 8474 §5.1; a message the store has no name for (none in a Maildir) is told by its UID alone
      const id = ids?.emailId(meta);
      return 'EMAILID (' + (id ?? 'U' + meta.uid) + ')';
    }
    case 'THREADID':
      // RFC 8474 §5.2: the conversation's id (thread-id.ts), always given where THREADID is asked (NIL: none known)
      return thread === undefined ? 'THREADID NIL' : 'THREADID (' + thread + ')';
    case 'SAVEDATE': {
      const d = ids?.saveDate(meta);
      return 'SAVEDATE ' + (d === undefined ? 'NIL' : internalDate(d)); // RFC 8514 §3: NIL when unknown
    }
    default:
      return undefined;
  }
}

/** One "* n FETCH (...)" line of metadata attributes only (see metadataOnly); one string, no pieces. */
export function metaLine(seq: number, atts: readonly FetchAtt[], meta: MessageMeta, recent: boolean, envelope: string | undefined, ids?: MessageIds, thread?: string): string {
  let out = '* ' + seq + ' FETCH (';
  for (let i = 0; i < atts.length; i++) {
    if (i > 0) out += ' ';
    out += metaItem((atts[i] as FetchAtt).kind, meta, recent, envelope, ids, thread) ?? 'ENVELOPE NIL';
  }
  return out + ')\r\n';
}

/** The summary's form of ENVELOPE, BODY or BODYSTRUCTURE for the session: UTF-8 once enabled (RFC 6855 §3). */
function summaryField(kind: 'ENVELOPE' | 'BODY' | 'BODYSTRUCTURE', utf8: boolean): keyof Summary {
  if (kind === 'ENVELOPE') return utf8 ? 'envelopeUtf8' : 'envelope';
  if (kind === 'BODY') return utf8 ? 'bodyUtf8' : 'body';
  return utf8 ? 'bodystructureUtf8' : 'bodystructure';
}

/**
 * Literal data with any NUL as 0x80 (as Dovecot sends it): RFC 3501 §9 literals are CHAR8 (%x01-ff), and a message
 * may hold NUL (an APPEND with literal8, RFC 3516 §4.4); only BINARY's literal8 carries it. Same length, so the
 * literal's size and RFC822.SIZE stay true. A copy only where there is a NUL.
 */
function withoutNul(data: Buffer): Buffer {
  let at = data.indexOf(0);
  if (at < 0) return data;
  const out = Buffer.from(data);
  for (; at >= 0; at = out.indexOf(0, at + 1)) out[at] = 0x80;
  return out;
}

/** Builds "ITEM value" pieces; Buffers are literal bodies written after their "{n}\r\n" prefix. */
export function fetchItems(atts: readonly FetchAtt[], m: FetchInput): (string | Buffer)[] {
  const out: (string | Buffer)[] = [];
  let tree: MimePart | undefined;
  const literal = (label: string, data: Buffer): void => {
    if (out.length > 0) out.push(' ');
    out.push(`${label} {${data.length}}\r\n`, withoutNul(data));
  };
  const decoded = new Map<string, Buffer>();
  const binary = (path: readonly number[]): Buffer => {
    const raw = m.raw ?? Buffer.alloc(0);
    tree ??= parseMime(raw);
    const key = path.join('.');
    let data = decoded.get(key);
    if (!data) decoded.set(key, (data = binarySection(raw, tree, path)));
    return data;
  };
  for (const a of atts) {
    const simple = metaItem(a.kind, m.meta, m.meta.recent, m.envelope, m.ids, m.thread);
    if (simple !== undefined) {
      if (out.length > 0) out.push(' ');
      out.push(simple);
      continue;
    }
    switch (a.kind) {
      case 'ENVELOPE':
      case 'BODY':
      case 'BODYSTRUCTURE':
        if (out.length > 0) out.push(' ');
        out.push(`${a.kind} ${m.summary ? m.summary[summaryField(a.kind, m.utf8 === true)] : 'NIL'}`);
        break;
      case 'RFC822':
        literal('RFC822', m.raw ?? Buffer.alloc(0));
        break;
      case 'RFC822.HEADER':
      case 'RFC822.TEXT': {
        const raw = m.raw ?? Buffer.alloc(0);
        tree ??= parseMime(raw);
        literal(a.kind, a.kind === 'RFC822.HEADER' ? raw.subarray(tree.start, tree.bodyStart) : raw.subarray(tree.bodyStart, tree.end));
        break;
      }
      case 'SECTION': {
        const raw = m.raw ?? Buffer.alloc(0);
        tree ??= parseMime(raw);
        let data = section(raw, tree, a.path, a.spec, a.fields);
        let label = `BODY[${[a.path.join('.'), a.spec].filter((s) => s !== '').join('.')}${a.fields.length ? ` (${a.fields.map((f) => astr(f.toUpperCase())).join(' ')})` : ''}]`;
        if (a.partial) {
          label += `<${a.partial[0]}>`;
          data = data.subarray(Math.min(a.partial[0], data.length), Math.min(a.partial[0] + a.partial[1], data.length));
        }
        literal(label, data);
        break;
      }
      case 'BINARY': {
        let data = binary(a.path);
        let label = `BINARY[${a.path.join('.')}]`;
        if (a.partial) {
          label += `<${a.partial[0]}>`;
          data = data.subarray(Math.min(a.partial[0], data.length), Math.min(a.partial[0] + a.partial[1], data.length));
        }
        if (out.length > 0) out.push(' ');
        out.push(`${label} ${literalPrefix(data)}`, data); // RFC 3516 §4.2: literal8 where the data holds NUL
        break;
      }
      case 'BINARY.SIZE':
        if (out.length > 0) out.push(' ');
        out.push(`BINARY.SIZE[${a.path.join('.')}] ${binary(a.path).length}`); // RFC 3516 §4.2: the decoded size
        break;
    }
  }
  return out;
}

function section(raw: Buffer, root: MimePart, path: readonly number[], spec: SectionSpec, fields: readonly string[]): Buffer {
  let part: MimePart | undefined = path.length === 0 ? root : findPart(root, path);
  if (!part) return Buffer.alloc(0);
  if (spec === '') return path.length === 0 ? raw.subarray(part.start, part.end) : raw.subarray(part.bodyStart, part.end);
  if (spec === 'MIME') return raw.subarray(part.start, part.bodyStart);
  if (path.length > 0) {
    if (!(part.type === 'message' && part.subtype === 'rfc822' && part.message)) return Buffer.alloc(0);
    part = part.message;
  }
  if (spec === 'TEXT') return raw.subarray(part.bodyStart, part.end);
  const head = raw.subarray(part.start, part.bodyStart);
  if (spec === 'HEADER') return head;
  // RFC 3501 §6.4.5: HEADER.FIELDS keeps the named fields (NOT: all others), then the blank line.
  const lines = head.toString('latin1').split(/\r\n(?![ \t])/).filter((l) => l !== '');
  const want = new Set(fields);
  const keep = lines.filter((l) => {
    const colon = l.indexOf(':');
    const has = colon > 0 && want.has(l.slice(0, colon).trim().toLowerCase());
    return spec === 'HEADER.FIELDS' ? has : !has && colon > 0;
  });
  return Buffer.from(keep.map((l) => l + '\r\n').join('') + '\r\n', 'latin1');
}

// Converts an 8-bit MIME message to 7 bits for a next hop that does not offer 8BITMIME (RFC 6152 §3: 8-bit
// data MUST NOT go to such a server; the client converts it or returns it). 8-bit leaf parts become
// quoted-printable, multiparts and message/rfc822 are walked into. What cannot be converted without
// changing its meaning is refused instead: 8-bit header fields (they would need SMTPUTF8), a multipart
// whose boundary is missing or never occurs, and message/partial or message/external-body (RFC 2046 §5.2).
// The same walk serves line-limit.ts, which re-encodes parts with lines over 998 octets (`rules.longLines`).
import { isUtf8 } from 'node:buffer';
import { headerValue, parseHeaderBlock, parseStructured } from '../mime/headers.ts';
import { decodeTransfer, encodeQuotedPrintable } from '../mime/transfer.ts';
import { foldLongHeaderLines, hasLongLine } from './long-header.ts';

export type SevenBitResult = { message: Buffer } | { refused: string };

/** What the walk converts. */
export interface ConversionRules {
  /** RFC 6152 §3: 8-bit leaf bodies become quoted-printable; 8-bit header fields are refused. */
  eightBit: boolean;
  /**
   * RFC 5322 §2.1.1 / RFC 5321 §4.5.3.1.6: a leaf body with a line over 998 octets is re-encoded (text
   * quoted-printable, other types base64; a broken base64/QP body re-wrapped); a longer header line is folded.
   */
  longLines: boolean;
}

const MAX_DEPTH = 20;
const MAX_PARTS = 5000;
const EIGHT_BIT = /[\x80-\xff]/;

interface Walk {
  parts: number;
  rules: ConversionRules;
}

/** The message as 7-bit MIME, or why it cannot be (input lines end in CRLF, as spooled messages do). */
export function toSevenBit(message: Buffer): SevenBitResult {
  return convertMessage(message, { eightBit: true, longLines: false });
}

/** The message converted by `rules` (the input itself when nothing needed converting), or why it cannot be. */
export function convertMessage(message: Buffer, rules: ConversionRules): SevenBitResult {
  const text = message.toString('latin1');
  if (!needsWork(text, rules)) return { message };
  const converted = convertEntity(text, 0, { parts: MAX_PARTS, rules }, true, 'text/plain');
  return typeof converted === 'string' ? { message: Buffer.from(converted, 'latin1') } : converted;
}

function needsWork(text: string, rules: ConversionRules): boolean {
  return (rules.eightBit && EIGHT_BIT.test(text)) || (rules.longLines && hasLongLine(text));
}

/**
 * One entity (header block, blank line, body). `top` marks a whole message (the top level, or one
 * enclosed in message/rfc822), which gets MIME-Version when it gains a Content-Transfer-Encoding;
 * `defaultType` is text/plain, or message/rfc822 inside multipart/digest (RFC 2046 §5.1.5).
 */
function convertEntity(entity: string, depth: number, walk: Walk, top: boolean, defaultType: string): string | { refused: string } {
  if (--walk.parts < 0 || depth > MAX_DEPTH) return { refused: 'too many or too deeply nested MIME parts to convert' };
  const { rules } = walk;
  const blank = entity.startsWith('\r\n') ? 0 : entity.indexOf('\r\n\r\n');
  const rawHead = blank < 0 ? entity : entity.slice(0, blank);
  const body = blank < 0 ? '' : entity.slice(blank + (blank === 0 ? 2 : 4));
  if (rules.eightBit && EIGHT_BIT.test(rawHead)) return { refused: 'header fields carry 8-bit characters (they would need SMTPUTF8)' };
  // RFC 5322 §2.2.3: a header line over 998 octets is folded at white space, or the message cannot be made right
  const folded = rules.longLines ? foldLongHeaderLines(rawHead) : rawHead;
  if (typeof folded !== 'string') return folded;
  const head = folded;
  // the entity as it was, but for its folded header lines
  const asWas = (): string => (head === rawHead ? entity : blank < 0 ? head : `${head}\r\n${blank === 0 ? '' : '\r\n'}${body}`);
  if (!needsWork(body, rules)) return asWas();
  const eightBitBody = rules.eightBit && EIGHT_BIT.test(body);
  const longBody = rules.longLines && hasLongLine(body);
  const fields = parseHeaderBlock(head);
  const contentType = headerValue(fields, 'content-type');
  const type = parseStructured(contentType);
  const mediaType = contentType === undefined ? defaultType : type.value;
  const encoding = (headerValue(fields, 'content-transfer-encoding') ?? '').trim().toLowerCase();
  const headPart = blank < 0 ? head : `${head}\r\n${blank === 0 ? '' : '\r\n'}`;
  if (mediaType.startsWith('multipart/')) {
    // RFC 2045 §6.4: a multipart is never encoded as a whole; without its boundary its parts are unknown
    if (!type.params.boundary) return { refused: 'a multipart without a boundary cannot be converted' };
    // RFC 1847 §2.1: a multipart/signed's first part is signed as it is, MIME headers and encoding included
    // (S/MIME, PGP/MIME): re-encoding or folding anything in it breaks that signature, as it would a DKIM one
    if (mediaType === 'multipart/signed' && longBody) return { refused: 'a multipart/signed has a line over 998 octets (re-encoding it would break its signature)' };
    const inner = convertMultipart(body, type.params.boundary, depth, walk, mediaType === 'multipart/digest' ? 'message/rfc822' : 'text/plain');
    if (typeof inner !== 'string') return inner;
    // a multipart labelled 8bit/binary holds only 7-bit parts now
    return (encoding && eightBitBody ? withTransferEncoding(head, '7bit', false) : headPart) + inner;
  }
  if (mediaType === 'message/rfc822' || mediaType === 'message/global') {
    // RFC 2046 §5.2.1: no encoding but 7bit/8bit/binary; the enclosed message is converted instead
    const inner = convertEntity(body, depth + 1, walk, true, 'text/plain');
    if (typeof inner !== 'string') return inner;
    return (eightBitBody ? withTransferEncoding(head, '7bit', false) : headPart) + inner;
  }
  if (mediaType.startsWith('message/')) {
    const what = eightBitBody ? 'with 8-bit data' : 'with a line over 998 octets';
    return { refused: `${mediaType} ${what} cannot be converted (RFC 2046 §5.2)` };
  }
  if (encoding === 'base64' || encoding === 'quoted-printable') {
    // already a 7-bit encoding: lines over 76 characters are broken encoding (RFC 2045 §6.7, §6.8), re-wrapped from
    // the decoded content; stray 8-bit bytes are damage, not content
    if (longBody) return headPart + (encoding === 'base64' ? encodeBase64(decodeBase64Chunks(body), body.endsWith('\r\n')) : encodeQuotedPrintable(decodeTransfer(body, encoding).toString('latin1')));
    return headPart + body.replace(/[\x80-\xff]/g, '?');
  }
  const charset = contentType === undefined && top && EIGHT_BIT.test(body) ? (isUtf8(Buffer.from(body, 'latin1')) ? 'utf-8' : 'unknown-8bit') : undefined;
  if (longBody && !mediaType.startsWith('text/')) {
    // a line over 998 octets in a non-text part: base64, which keeps its octets exactly (RFC 2045 §6.8)
    return withTransferEncoding(head, 'base64', top, charset) + encodeBase64(Buffer.from(body, 'latin1'), false);
  }
  return withTransferEncoding(head, 'quoted-printable', top, charset) + encodeQuotedPrintable(body);
}

/**
 * A broken base64 body decoded whole: some encoders pad each chunk they write ("QQ==QUJD..."), and Node's decoder
 * stops at the first padding, which would drop everything after it. Each padded run is decoded on its own.
 */
function decodeBase64Chunks(body: string): Buffer {
  // one pass, no Buffer per run (a hostile body of "A=A=A=..." is millions of them): a padding "=" ends a run and
  // drops its left-over bits, as decoding the run alone would; characters outside the alphabet are skipped
  const out = Buffer.allocUnsafe(Math.ceil((body.length * 3) / 4));
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === 61) {
      acc = 0;
      bits = 0;
      continue;
    }
    const v = c < 128 ? (BASE64_VALUE[c] ?? -1) : -1;
    if (v < 0) continue;
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, n);
}

const BASE64_VALUE: readonly number[] = Array.from({ length: 128 }, (_, c) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.indexOf(String.fromCharCode(c)));

/** RFC 2045 §6.8: base64 in lines of 76 characters; `finalBreak`: the body ends in CRLF (a whole message does). */
function encodeBase64(data: Buffer, finalBreak: boolean): string {
  const text = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += 76) lines.push(text.slice(i, i + 76));
  return lines.join('\r\n') + (finalBreak ? '\r\n' : '');
}

/**
 * The multipart body with each part converted; the delimiter lines kept, 8-bit preamble/epilogue bytes
 * (never shown to readers) replaced. A boundary that never occurs is refused: the body cannot be split.
 */
function convertMultipart(body: string, boundary: string, depth: number, walk: Walk, partDefault: string): string | { refused: string } {
  const delimiter = new RegExp(`(^|\\r\\n)--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(--)?[ \\t]*(?=\\r\\n|$)`, 'g');
  const pieces: string[] = [];
  let last = 0;
  let inPart = false;
  let delimiters = 0;
  const part = (segment: string): string | { refused: string } => {
    const lead = segment.startsWith('\r\n') ? '\r\n' : '';
    const converted = convertEntity(segment.slice(lead.length), depth + 1, walk, false, partDefault);
    return typeof converted === 'string' ? lead + converted : converted;
  };
  for (let m = delimiter.exec(body); m !== null; m = delimiter.exec(body)) {
    delimiters++;
    const segment = body.slice(last, m.index);
    const piece = inPart ? part(segment) : outside(segment, walk);
    if (typeof piece !== 'string') return piece;
    // RFC 2046 §5.1.1: white space after a boundary is transport padding, to be deleted; past 998 octets it goes
    pieces.push(piece, walk.rules.longLines && hasLongLine(m[0]) ? m[0].replace(/[ \t]+$/, '') : m[0]);
    last = m.index + m[0].length;
    inPart = m[2] === undefined;
    if (!inPart) break;
  }
  if (delimiters === 0) return { refused: `the multipart boundary "${boundary}" never occurs in the body` };
  const rest = body.slice(last);
  // no close delimiter: the last part runs to the end
  const tail = inPart ? part(rest) : outside(rest, walk);
  if (typeof tail !== 'string') return tail;
  pieces.push(tail);
  return pieces.join('');
}

/**
 * A preamble or epilogue (never shown to readers): 8-bit bytes replaced; a line over 998 octets refused, since
 * breaking it could make a line that reads as a delimiter.
 */
function outside(segment: string, walk: Walk): string | { refused: string } {
  if (walk.rules.longLines && hasLongLine(segment)) return { refused: 'a multipart preamble or epilogue has a line over 998 octets' };
  return walk.rules.eightBit ? segment.replace(/[\x80-\xff]/g, '?') : segment;
}

/**
 * The header block (with its blank line) saying `encoding`. A whole message gains MIME-Version if it had
 * none; one that had no Content-Type either gets one naming `charset` (UTF-8 when the text is valid
 * UTF-8, else RFC 1428's unknown-8bit), so that readers do not take its 8-bit text for US-ASCII.
 */
function withTransferEncoding(head: string, encoding: string, wholeMessage: boolean, charset?: string): string {
  const lines = head === '' ? [] : head.split('\r\n');
  const kept: string[] = [];
  let dropping = false;
  for (const line of lines) {
    if (dropping && (line.startsWith(' ') || line.startsWith('\t'))) continue;
    dropping = /^content-transfer-encoding\s*:/i.test(line);
    if (!dropping) kept.push(line);
  }
  if (wholeMessage && !kept.some((l) => /^mime-version\s*:/i.test(l))) kept.push('MIME-Version: 1.0');
  if (charset !== undefined) kept.push(`Content-Type: text/plain; charset=${charset}`);
  kept.push(`Content-Transfer-Encoding: ${encoding}`);
  return kept.join('\r\n') + '\r\n\r\n';
}

// Converts an 8-bit MIME message to 7 bits for a next hop that does not offer 8BITMIME (RFC 6152 §3: 8-bit
// data MUST NOT go to such a server; the client converts it or returns it). 8-bit leaf parts become
// quoted-printable, multiparts and message/rfc822 are walked into. What cannot be converted without
// changing its meaning is refused instead: 8-bit header fields (they would need SMTPUTF8), a multipart
// whose boundary is missing or never occurs, and message/partial or message/external-body (RFC 2046 §5.2).
import { isUtf8 } from 'node:buffer';
import { headerValue, parseHeaderBlock, parseStructured } from '../mime/headers.ts';
import { encodeQuotedPrintable } from '../mime/transfer.ts';

export type SevenBitResult = { message: Buffer } | { refused: string };

const MAX_DEPTH = 20;
const MAX_PARTS = 5000;
const EIGHT_BIT = /[\x80-\xff]/;

interface Walk {
  parts: number;
}

/** The message as 7-bit MIME, or why it cannot be (input lines end in CRLF, as spooled messages do). */
export function toSevenBit(message: Buffer): SevenBitResult {
  const text = message.toString('latin1');
  if (!EIGHT_BIT.test(text)) return { message };
  const converted = convertEntity(text, 0, { parts: MAX_PARTS }, true, 'text/plain');
  return typeof converted === 'string' ? { message: Buffer.from(converted, 'latin1') } : converted;
}

/**
 * One entity (header block, blank line, body). `top` marks a whole message (the top level, or one
 * enclosed in message/rfc822), which gets MIME-Version when it gains a Content-Transfer-Encoding;
 * `defaultType` is text/plain, or message/rfc822 inside multipart/digest (RFC 2046 §5.1.5).
 */
function convertEntity(entity: string, depth: number, walk: Walk, top: boolean, defaultType: string): string | { refused: string } {
  if (--walk.parts < 0 || depth > MAX_DEPTH) return { refused: 'too many or too deeply nested MIME parts to convert to 7 bits' };
  const blank = entity.startsWith('\r\n') ? 0 : entity.indexOf('\r\n\r\n');
  const head = blank < 0 ? entity : entity.slice(0, blank);
  const body = blank < 0 ? '' : entity.slice(blank + (blank === 0 ? 2 : 4));
  if (EIGHT_BIT.test(head)) return { refused: 'header fields carry 8-bit characters (they would need SMTPUTF8)' };
  if (!EIGHT_BIT.test(body)) return entity;
  const fields = parseHeaderBlock(head);
  const contentType = headerValue(fields, 'content-type');
  const type = parseStructured(contentType);
  const mediaType = contentType === undefined ? defaultType : type.value;
  const encoding = (headerValue(fields, 'content-transfer-encoding') ?? '').trim().toLowerCase();
  const bodyStart = entity.length - body.length;
  if (mediaType.startsWith('multipart/')) {
    // RFC 2045 §6.4: a multipart is never encoded as a whole; without its boundary its parts are unknown
    if (!type.params.boundary) return { refused: 'a multipart without a boundary cannot be converted to 7 bits' };
    const inner = convertMultipart(body, type.params.boundary, depth, walk, mediaType === 'multipart/digest' ? 'message/rfc822' : 'text/plain');
    if (typeof inner !== 'string') return inner;
    // a multipart labelled 8bit/binary holds only 7-bit parts now
    return (encoding ? withTransferEncoding(head, '7bit', false) : entity.slice(0, bodyStart)) + inner;
  }
  if (mediaType === 'message/rfc822' || mediaType === 'message/global') {
    // RFC 2046 §5.2.1: no encoding but 7bit/8bit/binary; the enclosed message is converted instead
    const inner = convertEntity(body, depth + 1, walk, true, 'text/plain');
    return typeof inner === 'string' ? withTransferEncoding(head, '7bit', false) + inner : inner;
  }
  if (mediaType.startsWith('message/')) return { refused: `${mediaType} with 8-bit data cannot be converted (RFC 2046 §5.2)` };
  if (encoding === 'base64' || encoding === 'quoted-printable') {
    // already a 7-bit encoding: stray 8-bit bytes are damage, not content
    return entity.slice(0, bodyStart) + body.replace(/[\x80-\xff]/g, '?');
  }
  const charset = contentType === undefined && top ? (isUtf8(Buffer.from(body, 'latin1')) ? 'utf-8' : 'unknown-8bit') : undefined;
  return withTransferEncoding(head, 'quoted-printable', top, charset) + encodeQuotedPrintable(body);
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
    const piece = inPart ? part(segment) : segment.replace(/[\x80-\xff]/g, '?');
    if (typeof piece !== 'string') return piece;
    pieces.push(piece, m[0]);
    last = m.index + m[0].length;
    inPart = m[2] === undefined;
    if (!inPart) break;
  }
  if (delimiters === 0) return { refused: `the multipart boundary "${boundary}" never occurs in the body` };
  const rest = body.slice(last);
  // no close delimiter: the last part runs to the end
  const tail = inPart ? part(rest) : rest.replace(/[\x80-\xff]/g, '?');
  if (typeof tail !== 'string') return tail;
  pieces.push(tail);
  return pieces.join('');
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

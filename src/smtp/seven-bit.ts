// Converts an 8-bit MIME message to 7 bits for a next hop that does not offer 8BITMIME (RFC 6152 §3: 8-bit
// data MUST NOT go to such a server; the client converts it or returns it). 8-bit leaf parts become
// quoted-printable, multiparts and message/rfc822 are walked into; a message whose header fields carry
// 8-bit bytes cannot be converted (that needs SMTPUTF8) and is refused instead.
import { headerValue, parseHeaderBlock, parseStructured } from '../mime/headers.ts';
import { encodeQuotedPrintable } from '../mime/transfer.ts';

export type SevenBitResult = { message: Buffer } | { refused: string };

const MAX_DEPTH = 20;
const MAX_PARTS = 500;
const EIGHT_BIT = /[\x80-\xff]/;

/** The message as 7-bit MIME, or why it cannot be (input lines end in CRLF, as spooled messages do). */
export function toSevenBit(message: Buffer): SevenBitResult {
  const text = message.toString('latin1');
  if (!EIGHT_BIT.test(text)) return { message };
  const budget = { parts: MAX_PARTS };
  const converted = convertEntity(text, 0, budget, true);
  return typeof converted === 'string' ? { message: Buffer.from(converted, 'latin1') } : converted;
}

function convertEntity(entity: string, depth: number, budget: { parts: number }, top: boolean): string | { refused: string } {
  if (--budget.parts < 0 || depth > MAX_DEPTH) return { refused: 'too many or too deeply nested MIME parts to convert to 7 bits' };
  const blank = entity.startsWith('\r\n') ? 0 : entity.indexOf('\r\n\r\n');
  const head = blank < 0 ? entity : entity.slice(0, blank);
  const body = blank < 0 ? '' : entity.slice(blank + (blank === 0 ? 2 : 4));
  if (EIGHT_BIT.test(head)) return { refused: 'header fields carry 8-bit characters (they would need SMTPUTF8)' };
  if (!EIGHT_BIT.test(body)) return entity;
  const fields = parseHeaderBlock(head);
  const type = parseStructured(headerValue(fields, 'content-type'));
  const encoding = (headerValue(fields, 'content-transfer-encoding') ?? '').trim().toLowerCase();
  const bodyStart = entity.length - body.length;
  if (type.value.startsWith('multipart/') && type.params.boundary) {
    const inner = convertMultipart(body, type.params.boundary, depth, budget);
    if (typeof inner !== 'string') return inner;
    // a multipart labelled 8bit/binary holds only 7-bit parts now (RFC 2045 §6.4)
    return (encoding ? withTransferEncoding(head, '7bit', false) : entity.slice(0, bodyStart)) + inner;
  }
  if (type.value === 'message/rfc822') {
    // RFC 2046 §5.2.1: no encoding but 7bit/8bit/binary; the enclosed message is converted instead
    const inner = convertEntity(body, depth + 1, budget, false);
    return typeof inner === 'string' ? withTransferEncoding(head, '7bit', false) + inner : inner;
  }
  if (encoding === 'base64' || encoding === 'quoted-printable') {
    // already a 7-bit encoding: stray 8-bit bytes are damage, not content
    return entity.slice(0, bodyStart) + body.replace(/[\x80-\xff]/g, '?');
  }
  return withTransferEncoding(head, 'quoted-printable', top) + encodeQuotedPrintable(body);
}

/** The multipart body with each part converted; the delimiter lines kept, 8-bit preamble/epilogue bytes replaced. */
function convertMultipart(body: string, boundary: string, depth: number, budget: { parts: number }): string | { refused: string } {
  const delimiter = new RegExp(`(^|\\r\\n)--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(--)?[ \\t]*(?=\\r\\n|$)`, 'g');
  const pieces: string[] = [];
  let last = 0;
  let inPart = false;
  for (let m = delimiter.exec(body); m !== null; m = delimiter.exec(body)) {
    const segment = body.slice(last, m.index);
    if (inPart) {
      const part = convertEntity(segment.startsWith('\r\n') ? segment.slice(2) : segment, depth + 1, budget, false);
      if (typeof part !== 'string') return part;
      pieces.push(segment.startsWith('\r\n') ? '\r\n' + part : part);
    } else pieces.push(segment.replace(/[\x80-\xff]/g, '?'));
    pieces.push(m[0]);
    last = m.index + m[0].length;
    inPart = m[2] === undefined;
    if (!inPart) break;
  }
  const rest = body.slice(last);
  if (inPart) {
    // no close delimiter: the last part runs to the end
    const part = convertEntity(rest.startsWith('\r\n') ? rest.slice(2) : rest, depth + 1, budget, false);
    if (typeof part !== 'string') return part;
    pieces.push(rest.startsWith('\r\n') ? '\r\n' + part : part);
  } else pieces.push(rest.replace(/[\x80-\xff]/g, '?'));
  return pieces.join('');
}

/** The header block (with its blank line) saying `encoding`; at the top, MIME-Version is added if missing. */
function withTransferEncoding(head: string, encoding: string, top: boolean): string {
  const lines = head === '' ? [] : head.split('\r\n');
  const kept: string[] = [];
  let dropping = false;
  for (const line of lines) {
    if (dropping && (line.startsWith(' ') || line.startsWith('\t'))) continue;
    dropping = /^content-transfer-encoding\s*:/i.test(line);
    if (!dropping) kept.push(line);
  }
  if (top && !kept.some((l) => /^mime-version\s*:/i.test(l))) kept.push('MIME-Version: 1.0');
  kept.push(`Content-Transfer-Encoding: ${encoding}`);
  return kept.join('\r\n') + '\r\n\r\n';
}

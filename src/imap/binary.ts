// BINARY (RFC 3516): a body part with its Content-Transfer-Encoding undone, for FETCH BINARY[…] and BINARY.SIZE[…].
import { decodeQuotedPrintableBytes } from '../mime/transfer.ts';
import { findPart, type MimePart } from './mime.ts';

/** RFC 3516 §4.3: a transfer encoding the server cannot undo; the command fails with NO [UNKNOWN-CTE]. */
export class UnknownCte extends Error {
  override name = 'UnknownCte';
}

/** Encodings whose bytes are the content already (RFC 2045 §6.2 identity encodings). */
const IDENTITY = new Set(['7bit', '8bit', 'binary']);

/** The part's transfer encoding, lower case; "7bit" when it has none (RFC 2045 §6.1). */
function encodingOf(part: MimePart): string {
  const value = part.headers.find((h) => h.name === 'content-transfer-encoding')?.value ?? '7bit';
  return value.replace(/\(.*?\)/g, '').trim().toLowerCase() || '7bit';
}

/**
 * The decoded content of a section (RFC 3516 §4.2). `path` empty: the whole message, as BODY[] (a message is not
 * transfer-encoded as a whole). A multipart or message/rfc822 part is sent as BODY[n] would, as its encoding must be
 * an identity one (RFC 2045 §6.4); a part that does not exist is empty, as BODY[n] is. Throws UnknownCte for an
 * encoding other than 7bit, 8bit, binary, base64 and quoted-printable.
 */
export function binarySection(raw: Buffer, root: MimePart, path: readonly number[]): Buffer {
  if (path.length === 0) return raw.subarray(root.start, root.end);
  const part = findPart(root, path);
  if (!part) return Buffer.alloc(0);
  const body = raw.subarray(part.bodyStart, part.end);
  const cte = decodableEncoding(part);
  if (IDENTITY.has(cte)) return body;
  if (cte === 'base64') return Buffer.from(body.toString('latin1'), 'base64');
  return decodeQuotedPrintableBytes(body);
}

/** The part's encoding when binarySection can undo it; throws UnknownCte otherwise. */
function decodableEncoding(part: MimePart): string {
  const cte = encodingOf(part);
  if (IDENTITY.has(cte)) return cte;
  if (part.type === 'multipart' || part.type === 'message') throw new UnknownCte(`a ${part.type} part cannot have the encoding ${cte}`);
  if (cte === 'base64' || cte === 'quoted-printable') return cte;
  throw new UnknownCte(`cannot decode the transfer encoding ${cte.slice(0, 40)}`);
}

/** True when binarySection of this section would throw UnknownCte; nothing is decoded. */
export function undecodable(root: MimePart, path: readonly number[]): boolean {
  const part = path.length === 0 ? undefined : findPart(root, path);
  if (!part) return false;
  try {
    decodableEncoding(part);
    return false;
  } catch (err) {
    if (err instanceof UnknownCte) return true;
    throw err;
  }
}

/**
 * The literal announcement for response data: literal8 "~{n}" where the data holds NUL (RFC 3516 §4.2, which a
 * plain literal may not carry, RFC 3501 §4.3), else an ordinary literal.
 */
export function literalPrefix(data: Buffer): string {
  return data.includes(0) ? `~{${data.length}}\r\n` : `{${data.length}}\r\n`;
}

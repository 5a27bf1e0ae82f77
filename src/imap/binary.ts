// BINARY (RFC 3516): a body part with its Content-Transfer-Encoding undone, for FETCH BINARY[…] and BINARY.SIZE[…].
import { findPart, type MimePart } from './mime.ts';

/** RFC 3516 §4.3: a transfer encoding the server cannot undo; the command fails with NO [UNKNOWN-CTE]. */
export class UnknownCte extends Error {
  override name = 'UnknownCte';
}

/** Encodings whose bytes are the content already (RFC 2045 §6.2 identity encodings). */
const IDENTITY = new Set(['7bit', '8bit', 'binary']);

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * Quoted-printable undone (RFC 2045 §6.7): "=XX" to its octet, soft line breaks ("=" at a line end) dropped, the
 * white space a transport added before a line end dropped (literal white space only: "=20" or "=09" there is the
 * encoder's way to keep it, rule 3, as format=flowed text needs); a "=" that starts neither is kept as it is (rule 1
 * lets a robust decoder do so). One pass, output never longer than input.
 */
export function decodeQuotedPrintable(src: Buffer): Buffer {
  const out = Buffer.allocUnsafe(src.length);
  let j = 0;
  let lineStart = 0; // how far back trailing white space may be trimmed: the line's start, or its last decoded octet
  for (let i = 0; i < src.length; i++) {
    const c = src[i] as number;
    if (c === 13 && src[i + 1] === 10) {
      while (j > lineStart && (out[j - 1] === 32 || out[j - 1] === 9)) j--;
      out[j++] = 13;
      out[j++] = 10;
      i++;
      lineStart = j;
      continue;
    }
    if (c === 61) {
      // soft line break: "=" then optional white space, then CRLF (or a bare LF)
      let k = i + 1;
      while (src[k] === 32 || src[k] === 9) k++;
      if (src[k] === 13 && src[k + 1] === 10) {
        i = k + 1;
        lineStart = j;
        continue;
      }
      if (src[k] === 10 || k >= src.length) {
        i = k;
        lineStart = j;
        continue;
      }
      const hi = hexValue(src[i + 1] ?? -1);
      const lo = hexValue(src[i + 2] ?? -1);
      if (hi >= 0 && lo >= 0) {
        out[j++] = hi * 16 + lo;
        lineStart = j; // an encoded octet is content, never padding to trim
        i += 2;
        continue;
      }
    }
    out[j++] = c;
  }
  while (j > lineStart && (out[j - 1] === 32 || out[j - 1] === 9)) j--;
  return out.subarray(0, j);
}

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
  return decodeQuotedPrintable(body);
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

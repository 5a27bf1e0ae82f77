// Content-Transfer-Encoding decoders (RFC 2045 §6.7 quoted-printable, §6.8 base64), lenient and non-throwing.
// Input is a "binary" string (one char per byte, as read with latin1); output is the decoded bytes.

export function decodeTransfer(body: string, encoding: string): Buffer {
  switch (encoding) {
    case 'base64':
      return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    default:
      return Buffer.from(body, 'latin1');
  }
}

/** RFC 2045 §6.7 quoted-printable of a "binary" string (one char per byte): decodeQuotedPrintableBytes. */
export function decodeQuotedPrintable(body: string): Buffer {
  return decodeQuotedPrintableBytes(Buffer.from(body, 'latin1'));
}

/**
 * Quoted-printable undone (RFC 2045 §6.7): "=XX" to its octet, soft line breaks ("=" at a line end) dropped, the
 * white space a transport added before a line end dropped (literal white space only: "=20" or "=09" there is the
 * encoder's way to keep it, rule 3, as format=flowed text needs); a "=" that starts neither is kept as it is (rule 1
 * lets a robust decoder do so). One pass, output never longer than input.
 */
export function decodeQuotedPrintableBytes(src: Buffer): Buffer {
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
      const hi = hex(src[i + 1] ?? -1);
      const lo = hex(src[i + 2] ?? -1);
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

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * RFC 2045 §6.7 quoted-printable encoding of a "binary" string whose lines end in CRLF: line breaks stay
 * hard breaks, printable US-ASCII except "=" (and a "-" that starts a line) stays literal, space and tab are encoded at the end of a line,
 * everything else becomes "=XX", and soft breaks ("=" CRLF) keep each encoded line within 76 characters.
 * Written byte by byte into one buffer: linear, and fast on bodies of many megabytes.
 */
export function encodeQuotedPrintable(body: string): string {
  const input = Buffer.from(body, 'latin1');
  // each byte at most 3 characters, plus a 3-character soft break per 73 characters written
  const out = Buffer.allocUnsafe(input.length * 3 + Math.ceil((input.length * 3) / 73) * 3 + 3);
  let n = 0;
  let width = 0;
  const len = input.length;
  for (let i = 0; i < len; i++) {
    const c = input[i] ?? 0;
    if (c === 13 && input[i + 1] === 10) {
      out[n++] = 13;
      out[n++] = 10;
      width = 0;
      i++;
      continue;
    }
    const lineEnd = i + 1 === len || (input[i + 1] === 13 && input[i + 2] === 10);
    let literal = (c >= 33 && c <= 126 && c !== 61) || ((c === 32 || c === 9) && !lineEnd);
    let size = literal ? 1 : 3;
    // RFC 2045 §6.7 rule 5: at most 76 characters, the soft break's "=" included
    if (width + size > 75) {
      out[n++] = 61;
      out[n++] = 13;
      out[n++] = 10;
      width = 0;
    }
    // an encoded line that starts with "-" could read as a multipart delimiter ("--boundary", RFC 2046 §5.1.1): after
    // a soft break, or where decoded text ("=2D-boundary" re-wrapped) has one as a line of its own: "=2D" instead
    if (c === 45 && width === 0) {
      literal = false;
      size = 3;
    }
    if (literal) out[n++] = c;
    else {
      out[n++] = 61;
      out[n++] = HEX[c >> 4] ?? 48;
      out[n++] = HEX[c & 15] ?? 48;
    }
    width += size;
  }
  return out.toString('latin1', 0, n);
}

const HEX = Buffer.from('0123456789ABCDEF', 'latin1');

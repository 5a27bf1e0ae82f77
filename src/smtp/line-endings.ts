// Line endings of message data: every line ends in CRLF (RFC 5321 §2.3.8), whatever the client sent.
//
// A bare LF or bare CR kept in a message is how SMTP smuggling works: a next hop that takes
// "<LF>.<CR><LF>" for the end of data would read what follows as commands. Making each of them a
// CRLF as the data arrives leaves nothing ambiguous to relay: the "." line becomes content and is
// dot-stuffed on the way out.
const CR = 0x0d;
const LF = 0x0a;

/** True when some CR is not followed by LF or some LF is not preceded by CR. */
export function hasBareLineBreak(data: Buffer): boolean {
  for (let i = data.indexOf(LF); i >= 0; i = data.indexOf(LF, i + 1)) if (i === 0 || data[i - 1] !== CR) return true;
  for (let i = data.indexOf(CR); i >= 0; i = data.indexOf(CR, i + 1)) if (data[i + 1] !== LF) return true;
  return false;
}

/**
 * The data with every bare LF and bare CR replaced by CRLF; the same buffer when there are none.
 * RFC 5321 §2.3.8: CR and LF MUST only be sent together, as the CRLF line terminator.
 * One output buffer, sized in a first pass: a message of nothing but bare LFs costs two linear
 * passes, never an object per line.
 */
export function toCrlf(data: Buffer): Buffer {
  if (!hasBareLineBreak(data)) return data;
  let extra = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === CR) {
      if (data[i + 1] === LF) i++;
      else extra++;
    } else if (b === LF) extra++;
  }
  const out = Buffer.allocUnsafe(data.length + extra);
  let o = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i] as number;
    if (b === CR && data[i + 1] === LF) {
      out[o++] = CR;
      out[o++] = LF;
      i++;
    } else if (b === CR || b === LF) {
      out[o++] = CR;
      out[o++] = LF;
    } else out[o++] = b;
  }
  return out;
}

// Oversigning (RFC 6376 §8.15): the signature's h= names the fields a forger would most like to add (From,
// Subject, Reply-To, …) once more than the message has them, so a copy with one of them added above fails
// to verify. mailauth signs only the fields present; this module takes its signature (the body hash and
// the tags), extends h= and signs the header hash again with the same key (RFC 6376 §3.7, §5.4).
import { createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import type { DkimKeyType } from './signing-key.ts';

/**
 * Oversigned once more each, present or not: the fields a reader sees as "who, what, reply where" and those that
 * change how the body is read. An absent one listed stops it from being added; a present one from a second copy.
 */
export const OVERSIGNED_FIELDS = ['From', 'Sender', 'Reply-To', 'Subject', 'Date', 'Message-ID', 'To', 'Cc', 'MIME-Version', 'Content-Type', 'Content-Transfer-Encoding', 'List-Unsubscribe', 'List-Unsubscribe-Post'];

/** RFC 6376 §3.4.2 relaxed header canonicalization of one field ("name:value", no CRLF). */
export function relaxedHeader(name: string, value: string): string {
  const v = value
    .replace(/\r\n(?=[ \t])/g, '')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ /, '')
    .replace(/ $/, '');
  return `${name.trim().toLowerCase()}:${v}`;
}

interface HeaderField {
  name: string;
  /** Everything after the colon, folding included, without the final CRLF. */
  value: string;
}

/** The header fields of a message (lines end in CRLF, as spooled messages do), in order. */
export function headerFields(message: Buffer): HeaderField[] {
  const text = message.toString('latin1');
  const end = text.startsWith('\r\n') ? 0 : text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const fields: HeaderField[] = [];
  for (const raw of head.split(/\r\n(?![ \t])/)) {
    const colon = raw.indexOf(':');
    if (colon > 0) fields.push({ name: raw.slice(0, colon), value: raw.slice(colon + 1) });
  }
  return fields;
}

/** RFC 6376 §3.5 tag list → map (names as written, values unfolded with their whitespace removed). */
function parseTags(header: string): Map<string, string> {
  const value = header.slice(header.indexOf(':') + 1);
  const tags = new Map<string, string>();
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    tags.set(part.slice(0, eq).trim(), part.slice(eq + 1).replace(/[\r\n \t]+/g, ''));
  }
  return tags;
}

/**
 * The signed-header hash input (RFC 6376 §5.4.2): for each name of `names`, the last instance of that field not
 * yet taken, from the bottom up; a name with no instance left contributes nothing (that is what oversigning is).
 */
function signedHeaderBlock(fields: readonly HeaderField[], names: readonly string[]): string {
  const taken = new Set<number>();
  let out = '';
  for (const name of names) {
    const lower = name.toLowerCase();
    for (let i = fields.length - 1; i >= 0; i--) {
      const f = fields[i];
      if (!f || taken.has(i) || f.name.trim().toLowerCase() !== lower) continue;
      taken.add(i);
      out += `${relaxedHeader(f.name, f.value)}\r\n`;
      break;
    }
  }
  return out;
}

/** Folds "DKIM-Signature: tag=value; …" at about 76 columns (whitespace may go anywhere between tags). */
function fold(tags: readonly [string, string][]): string {
  const lines: string[] = [];
  let line = 'DKIM-Signature:';
  const push = (piece: string): void => {
    if (line.length + 1 + piece.length > 76 && line.trim() !== '') {
      lines.push(line);
      line = '';
    }
    line += ` ${piece}`;
  };
  for (const [i, [k, v]] of tags.entries()) {
    const last = i === tags.length - 1;
    if (k === 'b' || k === 'bh' || k === 'h') {
      // long values break inside (FWS is allowed in base64 and around h='s colons)
      const parts = k === 'h' ? v.split(':').map((p, j, all) => (j < all.length - 1 ? `${p}:` : p)) : (v.match(/.{1,64}/g) ?? ['']);
      push(`${k}=${parts[0] ?? ''}`);
      for (const p of parts.slice(1)) {
        if (line.length + p.length > 76) {
          lines.push(line);
          line = ` ${p}`;
        } else line += p;
      }
      if (!last) line += ';';
    } else push(`${k}=${v}${last ? '' : ';'}`);
  }
  lines.push(line);
  return lines.join('\r\n');
}

/**
 * mailauth's `DKIM-Signature` field for `message`, re-signed with h= extended by OVERSIGNED_FIELDS. Returns the new
 * field with its CRLF. Throws when the field is not one this module can read (the caller then keeps mailauth's).
 */
export function oversign(message: Buffer, signatureField: string, keyPem: string | KeyObject, type: DkimKeyType): string {
  const tags = parseTags(signatureField.replace(/\r\n$/, ''));
  const h = tags.get('h');
  if (!h || tags.get('c') !== 'relaxed/relaxed' || !tags.has('bh')) throw new Error('unexpected DKIM-Signature from the signer');
  const names = [...h.split(':'), ...OVERSIGNED_FIELDS];
  const ordered: [string, string][] = [];
  for (const [k, v] of tags) if (k !== 'b') ordered.push([k, k === 'h' ? names.join(':') : v]);
  ordered.push(['b', '']);
  const unsigned = fold(ordered);
  const input = signedHeaderBlock(headerFields(message), names) + relaxedHeader('DKIM-Signature', unsigned.slice(unsigned.indexOf(':') + 1));
  const key = typeof keyPem === 'string' ? createPrivateKey(keyPem) : keyPem;
  // RFC 8463 §3: ed25519-sha256 signs the SHA-256 hash of the data with PureEdDSA; rsa-sha256 is PKCS#1 v1.5 over it
  const b = (type === 'ed25519' ? sign(null, createHash('sha256').update(input, 'latin1').digest(), key) : sign('sha256', Buffer.from(input, 'latin1'), key)).toString('base64');
  ordered[ordered.length - 1] = ['b', b];
  return `${fold(ordered)}\r\n`;
}

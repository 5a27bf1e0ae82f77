// What a legacy client (IMAP without UTF8=ACCEPT, POP3 without UTF8) gets of 8-bit header text; for ENVELOPE: RFC 6855 §3 forbids UTF-8 in
// quoted strings before ENABLE and §7 leaves the down-conversion to the server; this is a subset of RFC 6857's.
import { domainToASCII } from 'node:url';

/** 7-bit and without NUL (no IMAP string may carry one, RFC 3501 §4.3): what a legacy client may be sent as it is. */
const ASCII = /^[\x01-\x7f]*$/;
/** UTF-8 bytes per encoded word: base64 of 45 bytes is 60 characters, 72 with "=?utf-8?b?" and "?=" (≤ 75, RFC 2047 §2). */
const WORD_BYTES = 45;

/**
 * Text as RFC 2047 encoded words ("=?utf-8?b?…?="), each within 75 characters and split between characters, never
 * inside one; ASCII text is returned as it is. Used for unstructured text (Subject) and display names, as RFC 6857 does.
 */
export function encodedWords(value: string): string {
  if (ASCII.test(value)) return value;
  const text = value.replace(/\0/g, '\ufffd'); // as str() and ustr() stand in for a NUL, here in 7 bits
  const words: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > WORD_BYTES && chunk !== '') {
      words.push(chunk);
      chunk = '';
      bytes = 0;
    }
    chunk += ch;
    bytes += n;
  }
  if (chunk !== '') words.push(chunk);
  return words.map((w) => `=?utf-8?b?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(' ');
}

/** How one address reaches a legacy client: as an address, or (local part in UTF-8) as the name of an empty group. */
export type LegacyAddress = { kind: 'address'; mailbox: string; host: string } | { kind: 'group'; name: string };

/**
 * An address for a legacy client. A UTF-8 domain becomes its A-label form (RFC 5890), which every client can use; a
 * UTF-8 local part has no ASCII form, so, as RFC 6857 downgrades such addresses, it becomes the display name of an empty
 * group, encoded words of "name <address>" that show the sender, though a legacy client cannot reply to them.
 */
export function legacyAddress(name: string, mailbox: string, host: string): LegacyAddress {
  const ascii = ASCII.test(host) ? host : domainToASCII(host);
  if (ASCII.test(mailbox) && ascii !== '') return { kind: 'address', mailbox, host: ascii };
  const addr = `${mailbox}@${host}`;
  return { kind: 'group', name: encodedWords(name ? `${name} <${addr}>` : addr) };
}

/** RFC 2231 §7 attribute-char: printable ASCII but space, "*", "'", "%" and the RFC 2045 tspecials. */
const ATTRIBUTE_CHAR = /^[!#$&+\-.0-9A-Z^_`a-z{|}~]$/;

/**
 * A MIME parameter whose value is in UTF-8, for a legacy client: the RFC 2231 §4 extended form, name "NAME*" and
 * value "utf-8''" with every byte outside attribute-char percent-encoded (RFC 6857 §3 downgrades parameters so).
 * A name that is itself not ASCII (no valid MIME has one) becomes encoded words, 7-bit at least.
 */
export function rfc2231Param(name: string, value: string): [string, string] {
  const pct = (byte: number): string => '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  const bytes = Buffer.from(value.replace(/\0/g, '\ufffd'), 'utf8');
  const safeName = ASCII.test(name) ? name : encodedWords(name);
  // already extended ("NAME*", "NAME*1*"): its charset'language' and %XX stand; only the raw 8-bit bytes are encoded
  if (name.endsWith('*')) return [safeName, [...bytes].map((b) => (b < 0x80 && b > 0x20 ? String.fromCharCode(b) : pct(b))).join('')];
  let out = '';
  for (const byte of bytes) {
    const ch = String.fromCharCode(byte);
    out += ATTRIBUTE_CHAR.test(ch) ? ch : pct(byte);
  }
  // a continuation ("NAME*1"): the charset goes in the first segment only (RFC 2231 §4.1)
  const segment = /\*(\d+)$/.exec(name);
  return [safeName + '*', segment && segment[1] !== '0' ? out : "utf-8''" + out];
}

// A message as a legacy client may receive it: header fields holding raw UTF-8 (mail received with SMTPUTF8) rewritten
// in 7-bit, after RFC 6857 §3 / RFC 6858 §3: unstructured text and display names as RFC 2047 encoded words, UTF-8
// domains as A-labels, UTF-8 local parts as empty groups, MIME parameters in RFC 2231 form, and structured fields
// that have no 7-bit form kept as "Downgraded-" fields of encoded words. The body is never touched.
import { addressParser } from 'postal-mime';
import { encodedWords, legacyAddress, rfc2231Param } from './downgrade.ts';
import { splitParams } from './headers.ts';

const LF = 0x0a;
const CRLF = Buffer.from('\r\n');
/** Header fields whose value is an address list (RFC 5322 §3.6.2, §3.6.3, §3.6.6, and the common list fields). */
const ADDRESS_FIELDS: ReadonlySet<string> = new Set([
  'from', 'sender', 'reply-to', 'to', 'cc', 'bcc',
  'resent-from', 'resent-sender', 'resent-to', 'resent-cc', 'resent-bcc',
  'mail-followup-to', 'mail-reply-to', 'disposition-notification-to',
]);
/** Structured fields with no 7-bit form for UTF-8 in them: RFC 6857 §3 keeps their text under a "Downgraded-" name. */
const STRUCTURED_FIELDS: ReadonlySet<string> = new Set([
  'return-path', 'received', 'date', 'resent-date', 'message-id', 'resent-message-id', 'in-reply-to', 'references',
  'mime-version', 'content-transfer-encoding', 'content-id', 'delivered-to', 'envelope-to', 'x-original-to',
]);
const PARAM_FIELDS: ReadonlySet<string> = new Set(['content-type', 'content-disposition']);
/** Characters that make a display name need quoting (RFC 5322 §3.2.3 specials). */
const SPECIALS = /[()<>[\]:;@\\,."]/;
const FOLD_AT = 76;
/** Bounds what one hostile header can cost: fields, and addresses per field. */
const MAX_FIELDS = 2000;
const MAX_ADDRESSES = 1000;
/** An address field longer than this is downgraded as text (encoded words), not parsed address by address. */
const MAX_PARSED = 64 * 1024;

/** Where the header section ends: the offset just after the empty line, or the message length without one. */
export function headerLength(raw: Buffer): number {
  let pos = 0;
  while (pos < raw.length) {
    const nl = raw.indexOf(LF, pos);
    if (nl < 0) return raw.length;
    const empty = nl === pos || (nl === pos + 1 && raw[pos] === 0x0d);
    if (empty) return nl + 1;
    pos = nl + 1;
  }
  return raw.length;
}

function hasEightBit(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if ((buf[i] ?? 0) >= 0x80) return true;
  return false;
}

/** True when the header section holds an octet above 0x7F (raw UTF-8 or any other 8-bit text). */
export function headerHasEightBit(raw: Buffer): boolean {
  return hasEightBit(raw, 0, headerLength(raw));
}

/**
 * The message for a client that takes 7-bit header fields only: the same buffer when its header is 7-bit already,
 * else a copy whose UTF-8 fields are rewritten. A field whose 8-bit octets are not UTF-8 (a legacy charset sent raw,
 * long before SMTPUTF8) is left as it is: such clients have always received it so, and guessing its charset to
 * re-encode it would more often garble it. Deterministic, so the size of one downgrade is the size of the next.
 */
export function downgradeMessage(raw: Buffer): Buffer {
  const end = headerLength(raw);
  if (!hasEightBit(raw, 0, end)) return raw;
  const out: Buffer[] = [];
  let fields = 0;
  let pos = 0;
  while (pos < end) {
    // one field: its first line and the continuation lines after it (RFC 5322 §2.2.3)
    let next = pos;
    do {
      const nl = raw.indexOf(LF, next);
      next = nl < 0 || nl >= end ? end : nl + 1;
    } while (next < end && (raw[next] === 0x20 || raw[next] === 0x09));
    const isBlank = next - pos <= 2 && (raw[pos] === 0x0d || raw[pos] === LF);
    const field = raw.subarray(pos, next);
    const text = isBlank || !hasEightBit(raw, pos, next) || ++fields > MAX_FIELDS ? undefined : utf8(field);
    out.push(text === undefined ? field : downgradeField(text));
    pos = next;
  }
  out.push(raw.subarray(end));
  return Buffer.concat(out);
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The field's text if its octets are UTF-8, else undefined. */
function utf8(field: Buffer): string | undefined {
  try {
    return STRICT_UTF8.decode(field);
  } catch {
    return undefined;
  }
}

/** One UTF-8 field (with its line ends) as 7-bit folded lines ending in CRLF. */
function downgradeField(field: string): Buffer {
  const text = field.replace(/\r?\n(?=[ \t])/g, '').replace(/\r?\n$/, '');
  const colon = text.indexOf(':');
  const name = colon > 0 ? text.slice(0, colon) : '';
  const value = colon > 0 ? text.slice(colon + 1).trim() : text.trim();
  const lower = name.toLowerCase();
  let line: string;
  if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) line = `Downgraded-Field: ${encodedWords(text)}`; // not even a field name
  else if (ADDRESS_FIELDS.has(lower) && value.length <= MAX_PARSED) line = `${name}: ${addressList(value)}`;
  else if (PARAM_FIELDS.has(lower)) line = `${name}: ${parameters(value)}`;
  else if (STRUCTURED_FIELDS.has(lower)) line = `Downgraded-${name}: ${encodedWords(value)}`;
  else line = `${name}: ${encodedWords(value)}`; // unstructured (Subject, Comments, X-…)
  // whatever slipped through (none should) still leaves 7-bit
  return Buffer.concat([Buffer.from(fold(line.replace(/[^\x00-\x7f]/g, '?')), 'latin1'), CRLF]);
}

function phrase(name: string): string {
  if (/[^\x20-\x7e]/.test(name)) return encodedWords(name);
  return SPECIALS.test(name) ? `"${name.replace(/(["\\])/g, '\\$1')}"` : name;
}

/** One mailbox in 7-bit: name and address, or an empty group naming a UTF-8 local part (RFC 6857 §3). */
function mailbox(name: string, address: string): { text: string; group: boolean } {
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  const host = at < 0 ? '' : address.slice(at + 1);
  if (at < 0 && /^[\x20-\x7e]*$/.test(address)) return { text: name ? `${phrase(name)} <${address}>` : address, group: false };
  const legacy = legacyAddress(name, local, host);
  if (legacy.kind === 'group') return { text: `${legacy.name}:;`, group: true };
  const addr = `${legacy.mailbox}@${legacy.host}`;
  return { text: name ? `${phrase(name)} <${addr}>` : addr, group: false };
}

function addressList(value: string): string {
  const out: string[] = [];
  for (const a of addressParser(value).slice(0, MAX_ADDRESSES)) {
    if ('group' in a && Array.isArray(a.group)) {
      // groups do not nest: a member that becomes a group of its own follows the group
      const members = a.group.slice(0, MAX_ADDRESSES).map((m) => mailbox(m.name, m.address ?? ''));
      out.push(`${phrase(a.name) || 'undisclosed'}: ${members.filter((m) => !m.group).map((m) => m.text).join(', ')};`);
      out.push(...members.filter((m) => m.group).map((m) => m.text));
    } else if ('address' in a) out.push(mailbox(a.name, a.address ?? '').text);
  }
  return out.join(', ');
}

/** Content-Type / Content-Disposition: the value kept, each UTF-8 parameter in RFC 2231 form (RFC 6857 §3). */
function parameters(value: string): string {
  // splitParams walks the value once: a look-ahead for an even count of quotes after each ';' was quadratic
  const parts = splitParams(value).map((p) => p.trim());
  return parts
    .map((p, i) => {
      if (!/[^\x00-\x7f]/.test(p)) return p;
      const m = /^([^=\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(.*))$/s.exec(p);
      if (i === 0 || !m) return encodedWords(p);
      const [name, v] = rfc2231Param(m[1] ?? '', (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1'));
      // a plain parameter ("name", now "name*") whose value is long goes in numbered segments (RFC 2231 §3, §4.1), so
      // folding keeps every line within 78 characters: one token of it could be thousands long (RFC 5322 §2.1.1: 998)
      if (name.indexOf('*') === name.length - 1 && v.length > PARAM_SEGMENT) return continuations(name.slice(0, -1), v);
      return `${name}=${v}`;
    })
    .join('; ');
}

/** Characters of a parameter's extended value per continuation segment. */
const PARAM_SEGMENT = 60;

/** An extended value ("utf-8''…" with %XX escapes) as "name*0*=…; name*1*=…", never cutting an escape. */
function continuations(name: string, value: string): string {
  const segs: string[] = [];
  let pos = 0;
  while (pos < value.length) {
    let end = Math.min(pos + PARAM_SEGMENT, value.length);
    const pct = value.lastIndexOf('%', end - 1);
    if (pct >= pos && pct > end - 3 && end < value.length) end = pct; // "%X|X": the escape goes whole to the next
    segs.push(`${name}*${segs.length}*=${value.slice(pos, end)}`);
    pos = end;
  }
  return segs.join('; ');
}

/** RFC 5322 §2.2.3: folded at spaces so lines stay near 78 characters (an encoded word is at most 75). */
function fold(line: string): string {
  if (line.length <= FOLD_AT) return line;
  const words = line.split(' ');
  let out = '';
  let cur = '';
  for (const w of words) {
    if (cur === '') cur = w;
    else if (cur.length + 1 + w.length > FOLD_AT && cur.trim() !== '') {
      out += cur + '\r\n';
      cur = ' ' + w;
    } else cur += ' ' + w;
  }
  return out + cur;
}

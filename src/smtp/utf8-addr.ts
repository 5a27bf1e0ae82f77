// The RFC 6533 §3 "utf-8" address type: reading the utf-8-addr-xtext / utf-8-addr-unitext forms a
// client puts in ORCPT, and writing them back out (7-bit for ORCPT and message/delivery-status,
// UTF-8 for message/global-delivery-status).

/** True when every character is US-ASCII. */
export const isAscii = (s: string): boolean => !/[^\x00-\x7f]/.test(s);

// RFC 6533 §3 QCHAR: printable ASCII except SP, "\", "+" and "=" (CTLs are outside the range anyway).
const isQchar = (c: number): boolean => c >= 0x21 && c <= 0x7e && c !== 0x5c && c !== 0x2b && c !== 0x3d;
// C0, DEL and C1 controls: never part of a mailbox.
const CONTROLS = /[\x00-\x1f\x7f-\x9f]/;

/**
 * RFC 6533 §3 HEXPOINT: upper-case hex without leading zeros, naming either an ASCII character that
 * QCHAR leaves out (01-09, 10-19, 20, 2B, 3D, 5C, 7F) or a non-ASCII scalar value (no surrogates).
 */
function hexpoint(hex: string): number | undefined {
  if (!/^[0-9A-F]{2,6}$/.test(hex)) return undefined;
  const value = parseInt(hex, 16);
  if (hex.length === 2) {
    const special = (hex[0] === '0' && hex[1] !== '0') || hex[0] === '1' || ['20', '2B', '3D', '5C', '7F'].includes(hex);
    return special || value >= 0x80 ? value : undefined;
  }
  if (hex[0] === '0' || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) return undefined;
  return value;
}

/**
 * Decodes utf-8-addr-xtext (7-bit) or, when unitext is allowed (the transaction uses SMTPUTF8),
 * utf-8-addr-unitext: QCHARs, UTF-8 characters and "\x{HEXPOINT}" escapes (RFC 6533 §3).
 * Returns the mailbox, or undefined when the value is malformed or not a mailbox.
 */
export function decodeUtf8Addr(value: string, unitext: boolean): string | undefined {
  let out = '';
  for (let i = 0; i < value.length; ) {
    const cp = value.codePointAt(i) as number;
    if (cp === 0x5c) {
      const m = /^\\x\{([^}]{1,8})\}/.exec(value.slice(i));
      const decoded = m?.[1] !== undefined ? hexpoint(m[1]) : undefined;
      if (m === null || decoded === undefined) return undefined;
      out += String.fromCodePoint(decoded);
      i += m[0].length;
      continue;
    }
    // QUCHAR adds UTF-8 characters to QCHAR; lone surrogates are not characters.
    const ok = isQchar(cp) || (unitext && cp >= 0x80 && !(cp >= 0xd800 && cp <= 0xdfff));
    if (!ok) return undefined;
    out += String.fromCodePoint(cp);
    i += cp > 0xffff ? 2 : 1;
  }
  // RFC 6533 §3: "MUST follow utf-8-address ABNF when dequoted" — a Mailbox: local@domain.
  const at = out.lastIndexOf('@');
  if (at <= 0 || at === out.length - 1 || CONTROLS.test(out)) return undefined;
  return out;
}

function encode(mailbox: string, keepUtf8: boolean): string {
  let out = '';
  for (const ch of mailbox) {
    const cp = ch.codePointAt(0) as number;
    out += isQchar(cp) || (keepUtf8 && cp >= 0x80) ? ch : `\\x{${cp.toString(16).toUpperCase()}}`;
  }
  return out;
}

/** utf-8-addr-xtext: 7-bit, valid xtext; safe in ORCPT even without SMTPUTF8 (RFC 6533 §3). */
export const encodeUtf8AddrXtext = (mailbox: string): string => encode(mailbox, false);

/** utf-8-addr-unitext: UTF-8 kept, only the ASCII specials escaped (RFC 6533 §3). */
export const encodeUtf8AddrUnitext = (mailbox: string): string => encode(mailbox, true);

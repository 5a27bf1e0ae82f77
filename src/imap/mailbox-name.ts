// Mailbox names on the wire: modified UTF-7 (RFC 3501 §5.1.3) accepted only in its one canonical form, or UTF-8
// once the client has sent ENABLE UTF8=ACCEPT (RFC 6855 §3).
import { decodeMutf7, encodeMutf7 } from '../store/mutf7.ts';
import { MailboxError } from '../store/mailbox-store.ts';
import { astr, ustr } from './encode.ts';

/** Unpaired UTF-16 surrogates: no Unicode character, so no mailbox name. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** RFC 6855 §3: UTF-8 names MUST NOT contain C0/C1 controls, DEL, LINE SEPARATOR or PARAGRAPH SEPARATOR. */
const NOT_IN_NAMES = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufffd]/;

/**
 * Decodes a wire name; undefined unless it is well-formed modified UTF-7 that encodes back to the same text.
 * RFC 3501 §5.1.3: printable US-ASCII MUST NOT be shifted ("&AGE-" for "a"), and a name has one spelling; a
 * second spelling would name the same folder on disk while comparing unequal everywhere else.
 */
export function decodeMailboxName(wire: string): string | undefined {
  const name = decodeMutf7(wire);
  if (name === undefined || LONE_SURROGATE.test(name) || encodeMutf7(name) !== wire) return undefined;
  return name;
}

/**
 * A name as the client sent it. With UTF8=ACCEPT on, it is UTF-8 as it stands (RFC 6855 §3: the server MUST accept
 * UTF-8 names); "&" is then a plain character, so "A&B" names the folder legacy clients see as "A&-B". U+FFFD is
 * refused too: the line was decoded as UTF-8, and it stands for bytes that were not.
 */
export function mailboxFromWire(wire: string, utf8: boolean): string | undefined {
  if (!utf8) return decodeMailboxName(wire);
  return NOT_IN_NAMES.test(wire) || LONE_SURROGATE.test(wire) ? undefined : wire;
}

/** A name for a response: UTF-8 once enabled (RFC 6855 §3: modified UTF-7 MUST NOT be sent then), else modified UTF-7. */
export function mailboxToWire(name: string, utf8: boolean): string {
  return utf8 ? ustr(name, true) : astr(encodeMutf7(name));
}

/**
 * A name CREATE or RENAME is to give a folder: Unicode NFC only. RFC 6855 §3 holds names to Net-Unicode (RFC 5198 §2,
 * NFC); an NFD spelling looks the same as the NFC one but would be a second folder (from either wire form). Nor may a
 * legacy client's modified UTF-7 make a name UTF-8 clients MUST NOT be sent (RFC 6855 §3: C1 controls, U+2028/9).
 * Existing folders keep whatever name they have, so they stay reachable.
 */
export function newMailboxName(name: string): string {
  if (NOT_IN_NAMES.test(name)) throw new MailboxError('INVALID', 'mailbox name has characters RFC 6855 §3 excludes');
  if (name.normalize('NFC') !== name) throw new MailboxError('INVALID', 'mailbox name is not in Unicode NFC (RFC 5198 §2, RFC 6855 §3)');
  return name;
}

// ENVELOPE (RFC 3501 §7.4.2) from header fields, in one pass over them; address lists memoized by raw value. Two
// forms: UTF-8 for clients that enabled UTF8=ACCEPT (RFC 6855 §3), and 7-bit for the others (downgrade.ts).
import { addressParser } from 'postal-mime';
import type { HeaderField } from '../store/mailbox-store.ts';
import { encodedWords, legacyAddress } from '../mime/downgrade.ts';
import { headerText, str, ustr } from './encode.ts';

/** Encoded address lists by raw header value: From/To values repeat across a mailbox (the user's own address above all). */
export type AddressMemo = Map<string, string>;
const MEMO_MAX = 20_000;
const PRINTABLE = /^[\x20-\x7e]*$/;

/** How strings are written: UTF-8 in quoted strings once enabled (RFC 6855 §3), else 7-bit (UTF-8 text downgraded). */
interface Form {
  utf8: boolean;
  /** A string (never NIL). */
  s: (value: string) => string;
  /** A string or NIL; text in UTF-8 becomes encoded words in the 7-bit form. */
  text: (value: string | undefined) => string;
}

const LEGACY: Form = { utf8: false, s: str, text: (v) => (v === undefined ? 'NIL' : str(encodedWords(v))) };
const UTF8: Form = { utf8: true, s: ustr, text: (v) => (v === undefined ? 'NIL' : ustr(v)) };

function encodeName(name: string, form: Form): string {
  if (!name) return 'NIL';
  return form.utf8 || PRINTABLE.test(name) ? form.s(name) : str(encodedWords(name));
}

function addressListOf(value: string | undefined, memo: AddressMemo | undefined, form: Form): string {
  if (!value) return 'NIL';
  // the two forms of one value differ: each key starts with its form's mark, so no value's key is another's (a
  // value may itself start with NUL, so marking only one form would let a crafted header reach the other's entry)
  const key = (form.utf8 ? 'U' : 'L') + value;
  const known = memo?.get(key);
  if (known !== undefined) return known;
  // names and addresses in 8-bit are UTF-8 (as the Subject)
  const encoded = encodeAddressList(headerText(value), form);
  if (memo) {
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(key, encoded);
  }
  return encoded;
}

/** Stand-ins for a part an address lacks: a NIL host name (and mailbox) would read as group syntax. */
const MISSING_MAILBOX = 'MISSING_MAILBOX';
const MISSING_DOMAIN = 'MISSING_DOMAIN';
const BARE_WORD = /^[\x21-\x7e]+$/;

function encodeAddressList(value: string, form: Form): string {
  const out: string[] = [];
  const bracketed = /[<"]/.test(value); // '"Name" <>' is a name without an address, "root" a bare local part
  // RFC 3501 §7.4.2: a NIL host name starts a group, NIL mailbox and host end it; an address ("From: root",
  // "weird@", "<>") must never take either form, or a client nests the addresses after it into a group.
  const one = (name: string, address: string, inGroup = false): void => {
    let personal = name;
    let addr = address;
    let adl: string | undefined;
    if (addr.startsWith('@')) {
      // obsolete route "<@a,@b:user@host>" (RFC 5322 §4.4): the route is the at-domain-list field
      const colon = addr.indexOf(':');
      if (colon > 0) [adl, addr] = [addr.slice(0, colon), addr.slice(colon + 1)];
    }
    const at = addr.lastIndexOf('@');
    let mailbox = at >= 0 ? addr.slice(0, at) : addr;
    const host = at >= 0 ? addr.slice(at + 1) : '';
    if (!addr && !bracketed && BARE_WORD.test(personal)) [mailbox, personal] = [personal, '']; // a bare local part
    mailbox ||= MISSING_MAILBOX;
    let hostPart = host || MISSING_DOMAIN;
    if (!form.utf8) {
      const legacy = legacyAddress(personal, mailbox, hostPart);
      // RFC 5322 §3.4: groups do not nest, and RFC 3501 §7.4.2's end marker would close the enclosing group early
      // (its later members read as outside it); a member keeps its text as the name of an address with stand-ins
      if (legacy.kind === 'group' && inGroup) [personal, mailbox, hostPart, adl] = [personal ? `${personal} <${mailbox}@${hostPart}>` : `${mailbox}@${hostPart}`, MISSING_MAILBOX, MISSING_DOMAIN, undefined];
      else if (legacy.kind === 'group') {
        out.push(`(NIL NIL ${str(legacy.name)} NIL)(NIL NIL NIL NIL)`);
        return;
      } else [mailbox, hostPart] = [legacy.mailbox, legacy.host];
      if (adl !== undefined && !PRINTABLE.test(adl)) adl = undefined; // an obsolete route in UTF-8: no 7-bit form
    }
    out.push(`(${encodeName(personal, form)} ${adl === undefined ? 'NIL' : form.s(adl)} ${form.s(mailbox)} ${form.s(hostPart)})`);
  };
  for (const a of addressParser(value).slice(0, 1000)) {
    if ('group' in a && Array.isArray(a.group)) {
      out.push(`(NIL NIL ${form.utf8 ? ustr(a.name) : str(encodedWords(a.name))} NIL)`); // RFC 3501 §7.4.2 group syntax
      for (const m of a.group) one(m.name, m.address, true);
      out.push('(NIL NIL NIL NIL)');
    } else if ('address' in a) one(a.name, a.address ?? '');
  }
  return out.length === 0 ? 'NIL' : '(' + out.join('') + ')';
}

/**
 * ENVELOPE from header fields (lower-cased names, unfolded values as latin1 code units of the message bytes; the
 * first occurrence of a field counts). Sender and reply-to default to from (RFC 3501 §7.4.2).
 */
export function envelopeOf(fields: readonly HeaderField[], memo?: AddressMemo, utf8 = false): string {
  const form = utf8 ? UTF8 : LEGACY;
  let date: string | undefined;
  let subject: string | undefined;
  let from: string | undefined;
  let sender: string | undefined;
  let replyTo: string | undefined;
  let to: string | undefined;
  let cc: string | undefined;
  let bcc: string | undefined;
  let inReplyTo: string | undefined;
  let messageId: string | undefined;
  for (const [name, value] of fields) {
    switch (name) {
      case 'date': date ??= value; break;
      case 'subject': subject ??= value; break;
      case 'from': from ??= value; break;
      case 'sender': sender ??= value; break;
      case 'reply-to': replyTo ??= value; break;
      case 'to': to ??= value; break;
      case 'cc': cc ??= value; break;
      case 'bcc': bcc ??= value; break;
      case 'in-reply-to': inReplyTo ??= value; break;
      case 'message-id': messageId ??= value; break;
    }
  }
  const fromList = addressListOf(from, memo, form);
  const senderList = sender ? addressListOf(sender, memo, form) : fromList;
  const replyToList = replyTo ? addressListOf(replyTo, memo, form) : fromList;
  // 8-bit header text is read as UTF-8 (in practice it is; RFC 6532), bytes that are not UTF-8 as U+FFFD.
  const text = (v: string | undefined): string | undefined => (v === undefined ? v : headerText(v));
  // join() yields one flat string: envelopes are kept (envelope-cache.ts), and a concatenation would keep its pieces.
  const parts = ['(' + form.text(text(date)), form.text(text(subject)), fromList, senderList, replyToList, addressListOf(to, memo, form), addressListOf(cc, memo, form), addressListOf(bcc, memo, form), form.text(text(inReplyTo)), form.text(text(messageId)) + ')'];
  return parts.join(' ');
}

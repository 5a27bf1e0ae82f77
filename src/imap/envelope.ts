// ENVELOPE (RFC 3501 §7.4.2) from header fields, in one pass over them; address lists memoized by raw value.
import { addressParser } from 'postal-mime';
import type { HeaderField } from '../store/mailbox-store.ts';
import { headerText, nstr, str } from './encode.ts';

/** Encoded address lists by raw header value: From/To values repeat across a mailbox (the user's own address above all). */
export type AddressMemo = Map<string, string>;
const MEMO_MAX = 20_000;
const PRINTABLE = /^[\x20-\x7e]*$/;

function encodeName(name: string): string | undefined {
  if (!name) return undefined;
  return PRINTABLE.test(name) ? name : `=?utf-8?b?${Buffer.from(name, 'utf8').toString('base64')}?=`;
}

function addressListOf(value: string | undefined, memo: AddressMemo | undefined): string {
  if (!value) return 'NIL';
  const known = memo?.get(value);
  if (known !== undefined) return known;
  // names and addresses in 8-bit are UTF-8 (as the Subject); encodeName makes a name an encoded word of that text
  const encoded = encodeAddressList(headerText(value));
  if (memo) {
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(value, encoded);
  }
  return encoded;
}

/** Stand-ins for a part an address lacks: a NIL host name (and mailbox) would read as group syntax. */
const MISSING_MAILBOX = 'MISSING_MAILBOX';
const MISSING_DOMAIN = 'MISSING_DOMAIN';
const BARE_WORD = /^[\x21-\x7e]+$/;

function encodeAddressList(value: string): string {
  const out: string[] = [];
  const bracketed = /[<"]/.test(value); // '"Name" <>' is a name without an address, "root" a bare local part
  // RFC 3501 §7.4.2: a NIL host name starts a group, NIL mailbox and host end it; an address ("From: root",
  // "weird@", "<>") must never take either form, or a client nests the addresses after it into a group.
  const one = (name: string, address: string): void => {
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
    out.push(`(${nstr(encodeName(personal))} ${nstr(adl)} ${str(mailbox || MISSING_MAILBOX)} ${str(host || MISSING_DOMAIN)})`);
  };
  for (const a of addressParser(value).slice(0, 1000)) {
    if ('group' in a && Array.isArray(a.group)) {
      out.push(`(NIL NIL ${str(a.name)} NIL)`); // RFC 3501 §7.4.2 group syntax
      for (const m of a.group) one(m.name, m.address);
      out.push('(NIL NIL NIL NIL)');
    } else if ('address' in a) one(a.name, a.address ?? '');
  }
  return out.length === 0 ? 'NIL' : '(' + out.join('') + ')';
}

/**
 * ENVELOPE from header fields (lower-cased names, unfolded values as latin1 code units of the message bytes; the
 * first occurrence of a field counts). Sender and reply-to default to from (RFC 3501 §7.4.2).
 */
export function envelopeOf(fields: readonly HeaderField[], memo?: AddressMemo): string {
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
  const fromList = addressListOf(from, memo);
  const senderList = sender ? addressListOf(sender, memo) : fromList;
  const replyToList = replyTo ? addressListOf(replyTo, memo) : fromList;
  // 8-bit header text is read as UTF-8 (in practice it is; RFC 6532), bytes that are not UTF-8 as U+FFFD.
  const text = (v: string | undefined): string | undefined => (v === undefined ? v : headerText(v));
  // join() yields one flat string: envelopes are kept (envelope-cache.ts), and a concatenation would keep its pieces.
  const parts = ['(' + nstr(text(date)), nstr(text(subject)), fromList, senderList, replyToList, addressListOf(to, memo), addressListOf(cc, memo), addressListOf(bcc, memo), nstr(text(inReplyTo)), nstr(text(messageId)) + ')'];
  return parts.join(' ');
}

// What SORT and THREAD compare of one message (RFC 5256 §2.1, §2.2, §3), taken from the store's cached header fields:
// the sent date, the base subject, the first From/To/Cc mailbox, the Message-ID and the references. Garbled fields
// (normal in a spam folder) give empty or missing values, never an error.
import { addressParser } from 'postal-mime';
import type { HeaderField, MessageMeta } from '../store/mailbox-store.ts';
import { asciiFold, baseSubject, unicodeFold } from './base-subject.ts';

/** What the header fields give (never changes for a UID: kept by the session context's sortKeys cache). */
export interface HeaderKeys {
  /** The Date header's time (ms); NaN when it is missing or unparsable. */
  date: number;
  /** Base subject folded by i;unicode-casemap (RFC 5256 §1, §2.1; see unicodeFold). */
  subject: string;
  replyOrForward: boolean;
  /** addr-mailbox of the first address, folded (RFC 5256 §3 FROM/TO/CC); empty when there is none. */
  from: string;
  to: string;
  cc: string;
  /** The Message-ID (between the brackets), when valid. */
  messageId: string | undefined;
  /** RFC 5256 §3 REFERENCES step 1: the References IDs, or the first In-Reply-To ID. */
  references: readonly string[];
}

export interface MessageKeys extends HeaderKeys {
  seq: number;
  uid: number;
  /** RFC 5256 §2.2 sent date (ms): the Date header's time, or INTERNALDATE when it is missing or unparsable. */
  sent: number;
  /** INTERNALDATE (ms), for ARRIVAL. */
  arrival: number;
  size: number;
}

/** References kept per message (the cache keeps the first and last ones already; see maildir-headers.ts). */
const MAX_REFERENCES = 64;

const first = (fields: readonly HeaderField[], name: string): string | undefined => {
  for (const f of fields) if (f[0] === name) return f[1];
  return undefined;
};

/**
 * A string of its own: a slice or match of a field value is kept by V8 as a view into the whole value, so a short key
 * cut from a huge header field would hold all of it in the cache while counting only its own length.
 */
const own = (text: string): string => (text.length < 13 ? text : (' ' + text).slice(1));

export function headerKeys(fields: readonly HeaderField[]): HeaderKeys {
  const date = first(fields, 'date');
  const subject = baseSubject(first(fields, 'subject') ?? '');
  const refs = messageIds(first(fields, 'references') ?? '');
  const messageId = messageIds(first(fields, 'message-id') ?? '')[0];
  return {
    date: date === undefined ? NaN : parseSentDate(date),
    subject: own(unicodeFold(subject.text)),
    replyOrForward: subject.replyOrForward,
    from: own(firstMailbox(first(fields, 'from'))),
    to: own(firstMailbox(first(fields, 'to'))),
    cc: own(firstMailbox(first(fields, 'cc'))),
    messageId: messageId === undefined ? undefined : own(messageId),
    // "If a message does not contain a References header line, or the References header line does not contain any
    // valid Message IDs, then use the first (if any) valid Message ID found in the In-Reply-To header line"
    references: (refs.length > 0 ? refs.slice(-MAX_REFERENCES) : messageIds(first(fields, 'in-reply-to') ?? '').slice(0, 1)).map(own),
  };
}

/** What a HeaderKeys entry counts against the cache's size (about its bytes). */
export function headerKeysSize(k: HeaderKeys): number {
  let n = 64 + k.subject.length + k.from.length + k.to.length + k.cc.length + (k.messageId?.length ?? 0);
  for (const r of k.references) n += r.length + 16;
  return n;
}

export function messageKeys(seq: number, meta: MessageMeta, keys: HeaderKeys): MessageKeys {
  // a literal of one shape (a spread was several times slower over a big mailbox)
  return {
    date: keys.date,
    subject: keys.subject,
    replyOrForward: keys.replyOrForward,
    from: keys.from,
    to: keys.to,
    cc: keys.cc,
    messageId: keys.messageId,
    references: keys.references,
    seq,
    uid: meta.uid,
    sent: Number.isNaN(keys.date) ? meta.internalDate : keys.date, // RFC 5256 §2.2
    arrival: meta.internalDate,
    size: meta.size,
  };
}

/**
 * A msg-id has no folding white space, so it fits on a line (RFC 5322 §2.1.1: 998 characters); a longer one is not
 * valid. It matters: THREAD keys its table by message ID, and V8 hashes strings above 16,383 characters by their
 * length alone, so thousands of junk IDs of one length would make each lookup compare them all.
 */
const MAX_ID = 998;

/** Message IDs in a field (msg-id, RFC 5322 §3.6.4), leniently: "<left@right>", without the brackets; others skipped. */
export function messageIds(value: string): string[] {
  const out: string[] = [];
  for (const m of value.matchAll(/<([^<>\s]*)>/g)) {
    const id = m[1] ?? '';
    if (id.indexOf('@') > 0 && id.indexOf('@') < id.length - 1 && id.length <= MAX_ID) out.push(id);
  }
  return out;
}

/** RFC 5256 §3: the addr-mailbox (local part) of the first address, folded by i;ascii-casemap; empty when none. */
export function firstMailbox(value: string | undefined): string {
  if (!value) return '';
  const text = /[\x80-\xff]/.test(value) ? Buffer.from(value, 'latin1').toString('utf8') : value;
  let address = '';
  try {
    const [a] = addressParser(text);
    if (a && 'group' in a && Array.isArray(a.group)) address = a.group[0]?.address ?? '';
    else if (a && 'address' in a) address = a.address ?? '';
    // "From: root": a bare local part, as ENVELOPE tells it (envelope.ts)
    if (!address && a && !/[<"]/.test(text) && /^[\x21-\x7e]+$/.test(a.name)) address = a.name;
  } catch {
    return '';
  }
  const at = address.lastIndexOf('@');
  return asciiFold(at >= 0 ? address.slice(0, at) : address);
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
/** RFC 5322 §4.3 obsolete zones; military letters are unreliable and read as +0000, as §4.3 says. */
const ZONES: Record<string, number> = { ut: 0, gmt: 0, z: 0, est: -5, edt: -4, cst: -6, cdt: -5, mst: -7, mdt: -6, pst: -8, pdt: -7 };

/**
 * The time a Date header names (RFC 5322 §3.3, with the obsolete forms of §4.3), in ms; NaN when it does not parse.
 * RFC 5256 §2.2: a date without a zone is taken as UTC.
 */
export function parseSentDate(value: string): number {
  const m = /(\d{1,2})\s+([a-z]{3})[a-z]*\.?\s+(\d{2,4})\s+(\d{1,2})\s*:\s*(\d{2})(?:\s*:\s*(\d{2}))?(?:\s*([+-]\d{4}|[a-z]{1,5}))?/i.exec(value);
  if (!m) return NaN;
  const month = MONTHS.indexOf((m[2] ?? '').toLowerCase());
  if (month < 0) return NaN;
  let year = Number(m[3]);
  if ((m[3] ?? '').length === 2) year += year < 50 ? 2000 : 1900; // RFC 5322 §4.3
  else if ((m[3] ?? '').length === 3) year += 1900;
  const [day, hour, minute, second] = [Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)];
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return NaN;
  let offsetMinutes = 0;
  const zone = m[7];
  if (zone !== undefined && /^[+-]/.test(zone)) {
    const n = Number(zone.slice(1));
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (Math.floor(n / 100) * 60 + (n % 100));
  } else if (zone !== undefined) offsetMinutes = (ZONES[zone.toLowerCase()] ?? 0) * 60;
  // not Date.UTC, which reads years 0-99 as 1900-1999 (a four-digit "0050" is the year 50)
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(hour, minute, second);
  const t = d.getTime() - offsetMinutes * 60_000;
  return Number.isFinite(t) ? t : NaN;
}

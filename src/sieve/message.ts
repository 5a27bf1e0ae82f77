// What a Sieve script sees of a message: header values RFC 2047-decoded (RFC 5228 §2.7.2), the addresses of
// address header fields, the size, the SMTP envelope (RFC 5228 §5.4) and the body for the body test (RFC 5173).
import addressparser from 'nodemailer/lib/addressparser';
import { decodeHeaderValue, parseHeaderBlock, splitHeadBody } from '../mime/headers.ts';
import { bodyParts, decodedValues, rawBody, rawValues, type BodyParts, type BodyValues } from './body.ts';
import type { AddressPart, BodyTransform } from './script.ts';
import type { SieveVerdict } from './spamtest.ts';

export interface SieveMessage {
  /** Every value of the field (lower-cased name), decoded, in order. */
  header(name: string): string[];
  /** The addresses in every field of that name; none for fields that hold no addresses (RFC 5228 §5.1). */
  addresses(name: string): string[];
  /** The same, field by field (for :index, RFC 5260 §6). */
  addressFields(name: string): string[][];
  /** Octets. */
  size: number;
  /** The envelope sender ('' for the null reverse path) and the recipient being delivered to. */
  envelope: { from: string; to: string };
  /** What a body test compares (RFC 5173 §5), decoded once per transform. */
  body(transform: BodyTransform): BodyValues;
  /** spamgate's verdict for this recipient, from the delivery (RFC 5235); empty when the message was not judged. */
  verdict: SieveVerdict;
}

/** RFC 5228 §5.1: the address test is restricted to fields that hold addresses. */
const ADDRESS_FIELDS = new Set([
  'from', 'to', 'cc', 'bcc', 'sender', 'reply-to', 'resent-from', 'resent-to', 'resent-cc', 'resent-bcc', 'resent-sender', 'resent-reply-to',
  'return-path', 'delivered-to', 'x-original-to', 'envelope-to', 'errors-to', 'disposition-notification-to', 'mail-followup-to', 'mail-reply-to',
]);
/** The header section read: its first 64 KiB; fields past 500 are not seen. */
const MAX_HEAD_BYTES = 65_536;
/** Addresses taken from one field. */
const MAX_ADDRESSES = 500;

export function sieveMessage(raw: Buffer, envelope: { from: string; to: string }, verdict: SieveVerdict = {}): SieveMessage {
  let fields: Map<string, string[]> | undefined;
  const raws = (): Map<string, string[]> => {
    if (fields) return fields;
    fields = new Map();
    const { head } = splitHeadBody(raw.subarray(0, MAX_HEAD_BYTES).toString('utf8'));
    for (const f of parseHeaderBlock(head)) {
      const name = f.name.toLowerCase();
      const list = fields.get(name) ?? [];
      list.push(f.value);
      fields.set(name, list);
    }
    return fields;
  };
  // decoded once per field name, however many tests look at it
  const decoded = new Map<string, string[]>();
  const parsed = new Map<string, string[][]>();
  const bodies = new Map<string, string[]>();
  let parts: BodyParts | undefined;
  const addressFields = (name: string): string[][] => {
    if (!ADDRESS_FIELDS.has(name)) return [];
    const known = parsed.get(name);
    if (known) return known;
    const out: string[][] = [];
    for (const value of raws().get(name) ?? []) {
      const field: string[] = [];
      for (const a of addressparser(value, { flatten: true }).slice(0, MAX_ADDRESSES)) if (a.address) field.push(a.address);
      out.push(field);
    }
    parsed.set(name, out);
    return out;
  };
  return {
    body: (transform) => {
      const key = JSON.stringify(transform);
      const known = bodies.get(key);
      // decoded once: a second test of the same transform costs only its comparisons
      if (known) return { values: known, scanned: 0 };
      if (transform.kind === 'raw') {
        const body = rawBody(raw);
        const values = rawValues(body);
        bodies.set(key, values);
        return { values, scanned: body.length };
      }
      // one MIME walk serves every :text and :content test (their type lists differ, the parts do not): its
      // bytes are paid by the first
      const first = parts === undefined;
      parts ??= bodyParts(raw);
      const values = decodedValues(parts, transform);
      bodies.set(key, values);
      return { values, scanned: first ? parts.scanned : 0 };
    },
    header: (name) => {
      let values = decoded.get(name);
      if (!values) decoded.set(name, (values = (raws().get(name) ?? []).map(decodeHeaderValue)));
      return values;
    },
    addresses: (name) => addressFields(name).flat(),
    addressFields,
    size: raw.length,
    envelope,
    verdict,
  };
}

/**
 * The part of an address an address or envelope test compares (RFC 5228 §2.7.4); the domain is after the last '@'.
 * Undefined for :localpart or :domain of an address without both (§2.7.4: an address that is not syntactically
 * valid is not matched by them). :user and :detail (RFC 5233 §4) cut the local part at the first `delimiter`, as
 * the mail host does: without one, :user is the whole local part and :detail is not there (RFC 5233 §4: the
 * test then does not match it); "user+" has an empty detail.
 */
export function addressPart(address: string, part: AddressPart, delimiter = '+'): string | undefined {
  if (part === 'all') return address;
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  if (part === 'domain') return address.slice(at + 1);
  const local = address.slice(0, at);
  if (part === 'localpart') return local;
  const cut = delimiter === '' ? -1 : local.indexOf(delimiter);
  if (part === 'user') return cut < 0 ? local : local.slice(0, cut);
  return cut < 0 ? undefined : local.slice(cut + delimiter.length);
}

// MAIL FROM and RCPT TO parameters as the gateway takes them: only those of the extensions it offers
// (others get 555), and the sender's DSN requests (RFC 3461 §4) checked and kept for the envelope.
// smtp-server has already decoded xtext, refused duplicates and checked RET and NOTIFY values (501).
import type { SMTPServerAddress } from 'smtp-server';
import type { DsnParameters, NotifyKeyword, RecipientDsnRequest } from '../queue/types.ts';
import { xtextEncode } from './next-hop-params.ts';
import { SmtpError } from './smtp-error.ts';
import { decodeUtf8Addr, encodeUtf8AddrXtext, isAscii } from './utf8-addr.ts';

/** What MAIL FROM said besides the address. */
export interface MailParameters {
  smtputf8: boolean;
  body8bit: boolean;
  declaredSize?: number;
  ret?: DsnParameters['ret'];
  envid?: string;
}

/** The DSN requests of one transaction, collected from MAIL FROM and each accepted RCPT TO. */
export interface TransactionDsn {
  ret?: DsnParameters['ret'];
  envid?: string;
  rcptDsn: Record<string, RecipientDsnRequest>;
}

// SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531), AUTH (RFC 4954 §5), RET/ENVID (RFC 3461 §4.3, §4.4).
const MAIL_KEYWORDS = new Set(['SIZE', 'BODY', 'SMTPUTF8', 'AUTH', 'RET', 'ENVID']);
// NOTIFY/ORCPT (RFC 3461 §4.1, §4.2).
const RCPT_KEYWORDS = new Set(['NOTIFY', 'ORCPT']);
const NOTIFY_KEYWORDS: ReadonlySet<string> = new Set<NotifyKeyword>(['NEVER', 'SUCCESS', 'FAILURE', 'DELAY']);
const ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** RFC 5321 §4.1.1.11: a parameter of an extension we do not offer is refused with 555. */
function refuseUnsupported(args: SMTPServerAddress['args'], known: ReadonlySet<string>): void {
  for (const key of Object.keys(args || {})) {
    if (!known.has(key)) throw new SmtpError(555, '5.5.4', `Unsupported parameter ${key.slice(0, 40)}`);
  }
}

const isNotifyKeyword = (k: string): k is NotifyKeyword => NOTIFY_KEYWORDS.has(k);

export function readMailParameters(address: SMTPServerAddress): MailParameters {
  const args = address.args || {};
  refuseUnsupported(args, MAIL_KEYWORDS);
  const out: MailParameters = { smtputf8: args.SMTPUTF8 === true, body8bit: String(args.BODY ?? '').toUpperCase() === '8BITMIME' };
  if (args.SIZE !== undefined) out.declaredSize = Number(args.SIZE);
  if (typeof args.RET === 'string') out.ret = args.RET.toUpperCase() === 'FULL' ? 'FULL' : 'HDRS';
  if (typeof args.ENVID === 'string') {
    // RFC 3461 §4.4: printable US-ASCII, and the parameter value (xtext, as it goes on to the next hop; smtp-server
    // has decoded it) at most 100 characters: checked on the decoded text, 100 "=" were taken and went on as 300.
    if (!PRINTABLE_ASCII.test(args.ENVID) || xtextEncode(args.ENVID).length > 100) throw new SmtpError(501, '5.5.4', 'Bad ENVID parameter syntax');
    out.envid = args.ENVID;
  }
  return out;
}

/**
 * The recipient's NOTIFY/ORCPT, or undefined when it gave neither. smtputf8: the transaction's MAIL
 * FROM carried SMTPUTF8 (RFC 6531 §3.4), which lets ORCPT use the utf-8-addr-unitext form.
 */
export function readRcptParameters(address: SMTPServerAddress, smtputf8 = false): RecipientDsnRequest | undefined {
  refuseUnsupported(address.args, RCPT_KEYWORDS);
  const request: RecipientDsnRequest = {};
  const notify = address.dsn?.notify?.map((k) => k.toUpperCase());
  if (notify?.length) {
    const keywords = notify.filter(isNotifyKeyword);
    // RFC 3461 §4.1: NEVER or any of SUCCESS, FAILURE, DELAY (smtp-server checks this too).
    if (keywords.length !== notify.length || (keywords.includes('NEVER') && keywords.length > 1)) throw new SmtpError(501, '5.5.4', 'Bad NOTIFY parameter syntax');
    request.notify = [...new Set(keywords)];
  }
  const orcpt = address.dsn?.orcpt;
  if (orcpt !== undefined) request.orcpt = withinOrcptLimit(readOrcpt(orcpt, smtputf8));
  return request.notify || request.orcpt !== undefined ? request : undefined;
}

/**
 * RFC 3461 §4.2: addr-type ";" xtext, at most 500 characters (smtp-server has decoded the xtext).
 * rfc822 and other types: printable US-ASCII. RFC 6533 §3 "utf-8": utf-8-addr-xtext, or with
 * SMTPUTF8 utf-8-addr-unitext; kept decoded as "utf-8;mailbox", encoded again wherever it goes.
 */
function readOrcpt(orcpt: string, smtputf8: boolean): string {
  const semi = orcpt.indexOf(';');
  const type = orcpt.slice(0, Math.max(semi, 0));
  const addr = orcpt.slice(semi + 1);
  const bad = (): SmtpError => new SmtpError(501, '5.5.4', 'Bad ORCPT parameter syntax');
  if (semi <= 0 || orcpt.length > 500 || !ATOM.test(type)) throw bad();
  if (type.toLowerCase() !== 'utf-8') {
    if (PRINTABLE_ASCII.test(addr)) return orcpt;
    // A widespread MTA writes a non-ASCII original recipient as rfc822 with its UTF-8 bytes in xtext
    // ("rfc822;j+C3+B6rg@…", 7-bit on the wire) rather than as RFC 6533's utf-8 type. Refused with 501, the
    // recipient bounced at that MTA; it is taken as the utf-8 address it names and goes on in RFC 6533 form.
    const mailbox = type.toLowerCase() === 'rfc822' ? utf8FromXtextBytes(addr) : undefined;
    if (mailbox === undefined) throw bad();
    return `utf-8;${mailbox}`;
  }
  // RFC 6531 §3.5: a non-ASCII address in a transaction without SMTPUTF8 gets 553 with X.6.7.
  if (!smtputf8 && !isAscii(addr)) throw new SmtpError(553, '5.6.7', 'Non-ASCII ORCPT address needs SMTPUTF8');
  const mailbox = decodeUtf8Addr(addr, smtputf8);
  if (mailbox === undefined) throw bad();
  return `utf-8;${mailbox}`;
}

/**
 * RFC 3461 §4.2: the ORCPT value at most 500 characters, as it goes on to the next hop (xtext, or RFC 6533's
 * utf-8-addr-xtext); the decoded text was checked before, and "=" or non-ASCII octets triple in length on the way.
 */
function withinOrcptLimit(orcpt: string): string {
  const semi = orcpt.indexOf(';');
  const type = orcpt.slice(0, semi);
  const addr = orcpt.slice(semi + 1);
  const encoded = type.toLowerCase() === 'utf-8' ? encodeUtf8AddrXtext(addr) : xtextEncode(addr);
  if (type.length + 1 + encoded.length > 500) throw new SmtpError(501, '5.5.4', 'Bad ORCPT parameter syntax');
  return orcpt;
}

/** An xtext-decoded value (one character per octet) as the UTF-8 mailbox it spells, when it is one and not ASCII. */
function utf8FromXtextBytes(value: string): string | undefined {
  if (!/^[\x21-\x7e\x80-\xff]+$/.test(value) || isAscii(value)) return undefined;
  let mailbox: string;
  try {
    mailbox = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(value, 'latin1'));
  } catch {
    return undefined;
  }
  // control characters and spaces have no place in a mailbox (C0, DEL and C1)
  return /[\x00-\x20\x7f-\x9f]/.test(mailbox) ? undefined : mailbox;
}

/** The envelope fields for a transaction's DSN requests: only what the client gave. */
export function dsnEnvelopeFields(dsn: TransactionDsn): DsnParameters {
  return {
    ...(dsn.ret ? { ret: dsn.ret } : {}),
    ...(dsn.envid !== undefined ? { envid: dsn.envid } : {}),
    ...(Object.keys(dsn.rcptDsn).length ? { rcptDsn: { ...dsn.rcptDsn } } : {}),
  };
}

// Delivery status notifications (RFC 3464) as multipart/report (RFC 6522): failure bounces, delay
// warnings and success notices, returning the original headers (text/rfc822-headers) or, for a
// failure when the sender asked with RET=FULL, the whole message (RFC 3461 §4.3). The notice about
// an SMTPUTF8 message is an RFC 6533 one: message/global-delivery-status, message/global(-headers).
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { encodeUtf8AddrUnitext, encodeUtf8AddrXtext, isAscii } from '../smtp/utf8-addr.ts';
import { dsnRequestOf, type NoticeKind } from './dsn-policy.ts';
import type { NextHopReply, QueueEnvelope } from './types.ts';
import { messageForRemote } from './outgoing-fields.ts';

/** RFC 3464 §2.3.3 action values. */
export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

export interface DsnRecipient {
  recipient: string;
  action: DsnAction;
  reply: NextHopReply;
  remoteMta?: string;
}

/** Default of queue.return_full_max_size: RET=FULL returns a failed message whole up to this size. */
export const DEFAULT_RETURN_FULL_MAX_BYTES = 10 * 1024 * 1024;

export interface DsnInput {
  kind: NoticeKind;
  /** Name of this MTA (Reporting-MTA, From domain). */
  hostname: string;
  queueId: string;
  envelope: QueueEnvelope;
  recipients: DsnRecipient[];
  original: Buffer;
  now: number;
  /** For delay warnings: when we give up. */
  expiresAt?: number;
  /** RET=FULL returns a failed message whole up to this size, a larger one as headers only (default 10 MiB). */
  returnFullMaxBytes?: number;
}

/**
 * RFC 6533 §4: the notice about a message that came with SMTPUTF8, or whose addresses (reverse
 * path, recipients, ORCPT) are not ASCII, is a "global" one, with UTF-8 in its fields and headers.
 */
export function needsGlobalDsn(envelope: QueueEnvelope, recipients: readonly DsnRecipient[]): boolean {
  if (envelope.smtputf8 === true || !isAscii(envelope.mailFrom)) return true;
  return recipients.some((r) => !isAscii(r.recipient) || !isAscii(dsnRequestOf(envelope, r.recipient)?.orcpt ?? ''));
}

/** The original message's header section, up to the first empty line. */
export function headerSection(message: Buffer): Buffer {
  const crlf = message.indexOf('\r\n\r\n');
  const lf = message.indexOf('\n\n');
  const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 2 : lf >= 0 ? lf + 1 : message.length;
  return message.subarray(0, Math.min(end, 256 * 1024));
}

/** A status code for the DSN: the enhanced code of the reply, else one derived from the action and reply class. */
function statusOf(r: DsnRecipient): string {
  const success = r.action === 'delivered' || r.action === 'relayed' || r.action === 'expanded';
  if (r.reply.enhanced && (r.reply.enhanced[0] === '2') === success) return r.reply.enhanced;
  if (success) return '2.0.0';
  if (r.action === 'delayed') return '4.0.0';
  return r.reply.code >= 500 ? '5.0.0' : '4.0.0';
}

const SUBJECTS: Record<NoticeKind, string> = {
  failure: 'Undelivered Mail Returned to Sender',
  delay: 'Delayed Mail (still being retried)',
  success: 'Successful Mail Delivery Report',
};

/** Keeps header field values on one line; 7-bit safe unless the notice is a global one (RFC 6532 §3.2). */
const clean = (s: string, global = false): string => s.replace(/[\r\n]+/g, ' ').replace(global ? /[\x00-\x1f\x7f-\x9f]/g : /[^\x20-\x7e]/g, '?');

/** Octets of a reply kept in a notice: its lines must stay under RFC 5322's 998 (a next hop may refuse longer). */
const MAX_DIAGNOSTIC_OCTETS = 800;

/** A reply as one line for a notice ("550 5.1.1 text…"), multi-line replies joined, cut to MAX_DIAGNOSTIC_OCTETS. */
function diagnostic(reply: NextHopReply, global: boolean, budget = MAX_DIAGNOSTIC_OCTETS): string {
  const line = clean(`${reply.code} ${reply.enhanced ? reply.enhanced + ' ' : ''}${reply.text}`.replace(/\s+/g, ' '), global);
  if (Buffer.byteLength(line, 'utf8') <= budget) return line;
  let cut = line.slice(0, budget);
  while (cut.length > 0 && Buffer.byteLength(cut, 'utf8') > budget - 6) cut = cut.slice(0, -1);
  return `${cut} [...]`;
}

/** An MTA name for Remote-MTA (RFC 3464 §2.3.5, type dns): a host name, or an address in its RFC 5321 literal form. */
function mtaName(name: string): string {
  const family = isIP(name);
  return family === 4 ? `[${name}]` : family === 6 ? `[IPv6:${name}]` : clean(name);
}

/** What is left of a 998-octet line after `prefix`, for the diagnostic (at most MAX_DIAGNOSTIC_OCTETS). */
const budgetAfter = (prefix: string): number => Math.max(60, Math.min(MAX_DIAGNOSTIC_OCTETS, 990 - Buffer.byteLength(prefix, 'utf8')));

/** An address as the RFC 6533 §3 utf-8 type: unitext in a global DSN, else the 7-bit xtext form. */
const utf8Type = (mailbox: string, global: boolean): string => `utf-8; ${global ? encodeUtf8AddrUnitext(mailbox) : encodeUtf8AddrXtext(mailbox)}`;

/** Final-Recipient (RFC 3464 §2.3.2): rfc822 for an ASCII address, else the utf-8 type. */
const finalRecipient = (address: string, global: boolean): string => (isAscii(address) ? `rfc822; ${clean(address)}` : utf8Type(address, global));

/** Original-Recipient (RFC 3464 §2.3.1): ORCPT as given; the utf-8 type encoded for this part (RFC 6533 §3). */
function originalRecipient(orcpt: string, global: boolean): string {
  const semi = orcpt.indexOf(';');
  return semi > 0 && orcpt.slice(0, semi).toLowerCase() === 'utf-8' ? utf8Type(orcpt.slice(semi + 1), global) : clean(orcpt);
}

/** A MIME part's head; "8bit" declared when its body is not 7-bit (RFC 2045 §6.2). */
function partHead(boundary: string, contentType: string, description: string, body: Buffer): string {
  const eightBit = body.some((b) => b > 127) ? 'Content-Transfer-Encoding: 8bit\r\n' : '';
  return `--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Description: ${description}\r\n${eightBit}\r\n`;
}

function humanText(input: DsnInput, list: string, returned: 'full' | 'headers'): string {
  const intro = `This is the mail system at ${input.hostname}.\r\n\r\n`;
  if (input.kind === 'failure') {
    const attached = returned === 'full' ? 'It is attached below.' : 'It is attached below (headers only).';
    return `${intro}Your message could not be delivered to one or more recipients.\r\n${attached}\r\n\r\n${list}\r\n`;
  }
  if (input.kind === 'delay') {
    return `${intro}Your message has not been delivered yet to the recipients below.\r\nDelivery will be retried until ${new Date(input.expiresAt ?? input.now).toUTCString()};\r\nyou do not need to resend it.\r\n\r\n${list}\r\n`;
  }
  return `${intro}Your message was delivered or passed on to the recipients below, as you asked\r\n(a "relayed" recipient is at a system that sends no further notices).\r\n\r\n${list}\r\n`;
}

/**
 * The part that returns the original: whole for a failure with RET=FULL (up to the limit), else its
 * headers. RFC 6533 §4 (media types in §6.3, §6.4): message/global and message/global-headers in a global notice.
 */
function returnedPart(given: DsnInput, boundary: string, global: boolean): { parts: Buffer[]; returned: 'full' | 'headers' } {
  // our own outgoing mail: its sender may be at another domain (a trusted network's mail for others), and spamgate's
  // verdict fields are this site's business (outgoing-fields.ts), so they are not returned either
  const input = { ...given, original: messageForRemote(given.envelope, given.original) };
  const limit = input.returnFullMaxBytes ?? DEFAULT_RETURN_FULL_MAX_BYTES;
  if (input.kind === 'failure' && input.envelope.ret === 'FULL' && input.original.length <= limit) {
    const head = partHead(boundary, global ? 'message/global' : 'message/rfc822', 'Undelivered message', input.original);
    const endsWithCrlf = input.original.subarray(-2).toString('latin1') === '\r\n';
    return { parts: [Buffer.from(head, 'latin1'), input.original, Buffer.from(endsWithCrlf ? '' : '\r\n', 'latin1')], returned: 'full' };
  }
  const description = input.kind === 'success' ? 'Message headers' : 'Undelivered message headers';
  const headers = headerSection(input.original);
  const head = global ? partHead(boundary, 'message/global-headers', description, headers) : `--${boundary}\r\nContent-Type: text/rfc822-headers\r\nContent-Description: ${description}\r\n\r\n`;
  return { parts: [Buffer.from(head, 'latin1'), headers], returned: 'headers' };
}

export function buildDsn(input: DsnInput): { envelope: QueueEnvelope; message: Buffer } {
  const boundary = `=_spamgate_${randomBytes(9).toString('hex')}`;
  const date = new Date(input.now).toUTCString().replace('GMT', '+0000');
  const global = needsGlobalDsn(input.envelope, input.recipients);
  const list = input.recipients
    .map((r) => {
      const prefix = `  <${clean(r.recipient, global)}>: ${input.kind === 'success' ? `${r.action}, ` : ''}`;
      return prefix + diagnostic(r.reply, global, budgetAfter(prefix));
    })
    .join('\r\n');
  const { parts: returnParts, returned } = returnedPart(input, boundary, global);

  // RFC 3464 §2.2: per-message fields, then one block per recipient (§2.3); RFC 3461 §6.3: the
  // ENVID and each ORCPT the sender gave come back as Original-Envelope-Id and Original-Recipient.
  const perMessage = [
    `Reporting-MTA: dns; ${clean(input.hostname)}`,
    `X-Spamgate-Queue-ID: ${input.queueId}`,
    ...(input.envelope.envid ? [`Original-Envelope-Id: ${clean(input.envelope.envid)}`] : []),
    `Arrival-Date: ${new Date(input.envelope.receivedAt).toUTCString().replace('GMT', '+0000')}`,
  ].join('\r\n');
  const perRecipient = input.recipients
    .map((r) => {
      const orcpt = dsnRequestOf(input.envelope, r.recipient)?.orcpt;
      return [
        ...(orcpt !== undefined ? [`Original-Recipient: ${originalRecipient(orcpt, global)}`] : []),
        `Final-Recipient: ${finalRecipient(r.recipient, global)}`,
        `Action: ${r.action}`,
        `Status: ${statusOf(r)}`,
        ...(r.remoteMta ? [`Remote-MTA: dns; ${mtaName(r.remoteMta)}`] : []),
        // RFC 3464 §2.3.6: an smtp Diagnostic-Code is the reply the remote MTA gave; one spamgate made itself (no
        // remote MTA: a connection failure, expiry, local delivery) has a type of its own, as other MTAs do.
        // RFC 6533 §6.2: the diagnostic may carry UTF-8 in a global notice.
        `Diagnostic-Code: ${r.remoteMta ? 'smtp' : 'X-Spamgate'}; ${diagnostic(r.reply, global)}`,
        `Last-Attempt-Date: ${date}`,
        ...(r.action === 'delayed' && input.expiresAt ? [`Will-Retry-Until: ${new Date(input.expiresAt).toUTCString().replace('GMT', '+0000')}`] : []),
      ].join('\r\n');
    })
    .join('\r\n\r\n');

  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.hostname}>`,
    // RFC 6532 §3.2: a global notice may name a UTF-8 address in its header fields.
    `To: <${clean(input.envelope.mailFrom, global)}>`,
    `Subject: ${SUBJECTS[input.kind]}`,
    `Date: ${date}`,
    `Message-ID: <${input.queueId}.${randomBytes(4).toString('hex')}@${input.hostname}>`,
    // RFC 3834 §5: automatic responses are marked; RFC 6522 §3: report-type names the status part.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=${global ? 'global-delivery-status' : 'delivery-status'}; boundary="${boundary}"`,
  ].join('\r\n');

  const text = Buffer.from(humanText(input, list, returned), 'utf8');
  const status = Buffer.from(`${perMessage}\r\n\r\n${perRecipient}\r\n\r\n`, 'utf8');
  const parts = [
    Buffer.from(`${head}\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n`, 'utf8'),
    Buffer.from(partHead(boundary, `text/plain; charset=${global ? 'utf-8' : 'us-ascii'}`, 'Notification', text), 'latin1'),
    text,
    Buffer.from('\r\n', 'latin1'),
    // RFC 6533 §4, §6.4: message/global-delivery-status is the report part of a global notice.
    Buffer.from(partHead(boundary, global ? 'message/global-delivery-status' : 'message/delivery-status', 'Delivery report', status), 'latin1'),
    status,
    ...returnParts,
    Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'),
  ];
  // RFC 3461 §6.1 / RFC 5321 §4.5.5: a DSN goes from the null reverse path (so it is never bounced),
  // without RET, and asks for no notices about itself; a global one goes with SMTPUTF8 (RFC 6531 §3.4).
  const recipient = input.envelope.mailFrom;
  const envelope: QueueEnvelope = {
    mailFrom: '',
    rcptTo: [recipient],
    sessionId: `dsn-${input.queueId}`,
    clientIp: '127.0.0.1',
    receivedAt: input.now,
    rcptDsn: { [recipient]: { notify: ['NEVER'] } },
    ...(global ? { smtputf8: true } : {}),
  };
  return { envelope, message: Buffer.concat(parts) };
}

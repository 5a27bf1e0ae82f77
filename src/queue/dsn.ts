// Delivery status notifications (RFC 3464) as multipart/report (RFC 6522): failure bounces, delay
// warnings and success notices, returning the original headers (text/rfc822-headers) or, for a
// failure when the sender asked with RET=FULL, the whole message (RFC 3461 §4.3).
import { randomBytes } from 'node:crypto';
import { dsnRequestOf, type NoticeKind } from './dsn-policy.ts';
import type { NextHopReply, QueueEnvelope } from './types.ts';

/** RFC 3464 §2.3.3 action values. */
export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

export interface DsnRecipient {
  recipient: string;
  action: DsnAction;
  reply: NextHopReply;
  remoteMta?: string;
}

/** RET=FULL returns a failed message whole up to this size; a larger one comes back as headers only. */
export const RETURN_FULL_MAX_BYTES = 10 * 1024 * 1024;

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

/** The part that returns the original: whole for a failure with RET=FULL (up to the limit), else its headers. */
function returnedPart(input: DsnInput, boundary: string): { parts: Buffer[]; returned: 'full' | 'headers' } {
  if (input.kind === 'failure' && input.envelope.ret === 'FULL' && input.original.length <= RETURN_FULL_MAX_BYTES) {
    const eightBit = input.original.some((b) => b > 127);
    const head = `--${boundary}\r\nContent-Type: message/rfc822\r\nContent-Description: Undelivered message\r\n${eightBit ? 'Content-Transfer-Encoding: 8bit\r\n' : ''}\r\n`;
    const endsWithCrlf = input.original.subarray(-2).toString('latin1') === '\r\n';
    return { parts: [Buffer.from(head, 'latin1'), input.original, Buffer.from(endsWithCrlf ? '' : '\r\n', 'latin1')], returned: 'full' };
  }
  const description = input.kind === 'success' ? 'Message headers' : 'Undelivered message headers';
  return { parts: [Buffer.from(`--${boundary}\r\nContent-Type: text/rfc822-headers\r\nContent-Description: ${description}\r\n\r\n`, 'latin1'), headerSection(input.original)], returned: 'headers' };
}

/** Keeps header field values on one line and 7-bit safe. */
const clean = (s: string): string => s.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');

export function buildDsn(input: DsnInput): { envelope: QueueEnvelope; message: Buffer } {
  const boundary = `=_spamgate_${randomBytes(9).toString('hex')}`;
  const date = new Date(input.now).toUTCString().replace('GMT', '+0000');
  const list = input.recipients
    .map((r) => `  <${clean(r.recipient)}>: ${input.kind === 'success' ? `${r.action}, ` : ''}${clean(`${r.reply.code} ${r.reply.enhanced ?? ''} ${r.reply.text}`.replace(/\s+/g, ' '))}`)
    .join('\r\n');
  const { parts: returnParts, returned } = returnedPart(input, boundary);

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
        ...(orcpt !== undefined ? [`Original-Recipient: ${clean(orcpt)}`] : []),
        `Final-Recipient: rfc822; ${clean(r.recipient)}`,
        `Action: ${r.action}`,
        `Status: ${statusOf(r)}`,
        ...(r.remoteMta ? [`Remote-MTA: dns; ${clean(r.remoteMta)}`] : []),
        `Diagnostic-Code: smtp; ${clean(`${r.reply.code} ${r.reply.enhanced ? r.reply.enhanced + ' ' : ''}${r.reply.text}`)}`,
        `Last-Attempt-Date: ${date}`,
        ...(r.action === 'delayed' && input.expiresAt ? [`Will-Retry-Until: ${new Date(input.expiresAt).toUTCString().replace('GMT', '+0000')}`] : []),
      ].join('\r\n');
    })
    .join('\r\n\r\n');

  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.hostname}>`,
    `To: <${clean(input.envelope.mailFrom)}>`,
    `Subject: ${SUBJECTS[input.kind]}`,
    `Date: ${date}`,
    `Message-ID: <${input.queueId}.${randomBytes(4).toString('hex')}@${input.hostname}>`,
    // RFC 3834 §5: automatic responses are marked; RFC 6522 §3: report-type parameter required.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
  ].join('\r\n');

  const parts = [
    Buffer.from(`${head}\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n--${boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Description: Notification\r\n\r\n${humanText(input, list, returned)}\r\n`, 'latin1'),
    Buffer.from(`--${boundary}\r\nContent-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n${perMessage}\r\n\r\n${perRecipient}\r\n\r\n`, 'latin1'),
    ...returnParts,
    Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'),
  ];
  // RFC 3461 §6.1 / RFC 5321 §4.5.5: a DSN goes from the null reverse path (so it is never bounced),
  // without RET, and asks for no notices about itself.
  const recipient = input.envelope.mailFrom;
  const envelope: QueueEnvelope = {
    mailFrom: '',
    rcptTo: [recipient],
    sessionId: `dsn-${input.queueId}`,
    clientIp: '127.0.0.1',
    receivedAt: input.now,
    rcptDsn: { [recipient]: { notify: ['NEVER'] } },
  };
  return { envelope, message: Buffer.concat(parts) };
}

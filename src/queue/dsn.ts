// Delivery status notifications (RFC 3464) as multipart/report (RFC 6522): failure bounces and
// delay warnings, with the original message's headers attached as text/rfc822-headers.
import { randomBytes } from 'node:crypto';
import type { NextHopReply, QueueEnvelope } from './types.ts';

export interface DsnRecipient {
  recipient: string;
  action: 'failed' | 'delayed';
  reply: NextHopReply;
  remoteMta?: string;
}

export interface DsnInput {
  kind: 'failure' | 'delay';
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

/** A status code for the DSN: the enhanced code of the reply, else one derived from its class. */
function statusOf(r: DsnRecipient): string {
  if (r.reply.enhanced) return r.reply.enhanced;
  if (r.action === 'delayed') return '4.0.0';
  return r.reply.code >= 500 ? '5.0.0' : '4.0.0';
}

/** Keeps header field values on one line and 7-bit safe. */
const clean = (s: string): string => s.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');

export function buildDsn(input: DsnInput): { envelope: QueueEnvelope; message: Buffer } {
  const boundary = `=_spamgate_${randomBytes(9).toString('hex')}`;
  const date = new Date(input.now).toUTCString().replace('GMT', '+0000');
  const failure = input.kind === 'failure';
  const list = input.recipients.map((r) => `  <${clean(r.recipient)}>: ${clean(`${r.reply.code} ${r.reply.enhanced ?? ''} ${r.reply.text}`.replace(/\s+/g, ' '))}`).join('\r\n');
  const human = failure
    ? `This is the mail system at ${input.hostname}.\r\n\r\nYour message could not be delivered to one or more recipients.\r\nIt is attached below (headers only).\r\n\r\n${list}\r\n`
    : `This is the mail system at ${input.hostname}.\r\n\r\nYour message has not been delivered yet to the recipients below.\r\nDelivery will be retried until ${new Date(input.expiresAt ?? input.now).toUTCString()};\r\nyou do not need to resend it.\r\n\r\n${list}\r\n`;

  // RFC 3464 §2.2: per-message fields, then one block per recipient (§2.3).
  const perMessage = [
    `Reporting-MTA: dns; ${clean(input.hostname)}`,
    `X-Spamgate-Queue-ID: ${input.queueId}`,
    ...(input.envelope.envid ? [`Original-Envelope-Id: ${clean(input.envelope.envid)}`] : []),
    `Arrival-Date: ${new Date(input.envelope.receivedAt).toUTCString().replace('GMT', '+0000')}`,
  ].join('\r\n');
  const perRecipient = input.recipients
    .map((r) =>
      [
        `Final-Recipient: rfc822; ${clean(r.recipient)}`,
        `Action: ${r.action}`,
        `Status: ${statusOf(r)}`,
        ...(r.remoteMta ? [`Remote-MTA: dns; ${clean(r.remoteMta)}`] : []),
        `Diagnostic-Code: smtp; ${clean(`${r.reply.code} ${r.reply.enhanced ? r.reply.enhanced + ' ' : ''}${r.reply.text}`)}`,
        `Last-Attempt-Date: ${date}`,
        ...(r.action === 'delayed' && input.expiresAt ? [`Will-Retry-Until: ${new Date(input.expiresAt).toUTCString().replace('GMT', '+0000')}`] : []),
      ].join('\r\n'),
    )
    .join('\r\n\r\n');

  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.hostname}>`,
    `To: <${clean(input.envelope.mailFrom)}>`,
    `Subject: ${failure ? 'Undelivered Mail Returned to Sender' : 'Delayed Mail (still being retried)'}`,
    `Date: ${date}`,
    `Message-ID: <${input.queueId}.${randomBytes(4).toString('hex')}@${input.hostname}>`,
    // RFC 3834 §5: automatic responses are marked; RFC 6522 §3: report-type parameter required.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
  ].join('\r\n');

  const parts = [
    Buffer.from(`${head}\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n--${boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Description: Notification\r\n\r\n${human}\r\n`, 'latin1'),
    Buffer.from(`--${boundary}\r\nContent-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n${perMessage}\r\n\r\n${perRecipient}\r\n\r\n`, 'latin1'),
    Buffer.from(`--${boundary}\r\nContent-Type: text/rfc822-headers\r\nContent-Description: Undelivered message headers\r\n\r\n`, 'latin1'),
    headerSection(input.original),
    Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'),
  ];
  // RFC 3464 §2 / RFC 5321 §4.5.5: a DSN is sent with the null reverse path, so it is never bounced.
  const envelope: QueueEnvelope = {
    mailFrom: '',
    rcptTo: [input.envelope.mailFrom],
    sessionId: `dsn-${input.queueId}`,
    clientIp: '127.0.0.1',
    receivedAt: input.now,
  };
  return { envelope, message: Buffer.concat(parts) };
}

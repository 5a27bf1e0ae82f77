// Report mail shared by TLS reports (RFC 8460 §5.3) and DMARC aggregate reports (RFC 7489 §7.2.1.1): a two-part
// MIME message (a short text/plain annotation and the gzipped report as a base64 attachment), its envelope (the
// null reverse path, NOTIFY=NEVER) and its queueing on the spool, DKIM-signed by the notice signer.
import { randomBytes } from 'node:crypto';
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import type { MessageSink, QueueEnvelope } from '../queue/types.ts';

export interface ReportMessage {
  from: string;
  to: string;
  nowMs: number;
  /** The Subject value (folded with CRLF SP where long). */
  subject: string;
  /** Right-hand side of the Message-ID (the submitter's domain) and its left-hand prefix ("tlsrpt", "dmarc"). */
  messageIdDomain: string;
  messageIdPrefix: string;
  /** Fields between Message-ID and MIME-Version ("TLS-Report-Domain: x"). */
  extraHeaders: readonly string[];
  /** The top-level type without its boundary parameter ('multipart/report; report-type="tlsrpt"'). */
  multipartType: string;
  text: string;
  attachment: { contentType: string; filename: string; data: Buffer };
}

/** RFC 2045 §6.8: base64 in lines of at most 76 characters. */
const base64Lines = (b: Buffer): string => (b.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');

export function composeReportMessage(m: ReportMessage): Buffer {
  const boundary = `=_spamgate_${m.messageIdPrefix}_${randomBytes(9).toString('hex')}`;
  const date = new Date(m.nowMs).toUTCString().replace('GMT', '+0000');
  const head = [
    `From: <${m.from}>`,
    `To: <${m.to}>`,
    `Date: ${date}`,
    `Subject: ${m.subject}`,
    `Message-ID: <${m.messageIdPrefix}.${randomBytes(9).toString('hex')}@${m.messageIdDomain}>`,
    ...m.extraHeaders,
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    `Content-Type: ${m.multipartType};\r\n boundary="${boundary}"`,
  ].join('\r\n');
  const body = [
    'This is a multipart message in MIME format.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
    '',
    m.text,
    `--${boundary}`,
    `Content-Type: ${m.attachment.contentType}`,
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment;\r\n filename="${m.attachment.filename}"`,
    '',
    base64Lines(m.attachment.data),
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return Buffer.from(`${head}\r\n\r\n${body}`, 'latin1');
}

/**
 * The envelope of a report: the null reverse path, so a report that cannot be delivered bounces to nobody
 * (RFC 5321 §4.5.5, as for notices), and no DSN asked for.
 */
export function reportEnvelope(to: string, sessionId: string, nowMs: number, extra: Partial<QueueEnvelope> = {}): QueueEnvelope {
  return { mailFrom: '', rcptTo: [to], sessionId, clientIp: '127.0.0.1', receivedAt: nowMs, rcptDsn: { [to]: { notify: ['NEVER'] } }, ...extra };
}

/** True when a message begins with a DKIM-Signature field (the notice signer prepends it when a key signs). */
export const isDkimSigned = (message: Buffer): boolean => /^DKIM-Signature:/i.test(message.subarray(0, 16).toString('latin1'));

/**
 * Signs (when a signer is given) and queues a report; resolves to the queue id, rejects when it could not be queued.
 * With requireSigned (TLS reports, RFC 8460 §5.3) a report no DKIM key signed is not queued: resolves undefined.
 */
export async function queueReport(sink: MessageSink, sign: NoticeSigner | undefined, envelope: QueueEnvelope, message: Buffer): Promise<string>;
export async function queueReport(sink: MessageSink, sign: NoticeSigner | undefined, envelope: QueueEnvelope, message: Buffer, opts: { requireSigned: true }): Promise<string | undefined>;
export async function queueReport(sink: MessageSink, sign: NoticeSigner | undefined, envelope: QueueEnvelope, message: Buffer, opts?: { requireSigned: true }): Promise<string | undefined> {
  const signed = sign ? await sign(message) : message;
  if (opts?.requireSigned && !isDkimSigned(signed)) return undefined;
  return (await sink.enqueue(envelope, signed)).id;
}

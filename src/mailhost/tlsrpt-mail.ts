// A TLS report as mail (RFC 8460 §5.3): multipart/report; report-type="tlsrpt" with a text/plain part and the
// gzipped JSON as application/tlsrpt+gzip (§5.1 file name), the TLS-Report-Domain and TLS-Report-Submitter fields
// and the §5.3 Subject; and the envelope it is queued with (null reverse path, marked as a TLS report).
import { randomBytes } from 'node:crypto';
import type { QueueEnvelope } from '../queue/types.ts';
import type { BuiltReport } from './tlsrpt-report.ts';

export interface ReportMailInput {
  report: BuiltReport;
  policyDomain: string;
  submitter: string;
  organizationName: string;
  /** The From address (a mailbox of the submitter's domain, so the DKIM signature of that domain aligns). */
  from: string;
  to: string;
  nowMs: number;
}

/** RFC 2045 §6.8: base64 in lines of at most 76 characters. */
const base64Lines = (b: Buffer): string => (b.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');

export function buildReportMail(input: ReportMailInput): { envelope: QueueEnvelope; message: Buffer } {
  const boundary = `=_spamgate_tlsrpt_${randomBytes(9).toString('hex')}`;
  const date = new Date(input.nowMs).toUTCString().replace('GMT', '+0000');
  const idRight = input.submitter;
  const head = [
    `From: <${input.from}>`,
    `To: <${input.to}>`,
    `Date: ${date}`,
    // RFC 8460 §5.3: tls-report-subject = "Report" FWS "Domain:" FWS domain-name FWS "Submitter:" FWS domain-name FWS "Report-ID:" FWS "<" id-left "@" id-right ">"
    `Subject: Report Domain: ${input.policyDomain}\r\n Submitter: ${input.submitter}\r\n Report-ID: <${input.report.reportId}@${idRight}>`,
    `Message-ID: <tlsrpt.${randomBytes(9).toString('hex')}@${input.submitter}>`,
    // RFC 8460 §5.3: the report domain and submitter header fields MUST be present
    `TLS-Report-Domain: ${input.policyDomain}`,
    `TLS-Report-Submitter: ${input.submitter}`,
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    // RFC 8460 §5.3: multipart/report (RFC 6522) with report-type "tlsrpt"
    `Content-Type: multipart/report; report-type="tlsrpt";\r\n boundary="${boundary}"`,
  ].join('\r\n');
  const text = `This is an aggregate TLS report (RFC 8460) from ${input.organizationName} (${input.submitter}) for ${input.policyDomain}, ${new Date(input.report.beginSeconds * 1000).toISOString().slice(0, 10)} UTC.\r\n`;
  const body = [
    'This is a multipart message in MIME format.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
    '',
    text,
    `--${boundary}`,
    // RFC 8460 §5.3 / §6.4: the gzipped report as application/tlsrpt+gzip, named per §5.1
    'Content-Type: application/tlsrpt+gzip',
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment;\r\n filename="${input.report.filename}"`,
    '',
    base64Lines(input.report.gzip),
    `--${boundary}--`,
    '',
  ].join('\r\n');
  // The null reverse path: a report that cannot be delivered bounces to nobody (RFC 5321 §4.5.5, as for notices),
  // and tlsReport marks it, so its own sessions are not counted and MTA-STS does not hold it back (RFC 8460 §5.3).
  const envelope: QueueEnvelope = {
    mailFrom: '',
    rcptTo: [input.to],
    sessionId: `tlsrpt-${input.report.reportId}`,
    clientIp: '127.0.0.1',
    receivedAt: input.nowMs,
    rcptDsn: { [input.to]: { notify: ['NEVER'] } },
    tlsReport: true,
  };
  return { envelope, message: Buffer.from(`${head}\r\n\r\n${body}`, 'latin1') };
}

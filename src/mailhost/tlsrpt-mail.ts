// A TLS report as mail (RFC 8460 §5.3): multipart/report; report-type="tlsrpt" with a text/plain part and the
// gzipped JSON as application/tlsrpt+gzip (§5.1 file name), the TLS-Report-Domain and TLS-Report-Submitter fields
// and the §5.3 Subject; and the envelope it is queued with (null reverse path, marked as a TLS report).
import type { QueueEnvelope } from '../queue/types.ts';
import { composeReportMessage, reportEnvelope } from './report-mail.ts';
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

export function buildReportMail(input: ReportMailInput): { envelope: QueueEnvelope; message: Buffer } {
  const message = composeReportMessage({
    from: input.from,
    to: input.to,
    nowMs: input.nowMs,
    // RFC 8460 §5.3: tls-report-subject = "Report" FWS "Domain:" FWS domain-name FWS "Submitter:" FWS domain-name FWS "Report-ID:" FWS "<" id-left "@" id-right ">"
    subject: `Report Domain: ${input.policyDomain}\r\n Submitter: ${input.submitter}\r\n Report-ID: <${input.report.reportId}@${input.submitter}>`,
    messageIdDomain: input.submitter,
    messageIdPrefix: 'tlsrpt',
    // RFC 8460 §5.3: the report domain and submitter header fields MUST be present
    extraHeaders: [`TLS-Report-Domain: ${input.policyDomain}`, `TLS-Report-Submitter: ${input.submitter}`],
    // RFC 8460 §5.3: multipart/report (RFC 6522) with report-type "tlsrpt"
    multipartType: 'multipart/report; report-type="tlsrpt"',
    text: `This is an aggregate TLS report (RFC 8460) from ${input.organizationName} (${input.submitter}) for ${input.policyDomain}, ${new Date(input.report.beginSeconds * 1000).toISOString().slice(0, 10)} UTC.\r\n`,
    // RFC 8460 §5.3 / §6.4: the gzipped report as application/tlsrpt+gzip, named per §5.1
    attachment: { contentType: 'application/tlsrpt+gzip', filename: input.report.filename, data: input.report.gzip },
  });
  // tlsReport marks it, so its own sessions are not counted and MTA-STS does not hold it back (RFC 8460 §5.3).
  return { envelope: reportEnvelope(input.to, `tlsrpt-${input.report.reportId}`, input.nowMs, { tlsReport: true }), message };
}

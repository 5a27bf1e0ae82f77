// A DMARC aggregate report as mail (RFC 7489 §7.2.1.1): the §7.2.1.1 Subject, a text/plain annotation and the
// gzipped XML as application/gzip named submitter!domain!begin!end.xml.gz, From the report address, to one rua.
import type { QueueEnvelope } from '../queue/types.ts';
import type { BuiltDmarcReport } from './dmarc-report.ts';
import { composeReportMessage, reportEnvelope } from './report-mail.ts';

export interface DmarcMailInput {
  report: BuiltDmarcReport;
  policyDomain: string;
  submitter: string;
  orgName: string;
  from: string;
  to: string;
  nowMs: number;
}

export function buildDmarcMail(input: DmarcMailInput): { envelope: QueueEnvelope; message: Buffer } {
  const day = new Date(input.report.beginSeconds * 1000).toISOString().slice(0, 10);
  const message = composeReportMessage({
    from: input.from,
    to: input.to,
    nowMs: input.nowMs,
    // RFC 7489 §7.2.1.1: "Report Domain:" domain "Submitter:" submitter "Report-ID:" msg-id
    subject: `Report Domain: ${input.policyDomain}\r\n Submitter: ${input.submitter}\r\n Report-ID: <${input.report.reportId}>`,
    messageIdDomain: input.submitter,
    messageIdPrefix: 'dmarc',
    extraHeaders: [],
    multipartType: 'multipart/mixed',
    text: `This is a DMARC aggregate report (RFC 7489) from ${input.orgName} (${input.submitter}) for ${input.policyDomain}, ${day} UTC.\r\n`,
    // RFC 7489 §7.2.1.1: the report is gzipped, application/gzip, with the §7.2.1.1 file name
    attachment: { contentType: `application/gzip;\r\n name="${input.report.filename}"`, filename: input.report.filename, data: input.report.gzip },
  });
  return { envelope: reportEnvelope(input.to, `dmarc-${input.report.reportId}`, input.nowMs), message };
}

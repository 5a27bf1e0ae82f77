// The aggregate TLS report of one policy domain and UTC day (RFC 8460 §4.4, JSON), gzipped (§5.1), and the
// file name it goes by (§5.1: submitter!policy-domain!begin!end!unique-id.json.gz).
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { PolicyCounts } from './tlsrpt-store.ts';

export interface ReportMeta {
  organizationName: string;
  contactInfo: string;
  /** The reporting domain (RFC 8460 §5.3 TLS-Report-Submitter). */
  submitter: string;
  policyDomain: string;
  /** The UTC day reported (YYYY-MM-DD). */
  day: string;
  /** Unique per report (default a random UUID). */
  reportId?: string;
}

export interface BuiltReport {
  reportId: string;
  json: string;
  gzip: Buffer;
  /** RFC 8460 §5.1 file name of the gzipped report. */
  filename: string;
  beginSeconds: number;
  endSeconds: number;
}

/** RFC 8460 §5.1: in a file name, a URI or a domain, characters outside the filename's token set go as %XX. */
const token = (s: string): string => s.replace(/[^A-Za-z0-9.-]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);

export function buildReport(meta: ReportMeta, counts: readonly PolicyCounts[]): BuiltReport {
  const begin = Date.parse(`${meta.day}T00:00:00Z`);
  const beginSeconds = Math.floor(begin / 1000);
  // RFC 8460 §4.1: a report SHOULD cover a full day, 0000-2400 UTC
  const endSeconds = beginSeconds + 86_400 - 1;
  const reportId = meta.reportId ?? randomUUID();
  const report = {
    'organization-name': meta.organizationName,
    // RFC 8460 §4.4: date-time per RFC 3339
    'date-range': { 'start-datetime': `${meta.day}T00:00:00Z`, 'end-datetime': `${meta.day}T23:59:59Z` },
    'contact-info': meta.contactInfo,
    'report-id': reportId,
    policies: counts.map((c) => ({
      policy: {
        'policy-type': c.policy.type,
        ...(c.policy.type === 'sts' ? { 'policy-string': c.policy.lines } : {}),
        'policy-domain': meta.policyDomain,
        ...(c.policy.type === 'sts' ? { 'mx-host': c.policy.mx } : {}),
      },
      summary: { 'total-successful-session-count': c.success, 'total-failure-session-count': c.failure },
      ...(c.details.length
        ? {
            'failure-details': c.details.map((d) => ({
              'result-type': d.resultType,
              ...(d.sendingMtaIp ? { 'sending-mta-ip': d.sendingMtaIp } : {}),
              ...(d.receivingMxHostname ? { 'receiving-mx-hostname': d.receivingMxHostname } : {}),
              ...(d.receivingIp ? { 'receiving-ip': d.receivingIp } : {}),
              'failed-session-count': d.count,
              ...(d.reasonCode ? { 'failure-reason-code': d.reasonCode } : {}),
            })),
          }
        : {}),
    })),
  };
  const json = JSON.stringify(report);
  const filename = `${token(meta.submitter)}!${token(meta.policyDomain)}!${beginSeconds}!${endSeconds}!${token(reportId)}.json.gz`;
  return { reportId, json, gzip: gzipSync(json), filename, beginSeconds, endSeconds };
}

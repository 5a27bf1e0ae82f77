// The aggregate TLS report of one policy domain and UTC day (RFC 8460 §4.4, JSON), gzipped (§5.1), and the
// file name it goes by (§5.1: submitter!policy-domain!begin!end!unique-id.json.gz).
import { createHash } from 'node:crypto';
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
  /** Unique per report (default: reportIdOf the submitter, policy domain and day). */
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
export const token = (s: string): string => s.replace(/[^A-Za-z0-9.-]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);

/**
 * The report-id of a policy domain's report of a day: the same whenever it is built (UUID-shaped, from a SHA-256 of
 * submitter, domain and day), so a report sent again after a restart that lost the note of its sending carries the
 * Report-ID of the first, by which the receiver tells and ignores the duplicate (RFC 8460 §5.3).
 */
export function reportIdOf(submitter: string, policyDomain: string, day: string, kind: 'tlsrpt' | 'dmarc' = 'tlsrpt'): string {
  const h = createHash('sha256').update(`${kind}\0${submitter.toLowerCase()}\0${policyDomain.toLowerCase()}\0${day}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function buildReport(meta: ReportMeta, counts: readonly PolicyCounts[]): BuiltReport {
  const begin = Date.parse(`${meta.day}T00:00:00Z`);
  const beginSeconds = Math.floor(begin / 1000);
  // RFC 8460 §4.1: a report SHOULD cover a full day, 0000-2400 UTC
  const endSeconds = beginSeconds + 86_400 - 1;
  const reportId = meta.reportId ?? reportIdOf(meta.submitter, meta.policyDomain, meta.day);
  const report = {
    'organization-name': meta.organizationName,
    // RFC 8460 §4.4: date-time per RFC 3339
    'date-range': { 'start-datetime': `${meta.day}T00:00:00Z`, 'end-datetime': `${meta.day}T23:59:59Z` },
    'contact-info': meta.contactInfo,
    'report-id': reportId,
    policies: counts.map((c) => ({
      policy: {
        'policy-type': c.policy.type,
        ...(c.policy.type !== 'no-policy-found' ? { 'policy-string': c.policy.lines } : {}),
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

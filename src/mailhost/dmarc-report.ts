// The DMARC aggregate report of one policy domain and UTC day as XML (RFC 7489 §7.2.1, Appendix C schema:
// feedback/report_metadata, policy_published, record*), gzipped, and the file name it goes by (§7.2.1.1:
// submitter!policy-domain!begin!end.xml.gz).
import { gzipSync } from 'node:zlib';
import type { DmarcDomainData, DmarcRow } from './dmarc-store.ts';
import { reportIdOf, token } from './tlsrpt-report.ts';

export interface DmarcReportMeta {
  orgName: string;
  /** report_metadata/email: the contact address. */
  email: string;
  submitter: string;
  /** The UTC day reported (YYYY-MM-DD). */
  day: string;
  /** Default: the same for the same submitter, domain and day, so a report sent again after a crash can be told a copy. */
  reportId?: string;
}

export interface BuiltDmarcReport {
  reportId: string;
  xml: string;
  gzip: Buffer;
  filename: string;
  beginSeconds: number;
  endSeconds: number;
}

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '');
const el = (name: string, value: string | number): string => `<${name}>${escapeXml(String(value))}</${name}>`;

function recordXml(r: DmarcRow): string {
  return [
    '<record>',
    '<row>',
    el('source_ip', r.sourceIp),
    el('count', r.count),
    // Appendix C PolicyEvaluatedType: disposition, dkim, spf, then reason (PolicyOverrideReason: type, comment)
    `<policy_evaluated>${el('disposition', r.disposition)}${el('dkim', r.dkim)}${el('spf', r.spf)}${r.reason ? `<reason>${el('type', r.reason.type)}${r.reason.comment !== undefined ? el('comment', r.reason.comment) : ''}</reason>` : ''}</policy_evaluated>`,
    '</row>',
    `<identifiers>${el('envelope_from', r.envelopeFrom)}${el('header_from', r.headerFrom)}</identifiers>`,
    '<auth_results>',
    ...r.dkimAuth.map((d) => `<dkim>${el('domain', d.domain)}${d.selector ? el('selector', d.selector) : ''}${el('result', d.result)}</dkim>`),
    // Appendix C: auth_results has one spf element (minOccurs 1): a message SPF was not run for reports it as none
    r.spfAuth ? `<spf>${el('domain', r.spfAuth.domain)}${el('scope', r.spfAuth.scope)}${el('result', r.spfAuth.result)}</spf>` : `<spf>${el('domain', r.envelopeFrom || r.headerFrom)}${el('scope', 'mfrom')}${el('result', 'none')}</spf>`,
    '</auth_results>',
    '</record>',
  ].join('');
}

export function buildDmarcReport(meta: DmarcReportMeta, domain: string, data: DmarcDomainData): BuiltDmarcReport {
  const beginSeconds = Math.floor(Date.parse(`${meta.day}T00:00:00Z`) / 1000);
  const endSeconds = beginSeconds + 86_400 - 1;
  const reportId = meta.reportId ?? reportIdOf(meta.submitter, domain, meta.day, 'dmarc');
  const p = data.policy;
  const xml = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<feedback>',
    el('version', '1.0'),
    '<report_metadata>',
    el('org_name', meta.orgName),
    el('email', meta.email),
    el('report_id', reportId),
    `<date_range>${el('begin', beginSeconds)}${el('end', endSeconds)}</date_range>`,
    ...(data.dropped ? [el('error', `${data.dropped} messages not reported in records: the reporter's limit of records per domain and day was reached`)] : []),
    '</report_metadata>',
    `<policy_published>${el('domain', domain)}${el('adkim', p.adkim)}${el('aspf', p.aspf)}${el('p', p.p)}${el('sp', p.sp)}${el('pct', p.pct)}</policy_published>`,
    ...data.rows.map(recordXml),
    '</feedback>',
    '',
  ].join('\n');
  // RFC 7489 §7.2.1.1: filename = receiver "!" policy-domain "!" begin-timestamp "!" end-timestamp "." extension
  const filename = `${token(meta.submitter)}!${token(domain)}!${beginSeconds}!${endSeconds}.xml.gz`;
  return { reportId, xml, gzip: gzipSync(xml), filename, beginSeconds, endSeconds };
}

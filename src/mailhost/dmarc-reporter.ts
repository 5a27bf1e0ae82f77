// Daily DMARC aggregate reports (RFC 7489 §7.2): records each received message of a domain with a DMARC record in
// the store, and once a UTC day has ended (plus a random delay) builds each policy domain's report and queues it,
// DKIM-signed like spamgate's notices, to every mailto: rua of the record seen that day: a rua outside the domain's
// organization only when it consents (§7.1), and only within its "!" size limit. Counted in
// spamgate_dmarc_reports_total{result}; a failure never stops the others.
import { counter } from '../metrics/registry.ts';
import { checkDestination } from './dmarc-destination.ts';
import { buildDmarcMail } from './dmarc-mail.ts';
import { isReportMail, observeDmarc, type FinalEvent } from './dmarc-observe.ts';
import { parseDmarcRecord, type ReportAddress } from './dmarc-record.ts';
import { buildDmarcReport, type BuiltDmarcReport } from './dmarc-report.ts';
import type { DmarcDomainData, DmarcReportStore } from './dmarc-store.ts';
import { queueReport } from './report-mail.ts';
import type { ReportSenderDeps } from './report-deps.ts';
import { createDailyReports, type DailyReports, type DailyTiming } from './report-schedule.ts';

export interface DmarcReportSettings {
  orgName: string;
  /** The report's From and report_metadata/email. */
  email: string;
  submitter: string;
}

export interface DmarcReporterOptions extends ReportSenderDeps, DailyTiming {
  store: DmarcReportStore;
  settings: DmarcReportSettings;
}

export interface DmarcReporter extends DailyReports {
  /** A message's final action: counted when its From domain has a DMARC record and it is no report itself. */
  observe(e: Omit<FinalEvent, 'at'>): void;
}

export const DMARC_REPORT_RESULTS = ['sent', 'no_rua', 'external_unverified', 'failed'] as const;
type ReportResult = (typeof DMARC_REPORT_RESULTS)[number];
type Delivery = 'queued' | 'unverified' | 'failed';

export function createDmarcReporter(opts: DmarcReporterOptions): DmarcReporter {
  const log = opts.log.child({ component: 'dmarc-reports' });
  const reports = opts.registry
    ? counter(opts.registry, 'spamgate_dmarc_reports_total', 'Daily DMARC aggregate reports (RFC 7489) of From domains, by result (sent: queued to at least one rua; no_rua: no mailto: rua; external_unverified: every rua outside the domain without its consent record; failed: none queued)', ['result'] as const)
    : undefined;
  for (const result of DMARC_REPORT_RESULTS) reports?.inc({ result }, 0);
  const { settings } = opts;

  const deliverTo = async (rua: ReportAddress, domain: string, orgDomain: string, built: BuiltDmarcReport): Promise<Delivery> => {
    const ruaDomain = rua.address.slice(rua.address.lastIndexOf('@') + 1);
    const consent = await checkDestination(opts.resolver, domain, orgDomain, ruaDomain);
    if (consent === 'unauthorized' || consent === 'temperror') {
      log.info('DMARC report not sent to an external rua without its authorisation record', { domain, to: rua.address, check: consent });
      return consent === 'unauthorized' ? 'unverified' : 'failed';
    }
    const mail = buildDmarcMail({ report: built, policyDomain: domain, submitter: settings.submitter, orgName: settings.orgName, from: settings.email, to: rua.address, nowMs: opts.clock.now() });
    // RFC 7489 §6.2: a report larger than the URI's size limit MUST NOT be sent there
    if (rua.maxBytes !== undefined && mail.message.length > rua.maxBytes) {
      log.warn('DMARC report larger than the rua size limit: not sent there', { domain, to: rua.address, bytes: mail.message.length, limit: rua.maxBytes });
      return 'failed';
    }
    try {
      const id = await queueReport(opts.sink, opts.sign, mail.envelope, mail.message);
      log.info('DMARC report queued', { domain, to: rua.address, id, report_id: built.reportId });
      return 'queued';
    } catch (err) {
      log.warn('DMARC report not queued', { domain, to: rua.address, err });
      return 'failed';
    }
  };

  const reportDomain = async (day: string, domain: string, data: DmarcDomainData): Promise<boolean> => {
    const record = parseDmarcRecord(data.policy.record);
    const rua = typeof record === 'string' ? [] : record.rua;
    let result: ReportResult;
    if (!rua.length) result = 'no_rua';
    else {
      const built = buildDmarcReport({ orgName: settings.orgName, email: settings.email, submitter: settings.submitter, day }, domain, data);
      if (data.dropped) log.warn('DMARC report incomplete: rows were full', { domain, day, dropped: data.dropped });
      const outcomes: Delivery[] = [];
      for (const r of rua) outcomes.push(await deliverTo(r, domain, data.policy.orgDomain, built));
      result = outcomes.includes('queued') ? 'sent' : outcomes.every((o) => o === 'unverified') ? 'external_unverified' : 'failed';
    }
    reports?.inc({ result });
    return true;
  };

  const daily = createDailyReports<DmarcDomainData>({
    ...opts,
    report: reportDomain,
    failed: (day, domain, err) => {
      reports?.inc({ result: 'failed' });
      log.error('DMARC report failed', { domain, day, err });
    },
  });

  return {
    ...daily,
    observe(e) {
      // the loop guard: reports (ours or anyone's) are not reported on
      if (isReportMail(e.message, settings.email)) return;
      // called after the reply is decided: a bug here must not turn an accepted message into an error
      try {
        const o = observeDmarc({ ...e, at: opts.clock.now() });
        if (o) opts.store.record(o);
      } catch (err) {
        log.error('DMARC report counting failed', { err });
      }
    },
  };
}

// Daily DMARC aggregate reports (RFC 7489 §7.2): records each received message of a domain with a DMARC record in
// the store, and once a UTC day has ended (plus a random delay) builds each policy domain's report and queues it,
// DKIM-signed like spamgate's notices, to every mailto: rua of the record seen that day: a rua outside the domain's
// organization only when it consents (§7.1), and only within its "!" size limit. A rua whose consent look-up
// failed for now (DNS temperror) or whose report could not be queued is tried again, alone, with the backoff of
// report-retry.ts (up to 24 hours). Counted in spamgate_dmarc_reports_total{result}; a failure never stops the others.
import { counter } from '../metrics/registry.ts';
import { deliverAll, waiting, type Attempt, type DeliveryRound } from './report-deliveries.ts';
import { MAX_DESTINATIONS, type DayJournal } from './report-journal.ts';
import { DEFAULT_RETRY, type RetryPolicy } from './report-retry.ts';
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
  /** When a rua that failed for now is tried again (DEFAULT_RETRY: six attempts within 24 hours). */
  retry?: RetryPolicy;
  /** Where the round's journal goes (report-schedule.ts); memory only without. */
  journal?: { dir: string; prefix: string };
}

export interface DmarcReporter extends DailyReports {
  /** A message's final action: counted when its From domain has a DMARC record and it is no report itself. */
  observe(e: Omit<FinalEvent, 'at'>): void;
}

export const DMARC_REPORT_RESULTS = ['sent', 'no_rua', 'external_unverified', 'failed', 'retry', 'given_up'] as const;
type ReportResult = (typeof DMARC_REPORT_RESULTS)[number];

export function createDmarcReporter(opts: DmarcReporterOptions): DmarcReporter {
  const log = opts.log.child({ component: 'dmarc-reports' });
  const reports = opts.registry
    ? counter(opts.registry, 'spamgate_dmarc_reports_total', 'Daily DMARC aggregate reports (RFC 7489) of From domains, by result (sent: queued to at least one rua; no_rua: no mailto: rua; external_unverified: every rua outside the domain without its consent record; failed: none queued; retry: a rua failed for now, tried again later; given_up: none queued, attempts spent)', ['result'] as const)
    : undefined;
  for (const result of DMARC_REPORT_RESULTS) reports?.inc({ result }, 0);
  const { settings } = opts;

  const deliverTo = async (rua: ReportAddress, domain: string, orgDomain: string, built: BuiltDmarcReport): Promise<Attempt> => {
    const ruaDomain = rua.address.slice(rua.address.lastIndexOf('@') + 1);
    const consent = await checkDestination(opts.resolver, domain, orgDomain, ruaDomain);
    if (consent === 'unauthorized' || consent === 'temperror') {
      // RFC 7489 §7.1: nothing goes to an external rua before its record is seen; a look-up that failed for now is made again later
      log.info('DMARC report not sent to an external rua without its authorisation record', { domain, to: rua.address, check: consent });
      return consent === 'unauthorized' ? 'unverified' : 'retry';
    }
    const mail = buildDmarcMail({ report: built, policyDomain: domain, submitter: settings.submitter, orgName: settings.orgName, from: settings.email, to: rua.address, nowMs: opts.clock.now() });
    // RFC 7489 §6.2: a report larger than the URI's size limit MUST NOT be sent there
    if (rua.maxBytes !== undefined && mail.message.length > rua.maxBytes) {
      log.warn('DMARC report larger than the rua size limit: not sent there', { domain, to: rua.address, bytes: mail.message.length, limit: rua.maxBytes });
      return 'never';
    }
    try {
      const id = await queueReport(opts.sink, opts.sign, mail.envelope, mail.message);
      log.info('DMARC report queued', { domain, to: rua.address, id, report_id: built.reportId });
      return 'sent';
    } catch (err) {
      log.warn('DMARC report not queued', { domain, to: rua.address, err });
      return 'retry';
    }
  };

  const reportDomain = async (day: string, domain: string, data: DmarcDomainData, closing: AbortSignal, journal: DayJournal): Promise<boolean> => {
    const round: DeliveryRound = { domain, journal, policy: opts.retry ?? DEFAULT_RETRY, now: () => opts.clock.now(), closing };
    if (waiting(round)) return false;
    const record = parseDmarcRecord(data.policy.record);
    const rua = typeof record === 'string' ? [] : record.rua;
    let result: ReportResult;
    if (!rua.length) result = 'no_rua';
    else {
      const built = buildDmarcReport({ orgName: settings.orgName, email: settings.email, submitter: settings.submitter, day }, domain, data);
      if (data.dropped && !journal.destinations(domain).size) log.warn('DMARC report incomplete: rows were full', { domain, day, dropped: data.dropped });
      // each rua on its own: one that took the report (or refused it for good) is not tried again
      const o = await deliverAll(
        round,
        rua.map((r) => ({ key: `mailto:${r.address}`, send: () => deliverTo(r, domain, data.policy.orgDomain, built) })),
      );
      if (o.skipped) log.warn(`DMARC report not sent to ruas past the bound of ${MAX_DESTINATIONS} a domain and day`, { domain, day, skipped: o.skipped });
      if (o.pending) {
        if (o.retried) reports?.inc({ result: 'retry' });
        return false;
      }
      if (o.givenUp && !o.sent) log.warn('DMARC report given up: no rua took it within the retries', { domain, day });
      result = o.sent ? 'sent' : o.allUnverified ? 'external_unverified' : o.givenUp ? 'given_up' : 'failed';
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

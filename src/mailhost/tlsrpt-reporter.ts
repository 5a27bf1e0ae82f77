// Daily TLS reports (RFC 8460): records TLS sessions of outbound delivery in the store, and once a UTC day has
// ended (plus a random delay, §4.1), for each policy domain with data looks up its TLSRPT record, builds the
// report and delivers it to every rua: mailto: queued on the normal outbound path (DKIM-signed like spamgate's
// notices; RFC 8460 §5.3: one no key signs is not sent by mail), https: POSTed. A rua that failed for now (no
// answer, a 5xx) is tried again with backoff for up to 24 hours (RFC 8460 §5.5; report-deliveries.ts), one that refused for
// good (another 4xx) is not. A TLSRPT look-up that failed for now (DNS temperror) is made again on the same backoff,
// kept in the round's journal like a rua (so a restart neither resets nor hastens it). Counted in
// spamgate_tls_reports_total{result}; a failure never stops the others.
import { counter } from '../metrics/registry.ts';
import { deliverAll, waiting, type Attempt, type DeliveryRound } from './report-deliveries.ts';
import { MAX_DESTINATIONS, type DayJournal } from './report-journal.ts';
import { DEFAULT_RETRY, nextAttempt, type RetryPolicy } from './report-retry.ts';
import { queueReport } from './report-mail.ts';
import { buildReportMail } from './tlsrpt-mail.ts';
import { postReport } from './tlsrpt-post.ts';
import { lookupTlsRpt, type ReportUri } from './tlsrpt-record.ts';
import { buildReport } from './tlsrpt-report.ts';
import type { TlsSessionRecorder } from './tlsrpt-session.ts';
import type { PolicyCounts, TlsReportStore } from './tlsrpt-store.ts';
import type { ReportSenderDeps } from './report-deps.ts';
import { createDailyReports, type DailyReports, type DailyTiming } from './report-schedule.ts';

export interface TlsReportSettings {
  organizationName: string;
  contactInfo: string;
  submitter: string;
}

/** RFC 8460 §4.1: a report covers a UTC day and goes some time after it (DailyTiming: up to four hours by default). */
export interface TlsReporterOptions extends ReportSenderDeps, DailyTiming {
  store: TlsReportStore;
  settings: TlsReportSettings;
  /** https: rua: the whole POST (HTTPS_TIMEOUT_MS) and the roots trusted (the system's; tests pass their CA). */
  httpsTimeoutMs?: number;
  ca?: Buffer;
  /** When a rua that failed for now is tried again (DEFAULT_RETRY: six attempts within 24 hours). */
  retry?: RetryPolicy;
  /** Where the round's journal goes (report-schedule.ts); memory only without. */
  journal?: { dir: string; prefix: string };
}

export interface TlsReporter extends TlsSessionRecorder, DailyReports {}

export const HTTPS_TIMEOUT_MS = 30_000;
/** The journal key of a domain's TLSRPT record look-up (not a URI, so never a rua's key). */
const lookupKey = (domain: string): string => `dns:_smtp._tls.${domain}`;
export const REPORT_RESULTS = ['sent', 'no_policy_record', 'failed', 'retry', 'given_up'] as const;

export function createTlsReporter(opts: TlsReporterOptions): TlsReporter {
  const log = opts.log.child({ component: 'tlsrpt' });
  const reports = opts.registry
    ? counter(opts.registry, 'spamgate_tls_reports_total', 'Daily TLS reports (RFC 8460) of recipient domains, by result (sent: taken by at least one rua; no_policy_record: no usable TLSRPT record, none sent; failed: no rua took it; retry: a rua or the TLSRPT look-up failed for now, tried again later; given_up: no rua took it, or the look-up kept failing, attempts spent)', ['result'] as const)
    : undefined;
  for (const result of REPORT_RESULTS) reports?.inc({ result }, 0);

  /** Delivers one report to one rua: sent when it was taken (queued, or accepted by the HTTPS server). */
  const deliverTo = async (uri: ReportUri, domain: string, built: ReturnType<typeof buildReport>, closing: AbortSignal): Promise<Attempt> => {
    if (uri.kind === 'https') {
      const r = await postReport(uri.url, built.gzip, { resolver: opts.resolver, timeoutMs: opts.httpsTimeoutMs ?? HTTPS_TIMEOUT_MS, signal: closing, ...(opts.ca ? { ca: opts.ca } : {}) });
      if (r.status === 'ok') return 'sent';
      log.warn('TLS report not accepted by the https rua', { domain, rua: uri.url.origin, reason: r.reason, retry: r.retry });
      return r.retry ? 'retry' : 'never';
    }
    const { settings } = opts;
    const mail = buildReportMail({ report: built, policyDomain: domain, submitter: settings.submitter, organizationName: settings.organizationName, from: `tlsrpt-noreply@${settings.submitter}`, to: uri.address, nowMs: opts.clock.now() });
    try {
      // RFC 8460 §5.3: reports sent by mail MUST carry a valid DKIM signature of the reporting domain, and receivers
      // ignore one that lacks it: without a key for the submitter's domain (the From domain) none is sent by mail
      const id = await queueReport(opts.sink, opts.sign, mail.envelope, mail.message, { requireSigned: true });
      if (id === undefined) {
        log.warn('TLS report not sent by mail: no DKIM key signs for the submitter (dkim.sign)', { domain, to: uri.address, submitter: settings.submitter });
        return 'never';
      }
      log.info('TLS report queued', { domain, to: uri.address, id, report_id: built.reportId });
      return 'sent';
    } catch (err) {
      log.warn('TLS report not queued', { domain, to: uri.address, err });
      return 'retry';
    }
  };

  /** One domain's report of `day`; false when it should be tried again on a later sweep. */
  const reportDomain = async (day: string, domain: string, counts: readonly PolicyCounts[], closing: AbortSignal, journal: DayJournal): Promise<boolean> => {
    const round: DeliveryRound = { domain, journal, policy: opts.retry ?? DEFAULT_RETRY, now: () => opts.clock.now(), closing };
    // every rua still to be tried waits for its next attempt: not even looked up again before then
    if (waiting(round)) return false;
    const key = lookupKey(domain);
    const before = journal.destinations(domain).get(key);
    const found = await lookupTlsRpt(opts.resolver, domain);
    if (found.status === 'temperror') {
      // RFC 8460 §5.5: tried again with backoff like a delivery, the failures journaled (a restart keeps them)
      if (closing.aborted) return false;
      const now = opts.clock.now();
      const failures = before?.s === 'failed' ? { tries: before.tries + 1, firstAt: before.firstAt, lastAt: now } : { tries: 1, firstAt: now, lastAt: now };
      if (journal.hasRoom(domain, key) && nextAttempt(round.policy, failures, now) !== 'give_up') {
        await journal.mark(domain, key, { s: 'failed', ...failures });
        reports?.inc({ result: 'retry' });
        return false;
      }
      reports?.inc({ result: 'given_up' });
      log.warn('TLS report given up: the TLSRPT record could not be looked up within the retries', { domain, day, reason: found.reason, tries: failures.tries });
      return true;
    }
    // the look-up went through after failing: it no longer holds the report's retries back (waiting())
    if (before?.s === 'failed') await journal.mark(domain, key, { s: 'found' });
    if (found.status !== 'found') {
      // RFC 8460 §3: without exactly one valid record the domain does not implement TLSRPT: nothing is sent
      reports?.inc({ result: 'no_policy_record' });
      if (found.status === 'invalid') log.info('TLSRPT record of a domain ignored', { domain, reason: found.reason });
      return true;
    }
    const s = opts.settings;
    const built = buildReport({ organizationName: s.organizationName, contactInfo: s.contactInfo, submitter: s.submitter, policyDomain: domain, day }, counts);
    // RFC 8460 §3: the report goes to each rua; one that failed for now is tried again, the others are not
    // (their outcome is journaled); cut short by close(): kept for the next start (same report-id)
    const destinations = found.rua.map((uri) => ({ key: uri.kind === 'https' ? uri.url.href : `mailto:${uri.address}`, send: () => deliverTo(uri, domain, built, closing) }));
    const o = await deliverAll(round, destinations);
    if (o.skipped) log.warn(`TLS report not sent to ruas past the bound of ${MAX_DESTINATIONS} a domain and day (the record changed)`, { domain, day, skipped: o.skipped });
    if (o.pending) {
      if (o.retried) reports?.inc({ result: 'retry' });
      return false;
    }
    if (o.givenUp && !o.sent) log.warn('TLS report given up: no rua took it within the retries', { domain, day });
    reports?.inc({ result: o.sent ? 'sent' : o.givenUp ? 'given_up' : 'failed' });
    return true;
  };

  const daily = createDailyReports<PolicyCounts[]>({
    ...opts,
    report: reportDomain,
    failed: (day, domain, err) => {
      reports?.inc({ result: 'failed' });
      log.error('TLS report failed', { domain, day, err });
    },
  });

  return { record: (e) => opts.store.record(e), ...daily };
}

// Daily TLS reports (RFC 8460): records TLS sessions of outbound delivery in the store, and once a UTC day has
// ended (plus a random delay, §4.1), for each policy domain with data looks up its TLSRPT record, builds the
// report and delivers it to every rua: mailto: queued on the normal outbound path (DKIM-signed like spamgate's
// notices), https: POSTed. Counted in spamgate_tls_reports_total{result}; a failure never stops the others.
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import type { Resolver } from '../dns/resolver.ts';
import { counter, type Registry } from '../metrics/registry.ts';
import type { MessageSink } from '../queue/types.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { buildReportMail } from './tlsrpt-mail.ts';
import { postReport } from './tlsrpt-post.ts';
import { lookupTlsRpt, type ReportUri } from './tlsrpt-record.ts';
import { buildReport } from './tlsrpt-report.ts';
import type { TlsSessionRecorder } from './tlsrpt-session.ts';
import { utcDay, type PolicyCounts, type TlsReportStore } from './tlsrpt-store.ts';

export interface TlsReportSettings {
  organizationName: string;
  contactInfo: string;
  submitter: string;
}

export interface TlsReporterOptions {
  store: TlsReportStore;
  settings: TlsReportSettings;
  resolver: Resolver;
  /** Where mailto: reports are queued (the spool: retried and delivered like any message). */
  sink: MessageSink;
  /** DKIM-signs a report by mail (RFC 8460 §5.3); one it leaves unsigned, or with no signer, is not sent by mail. */
  sign?: NoticeSigner;
  clock: Clock;
  log: Logger;
  registry?: Registry;
  /** Randomness for the delay after midnight (tests pass a fixed one). */
  random?: () => number;
  /** The longest delay after 00:00 UTC before a day's reports go (MAX_DELAY_MS). */
  maxDelayMs?: number;
  /** How often the timer started by start() looks for a day to report (SWEEP_MS); 0: no timer (tests call sendDue). */
  sweepMs?: number;
  /** https: rua: the whole POST (HTTPS_TIMEOUT_MS) and the roots trusted (the system's; tests pass their CA). */
  httpsTimeoutMs?: number;
  ca?: Buffer;
}

export interface TlsReporter extends TlsSessionRecorder {
  /** Looks for reports due at once (a restart after the delay sends them), then on the timer. */
  start(): void;
  /** Sends the reports of every ended day whose delay has passed; resolves to the number of domains handled. */
  sendDue(): Promise<number>;
  close(): Promise<void>;
}

const DAY_MS = 86_400_000;
/** RFC 8460 §4.1: a report covers a UTC day and goes some time after it, so reporters do not all send at 00:00: up to four hours. */
export const MAX_DELAY_MS = 4 * 3600 * 1000;
export const SWEEP_MS = 5 * 60 * 1000;
export const HTTPS_TIMEOUT_MS = 30_000;
/** A domain whose TLSRPT look-up failed (temperror) is tried this many sweeps before its report is given up. */
const MAX_LOOKUP_TRIES = 6;
export const REPORT_RESULTS = ['sent', 'no_policy_record', 'failed'] as const;

export function createTlsReporter(opts: TlsReporterOptions): TlsReporter {
  const log = opts.log.child({ component: 'tlsrpt' });
  const reports = opts.registry
    ? counter(opts.registry, 'spamgate_tls_reports_total', 'Daily TLS reports (RFC 8460) of recipient domains, by result (sent: taken by at least one rua; no_policy_record: no usable TLSRPT record, none sent; failed: no rua took it)', ['result'] as const)
    : undefined;
  for (const result of REPORT_RESULTS) reports?.inc({ result }, 0);
  const random = opts.random ?? Math.random;
  const maxDelay = opts.maxDelayMs ?? MAX_DELAY_MS;
  /** The delay after the end of each day (chosen once per day and process). */
  const delays = new Map<string, number>();
  const lookupTries = new Map<string, number>();
  let sending: Promise<number> | undefined;
  let closed = false;
  /** Aborted by close(): a POST under way ends then instead of holding the shutdown up to its timeout. */
  const closing = new AbortController();

  /** Delivers one report to one rua; true when it was taken (queued, or accepted by the HTTPS server). */
  const deliverTo = async (uri: ReportUri, domain: string, built: ReturnType<typeof buildReport>): Promise<boolean> => {
    if (uri.kind === 'https') {
      const r = await postReport(uri.url, built.gzip, { resolver: opts.resolver, timeoutMs: opts.httpsTimeoutMs ?? HTTPS_TIMEOUT_MS, signal: closing.signal, ...(opts.ca ? { ca: opts.ca } : {}) });
      if (r.status === 'ok') return true;
      log.warn('TLS report not accepted by the https rua', { domain, rua: uri.url.origin, reason: r.reason });
      return false;
    }
    const { settings } = opts;
    const mail = buildReportMail({ report: built, policyDomain: domain, submitter: settings.submitter, organizationName: settings.organizationName, from: `tlsrpt-noreply@${settings.submitter}`, to: uri.address, nowMs: opts.clock.now() });
    try {
      // RFC 8460 §5.3: reports sent by mail MUST carry a valid DKIM signature of the reporting domain, and receivers
      // ignore one that lacks it: without a key for the submitter's domain (the From domain) none is sent by mail
      const message = opts.sign ? await opts.sign(mail.message) : mail.message;
      if (!/^DKIM-Signature:/i.test(message.subarray(0, 16).toString('latin1'))) {
        log.warn('TLS report not sent by mail: no DKIM key signs for the submitter (dkim.sign)', { domain, to: uri.address, submitter: settings.submitter });
        return false;
      }
      const { id } = await opts.sink.enqueue(mail.envelope, message);
      log.info('TLS report queued', { domain, to: uri.address, id, report_id: built.reportId });
      return true;
    } catch (err) {
      log.warn('TLS report not queued', { domain, to: uri.address, err });
      return false;
    }
  };

  /** One domain's report of `day`; false when it should be tried again on a later sweep. */
  const reportDomain = async (day: string, domain: string, counts: readonly PolicyCounts[]): Promise<boolean> => {
    const found = await lookupTlsRpt(opts.resolver, domain);
    if (found.status === 'temperror') {
      const tries = (lookupTries.get(`${day}|${domain}`) ?? 0) + 1;
      lookupTries.set(`${day}|${domain}`, tries);
      if (tries < MAX_LOOKUP_TRIES) return false;
      reports?.inc({ result: 'failed' });
      log.warn('TLS report given up: the TLSRPT record could not be looked up', { domain, day, reason: found.reason });
      return true;
    }
    lookupTries.delete(`${day}|${domain}`);
    if (found.status !== 'found') {
      // RFC 8460 §3: without exactly one valid record the domain does not implement TLSRPT: nothing is sent
      reports?.inc({ result: 'no_policy_record' });
      if (found.status === 'invalid') log.info('TLSRPT record of a domain ignored', { domain, reason: found.reason });
      return true;
    }
    const s = opts.settings;
    const built = buildReport({ organizationName: s.organizationName, contactInfo: s.contactInfo, submitter: s.submitter, policyDomain: domain, day }, counts);
    // RFC 8460 §3: each rua MAY be tried; the report counts as delivered once one of them has taken it
    let taken = false;
    for (const uri of found.rua) if (!closed && (await deliverTo(uri, domain, built))) taken = true;
    // cut short by close() before any rua took it: kept for the next start (same report-id)
    if (!taken && closed) return false;
    reports?.inc({ result: taken ? 'sent' : 'failed' });
    return true;
  };

  const sendDue = (): Promise<number> => {
    sending ??= (async () => {
      let n = 0;
      const now = opts.clock.now();
      const today = utcDay(now);
      for (const day of opts.store.days()) {
        if (day >= today || closed) continue;
        let delay = delays.get(day);
        if (delay === undefined) delays.set(day, (delay = Math.floor(random() * maxDelay)));
        if (now < Date.parse(`${day}T00:00:00Z`) + DAY_MS + delay) continue;
        for (const [domain, counts] of [...opts.store.domainsOf(day)]) {
          if (closed) break;
          let done = true;
          try {
            done = await reportDomain(day, domain, counts);
          } catch (err) {
            reports?.inc({ result: 'failed' });
            log.error('TLS report failed', { domain, day, err });
          }
          if (done) opts.store.drop(day, domain);
          n++;
        }
        if (!opts.store.domainsOf(day).size) delays.delete(day);
      }
      await opts.store.flush();
      return n;
    })().finally(() => (sending = undefined));
    return sending;
  };

  const sweep = opts.sweepMs ?? SWEEP_MS;
  let timer: NodeJS.Timeout | undefined;

  return {
    record: (e) => opts.store.record(e),
    start() {
      if (closed || timer) return;
      void sendDue();
      if (sweep > 0) {
        timer = setInterval(() => void sendDue(), sweep);
        timer.unref();
      }
    },
    sendDue,
    close: async () => {
      closed = true;
      closing.abort();
      if (timer) clearInterval(timer);
      await sending;
      await opts.store.close();
    },
  };
}

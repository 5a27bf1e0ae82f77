// TLS reporting (RFC 8460) from config: the day's counters in the data directory and the daily reporter, with
// outbound.tls_reports' organization name, contact and submitter (the host name by default). None when turned
// off, or when remote mail goes to a relay (no MX sessions to report on).
import path from 'node:path';
import type { ReportSetupDeps } from './report-deps.ts';
import { createTlsReporter, type TlsReporter } from './tlsrpt-reporter.ts';
import { createTlsReportStore } from './tlsrpt-store.ts';

/** The file of the day's TLS report counters in the data directory. */
export const TLS_REPORTS_FILE = 'tls-reports.json';

export type TlsReportsDeps = ReportSetupDeps;

export function openTlsReports(deps: TlsReportsDeps): TlsReporter | undefined {
  const cfg = deps.config.outbound.tls_reports;
  if (!cfg.enabled || deps.config.outbound.relay || deps.config.mode !== 'full-stack') return undefined;
  const submitter = (cfg.submitter ?? deps.hostname).toLowerCase();
  const log = deps.log.child({ component: 'tlsrpt' });
  const store = createTlsReportStore({ file: path.join(deps.dataDir, TLS_REPORTS_FILE), clock: deps.clock, log });
  return createTlsReporter({
    ...deps,
    store,
    // the round's journal (report-journal.ts) beside the counters: tls-reports.<day>.journal
    journal: { dir: deps.dataDir, prefix: 'tls-reports.' },
    settings: { submitter, organizationName: cfg.organization_name ?? submitter, contactInfo: cfg.contact_info ?? `postmaster@${submitter}` },
  });
}

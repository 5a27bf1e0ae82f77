// DMARC aggregate reports (RFC 7489 §7.2) from config: the day's counters in the data directory and the daily
// reporter, with dmarc_reports' organization name, address and submitter (the host name by default). None when
// turned off. In both modes reports are queued on the spool: full-stack delivers them by MX, front-of hands them
// to delivery.upstream like all its mail (the inner MTA relays them out).
import path from 'node:path';
import type { ReportSetupDeps } from './report-deps.ts';
import { createDmarcReporter, type DmarcReporter } from './dmarc-reporter.ts';
import { createDmarcReportStore } from './dmarc-store.ts';

/** The file of the day's DMARC report counters in the data directory. */
export const DMARC_REPORTS_FILE = 'dmarc-reports.json';

export type DmarcReportsDeps = ReportSetupDeps;

export function openDmarcReports(deps: DmarcReportsDeps): DmarcReporter | undefined {
  const cfg = deps.config.dmarc_reports;
  if (!cfg.enabled) return undefined;
  const submitter = (cfg.submitter ?? deps.hostname).toLowerCase();
  const log = deps.log.child({ component: 'dmarc-reports' });
  const store = createDmarcReportStore({ file: path.join(deps.dataDir, DMARC_REPORTS_FILE), clock: deps.clock, log });
  return createDmarcReporter({
    ...deps,
    store,
    // the round's journal (report-journal.ts) beside the counters: dmarc-reports.<day>.journal
    journal: { dir: deps.dataDir, prefix: 'dmarc-reports.' },
    settings: { submitter, orgName: cfg.org_name ?? submitter, email: cfg.email ?? `dmarc-noreply@${submitter}` },
  });
}

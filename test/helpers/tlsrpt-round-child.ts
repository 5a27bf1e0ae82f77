// Test helper run as a child process: a TLS reporter over a data directory (the counters and round journal there,
// as `spamgate serve` keeps them) that sends the reports due at a given instant, for a test to SIGKILL mid-round.
// Arguments: data directory, DNS server (host:port), CA file (PEM), the instant (epoch ms).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createResolver } from '../../src/dns/dns2-resolver.ts';
import { createTlsReporter } from '../../src/mailhost/tlsrpt-reporter.ts';
import { createTlsReportStore } from '../../src/mailhost/tlsrpt-store.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { createLogger } from '../../src/util/logger.ts';

const [dataDir = '', dnsServer = '', caFile = '', now = '0'] = process.argv.slice(2);
const clock = new ManualClock(Number(now));
const log = createLogger('error', new Writable({ write: (_c, _e, cb) => cb() }));
const reporter = createTlsReporter({
  store: createTlsReportStore({ file: path.join(dataDir, 'tls-reports.json'), clock, log, saveEveryMs: 0 }),
  settings: { organizationName: 'O', contactInfo: 'c', submitter: 'gw.test' },
  resolver: createResolver({ servers: [dnsServer], timeoutMs: 500, retries: 0 }),
  sink: { enqueue: async () => ({ id: 'q' }) },
  clock,
  log,
  random: () => 0,
  sweepMs: 0,
  ca: readFileSync(caFile),
  httpsTimeoutMs: 120_000,
  journal: { dir: dataDir, prefix: 'tls-reports.' },
});
process.stdout.write('sending\n');
await reporter.sendDue();
await reporter.close();

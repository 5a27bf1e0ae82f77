// What a daily report sender (TLS reports, DMARC aggregate reports) is built from: the resolver for its look-ups,
// the spool its mail is queued on, the notice signer, clock, log and metrics; and, at set-up, the config snapshot,
// data directory and host name.
import type { Config } from '../config/schema.ts';
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import type { Resolver } from '../dns/resolver.ts';
import type { Registry } from '../metrics/registry.ts';
import type { MessageSink } from '../queue/types.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';

export interface ReportSenderDeps {
  resolver: Resolver;
  /** Where mailto: reports are queued (the spool: retried and delivered like any message). */
  sink: MessageSink;
  /** DKIM-signs the reports like spamgate's notices (a TLS report no key signs is not sent by mail, RFC 8460 §5.3; a DMARC report is). */
  sign?: NoticeSigner;
  clock: Clock;
  log: Logger;
  registry?: Registry;
}

export interface ReportSetupDeps extends ReportSenderDeps {
  config: Config;
  dataDir: string;
  hostname: string;
  registry: Registry;
}

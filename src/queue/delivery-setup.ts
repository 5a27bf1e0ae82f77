// Builds the delivery side from config: spool, scheduler and the router for the mode
// (front-of: everything to the upstream; full-stack: local mailboxes and MX delivery).
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { Resolver } from '../dns/resolver.ts';
import { createOutbound } from '../mailhost/outbound.ts';
import { selfAddressCheck } from '../mailhost/self-address.ts';
import { openDane } from '../mailhost/dane-setup.ts';
import { openTlsReports } from '../mailhost/tlsrpt-setup.ts';
import type { Registry } from '../metrics/registry.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { QuarantineControl } from './control.ts';
import { createInlineForwarder, type ClosableInlineForwarder } from './inline.ts';
import { createFullStackRouter, domainOf, type DeliverLocal, type Router } from './router.ts';
import { createScheduler } from './scheduler.ts';
import { openSpool, spoolDir, type Spool } from './spool.ts';
import type { HandOffSender } from './types.ts';
import { createUpstreamRouter } from './upstream-router.ts';

export interface DeliverySetupDeps {
  loaded: LoadedConfig;
  clock: Clock;
  log: Logger;
  registry: Registry;
  hostname: string;
  resolver: Resolver;
  /**
   * Local mailbox delivery (full-stack), given the spool for re-queued alias targets and its progress records;
   * without it local mail waits in the queue.
   */
  deliverLocal: ((spool: Spool) => DeliverLocal) | undefined;
  /** DKIM-signs the delivery notices spamgate writes. */
  signNotice?: NoticeSigner;
  /** The sender our own mail is handed on to other domains with (BATV). */
  handOffSender?: HandOffSender;
  /** The quarantine's release and delete, given the spool released messages go into. */
  quarantine?: (spool: Spool) => QuarantineControl;
  /**
   * The running config's local_domains (a reload changes them): each delivery attempt routes by the ones of its
   * time, so a queued message to a domain added since goes to the mailboxes, one to a domain removed goes out.
   * Default: the ones of `loaded`.
   */
  localDomains?: () => ReadonlySet<string>;
}

export interface Delivery {
  spool: Spool;
  inline?: ClosableInlineForwarder;
  start(): Promise<void>;
  health(): Promise<{ ok: boolean; depth: number }>;
  flush(id?: string): void;
  close(deadlineMs: number): Promise<void>;
}

const waitForMailHost: DeliverLocal = async () => ({
  status: 'temp',
  reply: { code: 451, enhanced: '4.3.0', text: 'local delivery not available yet: message stays queued' },
});

export async function openDelivery(deps: DeliverySetupDeps): Promise<Delivery> {
  const config = deps.loaded.config;
  const log = deps.log.child({ component: 'queue' });
  const spool = await openSpool({ dir: spoolDir(deps.loaded.dataDir), fsync: config.queue.fsync, clock: deps.clock, registry: deps.registry, log });
  let router: Router;
  let inline: ClosableInlineForwarder | undefined;
  /** Started with the scheduler: what waits to be started once the queue runs. */
  const starters: Array<() => void> = [];
  const closers: Array<() => Promise<void>> = [];
  const startDomains: ReadonlySet<string> = new Set(config.local_domains);
  const localDomains = deps.localDomains ?? ((): ReadonlySet<string> => startDomains);
  if (config.mode === 'front-of') {
    const upstream = config.delivery.upstream;
    if (!upstream) throw new Error(`${deps.loaded.file ?? '(config)'}: delivery.upstream: front-of mode needs an upstream host`);
    // isLocal also tells which recipients of our own outgoing mail keep spamgate's fields (upstream-router.ts byCopy)
    const opts = { upstream, hostname: deps.hostname, log, isLocal: (rcpt: string) => localDomains().has(domainOf(rcpt)), ...(deps.handOffSender ? { handOffSender: deps.handOffSender } : {}) };
    router = createUpstreamRouter(opts);
    if (config.delivery.mode === 'inline') {
      inline = createInlineForwarder({ ...opts, ...(deps.signNotice ? { signNotice: deps.signNotice } : {}), bounces: spool, clock: deps.clock, registry: deps.registry, returnFullMaxBytes: config.queue.return_full_max_size });
      closers.push(() => inline?.close() ?? Promise.resolve());
    }
  } else {
    // TLS reports (RFC 8460): sessions counted by outbound, reports queued on the spool like any message
    const tlsReports = openTlsReports({ config, dataDir: deps.loaded.dataDir, hostname: deps.hostname, resolver: deps.resolver, sink: spool, ...(deps.signNotice ? { sign: deps.signNotice } : {}), clock: deps.clock, log: deps.log, registry: deps.registry });
    // DANE (outbound.dane): DNSSEC-aware look-ups of the validating resolver, beside the caching resolver
    const secureDns = openDane(config, log);
    const outbound = createOutbound({
      resolver: deps.resolver,
      ...(secureDns ? { secureDns } : {}),
      config: config.outbound,
      hostname: deps.hostname,
      log,
      selfNames: config.smtp.hostname ? [config.smtp.hostname] : [],
      isSelfAddress: selfAddressCheck([config.smtp.listen, ...(config.submission.enabled ? [config.submission.listen] : [])]),
      // the MTA-STS policy cache lives in the data directory, so a restart keeps enforcing what it learnt
      dataDir: deps.loaded.dataDir,
      registry: deps.registry,
      clock: deps.clock,
      ...(tlsReports ? { tlsReports } : {}),
    });
    closers.push(() => outbound.close());
    if (tlsReports) {
      starters.push(() => tlsReports.start());
      closers.push(() => tlsReports.close());
    }
    router = createFullStackRouter({
      deliverLocal: deps.deliverLocal?.(spool) ?? waitForMailHost,
      isLocal: (rcpt) => localDomains().has(domainOf(rcpt)) || !rcpt.includes('@'),
      outbound,
      ...(deps.handOffSender ? { handOffSender: deps.handOffSender } : {}),
    });
  }
  const scheduler = createScheduler({ spool, router, config: config.queue, clock: deps.clock, registry: deps.registry, log, hostname: deps.hostname, ...(deps.signNotice ? { signNotice: deps.signNotice } : {}), ...(deps.quarantine ? { quarantine: deps.quarantine(spool) } : {}) });
  return {
    spool,
    ...(inline ? { inline } : {}),
    start: async () => {
      await scheduler.start();
      for (const start of starters) start();
    },
    flush: (id) => scheduler.flush(id),
    health: async () => ({ ok: true, depth: scheduler.size() }),
    close: async (deadlineMs) => {
      await scheduler.stop(deadlineMs);
      for (const c of closers) await c();
      await spool.close();
    },
  };
}

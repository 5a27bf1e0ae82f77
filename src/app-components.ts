// Opens the long-lived components (spool, delivery, mail host, protocol servers, filter, DNS) and
// builds the check list for a rules snapshot. app.ts owns their life cycle.
import { isDeepStrictEqual } from 'node:util';
import { batvCounter, createBatv, type Batv } from './batv/batv.ts';
import { createBatvCheck } from './checks/batv.ts';
import { createNoticeSigner } from './dkim/notice-signer.ts';
import type { DkimSigner } from './dkim/signer.ts';
import type { ArcSealer } from './dkim/arc-sealer.ts';
import { createForwardSealer } from './mailhost/arc-forward.ts';
import type { AddressInfo } from 'node:net';
import { createRateLimitChecks } from './checks/rate-limits.ts';
import { createRelayCheck } from './checks/relay.ts';
import { createRecipientCheck } from './checks/recipient.ts';
import { createUpstreamRecipientCheck, RecipientVerifier, upstreamProbe } from './checks/upstream-recipient.ts';
import { openMailHost } from './mailhost/mailhost-setup.ts';
import type { PreparedDirectory } from './mailhost/directory.ts';
import { waitForLearnLock } from './bayes/learn-lock.ts';
import { RUNNER_SYMBOLS } from './checks/runner.ts';
import type { Check } from './checks/types.ts';
import { SHIPPED_MODELS_DIR, type LoadedConfig } from './config/load.ts';
import { createAutolearner } from './bayes/autolearn.ts';
import { mimeLimitsOf, openBayes, seedSharedStore, type Bayes } from './bayes/open-bayes.ts';
import type { BayesResult } from './bayes/classifier.ts';
import { BAYES_RESULT_KEY } from './checks/bayes.ts';
import { BAYES_DERIVED_KEY } from './checks/content-rules.ts';
import { createContentChecks } from './checks/content-checks.ts';
import { createListChecks } from './checks/lists.ts';
import { createUserListCheck, USER_LIST_SYMBOLS, userListHits } from './checks/user-lists.ts';
import { openUserLists } from './lists/user-lists.ts';
import type { Config } from './config/schema.ts';
import { MemoryRateStore, type RateStore } from './limits/rate-store.ts';
import type { Learner } from './bayes/learner.ts';
import type { Authenticator } from './mailhost/types.ts';
import type { Registry } from './metrics/registry.ts';
import type { HandOffSender, InlineForwarder, MessageSink } from './queue/types.ts';
import type { Ruleset } from './scoring/ruleset.ts';
import type { FinalActionEvent, VerdictEvent } from './smtp/gateway-types.ts';
import { openDmarcReports } from './mailhost/dmarc-setup.ts';
import type { Clock } from './util/clock.ts';
import type { Logger } from './util/logger.ts';
import { createResolver } from './dns/dns2-resolver.ts';
import { createDnsChecks } from './checks/dns-checks.ts';
import type { DnsblEngine } from './dns/dnsbl.ts';
import { DnsblHealthBook } from './dns/dnsbl-health.ts';
import type { DnsblSection } from './dns/dnsbl-rules.ts';
import type { UriblSection } from './dns/uribl-rules.ts';
import { openDelivery } from './queue/delivery-setup.ts';
import { quarantineDir } from './config/sections/quarantine.ts';
import { openQuarantine, type QuarantineSink } from './quarantine/store.ts';
import { openQuarantineDigest, type QuarantineDigest } from './quarantine/digest-setup.ts';
import type { HttpRoute } from './quarantine/link-routes.ts';
import { openSharedStores } from './redis/shared-stores.ts';
import { createAntivirus } from './antivirus/setup.ts';
import { createFuzzyCheck } from './checks/fuzzy.ts';
import { openFuzzy } from './fuzzy/open-fuzzy.ts';
import { withFuzzyLearning } from './fuzzy/learner.ts';
import { createReputationCheck, REPUTATION_SYMBOLS } from './checks/reputation.ts';
import { withReputationLearning } from './reputation/learner.ts';
import { openReputation } from './reputation/open-reputation.ts';
import { loadReputationSeal } from './reputation/seal.ts';
import { verdictLearner } from './reputation/verdict-learning.ts';

export interface ComponentDeps {
  loaded: LoadedConfig;
  clock: Clock;
  log: Logger;
  registry: Registry;
  hostname: string;
  /** Validate only (check-config): open nothing that locks, listens or writes. */
  dryRun?: boolean;
}

export interface Components {
  sink?: MessageSink;
  inline?: InlineForwarder;
  quarantine?: QuarantineSink;
  authenticator?: Authenticator;
  /** What users' reports teach (Bayes, the fuzzy store, reputation): the spamd listener's TELL. */
  learner?: Learner;
  rateStore?: RateStore;
  /** POP-before-SMTP: addresses that recently logged in may relay. */
  isRecentlyAuthenticated?: (ip: string) => boolean;
  onVerdict?: (event: VerdictEvent) => void;
  /** Each message's final action after DATA (DMARC aggregate reports). */
  onFinal?: (event: FinalActionEvent) => void;
  /** Full-stack mode: the address is a user or alias of its own, not a sub-address (Ruleset.ownAddress). */
  ownAddress?: (address: string) => boolean;
  /** Extra checks contributed by components, rebuilt per rules snapshot. */
  checks(config: Config, ruleset: Ruleset): Check[];
  /** The snapshot built with this ruleset (and DKIM keys) now runs (at start, and after a reload that succeeded). */
  activate(snapshot: { config: Config; ruleset: Ruleset; dkim?: DkimSigner; arc?: ArcSealer; batv?: Batv }): void;
  /** BATV for a config (its key file read now), undefined when off; throws when the keys cannot be read. */
  openBatv(config: Config): Batv | undefined;
  /** Starts protocol servers and delivery; returns what listens where. */
  startServices(): Promise<Partial<Record<'pop3' | 'pop3s' | 'imap' | 'imaps' | 'managesieve', AddressInfo>>>;
  queueHealth(): Promise<{ ok: boolean; depth?: number; oldest_age_seconds?: number }>;
  /**
   * Throws when something onReload applies would refuse this config (the config's users and aliases sections, or
   * local_domains the user directory or SRS cannot take): called before the reload swaps anything, so such a
   * reload fails whole. What it prepared, onReload puts in place.
   */
  checkReload?(loaded: LoadedConfig): void;
  onReload?(loaded: LoadedConfig): void;
  /** Routes components add to the HTTP listener (the quarantine digest's links). */
  httpRoutes?: Record<string, HttpRoute>;
  close(deadlineMs: number): Promise<void>;
}

export async function openComponents(deps: ComponentDeps): Promise<Components> {
  const config = deps.loaded.config;
  const closers: Array<(deadlineMs: number) => Promise<void>> = [];
  const resolver = createResolver({
    ...(config.dns.servers ? { servers: config.dns.servers } : {}),
    timeoutMs: config.dns.timeout,
    retries: config.dns.retries,
    cacheSize: config.dns.cache_size,
    registry: deps.registry,
    clock: deps.clock,
  });
  const shared = await openSharedStores({ config, clock: deps.clock, log: deps.log, registry: deps.registry, dryRun: deps.dryRun === true });
  closers.push(() => shared.close());
  // DNSBL health outlives a snapshot: a reload keeps what is known of unchanged lists (dnsbl-health.ts).
  const dnsblHealth = new DnsblHealthBook(deps.registry);
  const dnsblEngines = new WeakMap<Ruleset, DnsblEngine>();
  const dnsChecks = (cfg: Config, ruleset: Ruleset): Check[] => {
    const built = createDnsChecks({
      resolver,
      dnsbl: ruleset.section<DnsblSection>('dnsbl') ?? {},
      uribl: ruleset.section<UriblSection>('uribl'),
      mimeLimits: mimeLimitsOf(config.filter),
      localDomains: cfg.local_domains,
      hostname: deps.hostname,
      localAddresses: [cfg.smtp.listen.host, cfg.submission.listen.host],
      registry: deps.registry,
      dnsblHealth,
      log: deps.log,
      clock: deps.clock,
      trustedSealers: cfg.arc.trusted_sealers,
    });
    dnsblEngines.set(ruleset, built.dnsbl);
    return built.checks;
  };
  // the running snapshot's DKIM keys, for the delivery notices the queue writes (reloaded keys apply at once)
  let dkim: DkimSigner | undefined;
  // and its ARC sealer, for the copies the mail host forwards
  let arcSealer: ArcSealer | undefined;
  // and whether the fuzzy store is still wanted: `fuzzy.enabled: false` by reload stops its check and its learning at once
  let fuzzyWanted = config.fuzzy.enabled;
  // and its BATV keys, for the senders of our own mail handed on to other domains (reloaded keys apply at once)
  let batv: Batv | undefined;
  // the running snapshot's local domains: delivery (local or remote), SRS and quarantine digests read them at
  // each use, so a reload that changes local_domains applies at once (the user directory swaps its own at onReload)
  let localDomainList: readonly string[] = config.local_domains;
  let localDomainSet: ReadonlySet<string> = new Set(localDomainList);
  const batvResults = batvCounter(deps.registry);
  const openBatv = (cfg: Config): Batv | undefined => createBatv(cfg, { clock: deps.clock, results: batvResults });
  const handOffSender: HandOffSender = (envelope) => (envelope.outgoing && batv ? batv.outgoingSender(envelope.mailFrom) : envelope.mailFrom);
  const activate = (snapshot: { config: Config; ruleset: Ruleset; dkim?: DkimSigner; arc?: ArcSealer; batv?: Batv }): void => {
    fuzzyWanted = snapshot.config.fuzzy.enabled;
    reputationChecked = !snapshot.config.checks.disabled.includes('reputation');
    reputationSettings = snapshot.config.reputation;
    batv = snapshot.batv;
    if (snapshot.config.local_domains !== localDomainList) {
      localDomainList = snapshot.config.local_domains;
      localDomainSet = new Set(localDomainList);
    }
    dkim = snapshot.dkim;
    arcSealer = snapshot.arc;
    dnsblEngines.get(snapshot.ruleset)?.activate();
  };
  const antivirus = createAntivirus({ registry: deps.registry, log: deps.log.child({ component: 'antivirus' }) });
  const mimeLimits = mimeLimitsOf(config.filter);
  const contentChecks = (ruleset: Ruleset, bayes: Bayes | undefined): Check[] =>
    createContentChecks({ ruleset, ...(bayes ? { bayes } : {}), limits: mimeLimits, registry: deps.registry, log: deps.log.child({ component: 'filter' }) });
  if (deps.dryRun) {
    return {
      rateStore: new MemoryRateStore(deps.clock),
      checks: (cfg, ruleset) => [...dnsChecks(cfg, ruleset), ...contentChecks(ruleset, undefined), ...antivirus.checks(cfg.antivirus), ...shared.greylistCheck(cfg, ruleset)],
      activate,
      openBatv,
      startServices: async () => ({}),
      queueHealth: async () => ({ ok: true }),
      close: async () => undefined,
    };
  }
  const bayesLog = deps.log.child({ component: 'bayes' });
  const sharedTokens = shared.tokenStore;
  const seedShared = sharedTokens ? (): Promise<void> => seedSharedStore(sharedTokens, SHIPPED_MODELS_DIR, config.bayes, bayesLog) : undefined;
  if (config.bayes.enabled && seedShared) await seedShared();
  // the in-process store is saved from memory: not while a train or forget learns into the file (or after)
  if (config.bayes.enabled && !sharedTokens) closers.push(await waitForLearnLock(deps.loaded.dataDir, bayesLog));
  const bayes = config.bayes.enabled
    ? openBayes({
        dataDir: deps.loaded.dataDir,
        modelsDir: SHIPPED_MODELS_DIR,
        config: config.bayes,
        limits: mimeLimits,
        registry: deps.registry,
        log: bayesLog,
        ...(sharedTokens && seedShared ? { store: sharedTokens, reseed: seedShared } : {}),
      })
    : undefined;
  if (bayes) closers.push(() => bayes.close());
  // fuzzy digests of reported spam: learned from the Junk folder and quarantine release too
  const fuzzy = config.fuzzy.enabled ? openFuzzy({ config: config.fuzzy, limits: mimeLimits, clock: deps.clock, dataDir: deps.loaded.dataDir, registry: deps.registry, saveDelayMs: 1000, log: deps.log, ...(shared.fuzzyStore ? { store: shared.fuzzyStore } : {}) }) : undefined;
  if (fuzzy) closers.push(() => fuzzy.close());
  const fuzzyChecks = (cfg: Config): Check[] => (fuzzy && cfg.fuzzy.enabled ? [createFuzzyCheck({ fuzzy, limits: mimeLimits })] : []);
  const fuzzyLog = deps.log.child({ component: 'fuzzy' });
  // what users report (Junk folder moves, quarantine release --learn) teaches Bayes and the fuzzy store
  const fuzzyReports = fuzzy ? withFuzzyLearning(bayes?.learner, fuzzy, () => fuzzyWanted, (err) => fuzzyLog.warn('fuzzy learning failed', { error: err.message })) : bayes?.learner;
  // sender reputation: learned from every judged message's score, and from the same reports. Every message
  // changes it and a save writes the whole map (up to max_entries keys, megabytes): at most once a minute
  // (a crash loses that minute), and at stop.
  const reputationLog = deps.log.child({ component: 'reputation' });
  const reputation = config.reputation.enabled
    ? openReputation({ config: config.reputation, clock: deps.clock, dataDir: deps.loaded.dataDir, registry: deps.registry, saveDelayMs: REPUTATION_SAVE_MS, log: reputationLog, ...(shared.reputationStore ? { store: shared.reputationStore } : {}) })
    : undefined;
  if (reputation) closers.push(() => reputation.close());
  const reputationSeal = reputation ? loadReputationSeal(deps.loaded.dataDir) : undefined;
  let reputationChecked = true;
  let reputationSettings = config.reputation;
  const reputationChecks = (cfg: Config): Check[] => (reputation && reputationSeal ? [createReputationCheck({ reputation, config: cfg.reputation, seal: reputationSeal })] : []);
  const reportLearner = reputation && reputationSeal ? withReputationLearning(fuzzyReports, { reputation, seal: reputationSeal, enabled: () => reputationChecked, settings: () => reputationSettings, onError: (err) => reputationLog.warn('reputation report not learned', { error: err.message }) }) : fuzzyReports;
  const learnReputation = reputation ? verdictLearner(reputation, () => reputationChecked, reputationLog) : undefined;
  // Bayes is everyone's: neither history nor one user's own sender lists (a spam alice allowed, a newsletter she
  // blocked) may decide what it learns
  const autolearner = bayes ? createAutolearner({ learner: bayes.learner, config: config.bayes, log: deps.log.child({ component: 'bayes' }), leftOut: new Set([...REPUTATION_SYMBOLS, ...USER_LIST_SYMBOLS]) }) : undefined;
  const fullStack = config.mode === 'full-stack';
  const mailhost = openMailHost({
    config,
    dataDir: deps.loaded.dataDir,
    clock: deps.clock,
    log: deps.log,
    registry: deps.registry,
    hostname: deps.hostname,
    localDomains: () => localDomainList,
    ...(reportLearner ? { learner: reportLearner } : {}),
    ...(deps.loaded.file !== undefined ? { configFile: deps.loaded.file } : {}),
  });
  closers.push(() => mailhost.close());
  // per-user sender lists (full-stack: the users are ours); the counter exists at 0 in every mode
  const userListHitsTotal = userListHits(deps.registry);
  const userLists = fullStack ? openUserLists(deps.loaded.dataDir, deps.log.child({ component: 'user-lists' })) : undefined;
  const userListChecks = (cfg: Config): Check[] => (userLists ? [createUserListCheck({ directory: mailhost.directory, lists: userLists, hitsTotal: userListHitsTotal, subaddressDelimiter: cfg.mailhost.subaddress_delimiter })] : []);
  const signNotice = createNoticeSigner(() => dkim, deps.registry, deps.log.child({ component: 'queue' }), deps.clock);
  const sealForward = fullStack ? createForwardSealer(() => arcSealer, deps.registry, deps.log.child({ component: 'arc' }), deps.clock) : undefined;
  const quarantine = await openQuarantine({
    dir: quarantineDir(deps.loaded.dataDir, config.quarantine),
    maxAgeMs: config.quarantine.max_age,
    maxSize: config.quarantine.max_size,
    fsync: config.queue.fsync,
    clock: deps.clock,
    registry: deps.registry,
    log: deps.log.child({ component: 'quarantine' }),
    ...(reportLearner ? { learner: reportLearner } : {}),
  });
  closers.push(async () => quarantine.close());
  let digest: QuarantineDigest | undefined;
  const delivery = await openDelivery({
    ...deps,
    resolver,
    signNotice,
    handOffSender,
    localDomains: () => localDomainSet,
    deliverLocal: fullStack ? (spool) => mailhost.deliverLocal(spool, signNotice, sealForward, spool.progress) : undefined,
    quarantine: (spool) => ({ release: (id, learn) => quarantine.release(id, spool, learn), remove: (id) => quarantine.remove(id), digest: async (force) => digest?.runner.run(force) }),
  });
  closers.push((d) => delivery.close(d));
  // quarantine digests to local recipients, queued on the spool, with their links on the HTTP listener
  digest = await openQuarantineDigest({ loaded: deps.loaded, localDomains: () => localDomainList, ...(fullStack ? { directory: mailhost.directory } : {}), quarantine, sink: delivery.spool, sign: signNotice, hostname: deps.hostname, clock: deps.clock, registry: deps.registry, log: deps.log });
  if (digest) closers.push(() => digest?.runner.close() ?? Promise.resolve());
  // DMARC aggregate reports (RFC 7489 §7.2): counted per received message, queued on the spool daily
  const dmarcReports = openDmarcReports({ config, dataDir: deps.loaded.dataDir, hostname: deps.hostname, resolver, sink: delivery.spool, sign: signNotice, clock: deps.clock, log: deps.log, registry: deps.registry });
  if (dmarcReports) closers.push(() => dmarcReports.close());
  const pbs = mailhost.popBeforeSmtp;
  // Front-of recipient verification: one verifier (and cache) for the process; the settings need a restart.
  const verify = config.delivery.verify_recipients;
  const upstream = config.delivery.upstream;
  const verifier = !fullStack && verify.enabled && upstream ? new RecipientVerifier(upstreamProbe(upstream, deps.hostname, verify.timeout), verify, deps.registry) : undefined;
  // the user directory a reload's checkReload prepared (config sections, files and local domains), put in place by its onReload
  let nextDirectory: PreparedDirectory | undefined;
  const verifyChecks = (cfg: Config, ruleset: Ruleset): Check[] => (verifier ? [createUpstreamRecipientCheck(verifier, verify, new Set(cfg.local_domains), ruleset)] : []);
  return {
    rateStore: shared.rateStore ?? new MemoryRateStore(deps.clock),
    sink: delivery.spool,
    quarantine,
    ...(digest ? { httpRoutes: digest.routes } : {}),
    ...(delivery.inline ? { inline: delivery.inline } : {}),
    authenticator: mailhost.directory,
    ...(fullStack ? { ownAddress: (address: string) => mailhost.directory.hasOwnEntry(address) } : {}),
    ...(reportLearner ? { learner: reportLearner } : {}),
    ...(pbs ? { isRecentlyAuthenticated: (ip: string) => pbs.allows(ip) } : {}),
    activate,
    openBatv,
    checks: (cfg, ruleset) => [...(fullStack ? [createRecipientCheck(mailhost.directory, mailhost.srs, new Set(cfg.local_domains))] : []), ...verifyChecks(cfg, ruleset), ...userListChecks(cfg), ...dnsChecks(cfg, ruleset), ...contentChecks(ruleset, bayes), ...fuzzyChecks(cfg), ...reputationChecks(cfg), ...antivirus.checks(cfg.antivirus), ...shared.greylistCheck(cfg, ruleset)],
    ...(dmarcReports || learnReputation
      ? {
          onFinal: (e: FinalActionEvent) => {
            // a refusal after DATA: its score is learned here (accepted mail by onVerdict)
            if (learnReputation && e.action === 'reject' && e.verdict) learnReputation(e.verdict, e.results);
            // mail received from the world only: not submissions, authenticated or trusted-network relaying (our own mail)
            if (dmarcReports && !(e.session.submission || e.session.authUser || e.session.trusted)) dmarcReports.observe({ action: e.action, clientIp: e.session.clientIp, mailFrom: e.envelope.mailFrom, message: e.message, results: e.results });
          },
        }
      : {}),
    ...(autolearner || learnReputation
      ? {
          onVerdict: (e: VerdictEvent) => {
            learnReputation?.(e.verdict, e.results);
            void autolearner?.maybeLearn(e.message, e.verdict, e.results.get(BAYES_RESULT_KEY) as BayesResult | undefined, e.results.get(BAYES_DERIVED_KEY) as ReadonlySet<string> | undefined);
          },
        }
      : {}),
    startServices: async () => {
      await delivery.start();
      dmarcReports?.start();
      quarantine.start();
      digest?.runner.start();
      // not awaited: a clamd that does not answer is logged, and start goes on (it may come up later)
      void antivirus.probe(config.antivirus);
      return fullStack ? mailhost.start() : {};
    },
    checkReload: (loaded) => {
      nextDirectory = undefined;
      const next = loaded.config;
      // SRS addresses are made at the domain of the start (the srs section needs a restart): bounces to them must stay local mail
      const srsDomain = mailhost.srs?.domain.toLowerCase().replace(/\.$/, '');
      if (srsDomain !== undefined && !next.local_domains.some((d) => d.toLowerCase().replace(/\.$/, '') === srsDomain)) {
        throw new Error(`local_domains: ${srsDomain} is the running SRS domain (srs.domain, or the first local domain at start): it stays in local_domains until a restart, or bounces of forwarded mail would be refused`);
      }
      const prepared = mailhost.directory.prepare({ users: next.users, aliases: next.aliases, local_domains: next.local_domains });
      const domainsChanged = !isDeepStrictEqual(next.local_domains, localDomainList);
      // the config's own sections are the reload's: refused, it fails whole. A broken users or aliases file keeps
      // its last good contents (as its watcher does) while the sections apply, unless the domains change: the
      // directory and relay control must then change together, so the reload fails whole too (its users and aliases
      // outside them, say).
      if (prepared.sectionProblems.length || !prepared.committable || (prepared.problems.length && domainsChanged)) throw new Error(`user directory: ${prepared.problems.join('; ')}`);
      nextDirectory = prepared;
    },
    onReload: () => {
      if (fullStack) mailhost.reloadTls();
      mailhost.srs?.reloadSecrets();
      digest?.reloadSecret();
      const prepared = nextDirectory;
      nextDirectory = undefined;
      if (!prepared) return;
      if (prepared.problems.length) deps.log.warn('users or aliases file broken: its last good users and aliases stay, the config\'s users and aliases sections apply', { problems: prepared.problems });
      prepared.commit();
    },
    queueHealth: async () => delivery.health(),
    close: async (deadlineMs) => {
      for (const close of closers.reverse()) await close(deadlineMs);
    },
  };
}

/** The checks of one snapshot: core policy first, then what components contribute. */
export function buildChecks(config: Config, ruleset: Ruleset, components: Components, batv?: Batv): Check[] {
  // the snapshot's local_domains: the user directory and delivery take the same ones when it is put in place (reload)
  const localDomains = new Set(config.local_domains);
  const checks: Check[] = [
    createRelayCheck({
      localDomains,
      requireLocalSender: config.smtp.relay_requires_local_sender,
      ...(components.isRecentlyAuthenticated ? { isRecentlyAuthenticated: components.isRecentlyAuthenticated } : {}),
    }),
    ...components.checks(config, ruleset),
    ...(batv ? [createBatvCheck(batv)] : []),
    ...createListChecks(ruleset, { subaddressDelimiter: config.mailhost.subaddress_delimiter }),
  ];
  if (components.rateStore) {
    checks.push(...createRateLimitChecks({ store: components.rateStore, perIp: config.limits.per_ip, perUser: config.limits.per_user, ipv6Prefix: config.limits.ipv6_prefix }));
  }
  return checks;
}

/** The in-process reputation store is saved this long after a change (at most once in this time). */
const REPUTATION_SAVE_MS = 60_000;

/** Symbols defined for the runner and listener themselves (checked at start). */
export const CORE_SYMBOLS = [...RUNNER_SYMBOLS, 'PREGREET', 'RATE_IP_CONNECTIONS'];

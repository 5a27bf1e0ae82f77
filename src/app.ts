// Composition root: builds every component from one config snapshot; no globals. Reload swaps
// the whole snapshot (config + rules + checks) or keeps the running one and says why.
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { exportSigningDomains } from './dkim/notice-signer.ts';
import { createDkimSigner, loadDkimKeys } from './dkim/signer.ts';
import { createArcSealer } from './dkim/arc-sealer.ts';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { loadConfig, type LoadedConfig } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { MemoryRateStore, type RateStore } from './limits/rate-store.ts';
import { createHttpServer, type Readiness } from './metrics/http-server.ts';
import { watchFreeSpace, type FreeSpace } from './queue/free-space.ts';
import { spoolDir } from './queue/spool.ts';
import { counter, createRegistry, gauge, type Registry } from './metrics/registry.ts';
import { assertSymbolsDefined, loadRuleset } from './scoring/ruleset.ts';
import { withContentSymbols } from './content/engine.ts';
import { withListSymbols } from './lists/compile.ts';
import { watchRules, type RulesWatcher } from './content/rules-watcher.ts';
import { Gateway } from './smtp/gateway.ts';
import { MilterServer } from './milter/server.ts';
import { createSpamdMetrics } from './spamd/metrics.ts';
import { SpamdServer } from './spamd/server.ts';
import { createRspamdMetrics } from './spamd/rspamd-metrics.ts';
import { RspamdHttpServer } from './spamd/rspamd-server.ts';
import { createSmtpAuthThrottle } from './smtp/smtp-auth.ts';
import type { GatewaySnapshot } from './smtp/gateway-types.ts';
import { createGatewayMetrics } from './smtp/gateway-metrics.ts';
import { systemClock, type Clock } from './util/clock.ts';
import { CidrSet } from './util/cidr.ts';
import { createLogger, type Logger } from './util/logger.ts';
import { buildChecks, CORE_SYMBOLS, openComponents, type Components } from './app-components.ts';
import { bindAs } from './util/bind-error.ts';
import { randomUUID } from 'node:crypto';
import { writeReloadStatus, type ReloadTrigger } from './reload-status.ts';

export interface AppOptions {
  loaded: LoadedConfig;
  clock?: Clock;
  log?: Logger;
  registry?: Registry;
}

export interface Listening {
  smtp: AddressInfo;
  submission?: AddressInfo;
  submissions?: AddressInfo;
  http?: AddressInfo;
  pop3?: AddressInfo;
  pop3s?: AddressInfo;
  imap?: AddressInfo;
  imaps?: AddressInfo;
  managesieve?: AddressInfo;
  /** The milter listener (for a unix socket: its path as the address, port 0). */
  milter?: AddressInfo;
  /** The spamd listener (for a unix socket: its path as the address, port 0). */
  spamd?: AddressInfo;
  /** The rspamd HTTP scan listener (spamd.http_listen). */
  scanHttp?: AddressInfo;
}

export type ReloadResult = { ok: true } | { ok: false; error: string };

export class App {
  private snapshot: GatewaySnapshot;
  private loaded: LoadedConfig;
  private gateways: Gateway[] = [];
  private milter?: MilterServer;
  private spamd?: SpamdServer;
  private scanHttp?: RspamdHttpServer;
  private http?: ReturnType<typeof createHttpServer>;
  private listening?: Listening;
  private rulesWatcher?: RulesWatcher;
  private draining = false;
  private readonly reloads;
  private readonly configInfo;
  private readonly lastFailure;
  /** The configuration the running instance started with (what restart-only settings still follow). */
  private readonly started: Config;
  /** The data directory the config file named at start (config.data_dir always holds the running one). */
  private readonly startedDataDir: string | undefined;
  /** This start's id and its reloads so far, for the outcome recorded in the data directory (reload-status.ts). */
  private readonly instanceId = randomUUID();
  private reloadSeq = 0;

  private constructor(
    loaded: LoadedConfig,
    snapshot: GatewaySnapshot,
    readonly components: Components,
    readonly registry: Registry,
    readonly clock: Clock,
    readonly log: Logger,
    private readonly rateStore: RateStore,
  ) {
    this.loaded = loaded;
    this.started = loaded.config;
    this.startedDataDir = loaded.configuredDataDir;
    this.snapshot = snapshot;
    this.reloads = counter(registry, 'spamgate_config_reloads_total', 'Config and rules reloads by result', ['result']);
    // Both series exist from the start, so increase() sees the first failure after a restart.
    for (const result of ['success', 'failure']) this.reloads.inc({ result }, 0);
    this.configInfo = gauge(registry, 'spamgate_config_last_reload_success_timestamp_seconds', 'Time of the last successful config load');
    this.configInfo.set(clock.now() / 1000);
    this.lastFailure = gauge(registry, 'spamgate_config_last_reload_failure_timestamp_seconds', 'Time of the last failed config reload (0: none since start)');
    this.lastFailure.set(0);
  }

  static async create(opts: AppOptions): Promise<App> {
    const clock = opts.clock ?? systemClock;
    const config = opts.loaded.config;
    const log = opts.log ?? createLogger(config.log_level);
    const registry = opts.registry ?? createRegistry();
    await mkdir(opts.loaded.dataDir, { recursive: true, mode: 0o700 });
    const components = await openComponents({ loaded: opts.loaded, clock, log, registry, hostname: hostnameOf(config) });
    let snapshot: GatewaySnapshot;
    try {
      snapshot = buildSnapshot(opts.loaded, components);
    } catch (err) {
      // rules that do not load (a bad regex): the stores, Redis connections and the learn lock just opened are let go
      await components.close(1000).catch(() => undefined);
      throw err;
    }
    exportSigningDomains(registry, snapshot.dkim?.domains ?? []);
    components.activate(snapshot);
    const rateStore = components.rateStore ?? new MemoryRateStore(clock);
    return new App(opts.loaded, snapshot, components, registry, clock, log, rateStore);
  }

  get config(): Config {
    return this.snapshot.config;
  }

  get dataDir(): string {
    return this.loaded.dataDir;
  }

  /**
   * Opens every listener and service the config names. A start that fails part-way (a port in use, a TLS file
   * unreadable) stops what it had opened before the error goes on: no listener is left accepting mail that no
   * running instance will answer for, and the queue and stores are closed as at a stop.
   */
  async start(): Promise<Listening> {
    try {
      return await this.startAll();
    } catch (err) {
      await this.stop(1000).catch((stopErr: unknown) => this.log.warn('stopping after a failed start failed', { error: stopErr instanceof Error ? stopErr.message : String(stopErr) }));
      throw err;
    }
  }

  private async startAll(): Promise<Listening> {
    const config = this.snapshot.config;
    const hostname = hostnameOf(config);
    const metrics = createGatewayMetrics(this.registry);
    const tls = readTls(config);
    // queue.min_free is read per MAIL from the running snapshot, so a reload changes it at once
    const freeSpace = await watchFreeSpace({ dir: spoolDir(this.loaded.dataDir), registry: this.registry, log: this.log.child({ component: 'queue' }), minFree: () => this.snapshot.config.queue.min_free });
    const common = {
      freeSpace,
      snapshot: () => this.snapshot,
      rateStore: this.rateStore,
      authThrottle: createSmtpAuthThrottle(this.clock, { perIp: config.smtp.auth.failures.per_ip, perUser: config.smtp.auth.failures.per_user }, config.limits.ipv6_prefix),
      clock: this.clock,
      metrics,
      hostname,
      ...(this.components.sink ? { sink: this.components.sink } : {}),
      ...(this.components.inline ? { inline: this.components.inline } : {}),
      ...(this.components.quarantine ? { quarantine: this.components.quarantine } : {}),
      ...(this.components.authenticator ? { authenticator: this.components.authenticator } : {}),
      ...(this.components.onVerdict ? { onVerdict: this.components.onVerdict } : {}),
      ...(this.components.onFinal ? { onFinal: this.components.onFinal } : {}),
      ...(tls ? { tls } : {}),
    };
    const smtp = new Gateway({ ...common, name: 'smtp', log: this.log.child({ listener: 'smtp' }) });
    this.gateways.push(smtp);
    const listening: Listening = { smtp: await bindAs('smtp.listen', smtp.listen(config.smtp.listen.port, config.smtp.listen.host)) };
    if (config.submission.enabled) {
      const sub = new Gateway({ ...common, name: 'submission', log: this.log.child({ listener: 'submission' }) });
      this.gateways.push(sub);
      listening.submission = await bindAs('submission.listen', sub.listen(config.submission.listen.port, config.submission.listen.host));
      const implicit = config.submission.tls_listen;
      if (implicit && tls) {
        const subs = new Gateway({ ...common, name: 'submissions', log: this.log.child({ listener: 'submissions' }) });
        this.gateways.push(subs);
        listening.submissions = await bindAs('submission.tls_listen', subs.listen(implicit.port, implicit.host));
      }
    }
    if (config.milter.enabled) {
      // the MTA delivers, holds and authenticates: no spool, next hop, quarantine store or user directory here
      const { sink: _s, inline: _i, quarantine: _q, authenticator: _a, freeSpace: _f, ...milterDeps } = common;
      this.milter = new MilterServer({ deps: { ...milterDeps, name: 'milter', log: this.log.child({ listener: 'milter' }) }, config: () => this.snapshot.config.milter });
      listening.milter = await bindAs('milter.listen', this.milter.listen());
    }
    if (config.spamd.enabled) {
      // spamd judges and answers: nothing is spooled, relayed, held or learned from a scan (src/spamd/judge.ts)
      const { sink: _s, inline: _i, quarantine: _q, authenticator: _a, freeSpace: _f, onVerdict: _v, onFinal: _o, ...spamdDeps } = common;
      const learner = this.components.learner;
      this.spamd = new SpamdServer({ deps: { ...spamdDeps, name: 'spamd', log: this.log.child({ listener: 'spamd' }) }, config: () => this.snapshot.config.spamd, registry: this.registry, ...(learner ? { learner } : {}) });
      listening.spamd = await bindAs('spamd.listen', this.spamd.listen());
      if (config.spamd.http_listen !== null) {
        this.scanHttp = new RspamdHttpServer({ deps: { ...spamdDeps, name: 'spamd', log: this.log.child({ listener: 'spamd-http' }) }, config: () => this.snapshot.config.spamd, registry: this.registry, ...(learner ? { learner } : {}) });
        listening.scanHttp = await bindAs('spamd.http_listen', this.scanHttp.listen());
      }
    } else createSpamdMetrics(this.registry); // its series exist at 0 off too, as the antivirus's do (dashboard)
    createRspamdMetrics(this.registry);
    Object.assign(listening, await this.components.startServices());
    if (config.http.enabled) {
      this.http = createHttpServer({
        registry: this.registry,
        log: this.log,
        ready: () => this.readiness(freeSpace),
        allow: new CidrSet(config.http.allow),
        ...(this.components.httpRoutes ? { routes: this.components.httpRoutes } : {}),
        health: () => this.health(),
      });
      listening.http = await bindAs('http.listen', this.http.listen(config.http.listen.port, config.http.listen.host));
    }
    this.listening = listening;
    // A change to the rules files reloads as SIGHUP does; a broken edit keeps the running snapshot.
    this.rulesWatcher = watchRules(this.loaded.rulesDirs, { onChange: () => this.reload('rules'), log: this.log.child({ component: 'rules' }), files: this.snapshot.ruleset.reads });
    return listening;
  }

  /**
   * Readiness for a load balancer: not while draining, nor while the spool's free space is under queue.min_free
   * (every MAIL would get 452 4.3.1: another instance should take the mail). Liveness (/healthz) is not affected.
   */
  private readiness(freeSpace: FreeSpace): Readiness {
    const reasons: string[] = [];
    if (this.draining) reasons.push('draining');
    const { queue, delivery } = this.snapshot.config;
    if (queue.min_free > 0 && !(delivery.mode === 'inline' && this.components.inline)) {
      // the reading MAIL uses (at most about a second old, refreshed in the background): a probe waits for no I/O
      const free = freeSpace.freeBytes();
      if (free !== undefined && free < queue.min_free) reasons.push('spool_space');
    }
    return { ready: reasons.length === 0, reasons };
  }

  private async health(): Promise<{ ok: boolean; [k: string]: unknown }> {
    const queue = await this.components.queueHealth();
    return {
      ok: !this.draining && queue.ok,
      listeners: Object.fromEntries(Object.entries(this.listening ?? {}).map(([k, v]) => [k, `${(v as AddressInfo).address}:${(v as AddressInfo).port}`])),
      sessions: this.gateways.reduce((n, g) => n + g.activeSessions, 0) + (this.milter?.connections ?? 0) + (this.spamd?.connections ?? 0) + (this.scanHttp?.connections ?? 0),
      queue,
      draining: this.draining,
    };
  }

  /**
   * Re-reads the config file and rules/; on any error the running snapshot stays. The outcome (ok or the error, and
   * the changed settings that need a restart) is also written to the data directory for `spamgate reload`.
   */
  reload(trigger: ReloadTrigger = 'signal'): ReloadResult {
    const { result, restart } = this.reloadOnce();
    this.reloadSeq++;
    try {
      writeReloadStatus(this.loaded.dataDir, {
        instance: this.instanceId,
        pid: process.pid,
        seq: this.reloadSeq,
        at: new Date(this.clock.now()).toISOString(),
        trigger,
        ok: result.ok,
        ...(result.ok ? {} : { error: result.error }),
        restart,
      });
    } catch (err) {
      // the reload itself is done (or refused) either way: only `spamgate reload` waits in vain
      this.log.warn('cannot record the reload outcome in the data directory', { error: (err as Error).message, data_dir: this.loaded.dataDir });
    }
    return result;
  }

  /**
   * Restart-only settings (RESTART_ONLY, data_dir as the file names it, SMTP TLS turned on or off, redis, dns) that
   * differ between `from` and `to`: against the previous config, what a reload changed; against the start, what waits
   * for a restart.
   */
  private restartOnlyChanges(from: Config, fromDataDir: string | undefined, to: LoadedConfig): string[] {
    const keys: string[] = RESTART_ONLY.filter((key) => !isDeepStrictEqual(valueAt(from, key), valueAt(to.config, key)) && !appliesLive(key, this.started, to.config));
    // The running data directory is kept (loadConfig pins it): spool, mailboxes and the Bayes store are open there.
    // config.data_dir always holds the running one, so compare what the file says.
    if (to.configuredDataDir !== fromDataDir) keys.unshift('data_dir');
    // Renewed certificate files reach new handshakes; STARTTLS itself is offered or not as at start.
    const hasTls = (c: Config): boolean => Boolean(c.smtp.tls.cert && c.smtp.tls.key);
    if (hasTls(from) !== hasTls(to.config)) keys.push('smtp.tls');
    if (!isDeepStrictEqual(from.redis, to.config.redis)) keys.push('redis');
    if (!isDeepStrictEqual(from.dns, to.config.dns)) keys.push('dns');
    return keys;
  }

  private reloadOnce(): { result: ReloadResult; restart: string[] } {
    this.rulesWatcher?.noteLoaded();
    try {
      const loaded = this.loaded.file ? loadConfig({ file: this.loaded.file, dataDir: this.loaded.dataDir }) : this.loaded;
      const snapshot = buildSnapshot(loaded, this.components);
      exportSigningDomains(this.registry, snapshot.dkim?.domains ?? []);
      // Everything that can fail is read before anything is swapped: a failed reload changes nothing.
      const tls = readTls(snapshot.config);
      this.components.checkReload?.(loaded);
      const previous = this.loaded;
      this.loaded = loaded;
      this.snapshot = snapshot;
      this.components.activate(snapshot);
      if (tls) for (const g of this.gateways) g.updateTls(tls);
      // Changed by this reload: logged once. The redis connection and the resolver (its cache and name servers) are
      // made once, at start; the listeners keep what they were built with (RESTART_ONLY).
      const changed = this.restartOnlyChanges(previous.config, previous.configuredDataDir, loaded);
      if (changed.includes('redis')) this.log.warn('redis settings changed: they apply after a restart; the running connection keeps the old ones');
      if (changed.includes('dns')) this.log.warn('dns settings changed: they apply after a restart; the running resolver keeps the old ones');
      const stale = changed.filter((key) => key !== 'redis' && key !== 'dns');
      if (stale.length) this.log.warn('settings changed that apply after a restart; the running instance keeps the old ones', { keys: stale, data_dir: this.loaded.dataDir });
      // What `spamgate reload` prints: every setting still waiting for a restart, changed by this reload or an earlier one
      const restart = this.restartOnlyChanges(this.started, this.startedDataDir, loaded);
      this.components.onReload?.(loaded);
      this.rulesWatcher?.update(loaded.rulesDirs, snapshot.ruleset.reads);
      this.reloads.inc({ result: 'success' });
      this.configInfo.set(this.clock.now() / 1000);
      this.log.info('configuration reloaded', { file: loaded.file, rules: snapshot.ruleset.files.length });
      return { result: { ok: true }, restart };
    } catch (err) {
      this.reloads.inc({ result: 'failure' });
      this.lastFailure.set(this.clock.now() / 1000);
      // a rules directory replaced by a broken one is still watched, as are the running rules' list files: fixing it reloads by itself
      this.rulesWatcher?.update(this.loaded.rulesDirs, this.snapshot.ruleset.reads);
      const error = (err as Error).message;
      this.log.error('reload failed, keeping the running configuration', { error });
      return { result: { ok: false, error }, restart: [] };
    }
  }

  /** SIGTERM: stop accepting, let sessions finish within the deadline, stop delivery, exit. */
  async stop(deadlineMs = 10_000): Promise<void> {
    this.draining = true;
    this.rulesWatcher?.close();
    await Promise.all([...this.gateways.map((g) => g.close(deadlineMs)), this.milter?.close(), this.spamd?.close(), this.scanHttp?.close()]);
    await this.components.close(deadlineMs);
    await this.http?.close();
    await this.rateStore.close?.();
  }
}

export function buildSnapshot(loaded: LoadedConfig, components: Components): GatewaySnapshot {
  // Content rules and lists carry their own weights and descriptions: merged into the symbol table.
  const ruleset = withListSymbols(withContentSymbols(loadRuleset(loaded.rulesDirs, { subaddressDelimiter: loaded.config.mailhost.subaddress_delimiter, ...(components.ownAddress ? { ownAddress: components.ownAddress } : {}) })));
  // BATV keys are read before anything is swapped: a key file gone wrong fails the reload (or the start)
  const batv = components.openBatv(loaded.config);
  const checks = buildChecks(loaded.config, ruleset, components, batv).filter((c) => !loaded.config.checks.disabled.includes(c.name));
  assertSymbolsDefined(ruleset, [{ owner: 'gateway core', symbols: CORE_SYMBOLS }, ...checks.map((c) => ({ owner: `check ${c.name}`, symbols: c.symbols }))]);
  const dkimKeys = loadDkimKeys(loaded.config.dkim);
  const { arc } = loaded.config;
  // front-of mode forwards nothing itself: the upstream trusts our Authentication-Results (README, ARC)
  const sealing = arc.seal && loaded.config.mode === 'full-stack' && dkimKeys.length > 0;
  return Object.freeze({
    config: loaded.config,
    ruleset,
    checks,
    ...(dkimKeys.length ? { dkim: createDkimSigner(dkimKeys) } : {}),
    ...(sealing ? { arc: createArcSealer(dkimKeys, arc.seal_domain) } : {}),
    ...(batv ? { batv } : {}),
  });
}

export function hostnameOf(config: Config): string {
  return config.smtp.hostname ?? os.hostname();
}

/**
 * Settings read once, at start (README: they need a restart). The listeners are built with the smtp keys
 * (smtp.max_message_size is enforced per message at once, but the SIZE they advertise changes only with a
 * restart); openComponents builds the rest: the logger (log_level), the delivery router and scheduler
 * (mode, delivery, queue, quarantine, outbound), the user directory (mailhost; its users and aliases sections
 * and local_domains are taken again at a reload, and the delivery router reads local_domains at each attempt), SRS (srs; its secrets file is read again on reload), the MIME limits and the
 * Bayes store (filter, bayes) and the in-memory greylist. data_dir is compared apart (see reload).
 */
const RESTART_ONLY = [
  'mode', 'log_level',
  'smtp.listen', 'smtp.hostname', 'smtp.banner', 'smtp.max_message_size', 'smtp.max_connections', 'smtp.max_connections_per_ip',
  'smtp.max_bad_commands', 'smtp.idle_timeout', 'smtp.greet_delay', 'smtp.proxy_protocol_from', 'smtp.xclient_from', 'smtp.auth.failures',
  'submission', 'pop3', 'imap', 'managesieve', 'http', 'delivery', 'queue', 'quarantine', 'outbound', 'filter', 'bayes', 'mailhost', 'srs', 'greylist.max_entries', 'fuzzy', 'reputation.enabled', 'reputation.half_life', 'reputation.max_entries', 'milter.enabled', 'milter.listen',
  'spamd.enabled', 'spamd.listen', 'spamd.http_listen',
] as const;

/**
 * A change under a restart-only key that the running instance applies anyway: `fuzzy.enabled` switched off
 * (the check and the learning stop at once; the store stays open) or on again when the store was opened at
 * start. Turning on a store that was off at start, or changing its other settings, needs the restart.
 */
function appliesLive(key: string, started: Config, next: Config): boolean {
  if (key !== 'fuzzy') return false;
  const { enabled: openedAtStart, ...atStart } = started.fuzzy;
  const { enabled: wanted, ...now } = next.fuzzy;
  return isDeepStrictEqual(atStart, now) && (!wanted || openedAtStart);
}

function valueAt(config: Config, key: string): unknown {
  let v: unknown = config;
  for (const part of key.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

function readTls(config: Config): { key: Buffer; cert: Buffer } | undefined {
  const { cert, key } = config.smtp.tls;
  if (!cert || !key) return undefined;
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

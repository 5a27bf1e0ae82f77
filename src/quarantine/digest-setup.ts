// The quarantine digest from config: the runner (digest.ts) on the spool with the notice signer, and the link routes
// for the HTTP listener (link-routes.ts) with the link secret (made at the first start). None when
// quarantine.digest.enabled is false (the metrics are still exported, at 0).
import type { LoadedConfig } from '../config/load.ts';
import type { NoticeSigner } from '../dkim/notice-signer.ts';
import type { Registry } from '../metrics/registry.ts';
import type { MessageSink } from '../queue/types.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { createDigestRunner, type DigestRunner } from './digest.ts';
import { createDigestMetrics } from './digest-metrics.ts';
import { digestStateFile } from './digest-state.ts';
import { loadLinkSecret } from './link-secret.ts';
import { createLinkRoutes, type HttpRoute } from './link-routes.ts';
import { createLinkTokens } from './link-token.ts';
import type { Quarantine } from './store.ts';

export interface DigestSetupDeps {
  loaded: LoadedConfig;
  quarantine: Quarantine;
  sink: MessageSink;
  sign?: NoticeSigner;
  hostname: string;
  clock: Clock;
  registry: Registry;
  log: Logger;
}

export interface QuarantineDigest {
  runner: DigestRunner;
  routes: Record<string, HttpRoute>;
}

export async function openQuarantineDigest(deps: DigestSetupDeps): Promise<QuarantineDigest | undefined> {
  createDigestMetrics(deps.registry);
  const { config, dataDir } = deps.loaded;
  const cfg = config.quarantine.digest;
  if (!cfg.enabled) return undefined;
  const log = deps.log.child({ component: 'quarantine-digest' });
  if (cfg.base_url && !config.http.enabled) log.warn('quarantine.digest.base_url is set but http.enabled is false: the links in the digests will not answer');
  if (!cfg.base_url) log.info('quarantine.digest.base_url is not set: digests carry no release or delete links');
  const tokens = createLinkTokens(loadLinkSecret(dataDir, true) ?? Buffer.alloc(0));
  const runner = await createDigestRunner({
    dir: deps.quarantine.dir,
    stateFile: digestStateFile(dataDir),
    config: cfg,
    maxAgeMs: config.quarantine.max_age,
    localDomains: config.local_domains,
    hostname: deps.hostname,
    sink: deps.sink,
    ...(deps.sign ? { sign: deps.sign } : {}),
    tokens,
    settledBefore: () => deps.quarantine.settledBefore(),
    clock: deps.clock,
    registry: deps.registry,
    log,
    fsync: config.queue.fsync,
  });
  const routes = createLinkRoutes({ tokens, quarantine: deps.quarantine, sink: deps.sink, learn: cfg.learn_on_release, clock: deps.clock, registry: deps.registry, log });
  return { runner, routes };
}

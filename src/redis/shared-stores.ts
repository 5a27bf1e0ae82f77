// Entry point of shared state for the composition root: opens the Redis link when any store is shared
// (redis.use_for) and hands back the stores and the greylist check. In-process stores stay the default.
import type { Check } from '../checks/types.ts';
import { createGreylistCheck } from '../checks/greylist.ts';
import type { Config } from '../config/schema.ts';
import { MemoryGreylistStore, type GreylistStore } from '../greylist/store.ts';
import type { RateStore } from '../limits/rate-store.ts';
import type { Registry } from '../metrics/registry.ts';
import type { Ruleset } from '../scoring/ruleset.ts';
import { systemClock, type Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { RedisLink } from './connection.ts';
import { RedisGreylistStore } from './greylist-store.ts';
import { RedisRateStore } from './rate-store.ts';
import { RedisTokenStore } from './token-store.ts';
import { RedisFuzzyStore } from './fuzzy-store.ts';
import { RedisReputationStore } from './reputation-store.ts';

export interface SharedStoreDeps {
  config: Config;
  clock: Clock;
  log: Logger;
  registry: Registry;
  /** check-config: connect to nothing (in-process stores), but still build the checks to validate rules. */
  dryRun?: boolean;
}

export interface SharedStores {
  /** Set when redis.use_for has 'rate'; otherwise keep the in-process MemoryRateStore. */
  rateStore?: RateStore;
  /** Set when redis.use_for has 'bayes'; otherwise the Bayes filter keeps its own store. */
  tokenStore?: RedisTokenStore; // a TokenStore (src/bayes/token-store.ts), plus importModel()
  /** Set when redis.use_for has 'fuzzy'; otherwise the fuzzy filter keeps its own file. */
  fuzzyStore?: RedisFuzzyStore;
  /** Set when redis.use_for has 'reputation'; otherwise sender reputation keeps its own file. */
  reputationStore?: RedisReputationStore;
  /** Always set: Redis when use_for has 'greylist', else in-process. */
  greylistStore: GreylistStore;
  /** The link, when any store is in Redis (health, tests). */
  link?: RedisLink;
  /** The greylist check for one config + rules snapshot; [] while greylist.enabled is false. */
  greylistCheck(config: Config, ruleset: Ruleset): Check[];
  close(): Promise<void>;
}

export async function openSharedStores(deps: SharedStoreDeps): Promise<SharedStores> {
  const { config, clock, log } = deps;
  const uses = new Set(config.redis.use_for);
  const link = uses.size > 0 && !deps.dryRun ? new RedisLink({ config: config.redis, log, registry: deps.registry, stores: [...uses] }) : undefined;
  if (link) {
    // Start-up does not wait for Redis longer than connect_timeout: without it the stores degrade per on_error.
    const ready = await link.waitReady(config.redis.connect_timeout);
    const where = config.redis.cluster ? 'cluster' : config.redis.sentinels ? `sentinel ${config.redis.sentinel_name}` : (config.redis.url ?? `${config.redis.host}:${config.redis.port}`);
    if (ready) log.info('shared stores in redis', { redis: redactUrl(where), use_for: [...uses] });
    else log.warn('redis not reachable at start; shared stores degrade until it is', { redis: redactUrl(where), on_error: config.redis.on_error });
  }
  // Shared stores take their time from Redis (TIME), so gateways with skewed clocks agree; only a test's
  // own clock (anything but the system clock) replaces it.
  const testClock = clock === systemClock ? undefined : clock;
  const greylistStore: GreylistStore = link && uses.has('greylist') ? new RedisGreylistStore(link, testClock ? 'caller' : 'redis') : new MemoryGreylistStore(clock, config.greylist.max_entries);
  const stores: SharedStores = {
    greylistStore,
    greylistCheck: (cfg, ruleset) => (cfg.greylist.enabled ? [createGreylistCheck({ store: greylistStore, config: cfg.greylist, ruleset, onError: cfg.redis.on_error })] : []),
    close: async () => {
      await greylistStore.close();
      await link?.close();
    },
  };
  if (link) stores.link = link;
  if (link && uses.has('rate')) stores.rateStore = new RedisRateStore(link, testClock);
  if (link && uses.has('bayes')) stores.tokenStore = new RedisTokenStore(link, Math.round(config.bayes.token_ttl / 1000));
  if (link && uses.has('fuzzy')) stores.fuzzyStore = new RedisFuzzyStore(link, clock, config.fuzzy.ttl, config.fuzzy.max_entries);
  if (link && uses.has('reputation')) stores.reputationStore = new RedisReputationStore(link, clock, config.reputation.half_life, config.reputation.max_entries);
  return stores;
}

function redactUrl(text: string): string {
  return text.replace(/\/\/[^@/]*@/, '//***@');
}

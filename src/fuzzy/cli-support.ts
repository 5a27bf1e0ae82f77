// The fuzzy store for a CLI command (fuzzy add/del/stats, train --spam): the shared (Redis) store when
// configured, else the in-process file, which is refused while `spamgate serve` runs on the same data
// directory (it holds the store in memory and its next save would overwrite the command's work), as train is.
import { runningServePid } from '../commands/running-serve.ts';
import type { LoadedConfig } from '../config/load.ts';
import { takeLearnLock } from '../bayes/learn-lock.ts';
import { mimeLimitsOf } from '../bayes/open-bayes.ts';
import { createRegistry } from '../metrics/registry.ts';
import { openSharedStores } from '../redis/shared-stores.ts';
import { systemClock } from '../util/clock.ts';
import { silentLogger } from '../util/logger.ts';
import { openFuzzy, type FuzzyFilter } from './open-fuzzy.ts';

/** True when the fuzzy store lives in this process's data directory (not in Redis). */
export const fuzzyInProcess = (loaded: LoadedConfig): boolean => !loaded.config.redis.use_for.includes('fuzzy');

/** Throws when a learning command must not write the in-process store now. */
export async function refuseWhileServing(loaded: LoadedConfig): Promise<void> {
  if (!fuzzyInProcess(loaded)) return;
  const pid = await runningServePid(loaded.dataDir);
  if (pid !== undefined) {
    throw new Error(
      `spamgate serve (pid ${pid}) runs on ${loaded.dataDir} and holds the fuzzy store in memory: its next save would overwrite what this command learns. ` +
        'Stop it first, or report spam by moving it into the Junk folder, or share the store in Redis (redis.use_for: [fuzzy]).',
    );
  }
}

/**
 * Opens the fuzzy filter of a loaded config for a CLI command; `learns`: the command changes the store.
 * `lock`: the command holds no learn lock of its own (its Bayes store is in Redis, or it opened none), so the
 * in-process store's file takes it here, until close(): two writers would each save only their own work.
 */
export async function openFuzzyForCli(loaded: LoadedConfig, opts: { learns: boolean; lock?: boolean }): Promise<FuzzyFilter> {
  if (opts.learns) await refuseWhileServing(loaded);
  let release: (() => Promise<void>) | undefined;
  if (opts.learns && opts.lock && fuzzyInProcess(loaded)) {
    const held = await takeLearnLock(loaded.dataDir);
    if (!held.ok) throw new Error(`the stores in ${loaded.dataDir} are in use by process ${held.pid} (a spamgate train, forget or fuzzy): wait for it to finish`);
    release = held.release;
  }
  try {
    const { config } = loaded;
    const shared = fuzzyInProcess(loaded) ? undefined : await openSharedStores({ config, clock: systemClock, log: silentLogger, registry: createRegistry(false) });
    const fuzzy = openFuzzy({
      config: config.fuzzy,
      limits: mimeLimitsOf(config.filter),
      clock: systemClock,
      dataDir: loaded.dataDir,
      ...(shared?.fuzzyStore ? { store: shared.fuzzyStore } : {}),
      ...(opts.learns ? {} : { readOnly: true }),
    });
    return {
      ...fuzzy,
      close: async () => {
        try {
          await fuzzy.close();
        } finally {
          try {
            await shared?.close();
          } finally {
            await release?.();
          }
        }
      },
    };
  } catch (err) {
    await release?.();
    throw err;
  }
}

/** True when a learning command's Bayes store is in Redis: openFilterEnv took no learn lock for it. */
export const bayesShared = (loaded: LoadedConfig): boolean => loaded.config.redis.use_for.includes('bayes');

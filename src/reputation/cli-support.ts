// Sender reputation for a CLI command (reputation show/reset, explain): the shared (Redis) store when
// configured, else the in-process file, which a reset refuses to write while `spamgate serve` runs on the
// same data directory (it holds the store in memory and its next save would bring the key back).
import { runningServePid } from '../commands/running-serve.ts';
import type { LoadedConfig } from '../config/load.ts';
import { createRegistry } from '../metrics/registry.ts';
import { openSharedStores } from '../redis/shared-stores.ts';
import { systemClock } from '../util/clock.ts';
import { silentLogger } from '../util/logger.ts';
import { openReputation, type Reputation } from './open-reputation.ts';

export const reputationInProcess = (loaded: LoadedConfig): boolean => !loaded.config.redis.use_for.includes('reputation');

export async function openReputationForCli(loaded: LoadedConfig, opts: { writes: boolean }): Promise<Reputation> {
  const inProcess = reputationInProcess(loaded);
  if (opts.writes && inProcess) {
    const pid = await runningServePid(loaded.dataDir);
    if (pid !== undefined) throw new Error(`spamgate serve (pid ${pid}) runs on ${loaded.dataDir} and holds the reputation store in memory: its next save would undo this. Stop it first, or share the store in Redis (redis.use_for: [reputation]).`);
  }
  const { config } = loaded;
  const shared = inProcess ? undefined : await openSharedStores({ config, clock: systemClock, log: silentLogger, registry: createRegistry(false) });
  const reputation = openReputation({
    config: config.reputation,
    clock: systemClock,
    dataDir: loaded.dataDir,
    ...(shared?.reputationStore ? { store: shared.reputationStore } : {}),
    ...(opts.writes ? {} : { readOnly: true }),
  });
  return {
    ...reputation,
    close: async () => {
      try {
        await reputation.close();
      } finally {
        await shared?.close();
      }
    },
  };
}

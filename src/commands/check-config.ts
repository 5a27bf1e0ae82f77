// `spamgate check-config`: validates the config and rules/ without starting anything.
import { loadConfig } from '../config/load.ts';
import { buildSnapshot, hostnameOf } from '../app.ts';
import { openComponents } from '../app-components.ts';
import { createRegistry } from '../metrics/registry.ts';
import { systemClock } from '../util/clock.ts';
import { silentLogger } from '../util/logger.ts';
import type { Command } from './types.ts';

export const checkConfigCommand: Command = {
  name: 'check-config',
  summary: 'validate the config file and rules/ and exit',
  usage: `usage: spamgate check-config [--config FILE]

Prints every problem (file, line, key, expected and found) and exits 2, or prints "ok" and exits 0.`,
  async run(args, io) {
    const loaded = loadConfig({ ...(args.configFile ? { file: args.configFile } : {}), ...(args.dataDir ? { dataDir: args.dataDir } : {}) });
    const components = await openComponents({ loaded, clock: systemClock, log: silentLogger, registry: createRegistry(false), hostname: hostnameOf(loaded.config), dryRun: true });
    const { ruleset } = buildSnapshot(loaded, components);
    await components.close(0);
    io.stdout.write(`ok: ${loaded.file ?? '(embedded defaults)'}, ${ruleset.files.length} rules files, ${ruleset.symbols.size} symbols\n`);
    return 0;
  },
};

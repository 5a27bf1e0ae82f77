// `spamgate check-config`: validates what `serve` would refuse at start (config, files it names, data
// directory, users and aliases, rules/) without listening, locking or writing anything.
import { buildSnapshot, hostnameOf } from '../app.ts';
import { openComponents } from '../app-components.ts';
import { clamdSocketProblem } from '../antivirus/clamd-socket-check.ts';
import { CLAMD_CHECK_TIMEOUT_MS, clamdTcpProblem } from '../antivirus/clamd-tcp-check.ts';
import { ConfigError, describeFileProblems, type LoadedConfig } from '../config/load.ts';
import { createUserDirectory } from '../mailhost/directory.ts';
import { createRegistry } from '../metrics/registry.ts';
import { systemClock } from '../util/clock.ts';
import { silentLogger } from '../util/logger.ts';
import { dataDirProblem, dataDirSource, loadFromArgs } from './load-args.ts';
import type { Command } from './types.ts';

export const checkConfigCommand: Command = {
  name: 'check-config',
  summary: 'validate the config file and rules/ and exit',
  usage: `usage: spamgate check-config [--config FILE] [--data-dir DIR]

Checks the config (every key, the TLS files it names), the data directory, the users and aliases
(config and files in the data directory) and rules/ as 'serve' would at start, without listening
or writing. Prints every problem (file, line, key, expected and found) and exits 2, or prints "ok"
and exits 0. What 'serve' starts without but will miss is a warning on stderr ("warning: file:line:
key: problem"; exit 0 if nothing else is wrong): clamd's unix socket (antivirus.clamd) missing, no
socket, not writable by the user running check-config, or its path over 107 bytes (no connect can reach
it); clamd at a TCP address not answering PING within ${CLAMD_CHECK_TIMEOUT_MS / 1000} s (refused, timed out, not clamd).`,
  async run(args, io) {
    const loaded = loadFromArgs(args);
    const where = loaded.file ?? '(embedded defaults)';
    const problems: string[] = [];
    const clamd = clamdSocketProblem(loaded.config.antivirus) ?? (await clamdTcpProblem(loaded.config.antivirus));
    // serve starts without clamd (it may come up later): a warning, not one of the problems
    for (const w of clamd ? describeFileProblems(args.configFile ?? loaded.file, [clamd]) : []) io.stderr.write(`spamgate check-config: warning: ${w}\n`);
    const dirProblem = dataDirProblem(loaded.dataDir);
    if (dirProblem) problems.push(`${dataDirSource(args, loaded)}: ${dirProblem}`);
    else problems.push(...userDirectoryProblems(loaded));
    const components = await openComponents({ loaded, clock: systemClock, log: silentLogger, registry: createRegistry(false), hostname: hostnameOf(loaded.config), dryRun: true });
    let summary = '';
    try {
      const { ruleset } = buildSnapshot(loaded, components);
      summary = `${ruleset.files.length} rules files, ${ruleset.symbols.size} symbols`;
    } catch (err) {
      // Rules problems are reported together with the ones found above.
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    } finally {
      await components.close(0);
    }
    if (problems.length) throw new ConfigError(problems);
    io.stdout.write(`ok: ${where}, ${summary}\n`);
    return 0;
  },
};

/** What the user directory (users: and aliases: plus the users and aliases files) refuses. */
function userDirectoryProblems(loaded: LoadedConfig): string[] {
  const config = { ...loaded.config, mailhost: { ...loaded.config.mailhost, watch_files: false } };
  try {
    createUserDirectory({ config, dataDir: loaded.dataDir, log: silentLogger, ...(loaded.file !== undefined ? { configFile: loaded.file } : {}) }).close();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

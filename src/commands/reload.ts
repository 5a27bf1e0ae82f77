// `spamgate reload`: signals the running instance (pid file in the data directory) to reload.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../config/load.ts';
import { PID_FILE } from './serve.ts';
import type { Command } from './types.ts';

export const reloadCommand: Command = {
  name: 'reload',
  summary: 'make the running instance re-read its config and rules (SIGHUP)',
  usage: `usage: spamgate reload [--config FILE] [--data-dir DIR]

Sends SIGHUP to the instance whose pid file is in the data directory. An invalid config is
refused by the running instance, which keeps its current snapshot and logs why.`,
  async run(args, io) {
    const loaded = loadConfig({ ...(args.configFile ? { file: args.configFile } : {}), ...(args.dataDir ? { dataDir: args.dataDir } : {}) });
    let pid: number;
    try {
      pid = Number((await readFile(path.join(loaded.dataDir, PID_FILE), 'utf8')).trim());
    } catch {
      io.stderr.write(`spamgate: no running instance (no pid file in ${loaded.dataDir})\n`);
      return 1;
    }
    try {
      process.kill(pid, 'SIGHUP');
    } catch (err) {
      io.stderr.write(`spamgate: cannot signal process ${pid}: ${(err as Error).message}\n`);
      return 1;
    }
    io.stdout.write(`reload requested (pid ${pid})\n`);
    return 0;
  },
};

// `spamgate reload`: signals the running instance (pid file in the data directory) to reload.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadFromArgs } from './load-args.ts';
import { notServe, PID_FILE } from './running-serve.ts';
import type { Command } from './types.ts';

export const reloadCommand: Command = {
  name: 'reload',
  summary: 'make the running instance re-read its config and rules (SIGHUP)',
  usage: `usage: spamgate reload [--config FILE] [--data-dir DIR]

Sends SIGHUP to the instance whose pid file is in the data directory. An invalid config is
refused by the running instance, which keeps its current snapshot and logs why; changed settings
that need a restart are logged as a warning naming the keys (the signal brings no answer back).`,
  async run(args, io) {
    const loaded = loadFromArgs(args, false);
    let text: string;
    try {
      text = await readFile(path.join(loaded.dataDir, PID_FILE), 'utf8');
    } catch {
      io.stderr.write(`spamgate: no running instance (no pid file in ${loaded.dataDir})\n`);
      return 1;
    }
    // kill(0) or kill(-n) would signal a whole process group: only a plain pid of another process.
    const pid = /^\s*(\d{1,10})\s*$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(pid) || pid < 2 || pid === process.pid) {
      io.stderr.write(`spamgate: ${path.join(loaded.dataDir, PID_FILE)} does not hold a process id: ${JSON.stringify(text.slice(0, 40))}\n`);
      return 1;
    }
    const stale = await notServe(pid);
    if (stale) {
      io.stderr.write(`spamgate: process ${pid} ${stale} (stale pid file?); nothing signalled\n`);
      return 1;
    }
    try {
      process.kill(pid, 'SIGHUP');
    } catch (err) {
      io.stderr.write(`spamgate: cannot signal process ${pid}: ${(err as Error).message}\n`);
      return 1;
    }
    // a signal brings no answer back: a refused config and the settings that need a restart are in the instance's log
    io.stdout.write(`reload requested (pid ${pid}); the instance logs the outcome (a refused config, settings that need a restart)\n`);
    return 0;
  },
};

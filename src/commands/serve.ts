// `spamgate serve`: starts every listener, prints what listens where; SIGHUP reloads, SIGTERM drains.
import { writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { App } from '../app.ts';
import { ConfigError } from '../config/load.ts';
import { dataDirProblem, dataDirSource, loadFromArgs } from './load-args.ts';
import { PID_FILE } from './running-serve.ts';
import type { Command } from './types.ts';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the gateway (and mail host) in the foreground',
  usage: `usage: spamgate serve [--config FILE] [--data-dir DIR]

Starts SMTP, submission, POP3, IMAP and HTTP (/metrics, /healthz, /readyz) listeners as configured.
Without --config the embedded defaults are used (full-stack mode for the domain localhost).
SIGHUP (or 'spamgate reload') re-reads the config and rules/; SIGTERM stops accepting, lets
sessions finish, and exits 0.`,
  async run(args, io) {
    // SIGHUP's default action ends the process: one that comes while starting (a reload hook, a renewed
    // certificate) is held and applied once the listeners are up
    let hupWhileStarting = false;
    const onEarlyHup = (): void => {
      hupWhileStarting = true;
    };
    process.on('SIGHUP', onEarlyHup);
    const loaded = loadFromArgs(args);
    const dirProblem = dataDirProblem(loaded.dataDir);
    if (dirProblem) throw new ConfigError([`${dataDirSource(args, loaded)}: ${dirProblem}`]);
    const app = await App.create({ loaded });
    const listening = await app.start();
    const pidFile = path.join(loaded.dataDir, PID_FILE);
    await writeFile(pidFile, `${process.pid}\n`);
    // The signal handlers go in before the listeners are announced: a supervisor (or a test) that sends SIGTERM
    // as soon as it reads them must find them installed, or the signal's default action ends the process unclean.
    const stopped = new Promise<number>((resolve) => {
      let stopping = false;
      const stop = async (signal: string): Promise<void> => {
        if (stopping) return;
        stopping = true;
        app.log.info('stopping', { signal });
        await app.stop(10_000);
        await rm(pidFile, { force: true });
        resolve(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      // a failed reload is logged by the app (one JSON line, like everything else on stderr)
      const reload = (): void => void app.reload();
      process.on('SIGHUP', reload);
      process.off('SIGHUP', onEarlyHup);
    });
    const lines = [`spamgate ${loaded.config.mode} mode, config: ${loaded.file ?? '(embedded defaults)'}`, `data directory: ${loaded.dataDir}`];
    for (const [name, addr] of Object.entries(listening)) if (addr) lines.push(`${name.padEnd(10)} listening on ${addr.address}:${addr.port}`);
    io.stdout.write(lines.join('\n') + '\n');
    // a SIGHUP held while starting is applied once the listeners are announced
    if (hupWhileStarting) void app.reload();
    return stopped;
  },
};

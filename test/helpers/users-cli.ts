// Tests: `spamgate users …` run in this process on a running gateway's config file and data directory, then the
// gateway reloaded, as a running instance does when the users file changes (here at once, without the watcher).
import { usersCommand } from '../../src/commands/users.ts';
import { runCommand } from './command-io.ts';
import type { RunningGateway } from './gateway.ts';

export type UsersCli = (argv: string[], stdin?: string) => Promise<{ code: number; out: string; err: string }>;

/** `valueFlags`: the options that take a value (`--subject TEXT`); any other `--x` is a switch. */
export function usersCliFor(gw: RunningGateway, configFile: string, valueFlags: readonly string[] = ['--message-file']): UsersCli {
  return async (argv, stdin = '') => {
    const flags = new Map<string, string | true>();
    const positional: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i] ?? '';
      if (valueFlags.includes(a)) flags.set(a.slice(2), argv[++i] ?? '');
      else if (a.startsWith('--')) flags.set(a.slice(2), true);
      else positional.push(a);
    }
    const r = await runCommand(usersCommand, { flags, positional, configFile, dataDir: gw.dataDir }, stdin);
    gw.app.reload();
    return r;
  };
}

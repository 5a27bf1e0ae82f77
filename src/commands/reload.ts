// `spamgate reload`: signals the running instance (pid file in the data directory) to reload, then waits for the
// outcome it records there (src/reload-status.ts) and prints it: ok, refused (why), settings that need a restart.
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, readYamlText } from '../config/load.ts';
import { parseYamlFile } from '../config/yaml-errors.ts';
import { flagValue } from '../cli/args.ts';
import { isNewerStatus, readReloadStatus, type ReloadStatus } from '../reload-status.ts';
import { loadFromArgs } from './load-args.ts';
import { notServe, PID_FILE } from './running-serve.ts';
import { UsageError, type Command, type CommandArgs, type CommandIo } from './types.ts';

/** Exit codes beside 0 (reloaded) and 2 (bad usage). */
export const RELOAD_REFUSED = 1;
export const RELOAD_NO_INSTANCE = 3;
export const RELOAD_NO_OUTCOME = 4;

const DEFAULT_TIMEOUT_S = 10;
const MAX_TIMEOUT_S = 3600;
const POLL_MS = 50;

export const reloadCommand: Command = {
  name: 'reload',
  summary: 'make the running instance re-read its config and rules (SIGHUP) and print the outcome',
  usage: `usage: spamgate reload [--timeout SECONDS | --no-wait] [--config FILE] [--data-dir DIR]

Sends SIGHUP to the instance whose pid file is in the data directory and waits (up to --timeout
seconds, default ${DEFAULT_TIMEOUT_S}) for the outcome it records there (reload-status.json), which it prints:
  exit 0  reloaded; settings changed since the start that apply only after a restart are named on a warning line
  exit 1  the config (or a rules file) was refused: the instance keeps its running configuration;
          the error names the file, the key and the problem
  exit 3  no running instance (no pid file, or its process is not spamgate serve), or one this user may not signal: nothing signalled
  exit 4  signalled, but no outcome recorded within --timeout
--no-wait only sends the signal (exit 0 once sent), as before outcomes were recorded.
A config file that does not load here is still sent for: the data directory is read from its
data_dir (or given with --data-dir), and the running instance's own verdict is printed.`,
  valueFlags: ['timeout'],
  booleanFlags: ['no-wait'],
  async run(args, io) {
    const noWait = args.flags.has('no-wait');
    const timeoutText = flagValue(args, 'timeout');
    if (noWait && timeoutText !== undefined) throw new UsageError('--timeout and --no-wait exclude each other');
    const timeoutMs = timeoutText === undefined ? DEFAULT_TIMEOUT_S * 1000 : timeoutArgument(timeoutText);
    if (args.positional.length) throw new UsageError('too many arguments');
    const dataDir = dataDirOf(args);
    const pidFile = path.join(dataDir, PID_FILE);
    let text: string;
    try {
      text = await readFile(pidFile, 'utf8');
    } catch {
      io.stderr.write(`spamgate: no running instance (no pid file in ${dataDir})\n`);
      return RELOAD_NO_INSTANCE;
    }
    // kill(0) or kill(-n) would signal a whole process group: only a plain pid of another process.
    const pid = /^\s*(\d{1,10})\s*$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(pid) || pid < 2 || pid === process.pid) {
      io.stderr.write(`spamgate: ${pidFile} does not hold a process id: ${JSON.stringify(text.slice(0, 40))}\n`);
      return RELOAD_NO_INSTANCE;
    }
    const stale = await notServe(pid);
    if (stale) {
      io.stderr.write(`spamgate: process ${pid} ${stale} (stale pid file?); nothing signalled\n`);
      return RELOAD_NO_INSTANCE;
    }
    const before = readReloadStatus(dataDir);
    try {
      process.kill(pid, 'SIGHUP');
    } catch (err) {
      // EPERM: the instance runs as another user, who alone (or root) can signal it
      const hint = (err as NodeJS.ErrnoException).code === 'EPERM' ? ' (it runs as another user: run spamgate reload as that user)' : '';
      io.stderr.write(`spamgate: cannot signal process ${pid}: ${(err as Error).message}${hint}\n`);
      return RELOAD_NO_INSTANCE;
    }
    if (noWait) {
      io.stdout.write(`reload requested (pid ${pid}); not waiting for the outcome (spamgate reload without --no-wait prints it)\n`);
      return 0;
    }
    const outcome = await waitForOutcome(dataDir, pid, before, timeoutMs);
    if (outcome === 'gone') {
      io.stderr.write(`spamgate: process ${pid} ended before it recorded a reload outcome\n`);
      return RELOAD_NO_INSTANCE;
    }
    if (outcome === undefined) {
      io.stderr.write(`spamgate: reload requested (pid ${pid}), but no outcome was recorded in ${dataDir} within ${timeoutMs / 1000} s; see the instance's log\n`);
      return RELOAD_NO_OUTCOME;
    }
    return report(outcome, io);
  },
};

function report(s: ReloadStatus, io: CommandIo): number {
  const which = `pid ${s.pid}, reload ${s.seq} at ${s.at}${s.trigger === 'rules' ? ', set off by a rules file change' : ''}`;
  if (!s.ok) {
    io.stderr.write(`spamgate: reload refused (${which}); the instance keeps its running configuration:\n${s.error ?? '(no reason recorded)'}\n`);
    return RELOAD_REFUSED;
  }
  io.stdout.write(`reloaded (${which})\n`);
  if (s.restart.length) io.stderr.write(`warning: settings changed since the instance started that apply only after a restart (it keeps the old ones): ${s.restart.join(', ')}\n`);
  return 0;
}

/** Polls the status file (every 50 ms, at most `timeoutMs`) for an outcome of `pid` newer than `before`. */
async function waitForOutcome(dataDir: string, pid: number, before: ReloadStatus | undefined, timeoutMs: number): Promise<ReloadStatus | 'gone' | undefined> {
  const deadline = Date.now() + timeoutMs;
  const rounds = Math.ceil(timeoutMs / POLL_MS) + 1;
  for (let i = 0; i < rounds; i++) {
    const s = readReloadStatus(dataDir);
    if (s && s.pid === pid && isNewerStatus(s, before)) return s;
    if (!alive(pid)) return 'gone';
    const left = deadline - Date.now();
    if (left <= 0) break;
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, left)));
  }
  // one last look: an outcome written in the final interval still counts
  const s = readReloadStatus(dataDir);
  return s && s.pid === pid && isNewerStatus(s, before) ? s : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function timeoutArgument(text: string): number {
  const n = /^\d+(?:\.\d+)?$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isFinite(n) || n <= 0 || n > MAX_TIMEOUT_S) throw new UsageError(`--timeout: expected seconds above 0 and at most ${MAX_TIMEOUT_S}, found ${JSON.stringify(text)}`);
  return Math.round(n * 1000);
}

/**
 * The data directory of the instance to signal. A config that does not load here (the very edit to be tried) still
 * names it: --data-dir, else the file's data_dir read without the rest (relative to the file, ./data when absent),
 * so that the running instance, which refuses the file, says why. A file that is not YAML at all is refused here.
 */
function dataDirOf(args: CommandArgs): string {
  try {
    return loadFromArgs(args, false).dataDir;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const found = args.dataDir !== undefined ? path.resolve(args.dataDir) : args.configFile !== undefined ? dataDirInFile(args.configFile) : undefined;
    // a data directory that is a file (or a path through one) is the problem itself: said as every command says it
    if (found === undefined || statSync(found, { throwIfNoEntry: false })?.isDirectory() !== true) throw err;
    return found;
  }
}

function dataDirInFile(file: string): string | undefined {
  let value: unknown;
  try {
    const parsed = parseYamlFile(file, readYamlText(file, 'config file'));
    if (parsed.syntaxErrors.length) return undefined;
    value = parsed.value;
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const dir = (value as Record<string, unknown>)['data_dir'] ?? './data';
  return typeof dir === 'string' && dir !== '' ? path.resolve(path.dirname(path.resolve(file)), dir) : undefined;
}

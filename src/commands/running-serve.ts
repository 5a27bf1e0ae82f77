// Finds the `spamgate serve` that runs on a data directory, from the pid file it writes there: for
// `spamgate reload` (which signals it) and the learning commands (which must not write a store it holds).
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const PID_FILE = 'spamgate.pid';

/** The pid in the data directory's pid file when that process is a running `spamgate serve`. */
export async function runningServePid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(path.join(dataDir, PID_FILE), 'utf8').catch(() => undefined);
  if (text === undefined || !/^\s*(\d{1,10})\s*$/.test(text)) return undefined;
  const pid = Number(text);
  if (!Number.isSafeInteger(pid) || pid < 2 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it runs, as another user
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return (await notServe(pid)) === undefined ? pid : undefined;
}

/** Why `pid` is not a running `spamgate serve` (where /proc tells), or undefined. */
export async function notServe(pid: number): Promise<string | undefined> {
  let cmdline: string;
  try {
    cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // No /proc at all (not Linux): leave the judgement to kill().
    return code === 'ENOENT' && (await readFile('/proc/self/cmdline', 'utf8').catch(() => undefined)) !== undefined ? 'is not running' : undefined;
  }
  return cmdline.split('\0').includes('serve') ? undefined : 'is not spamgate serve';
}

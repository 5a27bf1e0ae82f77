// Runs a program (a real peer such as spamc, rspamc, exim or curl, or spamgate's own CLI) to completion,
// asynchronously so that a server under test in this process goes on answering it: exit status and output,
// with optional standard input.
import { spawn } from 'node:child_process';

export interface ProgramRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface ProgramOptions {
  /** Written to the program's standard input, then closed (none: stdin is /dev/null). */
  stdin?: string;
  /** Its own process group (signals to the group in tests of Ctrl-C and friends). */
  detached?: boolean;
  /** Killed after this long (default 120 s). */
  timeoutMs?: number;
  /** Run as this user and group (the test running as root, for what another user may not do). */
  user?: { uid: number; gid: number };
}

export function runProgram(command: string, args: readonly string[], opts: ProgramOptions = {}): Promise<ProgramRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 120_000,
      detached: opts.detached === true,
      // tsx's cache is per user in the system temp directory: another user's would be left behind there (or could not
      // be made, that directory not being theirs to write), so that run compiles in memory
      ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid, env: { ...process.env, TSX_DISABLE_CACHE: '1' } } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    if (opts.stdin !== undefined && child.stdin) {
      // a program that stops reading early (too much input) closes the pipe: not the test's failure
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.stdin);
    }
  });
}

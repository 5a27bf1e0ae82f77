// Runs `spamgate ARGS` as a real process (node with tsx, src/cli.ts) to completion: exit code and output, with
// optional standard input; for tests of what a user at a shell sees.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_ENTRY = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Written to the process's standard input, then closed (none: stdin is /dev/null). */
  stdin?: string;
  /** Its own process group (signals to the group in tests of Ctrl-C and friends). */
  detached?: boolean;
  /** Killed after this long (default 120 s). */
  timeoutMs?: number;
}

export function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], {
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 120_000,
      detached: opts.detached === true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (opts.stdin !== undefined && child.stdin) {
      // a command that stops reading early (too much input) closes the pipe: not the test's failure
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.stdin);
    }
  });
}

// Tests: `spamgate ARGS` run to completion as a real process, for the hostile-input CLI suites, and the check
// that what it printed holds no stack trace.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from './cli-process.ts';
import { tempDir as makeTempDir } from './temp-dir.ts';

/** src/cli.ts, for tests that start it under another program (a pseudo-terminal, /dev/full as stdout). */
export const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `spamgate ARGS` to completion; `detached` puts it in its own process group. */
export function cli(args: readonly string[], opts: { detached?: boolean } = {}): Promise<Run> {
  return runCli(args, opts);
}

export const tempDir = (t: TestContext): string => makeTempDir(t, 'spamgate-cli-hostile-');

/** No stack trace: no "    at fn (file:line)" frames and no Node error banner. */
export function assertNoStack(r: Run): void {
  assert.doesNotMatch(r.stderr + r.stdout, /^\s+at .+:\d+:\d+\)?$/m, r.stderr);
  assert.doesNotMatch(r.stderr, /node:internal|Error \[ERR_/, r.stderr);
}

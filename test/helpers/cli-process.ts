// Runs `spamgate ARGS` as a real process (node with tsx, src/cli.ts) to completion: exit code and output, with
// optional standard input; for tests of what a user at a shell sees.
import { fileURLToPath } from 'node:url';
import { runProgram, type ProgramOptions } from './run-program.ts';

export const CLI_ENTRY = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export type CliOptions = ProgramOptions;

export async function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliRun> {
  const run = await runProgram(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], opts);
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

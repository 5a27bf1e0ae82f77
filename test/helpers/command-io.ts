// Runs a CLI command module in-process with captured output, for tests of the command's own logic.
import { PassThrough } from 'node:stream';
import type { Command, CommandArgs } from '../../src/commands/types.ts';

export async function runCommand(cmd: Command, args: CommandArgs, stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const input = new PassThrough();
  input.end(stdin);
  const code = await cmd.run(args, { stdout, stderr, stdin: input, isTty: false });
  return { code, out, err };
}

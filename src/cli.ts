#!/usr/bin/env node
// spamgate's single entry point: dispatches to a sub-command; bad usage and config errors exit 2.
import { parseArgs } from './cli/args.ts';
import { COMMANDS } from './commands/index.ts';
import { UsageError, type CommandIo } from './commands/types.ts';
import { ConfigError } from './config/load.ts';

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: spamgate <command> [--config FILE] [--data-dir DIR] [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'spamgate <command> --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(mainHelp() + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`spamgate: unknown command '${name}' (see spamgate --help)\n`);
    return 2;
  }
  try {
    const args = parseArgs(command, rest);
    if (args.flags.has('help')) {
      io.stdout.write(command.usage + '\n');
      return 0;
    }
    return await command.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`spamgate ${command.name}: ${err.message}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.stderr.write(`spamgate: invalid configuration:\n${err.problems.map((p) => `  ${p}`).join('\n')}\n`);
      return 2;
    }
    io.stderr.write(`spamgate ${command.name}: ${(err as Error).message}\n`);
    return 1;
  }
}

const io: CommandIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, isTty: Boolean(process.stdout.isTTY) };
main(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
    // serve resolves only at shutdown; other commands may leave timers: exit explicitly.
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`spamgate: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

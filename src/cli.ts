#!/usr/bin/env node
// spamgate's single entry point: dispatches to a sub-command; bad usage and config errors exit 2,
// other failures exit 1 with a one-line reason (the stack only with SPAMGATE_DEBUG=1).
import { parseArgs } from './cli/args.ts';
import { COMMANDS } from './commands/index.ts';
import { UsageError, type Command, type CommandIo } from './commands/types.ts';
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

const DEBUG = process.env['SPAMGATE_DEBUG'] === '1';

/** An error for stderr: its message, or its stack with SPAMGATE_DEBUG=1. */
export function describeError(err: unknown, debug = DEBUG): string {
  if (!(err instanceof Error)) return String(err);
  if (debug && err.stack) return err.stack;
  return err.message || err.name;
}

export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(mainHelp() + '\n');
    return 0;
  }
  if (name === undefined) {
    io.stderr.write(`spamgate: no command given\n${mainHelp()}\n`);
    return 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`spamgate: unknown command ${JSON.stringify(name)} (see spamgate --help)\n`);
    return 2;
  }
  running = command;
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
    // A message may list several problems, one a line (a broken users file): it stays whole.
    io.stderr.write(`spamgate ${command.name}: ${describeError(err)}\n`);
    return 1;
  }
}

/** The command being run, once known. */
let running: Command | undefined;

/**
 * The reader of stdout or stderr went away (`spamgate queue list | head`): stop quietly, unless the command
 * changes stored state (forget, train): it goes on without output, and saves, rather than lose its work.
 * Any other write error (a full disk, `> /dev/full`) is the output's fault, not an internal error: one line
 * and exit 1.
 */
function onStreamError(this: NodeJS.WriteStream, err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE') {
    if (running?.finishesWithoutReader) return;
    process.exit(process.exitCode ?? 0);
  }
  if (this !== process.stderr) {
    try {
      process.stderr.write(`spamgate${running ? ` ${running.name}` : ''}: cannot write the output: ${err.message}\n`);
    } catch {
      // stderr is gone too: the exit code says it
    }
  }
  process.exit(1);
}

const io: CommandIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, isTty: Boolean(process.stdout.isTTY) };
process.stdout.on('error', onStreamError);
process.stderr.on('error', onStreamError);
// Last resort: whatever escapes a command ends the process with one line, not a stack trace.
const fatal = (err: unknown): void => {
  try {
    process.stderr.write(`spamgate: internal error: ${DEBUG ? describeError(err) : `${describeError(err).split('\n')[0]} (SPAMGATE_DEBUG=1 shows where)`}\n`);
  } finally {
    process.exit(1);
  }
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
main(process.argv.slice(2), io).then((code) => {
  process.exitCode = code;
  // serve resolves only at shutdown; other commands may leave timers: exit explicitly.
  setImmediate(() => process.exit(code));
}, fatal);

// The shape of one `spamgate` sub-command; src/commands/index.ts lists them all.
import type { Writable } from 'node:stream';

export interface CommandIo {
  stdout: Writable;
  stderr: Writable;
  stdin: NodeJS.ReadableStream;
  /** True when stdout is a terminal (progress bars, prompts). */
  isTty: boolean;
}

/** Parsed argv: flags (--name value / --flag) and positional arguments. */
export interface CommandArgs {
  flags: Map<string, string | true>;
  positional: string[];
  /** --config FILE, if given. */
  configFile?: string;
  /** --data-dir DIR, if given. */
  dataDir?: string;
}

/** Raised for bad usage: the CLI prints the one-line reason and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Command {
  name: string;
  /** One line for `spamgate --help`. */
  summary: string;
  /** Full usage text for `spamgate NAME --help`. */
  usage: string;
  /** Flags that take a value (others are booleans). --config and --data-dir are handled by the CLI. */
  valueFlags?: readonly string[];
  /** Value flags that may be given more than once: their values are joined with ',' (lists of paths). */
  repeatableFlags?: readonly string[];
  /** Flags allowed without a value. */
  booleanFlags?: readonly string[];
  /**
   * The command changes stored state (train, forget): when the reader of its output goes away (EPIPE) it
   * runs to the end, so that what it did is saved, instead of the process stopping at once.
   */
  finishesWithoutReader?: boolean;
  /** Returns the process exit code. */
  run(args: CommandArgs, io: CommandIo): Promise<number>;
}

// argv parsing for the spamgate CLI: --flag value, --flag=value, booleans, -h, positionals (after -- too).
import { UsageError, type Command, type CommandArgs } from '../commands/types.ts';

const GLOBAL_VALUE_FLAGS = ['config', 'data-dir'];

export function parseArgs(command: Command, argv: readonly string[]): CommandArgs {
  const valueFlags = new Set([...GLOBAL_VALUE_FLAGS, ...(command.valueFlags ?? [])]);
  const booleanFlags = new Set(['help', ...(command.booleanFlags ?? [])]);
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      flags.set('help', true);
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unknown option ${arg} for '${command.name}' (a file name starting with '-' goes after --)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (valueFlags.has(name)) {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      // an empty value (--data-dir "$UNSET") is none: it would name the current directory
      if (value === undefined || value === '' || (eq === -1 && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
      const before = flags.get(name);
      if (typeof before === 'string') {
        // the later one silently replaced the earlier (train --spam A --spam B learned only B)
        if (!command.repeatableFlags?.includes(name)) throw new UsageError(`--${name} given more than once`);
        flags.set(name, `${before},${value}`);
      } else flags.set(name, value);
    } else if (booleanFlags.has(name)) {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else {
      throw new UsageError(`unknown option --${name} for '${command.name}' (see spamgate ${command.name} --help)`);
    }
  }
  const args: CommandArgs = { flags, positional };
  const config = flags.get('config');
  const dataDir = flags.get('data-dir');
  if (typeof config === 'string') args.configFile = config;
  if (typeof dataDir === 'string') args.dataDir = dataDir;
  return args;
}

/** A flag's string value, or undefined. */
export function flagValue(args: CommandArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

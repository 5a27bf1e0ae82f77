// `spamgate users sieve`: a user's Sieve filter from the command line: set (compiled first, a bad script refused
// with each problem at line:col; kept as the script "spamgate-cli" and made active, as ManageSieve sees it), show
// (the active script), remove (deactivates), and check (a file, no user needed).
import { isUtf8 } from 'node:buffer';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { sieveScriptFile } from '../mailhost/sieve-scripts.ts';
import { CLI_SCRIPT, createSieveStore } from '../mailhost/sieve-store.ts';
import { checkUserName, readUsersFile } from '../mailhost/users.ts';
import { compileSieve, MAX_SCRIPT_BYTES } from '../sieve/compile.ts';
import { formatProblem } from '../sieve/errors.ts';
import { readBounded } from '../util/read-bounded.ts';
import { loadFromArgs } from './load-args.ts';
import { UsageError, type CommandArgs, type CommandIo } from './types.ts';

export const SIEVE_USAGE = `       spamgate users sieve ADDRESS set FILE|-
       spamgate users sieve ADDRESS show|remove
       spamgate users sieve check FILE|-`;

/** The script text of FILE, or of stdin for '-': at most MAX_SCRIPT_BYTES, UTF-8. */
async function readScript(file: string, io: CommandIo): Promise<string> {
  let bytes: Buffer;
  if (file === '-') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of io.stdin) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      chunks.push(b);
      size += b.length;
      if (size > MAX_SCRIPT_BYTES) break;
    }
    bytes = Buffer.concat(chunks);
  } else {
    try {
      bytes = readBounded(file, MAX_SCRIPT_BYTES + 1);
    } catch (err) {
      throw new UsageError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  const name = file === '-' ? 'standard input' : file;
  if (bytes.length > MAX_SCRIPT_BYTES) throw new UsageError(`${name} is larger than ${MAX_SCRIPT_BYTES} bytes`);
  if (!isUtf8(bytes)) throw new UsageError(`${name} is not UTF-8 text`);
  return bytes.toString('utf8');
}

/** Deactivates the user's script (stored scripts stay, for ManageSieve); false when none was active. */
function removeActive(dataDir: string, user: string): boolean {
  if (!existsSync(sieveScriptFile(dataDir, user))) return false;
  createSieveStore(dataDir).setActive(user, '');
  return true;
}

/** Compiles; on problems prints each as FILE:line:col: message and returns false. */
function compiles(text: string, label: string, io: CommandIo): boolean {
  const r = compileSieve(text);
  if (r.ok) return true;
  for (const p of r.problems) io.stderr.write(`${label}:${formatProblem(p)}\n`);
  return false;
}

export async function runUsersSieve(rest: readonly string[], args: CommandArgs, io: CommandIo): Promise<number> {
  const [first, second, third, extra] = rest;
  const stray = [...args.flags.keys()].find((f) => f !== 'config' && f !== 'data-dir');
  if (stray !== undefined) throw new UsageError(`--${stray} is not an option of users sieve`);
  if (first === 'check') {
    if (second === undefined || third !== undefined) throw new UsageError('users sieve check takes one FILE (or - for standard input)');
    const label = second === '-' ? '-' : second;
    if (!compiles(await readScript(second, io), label, io)) return 1;
    io.stdout.write(`${label}: ok\n`);
    return 0;
  }
  if (first === undefined || second === undefined) throw new UsageError('users sieve needs an ADDRESS and set, show or remove (or check FILE)');
  if (extra !== undefined || (second !== 'set' && second !== 'check' && third !== undefined)) throw new UsageError('too many arguments');
  const { config, dataDir } = loadFromArgs(args, false);
  const domains = new Set(config.local_domains);
  // the name becomes a path (the user's home): validated before anything else
  const check = checkUserName(first, (d) => domains.has(d));
  if (!check.ok) throw new UsageError(check.reason);
  const name = check.name;
  if (second === 'check') return runUsersSieve(['check', ...(third !== undefined ? [third] : [])], args, io);
  const inConfig = Object.keys(config.users).some((u) => u.toLowerCase() === name);
  const file = readUsersFile(path.resolve(dataDir, config.mailhost.users_file));
  if (!file.ok) throw new Error(file.problems.join('\n'));
  if (!inConfig && !(name in file.entries)) {
    io.stderr.write(`no such user ${name}\n`);
    return 1;
  }
  switch (second) {
    case 'set': {
      if (third === undefined) throw new UsageError('users sieve ADDRESS set needs a FILE (or - for standard input)');
      const text = await readScript(third, io);
      if (!compiles(text, third, io)) {
        io.stderr.write(`the Sieve script of ${name} is unchanged\n`);
        return 1;
      }
      const store = createSieveStore(dataDir);
      store.put(name, CLI_SCRIPT, text);
      store.setActive(name, CLI_SCRIPT);
      io.stdout.write(`Sieve script of ${name} set (${sieveScriptFile(dataDir, name)}, named ${CLI_SCRIPT})\n`);
      return 0;
    }
    case 'show': {
      let text: string;
      try {
        text = readFileSync(sieveScriptFile(dataDir, name), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        io.stderr.write(`${name} has no Sieve script\n`);
        return 1;
      }
      io.stdout.write(text);
      return 0;
    }
    case 'remove':
      if (!removeActive(dataDir, name)) {
        io.stderr.write(`${name} has no Sieve script\n`);
        return 1;
      }
      io.stdout.write(`Sieve script of ${name} removed\n`);
      return 0;
    default:
      throw new UsageError(`unknown users sieve action ${JSON.stringify(second)}: set, show, remove or check`);
  }
}

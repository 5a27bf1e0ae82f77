// `spamgate users add|passwd|quota|del|list|vacation|sieve|allow|block|unlist|lists`: manages the users file in the data dir (scrypt hashes, atomic rewrite).
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseSize } from '../config/units.ts';
import { hashPassword } from '../mailhost/password.ts';
import { sieveScriptFile } from '../mailhost/sieve-scripts.ts';
import { createSieveStore } from '../mailhost/sieve-store.ts';
import { forgetVacationReplies } from '../mailhost/vacation-store.ts';
import { checkUserName, readUsersFile, writeUsersFileAtomic, type UserFileEntry } from '../mailhost/users.ts';
import { releasePidLock, takePidLock } from '../util/pid-lock.ts';
import { loadFromArgs } from './load-args.ts';
import { runUsersSieve, SIEVE_USAGE } from './users-sieve.ts';
import { forgetUserLists, isListsAction, LISTS_USAGE, runUsersLists } from './users-lists.ts';
import { MAX_ENTRIES_PER_USER } from '../lists/user-list-file.ts';
import { VACATION_FLAGS, vacationFromArgs } from './users-vacation.ts';
import { UsageError, type Command, type CommandArgs, type CommandIo } from './types.ts';

const USAGE = `usage: spamgate users add ADDRESS [--password-stdin] [--apop] [--quota SIZE|none]
       spamgate users passwd ADDRESS [--password-stdin] [--apop | --no-apop]
       spamgate users quota ADDRESS SIZE|none|default
       spamgate users del ADDRESS
       spamgate users list [--json]
       spamgate users vacation ADDRESS --message-file FILE [--subject TEXT] [--until YYYY-MM-DD] [--days N]
       spamgate users vacation ADDRESS --off
${SIEVE_USAGE}
${LISTS_USAGE}
       (each also takes --config FILE and --data-dir DIR; an option an action does not read is bad usage, exit 2)

Users are full addresses (local@domain, domain in local_domains); names are lower-cased.
The password is read from the terminal with echo off, or with --password-stdin from the first line of stdin.
Only an scrypt hash is stored. --apop also stores the password reversibly as the APOP secret (RFC 1939 §7);
only ask for it if a client needs APOP. Users defined in the config's users: section are listed but not changed here.
vacation sets an out-of-office reply (RFC 3834): the text of FILE (UTF-8, at most 16 KiB), the subject (at most
200 characters; default "Auto: " and the original subject), sent until the end of --until (UTC), at most once per
sender every --days days (default 7). --off ends it. A running instance reads the change at once.
sieve sets a user's Sieve filter (RFC 5228; stored beside their Maildir as sieve/active.sieve; also for users of the
config's users: section), compiled first: a script with errors is refused, each problem printed as FILE:line:col.
check only compiles FILE (exit 1 on errors).
quota sets a user's quota: SIZE as sizes are written in the config (512k, 500MB, 2g, or bytes; not 0), none for no
limit at all (mailhost.default_quota does not apply to them; the users file says quota: none), or default to drop the
user's own and leave them mailhost.default_quota. A running instance reads the change at once.
list prints one line a user: address, apop or -, the quota in bytes (followed by "(default)" when it is
mailhost.default_quota, the user having none of their own), unlimited (the user's own quota is none) or -, file or config, the vacation (on, on until
YYYY-MM-DD, ended YYYY-MM-DD, or -) and the active Sieve script (its name, "(unnamed)" for one set before scripts had
names, or -). list --json prints one JSON array of the same, one object a user: address, apop (true/false), quota
(bytes, or null: no limit), quotaDefault (true when quota is mailhost.default_quota), quotaNone (true when the
user's own quota is none: unlimited whatever the default), source ("file" or "config"),
vacation (true while replies are sent), vacationUntil (YYYY-MM-DD or null) and sieve (the script's name or null).
allow and block put ENTRY (user@domain, domain or .domain for its subdomains, as in the rules' lists:) on the user's
own sender lists (at most ${MAX_ENTRIES_PER_USER} entries a user); unlist takes it off; lists prints them. An allowed
sender lowers the score of that user's copy only, and only when SPF, DKIM or DMARC authenticates it; a blocked one
sends that user's copy to Junk. A running instance reads the change at its next message.`;

export const usersCommand: Command = {
  name: 'users',
  summary: 'add, change, remove or list mail users (the users file in the data dir)',
  usage: USAGE,
  valueFlags: ['quota', ...VACATION_FLAGS],
  booleanFlags: ['password-stdin', 'apop', 'no-apop', 'off', 'json'],
  async run(args, io) {
    const [action, address, extra] = args.positional;
    if (action === 'sieve') return runUsersSieve(args.positional.slice(1), args, io);
    if (isListsAction(action)) return runUsersLists(action, args.positional.slice(1), args, io);
    if (args.positional.length > (action === 'quota' ? 3 : 2) || (action === 'list' && address !== undefined)) throw new UsageError('too many arguments');
    if (isUsersAction(action)) checkOptions(action, args);
    const { config, dataDir } = loadFromArgs(args, false);
    const defaultQuota = config.mailhost.default_quota;
    const domains = new Set(config.local_domains);
    const isLocal = (d: string): boolean => domains.has(d);
    const file = path.resolve(dataDir, config.mailhost.users_file);

    if (action === 'list') {
      const current = readOrFail(file);
      const today = new Date().toISOString().slice(0, 10);
      const sieve = activeSieveOf(dataDir);
      const listed: ListedUser[] = [];
      for (const [name, u] of Object.entries(config.users)) listed.push(listedUser(name.toLowerCase(), u, 'config', defaultQuota, today, sieve));
      for (const [name, u] of Object.entries(current)) if (!(name in config.users)) listed.push(listedUser(name, u, 'file', defaultQuota, today, sieve));
      listed.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
      if (args.flags.has('json')) {
        io.stdout.write(`${JSON.stringify(listed)}\n`);
        return 0;
      }
      io.stdout.write(listed.map(row).join('') || '(no users)\n');
      return 0;
    }
    if (!isUsersAction(action) || action === 'list') throw new UsageError(`unknown action ${JSON.stringify(action ?? '')}: add, passwd, quota, del, list, vacation, sieve, allow, block, unlist or lists`);
    if (address === undefined) throw new UsageError(`users ${action} needs an ADDRESS`);
    // del takes a user at a domain already taken out of local_domains too (the name's syntax is checked still): a
    // reload refuses to drop a domain its users still use, and they must be removable with the config edited first
    const check = checkUserName(address, action === 'del' ? () => true : isLocal);
    if (!check.ok) throw new UsageError(check.reason);
    const name = check.name;
    // bad usage exits 2 whoever the user is (one of the config's users: section too)
    const newQuota = action === 'quota' ? quotaArgument(extra) : undefined;
    if (Object.keys(config.users).some((u) => u.toLowerCase() === name)) {
      io.stderr.write(`${name} is defined in the config file's users: section; change it there\n`);
      return 1;
    }
    if (args.flags.has('apop') && args.flags.has('no-apop')) throw new UsageError('--apop and --no-apop exclude each other');
    // checked before the lock is taken: bad usage exits 2 whatever the file holds
    const vacation = action === 'vacation' ? vacationFromArgs(args, Date.now()) : undefined;

    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    return withLock(file, async () => {
      const current: Record<string, UserFileEntry> = { ...readOrFail(file) };
      const existing = current[name];
      if (action === 'del') {
        if (!existing) return fail(io, `no such user ${name}`);
        delete current[name];
        writeUsersFileAtomic(file, current);
        const listsDropped = await forgetUserLists(dataDir, name).catch((err: Error) => {
          io.stderr.write(`${name}'s sender lists are kept: ${err.message}\n`);
          return false;
        });
        io.stdout.write(`deleted ${name} (the mailbox is kept${listsDropped ? '; the sender lists are not' : ''})\n`);
        return 0;
      }
      /** Writes the existing user's entry with one field set, or dropped when `value` is undefined. */
      const setField = <K extends 'quota' | 'vacation'>(entry: UserFileEntry, key: K, value: UserFileEntry[K] | undefined): void => {
        const next: UserFileEntry = { ...entry };
        if (value === undefined) delete next[key];
        else next[key] = value;
        current[name] = next;
        writeUsersFileAtomic(file, current);
      };
      if (newQuota !== undefined) {
        if (!existing) return fail(io, `no such user ${name}`);
        setField(existing, 'quota', newQuota === 'default' ? undefined : newQuota);
        const shown =
          newQuota === 'default'
            ? `the default (${defaultQuota === undefined ? 'none: mailhost.default_quota is not set' : `${defaultQuota} bytes`})`
            : newQuota === 'none'
              ? `none (unlimited${defaultQuota === undefined ? '' : `, not mailhost.default_quota's ${defaultQuota} bytes`})`
              : `${newQuota} bytes`;
        io.stdout.write(`quota of ${name}: ${shown}\n`);
        return 0;
      }
      if (vacation !== undefined) {
        if (!existing) return fail(io, `no such user ${name}`);
        setField(existing, 'vacation', vacation === 'off' ? undefined : vacation);
        // a new vacation (or none) starts with no memory of whom the last one answered
        forgetVacationReplies(dataDir, name);
        io.stdout.write(vacation === 'off' ? `vacation reply of ${name} off\n` : `vacation reply of ${name} on${vacation.until ? ` until ${vacation.until}` : ''}, once per sender every ${vacation.days} days\n`);
        return 0;
      }
      if (action === 'add' && existing) return fail(io, `${name} already exists; use passwd`);
      if (action === 'passwd' && !existing) return fail(io, `no such user ${name}`);
      const password = await readPassword(args, io);
      const entry: UserFileEntry = { password: await hashPassword(password) };
      if (existing?.vacation !== undefined) entry.vacation = existing.vacation;
      const apop = args.flags.has('apop') || (existing?.apop_secret !== undefined && !args.flags.has('no-apop'));
      if (apop) entry.apop_secret = password;
      const quotaFlag = args.flags.get('quota');
      const quota = typeof quotaFlag === 'string' ? (isNone(quotaFlag) ? 'none' : sizeArgument(quotaFlag, '--quota')) : existing?.quota;
      if (quota !== undefined) entry.quota = quota;
      current[name] = entry;
      writeUsersFileAtomic(file, current);
      io.stdout.write(`${action === 'add' ? 'added' : 'changed password of'} ${name}${apop ? ' (APOP enabled)' : ''}\n`);
      return 0;
    });
  },
};

const ACTIONS = ['add', 'passwd', 'quota', 'del', 'list', 'vacation'] as const;
type UsersAction = (typeof ACTIONS)[number];

function isUsersAction(action: string | undefined): action is UsersAction {
  return (ACTIONS as readonly (string | undefined)[]).includes(action);
}

/** The options each action reads (besides --config and --data-dir); any other is bad usage, never silently ignored. */
const ACTION_OPTIONS: Record<UsersAction, readonly string[]> = {
  add: ['password-stdin', 'apop', 'quota'],
  passwd: ['password-stdin', 'apop', 'no-apop'],
  quota: [],
  del: [],
  list: ['json'],
  vacation: [...VACATION_FLAGS, 'off'],
};

function checkOptions(action: UsersAction, args: CommandArgs): void {
  // the messages that name where an option belongs come first
  if (action === 'quota' && args.flags.has('quota')) throw new UsageError('users quota takes the size as SIZE, not --quota');
  const vacationOnly = [...VACATION_FLAGS, 'off'].find((f) => args.flags.has(f));
  if (action !== 'vacation' && vacationOnly !== undefined) throw new UsageError(`--${vacationOnly} is only for users vacation`);
  const allowed = new Set(['config', 'data-dir', ...ACTION_OPTIONS[action]]);
  const stray = [...args.flags.keys()].find((f) => !allowed.has(f));
  if (stray === undefined) return;
  const takers = ACTIONS.filter((a) => ACTION_OPTIONS[a].includes(stray));
  throw new UsageError(`--${stray} is not an option of users ${action}${takers.length ? ` (only of users ${takers.join(', ')})` : ''}`);
}

/** One user as `users list --json` gives it (the text listing shows the same, one tab-separated line each). */
interface ListedUser {
  address: string;
  apop: boolean;
  /** Bytes the user may store: their own, else mailhost.default_quota; null: no limit. */
  quota: number | null;
  /** The quota is mailhost.default_quota (the user has none of their own). */
  quotaDefault: boolean;
  /** The user's own quota is none: no limit, whatever mailhost.default_quota says (quota is null). */
  quotaNone: boolean;
  source: 'config' | 'file';
  /** An out-of-office reply is being sent (set, and its last day not passed). */
  vacation: boolean;
  /** Its last day (YYYY-MM-DD, UTC), when it has one (also when it ended). */
  vacationUntil: string | null;
  /** The active Sieve script's name, "(unnamed)" for one set before scripts had names, or null. */
  sieve: string | null;
}

function listedUser(address: string, u: { apop_secret?: string | undefined; quota?: number | 'none' | undefined; vacation?: { until?: string | undefined } | undefined }, source: ListedUser['source'], defaultQuota: number | undefined, today: string, sieve: (user: string) => string): ListedUser {
  const own = u.quota;
  const until = u.vacation?.until;
  const script = sieve(address);
  return {
    address,
    apop: u.apop_secret !== undefined,
    quota: own === 'none' ? null : (own ?? defaultQuota ?? null),
    quotaDefault: own === undefined && defaultQuota !== undefined,
    quotaNone: own === 'none',
    source,
    vacation: u.vacation !== undefined && (until === undefined || until >= today),
    vacationUntil: until ?? null,
    sieve: script === '-' ? null : script,
  };
}

function row(u: ListedUser): string {
  const quota = u.quotaNone ? 'unlimited' : u.quota === null ? '-' : `${u.quota}${u.quotaDefault ? ' (default)' : ''}`;
  const vacation = u.vacationUntil === null ? (u.vacation ? 'on' : '-') : u.vacation ? `on until ${u.vacationUntil}` : `ended ${u.vacationUntil}`;
  return `${u.address}\t${u.apop ? 'apop' : '-'}\t${quota}\t${u.source}\t${vacation}\t${u.sieve ?? '-'}\n`;
}

const isNone = (text: string): boolean => text.trim().toLowerCase() === 'none';

/** SIZE of `users quota`: a size as the config writes them, none (no limit, not even the default), or "default" (drop the user's own quota). */
function quotaArgument(text: string | undefined): number | 'none' | 'default' {
  if (text === undefined) throw new UsageError('users quota needs an ADDRESS and a SIZE (such as 500MB or 2g), none or default');
  if (text.trim().toLowerCase() === 'default') return 'default';
  if (isNone(text)) return 'none';
  return sizeArgument(text, 'SIZE');
}

/**
 * A size given on the command line, read with the config's units (512k, 25MB, 1g, bytes), at most what the users
 * file holds exactly (a larger one would be written as a float the file's own check refuses), and not 0 bytes: such
 * a quota is no "unlimited" (as 0 is elsewhere) but returns every message as larger than the whole quota.
 */
function sizeArgument(text: string, what: string): number {
  const bytes = parseSize(text);
  if (bytes === undefined || !Number.isSafeInteger(bytes)) throw new UsageError(`${what}: expected a size such as 500MB, 2g or 1048576 (bytes), found ${JSON.stringify(text)}`);
  if (bytes === 0) throw new UsageError(`${what}: ${JSON.stringify(text)} is 0 bytes, a quota every message is larger than (each would be returned to its sender); for mailhost.default_quota, leave --quota out or give default to users quota; for no limit, none`);
  return bytes;
}

/** The Sieve column of `users list`: the active script's name, "(unnamed)" when delivery runs one set before names existed, or -. */
function activeSieveOf(dataDir: string): (user: string) => string {
  const store = createSieveStore(dataDir);
  return (user) => {
    try {
      if (!existsSync(sieveScriptFile(dataDir, user))) return '-';
      return store.activeName(user) ?? '(unnamed)';
    } catch {
      return '-'; // a name no path can be made of has no script
    }
  };
}

function fail(io: CommandIo, text: string): number {
  io.stderr.write(text + '\n');
  return 1;
}

function readOrFail(file: string): Record<string, UserFileEntry> {
  const r = readUsersFile(file);
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return r.entries;
}

/**
 * One writer at a time: a lock file beside the users file, holding the writer's pid. A lock left by a
 * command that was interrupted (Ctrl-C while it waited for the password) is taken over.
 */
async function withLock(file: string, fn: () => Promise<number>): Promise<number> {
  const lock = `${file}.lock`;
  const held = await takePidLock(lock);
  if (!held.ok) throw new Error(`another \`spamgate users\` (pid ${held.pid}) is changing ${file}; try again when it is done`);
  try {
    return await fn();
  } finally {
    await releasePidLock(lock);
  }
}

async function readPassword(args: CommandArgs, io: CommandIo): Promise<string> {
  let password: string;
  if (args.flags.has('password-stdin')) {
    password = (await readFirstLine(io.stdin)).split(/\r?\n/)[0] ?? '';
  } else {
    password = await promptHidden(io, 'Password: ');
    const again = await promptHidden(io, 'Again: ');
    if (again !== password) throw new UsageError('the passwords differ');
  }
  if (password.length < 8) throw new UsageError('the password must have at least 8 characters');
  if (password.length > 1024) throw new UsageError('the password is too long');
  return password;
}

/** Stdin up to its first line break (a terminal does not wait for Ctrl-D after Enter), at most 64 KiB. */
async function readFirstLine(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    chunks.push(b);
    size += b.length;
    if (size > 65_536 || b.includes(0x0a)) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Reads one line from the terminal with echo off (raw mode), with the line editing a terminal gives a password
 * prompt: Backspace removes a character, Ctrl-U the whole line; Ctrl-C cancels, and so does Ctrl-D on an empty
 * line (end of input). Other control characters are not taken into the password (Tab is).
 */
function promptHidden(io: CommandIo, prompt: string): Promise<string> {
  const tty = io.stdin as NodeJS.ReadStream;
  if (!tty.isTTY || typeof tty.setRawMode !== 'function') {
    return Promise.reject(new UsageError('stdin is not a terminal: pass the password with --password-stdin'));
  }
  // echo off before the prompt shows: a password typed (or pasted) as soon as it appears is never echoed
  tty.setRawMode(true);
  io.stderr.write(prompt);
  tty.resume();
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (err?: Error): void => {
      tty.off('data', onData);
      tty.setRawMode(false);
      tty.pause();
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (d: Buffer): void => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new UsageError('cancelled'));
        if (ch === '\u0004' && text === '') return done(new UsageError('cancelled (end of input)'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else if (ch === '\u0015') text = '';
        else if (ch === '\t' || (ch >= ' ' && ch !== '\u007f')) text += ch;
      }
    };
    tty.on('data', onData);
  });
}

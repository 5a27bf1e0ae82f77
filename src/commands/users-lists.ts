// `spamgate users allow|block|unlist USER ENTRY` and `spamgate users lists USER`: a user's own sender allow and block
// lists in data_dir/user-lists.json (src/lists/user-list-file.ts), rewritten atomically under a lock file; a running
// instance reads the change at its next message (it re-reads the file when it changes).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { countEntries, MAX_ENTRIES_PER_USER, MAX_ENTRIES_TOTAL, normaliseEntry, readUserLists, userListsPath, writeUserLists, type UserListKind, type UserListsData } from '../lists/user-list-file.ts';
import { checkUserName, readUsersFile } from '../mailhost/users.ts';
import { releasePidLock, takePidLock } from '../util/pid-lock.ts';
import { loadFromArgs } from './load-args.ts';
import { UsageError, type CommandArgs, type CommandIo } from './types.ts';

export const LISTS_ACTIONS = ['allow', 'block', 'unlist', 'lists'] as const;
export type ListsAction = (typeof LISTS_ACTIONS)[number];

export const LISTS_USAGE = `       spamgate users allow|block ADDRESS ENTRY
       spamgate users unlist ADDRESS ENTRY
       spamgate users lists ADDRESS`;

export const isListsAction = (a: string | undefined): a is ListsAction => (LISTS_ACTIONS as readonly string[]).includes(a ?? '');

export async function runUsersLists(action: ListsAction, rest: readonly string[], args: CommandArgs, io: CommandIo): Promise<number> {
  const [user, entryText, extra] = rest;
  const stray = [...args.flags.keys()].find((f) => f !== 'config' && f !== 'data-dir');
  if (stray !== undefined) throw new UsageError(`--${stray} is not an option of users ${action}`);
  if (user === undefined) throw new UsageError(`users ${action} needs an ADDRESS`);
  if (action === 'lists' ? entryText !== undefined : extra !== undefined) throw new UsageError('too many arguments');
  if (action !== 'lists' && entryText === undefined) throw new UsageError(`users ${action} needs an ENTRY (user@domain, domain or .domain)`);
  const normal = entryText === undefined ? undefined : normaliseEntry(entryText);
  if (normal && 'error' in normal) throw new UsageError(`invalid entry: ${normal.error}`);
  const { config, dataDir } = loadFromArgs(args, false);
  const domains = new Set(config.local_domains);
  const check = checkUserName(user, (d) => domains.has(d));
  if (!check.ok) throw new UsageError(check.reason);
  const name = check.name;
  const usersFile = path.resolve(dataDir, config.mailhost.users_file);
  /** Whether the user exists now (config users, or the users file as it is). */
  const userExists = (): boolean => {
    const users = readUsersFile(usersFile);
    if (!users.ok) throw new Error(users.problems.join('\n'));
    return Object.keys(config.users).some((u) => u.toLowerCase() === name) || name in users.entries;
  };
  if (!userExists()) return fail(io, `no such user ${name}`);
  const file = userListsPath(dataDir);
  if (action === 'lists') {
    const mine = readOrThrow(file)[name];
    const rows = [...(mine?.allow ?? []).map((e) => `allow\t${e}\n`), ...(mine?.block ?? []).map((e) => `block\t${e}\n`)];
    io.stdout.write(rows.join('') || `(no entries for ${name})\n`);
    return 0;
  }
  const entry = normal?.entry ?? '';
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return withLock(file, () => {
    // again under the lock: a `users del` writes the users file before it drops the lists under this lock, so a
    // user deleted meanwhile gets no entries that a later user of that name would inherit
    if (action !== 'unlist' && !userExists()) return fail(io, `no such user ${name}`);
    const data = readOrThrow(file);
    const mine = data[name] ?? { allow: [], block: [] };
    if (action === 'unlist') {
      const before = mine.allow.length + mine.block.length;
      const next = { allow: mine.allow.filter((e) => e !== entry), block: mine.block.filter((e) => e !== entry) };
      if (next.allow.length + next.block.length === before) return fail(io, `${entry} is not on a list of ${name}`);
      writeUserLists(file, { ...data, [name]: next });
      io.stdout.write(`${entry} taken off the lists of ${name}\n`);
      return 0;
    }
    const kind: UserListKind = action;
    const other: UserListKind = kind === 'allow' ? 'block' : 'allow';
    if (mine[kind].includes(entry)) {
      io.stdout.write(`${entry} is already on the ${kind} list of ${name}\n`);
      return 0;
    }
    // an entry is on one list at a time: the later command stands
    const moved = mine[other].includes(entry);
    const next = { ...mine, [kind]: [...mine[kind], entry], [other]: mine[other].filter((e) => e !== entry) };
    if (!moved && next.allow.length + next.block.length > MAX_ENTRIES_PER_USER) return fail(io, `${name} has ${MAX_ENTRIES_PER_USER} entries already (the most a user may have); unlist one first`);
    if (!moved && countEntries(data) + 1 > MAX_ENTRIES_TOTAL) return fail(io, `the user lists hold ${MAX_ENTRIES_TOTAL} entries already (the most in all)`);
    writeUserLists(file, { ...data, [name]: next });
    io.stdout.write(`${entry} added to the ${kind} list of ${name}${moved ? ` (taken off its ${other} list)` : ''}\n`);
    return 0;
  });
}

/** Drops a deleted user's lists, so that a user added later under that name does not inherit them; true when some were dropped. */
export async function forgetUserLists(dataDir: string, name: string): Promise<boolean> {
  const file = userListsPath(dataDir);
  const dropped = await withLock(file, () => {
    const data = readOrThrow(file);
    if (!data[name]) return 0;
    delete data[name];
    writeUserLists(file, data);
    return 1;
  });
  return dropped === 1;
}

function fail(io: CommandIo, text: string): number {
  io.stderr.write(text + '\n');
  return 1;
}

/** The lists of every user; a broken file is an error naming it (the command changes nothing). */
function readOrThrow(file: string): UserListsData {
  const r = readUserLists(file);
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return r.data;
}

/** One writer at a time: a lock file beside the lists file holding the writer's pid (a dead writer's is taken over). */
async function withLock(file: string, fn: () => number): Promise<number> {
  const lock = `${file}.lock`;
  const held = await takePidLock(lock);
  if (!held.ok) throw new Error(`another \`spamgate users\` (pid ${held.pid}) is changing ${file}; try again when it is done`);
  try {
    return fn();
  } finally {
    await releasePidLock(lock);
  }
}

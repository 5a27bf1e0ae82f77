// `spamgate users allow|block|unlist USER ENTRY` and `spamgate users lists USER`: a user's own sender allow and block
// lists in data_dir/user-lists.json (src/lists/user-list-file.ts), rewritten atomically under a lock file; a running
// instance reads the change at its next message (it re-reads the file when it changes).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { addEntry, readOrThrow, removeEntry, withListsLock } from '../lists/user-list-edit.ts';
import { MAX_ENTRIES_PER_USER, MAX_ENTRIES_TOTAL, normaliseEntry, userListsPath, writeUserLists, type UserListKind } from '../lists/user-list-file.ts';
import { checkUserName, readUsersFile } from '../mailhost/users.ts';
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
  if (action === 'unlist') {
    if ((await removeEntry(file, name, entry)) === 'not_listed') return fail(io, `${entry} is not on a list of ${name}`);
    io.stdout.write(`${entry} taken off the lists of ${name}\n`);
    return 0;
  }
  const kind: UserListKind = action;
  const other: UserListKind = kind === 'allow' ? 'block' : 'allow';
  const result = await addEntry(file, name, kind, entry, userExists);
  switch (result) {
    case 'no_user':
      return fail(io, `no such user ${name}`);
    case 'already':
      io.stdout.write(`${entry} is already on the ${kind} list of ${name}\n`);
      return 0;
    case 'user_full':
      return fail(io, `${name} has ${MAX_ENTRIES_PER_USER} entries already (the most a user may have); unlist one first`);
    case 'total_full':
      return fail(io, `the user lists hold ${MAX_ENTRIES_TOTAL} entries already (the most in all)`);
    case 'added':
    case 'moved':
      io.stdout.write(`${entry} added to the ${kind} list of ${name}${result === 'moved' ? ` (taken off its ${other} list)` : ''}\n`);
      return 0;
  }
}

/** Drops a deleted user's lists, so that a user added later under that name does not inherit them; true when some were dropped. */
export async function forgetUserLists(dataDir: string, name: string): Promise<boolean> {
  const file = userListsPath(dataDir);
  return withListsLock(file, () => {
    const data = readOrThrow(file);
    if (!data[name]) return false;
    delete data[name];
    writeUserLists(file, data);
    return true;
  });
}

function fail(io: CommandIo, text: string): number {
  io.stderr.write(text + '\n');
  return 1;
}

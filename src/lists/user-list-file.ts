// Per-user sender allow and block lists (`spamgate users allow|block|unlist`): the file data_dir/user-lists.json,
// its bounds, the normal form of an entry (the `lists:` entry syntax: user@domain, domain, .domain) and its
// validated reading and atomic rewriting. The file name is fixed: no path is ever built from a user name.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../util/atomic-file.ts';
import { parseEntry } from './entries.ts';

export const USER_LISTS_FILE = 'user-lists.json';
/** At most this many entries (allow and block together) per user. */
export const MAX_ENTRIES_PER_USER = 200;
/** At most this many entries in the whole file. */
export const MAX_ENTRIES_TOTAL = 50_000;
/** An entry longer than this (characters, as written) is refused: an address is at most 254 (RFC 5321 §4.5.3.1.3). */
export const MAX_ENTRY_LENGTH = 254;
/** The file is not read when larger than this. */
const MAX_FILE_BYTES = 8 * 1024 * 1024;

export type UserListKind = 'allow' | 'block';
export interface UserListEntries {
  allow: string[];
  block: string[];
}
/** User name (lower case) → that user's lists. */
export type UserListsData = Record<string, UserListEntries>;

export const userListsPath = (dataDir: string): string => path.join(dataDir, USER_LISTS_FILE);

/** An entry in its normal form (lower case, A-labels, ".domain" for subdomains), or what is wrong with it. */
export function normaliseEntry(raw: string): { entry: string } | { error: string } {
  const text = raw.trim();
  if (text.length > MAX_ENTRY_LENGTH) return { error: `entry too long (${text.length} characters, at most ${MAX_ENTRY_LENGTH})` };
  const p = parseEntry('address', text);
  if ('error' in p) return p;
  if (p.kind === 'mailbox') return { entry: p.address };
  if (p.kind === 'name') return { entry: p.subdomains ? `.${p.name}` : p.name };
  return { error: `expected user@domain, domain or .domain, found ${JSON.stringify(text)}` };
}

export const countEntries = (data: UserListsData): number => Object.values(data).reduce((n, u) => n + u.allow.length + u.block.length, 0);

/** Every problem of a parsed file, each naming the file and the user; the normalised lists when there is none. */
function validate(file: string, value: unknown): { ok: true; data: UserListsData } | { ok: false; problems: string[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, problems: [`${file}: expected an object of users`] };
  const problems: string[] = [];
  const data: UserListsData = {};
  for (const [user, lists] of Object.entries(value as Record<string, unknown>)) {
    if (!/^[^\s@]+@[^\s@]+$/.test(user) || user !== user.toLowerCase()) {
      problems.push(`${file}: ${JSON.stringify(user)}: not a user name`);
      continue;
    }
    if (typeof lists !== 'object' || lists === null || Array.isArray(lists)) {
      problems.push(`${file}: ${user}: expected { allow: [...], block: [...] }`);
      continue;
    }
    const out: UserListEntries = { allow: [], block: [] };
    for (const [key, list] of Object.entries(lists as Record<string, unknown>)) {
      if (key !== 'allow' && key !== 'block') {
        problems.push(`${file}: ${user}: unknown key ${JSON.stringify(key)} (allow, block)`);
        continue;
      }
      if (!Array.isArray(list)) {
        problems.push(`${file}: ${user}.${key}: expected a list of entries`);
        continue;
      }
      for (const e of list as unknown[]) {
        const n = typeof e === 'string' ? normaliseEntry(e) : { error: 'expected a string' };
        if ('error' in n) problems.push(`${file}: ${user}.${key}: ${n.error}`);
        else out[key].push(n.entry);
      }
    }
    if (out.allow.length + out.block.length > MAX_ENTRIES_PER_USER) problems.push(`${file}: ${user}: more than ${MAX_ENTRIES_PER_USER} entries`);
    data[user] = out;
  }
  if (countEntries(data) > MAX_ENTRIES_TOTAL) problems.push(`${file}: more than ${MAX_ENTRIES_TOTAL} entries in all`);
  return problems.length ? { ok: false, problems } : { ok: true, data };
}

/** Reads and validates the file; a missing file is empty lists. */
export function readUserLists(file: string): { ok: true; data: UserListsData } | { ok: false; problems: string[] } {
  let text: string;
  try {
    const s = statSync(file);
    // a device or a named pipe (through a link too) would be read without end, on the thread serving every session
    if (!s.isFile()) return { ok: false, problems: [`${file}: not a regular file`] };
    if (s.size > MAX_FILE_BYTES) return { ok: false, problems: [`${file}: larger than ${MAX_FILE_BYTES} bytes`] };
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, data: {} };
    return { ok: false, problems: [`${file}: cannot read: ${(err as Error).message}`] };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [`${file}: not JSON: ${(err as Error).message}`] };
  }
  return validate(file, value);
}

/** Rewrites the file atomically (temp file, fsync, rename); users without entries are left out. Throws, writing nothing, past the size read. */
export function writeUserLists(file: string, data: UserListsData): void {
  const kept: UserListsData = {};
  for (const [user, l] of Object.entries(data).sort(([a], [b]) => a.localeCompare(b))) if (l.allow.length + l.block.length > 0) kept[user] = l;
  const text = `${JSON.stringify(kept, null, 2)}\n`;
  // a file the instance (and the next command) would refuse to read must never be written: the change is refused
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_FILE_BYTES) throw new Error(`${file}: the change would make it ${bytes} bytes, over ${MAX_FILE_BYTES}; nothing changed (unlist entries first)`);
  writeFileAtomicSync(file, text);
}

// User accounts: name rules (safe as a path component), the users file (YAML, scrypt hashes) and its atomic rewrite.
import { existsSync } from 'node:fs';
import { stringify } from 'yaml';
import { writeFileAtomicSync } from '../util/atomic-file.ts';
import { ConfigError, readYamlText } from '../config/load.ts';
import { parseYamlFile, formatIssues } from '../config/yaml-errors.ts';
import { usersSection, type UserEntryConfig, type VacationConfig } from '../config/sections/mailhost.ts';

export interface UserRecord {
  /** Canonical name: the full address, lower-cased (local parts are compared case-insensitively). */
  name: string;
  passwordHash: string;
  /** Only for users who asked for APOP; the one reversible secret. */
  apopSecret?: string;
  /** Bytes; 'none': no limit (not even the default); undefined means the default quota (if any). */
  quota?: number | 'none';
  /** Out-of-office reply, when one is set. */
  vacation?: VacationConfig;
  source: 'config' | 'file';
}

/**
 * A user name is local@domain, lower-cased. The local part is limited to [a-z0-9._-] (no leading dot, no "..")
 * and the domain to DNS characters, so a name is always safe as one path component for the mailbox store.
 */
const USER_RE = /^[a-z0-9_-](?:[a-z0-9._-]{0,63})@[a-z0-9](?:[a-z0-9.-]{0,252})$/;

export type UserNameCheck = { ok: true; name: string } | { ok: false; reason: string };

export function checkUserName(input: string, isLocalDomain: (domain: string) => boolean): UserNameCheck {
  const name = input.trim().toLowerCase();
  if (!USER_RE.test(name) || name.includes('..') || name.includes('.@')) {
    return { ok: false, reason: `invalid user name ${JSON.stringify(input)}: expected local@domain with letters, digits, '.', '_' or '-' in the local part` };
  }
  const domain = name.slice(name.indexOf('@') + 1);
  if (!isLocalDomain(domain)) return { ok: false, reason: `domain ${domain} is not in local_domains` };
  return { ok: true, name };
}

export function toRecord(name: string, entry: UserEntryConfig, source: UserRecord['source']): UserRecord {
  const rec: UserRecord = { name, passwordHash: entry.password, source };
  if (entry.apop_secret !== undefined) rec.apopSecret = entry.apop_secret;
  if (entry.quota !== undefined) rec.quota = entry.quota;
  if (entry.vacation !== undefined) rec.vacation = entry.vacation;
  return rec;
}

export type UsersFileResult = { ok: true; entries: Record<string, UserEntryConfig>; exists: boolean } | { ok: false; problems: string[] };

/** A users or aliases file is read whole; this bounds it (about 200,000 users), so a wrong path such as /dev/zero cannot exhaust memory. */
export const MAX_DIRECTORY_FILE_BYTES = 32 * 1024 * 1024;

/** The text of a users or aliases file, undefined when it does not exist, or the problems that make it unreadable (too large, binary, a directory). */
export function readDirectoryFile(file: string, what: string): string | { problems: string[] } | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return readYamlText(file, what, MAX_DIRECTORY_FILE_BYTES);
  } catch (err) {
    if (err instanceof ConfigError) return { problems: err.problems };
    throw err;
  }
}

/** Reads and validates the users file; a missing file is an empty one. */
export function readUsersFile(file: string): UsersFileResult {
  const read = readDirectoryFile(file, 'users file');
  if (read === undefined) return { ok: true, entries: {}, exists: false };
  if (typeof read !== 'string') return { ok: false, problems: read.problems };
  const text = read;
  const parsed = parseYamlFile(file, text);
  if (parsed.syntaxErrors.length) return { ok: false, problems: parsed.syntaxErrors };
  const result = usersSection.safeParse(parsed.value ?? {});
  if (!result.success) return { ok: false, problems: formatIssues(parsed, result.error.issues) };
  return { ok: true, entries: result.data, exists: true };
}

/** What the users file holds for one user (sizes as bytes). */
export interface UserFileEntry {
  password: string;
  apop_secret?: string;
  /** Bytes, or 'none' (written as `quota: none`): no limit, overriding mailhost.default_quota. */
  quota?: number | 'none';
  vacation?: VacationConfig;
}

/**
 * Writes the users file atomically: a temp file in the same directory (mode 0600: it may hold APOP secrets),
 * fsync, rename over the old one, fsync the directory. Readers see the old or the new file, never half of one.
 */
export function writeUsersFileAtomic(file: string, entries: Record<string, UserFileEntry>): void {
  const sorted = Object.fromEntries(Object.entries(entries).sort(([a], [b]) => a.localeCompare(b)));
  const text =
    '# spamgate users: written by `spamgate users`; passwords are scrypt hashes.\n' + (Object.keys(sorted).length ? stringify(sorted) : '{}\n');
  writeFileAtomicSync(file, text, { mode: 0o600 });
}

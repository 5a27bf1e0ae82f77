// Folder-level helpers of the Maildir++ store: which folders a user has, special-use names, and the subscriptions file.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SpecialUse } from './mailbox-store.ts';
import { writeFileAtomic } from './maildir-files.ts';
import { folderNameFromDir, folderPath, userMaildir } from './maildir-names.ts';
import { readRegularText } from '../util/read-regular.ts';

/** RFC 6154 special-use attributes of the folders created by default (and Archive). */
export const SPECIAL: Readonly<Record<string, SpecialUse>> = { Junk: '\\Junk', Sent: '\\Sent', Drafts: '\\Drafts', Trash: '\\Trash', Archive: '\\Archive' };
export const DEFAULT_FOLDERS: readonly string[] = ['Junk', 'Sent', 'Drafts', 'Trash'];

/** True when the folder has a cur/ directory (Maildir++: every folder does). */
export async function folderExists(root: string, user: string, name: string): Promise<boolean> {
  const st = await stat(join(folderPath(userMaildir(root, user), name), 'cur')).catch(() => undefined);
  return st?.isDirectory() ?? false;
}

/** INBOX first, then every ".Name" directory that decodes to a valid mailbox name. */
export async function folderNames(root: string, user: string): Promise<string[]> {
  const dirs = await readdir(userMaildir(root, user), { withFileTypes: true }).catch(() => []);
  const names = dirs.filter((d) => d.isDirectory()).map((d) => folderNameFromDir(d.name)).filter((n): n is string => n !== undefined);
  return ['INBOX', ...names.filter((n) => n !== 'INBOX')];
}

/** The Maildir "subscriptions" file (one name per line, as Dovecot keeps it). */
export async function readSubscriptions(root: string, user: string): Promise<Set<string>> {
  const text = await readRegularText(join(userMaildir(root, user), 'subscriptions'), 16 * 1024 * 1024).catch(() => '');
  return new Set(text.split('\n').filter((l) => l !== ''));
}

export async function writeSubscriptions(root: string, user: string, set: ReadonlySet<string>, fsync: boolean): Promise<void> {
  await writeFileAtomic(join(userMaildir(root, user), 'subscriptions'), [...set].sort().map((n) => n + '\n').join(''), fsync);
}

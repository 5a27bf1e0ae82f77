// Mailbox administration for the Maildir++ store: CREATE, DELETE, RENAME (RFC 3501 §6.3.3–6.3.5) and subscriptions.
import { rename as renameFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../util/clock.ts';
import { MailboxError, type MailboxStore } from './mailbox-store.ts';
import { fsyncDir, makeMaildir } from './maildir-files.ts';
import { giveMailboxId } from './maildir-mailbox-id.ts';
import { folderExists, folderNames as listFolderNames, readSubscriptions as readSubs, writeSubscriptions as writeSubs } from './maildir-mailboxes.ts';
import { folderDirName, folderPath, normalizeMailbox, userMaildir } from './maildir-names.ts';
import type { KeyedMutex } from './mutex.ts';

export interface AdminDeps {
  root: string;
  fsync: boolean;
  clock: Clock;
  /** The store's per-folder mutex (keyed by folder path). */
  mutex: KeyedMutex;
  /** For RENAME INBOX, which moves messages. */
  store: MailboxStore;
  /** Forgets the in-memory folder at path (deleted). */
  dropFolder(path: string): void;
  /** Forgets the folder at path and its children (renamed). */
  forget(path: string): void;
  /** Tells watchers a folder is gone. */
  expunged(user: string, name: string): void;
  /** Most folders (INBOX included) and most subscriptions one user may have; undefined: no limit. */
  maxMailboxes?: number;
}

export interface MailboxAdmin {
  create(user: string, mailbox: string): Promise<void>;
  remove(user: string, mailbox: string): Promise<void>;
  rename(user: string, from: string, to: string): Promise<void>;
  subscribe(user: string, mailbox: string, subscribed: boolean): Promise<void>;
}

export function mailboxAdmin(d: AdminDeps): MailboxAdmin {
  const exists = (user: string, name: string): Promise<boolean> => folderExists(d.root, user, name);
  const folderNames = (user: string): Promise<string[]> => listFolderNames(d.root, user);
  const readSubscriptions = (user: string): Promise<Set<string>> => readSubs(d.root, user);
  const writeSubscriptions = (user: string, set: ReadonlySet<string>): Promise<void> => writeSubs(d.root, user, set, d.fsync);

  /**
   * Makes the first `depth` levels of `name` that are missing (RFC 3501 §6.3.3: superior hierarchical names are
   * created as needed), unless that takes the user past maxMailboxes (NO [LIMIT], RFC 5530 §3).
   */
  async function makeLevels(user: string, name: string, depth: number): Promise<void> {
    const md = userMaildir(d.root, user);
    const parts = name.split('/');
    const levels: string[] = [];
    for (let i = 1; i <= depth; i++) {
      const level = parts.slice(0, i).join('/');
      if (level !== 'INBOX' && !(await exists(user, level))) levels.push(level);
    }
    if (levels.length === 0) return;
    if (d.maxMailboxes !== undefined && (await folderNames(user)).length + levels.length > d.maxMailboxes)
      throw new MailboxError('LIMIT', `at most ${d.maxMailboxes} mailboxes per user`);
    for (const level of levels) {
      await makeMaildir(folderPath(md, level), true);
      await giveMailboxId(folderPath(md, level), d.fsync); // RFC 8474 §4: a new mailbox, a new id
    }
    if (d.fsync) await fsyncDir(md);
  }

  const admin: MailboxAdmin = {
  async create(user: string, mailbox: string): Promise<void> {
    const name = normalizeMailbox(mailbox);
    if (await exists(user, name)) throw new MailboxError('ALREADYEXISTS', 'mailbox already exists');
    await makeLevels(user, name, name.split('/').length);
  },

  async remove(user: string, mailbox: string): Promise<void> {
    const name = normalizeMailbox(mailbox);
    if (name === 'INBOX') throw new MailboxError('NOPERM', 'INBOX cannot be deleted'); // RFC 3501 §6.3.4
    if (!(await exists(user, name))) throw new MailboxError('NONEXISTENT', 'no such mailbox');
    if ((await folderNames(user)).some((n) => n.startsWith(name + '/'))) throw new MailboxError('HASCHILDREN', 'mailbox has child mailboxes; delete them first');
    const path = folderPath(userMaildir(d.root, user), name);
    await d.mutex.run(path, async () => {
      // Rename first so no reader sees a half-deleted folder, then remove.
      const doomed = join(userMaildir(d.root, user), 'tmp', `deleted.${d.clock.now()}.${process.pid}`);
      await renameFile(path, doomed);
      d.dropFolder(path);
      await rm(doomed, { recursive: true, force: true });
    });
    const subs = await readSubscriptions(user);
    if (subs.delete(name)) await writeSubscriptions(user, subs);
    d.expunged(user, name);
  },

  async rename(user: string, from: string, to: string): Promise<void> {
    const src = normalizeMailbox(from);
    const dst = normalizeMailbox(to);
    const md = userMaildir(d.root, user);
    if (!(await exists(user, src))) throw new MailboxError('NONEXISTENT', 'no such mailbox');
    if (await exists(user, dst)) throw new MailboxError('ALREADYEXISTS', 'target mailbox already exists');
    if (dst === src || dst.startsWith(src + '/')) throw new MailboxError('INVALID', 'cannot rename a mailbox into itself');
    // Every new name is checked before anything moves: a child whose new name is too long would otherwise be left
    // behind under the old parent, half renamed.
    const names = src === 'INBOX' ? [] : (await folderNames(user)).filter((n) => n === src || n.startsWith(src + '/'));
    for (const name of names) normalizeMailbox(dst + name.slice(src.length));
    if (src === 'INBOX') {
      await admin.create(user, dst);
      // RFC 3501 §6.3.5: renaming INBOX moves its messages to the new name and leaves INBOX empty.
      const uids = (await d.store.list(user, 'INBOX')).map((m) => m.uid);
      await d.store.copy(user, 'INBOX', uids, dst);
      await d.store.expunge(user, 'INBOX', uids);
      return;
    }
    await makeLevels(user, dst, dst.split('/').length - 1);
    for (const name of names.sort((a, b) => a.length - b.length)) {
      const path = folderPath(md, name);
      await d.mutex.run(path, async () => {
        await renameFile(path, join(md, folderDirName(dst + name.slice(src.length))));
        d.forget(path);
      });
    }
    if (d.fsync) await fsyncDir(md);
    const subs = await readSubscriptions(user);
    let changed = false;
    for (const n of names)
      if (subs.delete(n)) {
        subs.add(dst + n.slice(src.length));
        changed = true;
      }
    if (changed) await writeSubscriptions(user, subs);
    for (const n of names) d.expunged(user, n); // sessions that had a renamed folder selected (IDLE) hear of it
  },

  async subscribe(user: string, mailbox: string, subscribed: boolean): Promise<void> {
    const name = normalizeMailbox(mailbox);
    const subs = await readSubscriptions(user);
    if (subscribed === subs.has(name)) return;
    if (subscribed && d.maxMailboxes !== undefined && subs.size >= d.maxMailboxes)
      throw new MailboxError('LIMIT', `at most ${d.maxMailboxes} subscriptions per user`);
    if (subscribed) subs.add(name);
    else subs.delete(name);
    await writeSubscriptions(user, subs);
  },
  };
  return admin;
}

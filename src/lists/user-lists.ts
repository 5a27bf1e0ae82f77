// The running instance's view of the per-user allow and block lists: compiled per user from data_dir/user-lists.json
// and re-read when the file's mtime, size or inode changes (checked once a message, one stat), so a change by
// `spamgate users allow|block|unlist` counts from the next message without a restart. A file that fails to
// read keeps the lists in force and is logged once per change.
import { statSync } from 'node:fs';
import type { Logger } from '../util/logger.ts';
import { EntrySet } from './entries.ts';
import { readUserLists, userListsPath } from './user-list-file.ts';

export interface CompiledUserLists {
  allow: EntrySet;
  block: EntrySet;
}

export interface UserLists {
  /** Every user's lists by lower-case name, re-read first when the file changed (one stat): call once a message. */
  current(): ReadonlyMap<string, CompiledUserLists>;
}

export function openUserLists(dataDir: string, log: Logger): UserLists {
  const file = userListsPath(dataDir);
  let stamp = '';
  let lists = new Map<string, CompiledUserLists>();
  const refresh = (): void => {
    let now: string;
    try {
      const s = statSync(file);
      now = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      now = 'missing';
    }
    if (now === stamp) return;
    stamp = now;
    const r = readUserLists(file);
    if (!r.ok) {
      log.warn('user lists not reloaded; keeping the previous ones', { problems: r.problems });
      return;
    }
    const next = new Map<string, CompiledUserLists>();
    for (const [user, l] of Object.entries(r.data)) {
      const c: CompiledUserLists = { allow: new EntrySet('address'), block: new EntrySet('address') };
      for (const e of l.allow) c.allow.add(e);
      for (const e of l.block) c.block.add(e);
      next.set(user, c);
    }
    lists = next;
    if (now !== 'missing') log.info('user lists loaded', { users: next.size });
  };
  return {
    current() {
      refresh();
      return lists;
    },
  };
}

// Full rescan of one Maildir folder: adopts dovecot-uidlist UIDs, finds new, moved and vanished files, numbers the new ones.
// INTERNALDATE comes from the folder cache when the file is known there; only unknown files are stat-ed.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MailboxError, type MailboxChange } from './mailbox-store.ts';
import { flagsFromInfo, readKeywords, readUidList, sizeFromKey, splitName } from './maildir-files.ts';
import { readRecentMark } from './maildir-recent.ts';
import type { MaildirFolder } from './maildir-folder.ts';
import type { Entry } from './maildir-index.ts';

export interface ScanHooks {
  entries(): readonly Entry[];
  byUid: ReadonlyMap<number, Entry>;
  keywords(set?: string[]): string[];
  setLocation(e: Entry, sub: 'new' | 'cur', info: string): void;
  insert(e: Entry): void;
  drop(uids: readonly number[]): void;
  saveUids(): Promise<void>;
}

const PARALLEL = 256;

/** A file found in new/ or cur/, with the UID the uid list gives it (Infinity when none). */
interface Where {
  key: string;
  sub: 'new' | 'cur';
  info: string;
  uid: number;
}

export async function scanFolder(f: MaildirFolder, h: ScanHooks): Promise<MailboxChange[]> {
  const wasLoaded = f.loaded;
  // Directory listings are read while the uid list is parsed.
  const listing = Promise.all([readdir(join(f.path, 'new')), readdir(join(f.path, 'cur'))]);
  listing.catch(() => undefined);
  const cacheLoad = wasLoaded ? undefined : f.cache.ensure(); // first open: the cache file is read alongside
  let known = new Map<string, number>();
  const st = await stat(join(f.path, 'dovecot-uidlist'), { bigint: true }).catch(() => undefined);
  const listStamp = st ? `${st.ino}:${st.size}` : undefined;
  if (!wasLoaded || listStamp !== f.uidlistStamp) {
    // First open, or another program (Dovecot) rewrote the list: adopt the UIDs it assigned.
    const [list, keywords, mark] = await Promise.all([readUidList(f.path), readKeywords(f.path), wasLoaded ? undefined : readRecentMark(f.path)]);
    h.keywords(keywords);
    if (list && (!wasLoaded || list.uidValidity === f.uidValidity)) {
      f.uidValidity = list.uidValidity;
      f.nextUid = Math.max(f.nextUid, list.nextUid);
      for (const [uid, key] of list.entries) known.set(key, uid);
    } else if (!wasLoaded) {
      f.uidValidity = f.newValidity();
      f.nextUid = 1;
    }
    if (mark && mark.uidValidity === f.uidValidity) f.recentFrom = mark.from;
  }
  let newFiles: string[];
  let curFiles: string[];
  try {
    [newFiles, curFiles] = await listing;
  } catch {
    throw new MailboxError('NONEXISTENT', 'no such mailbox');
  }
  const seen = new Map<string, Where>();
  for (const [sub, names] of [['new', newFiles], ['cur', curFiles]] as const)
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const { key, info } = splitName(name);
      seen.set(key, { key, sub, info, uid: known.get(key) ?? Infinity });
    }

  const changes: MailboxChange[] = [];
  const gone: number[] = [];
  for (const e of h.entries()) {
    const now = seen.get(e.key);
    if (!now) {
      gone.push(e.uid);
      continue;
    }
    seen.delete(e.key);
    if (now.sub !== e.sub || now.info !== e.info) {
      const before = e.meta.flags.join(' ');
      h.setLocation(e, now.sub, now.info);
      if (e.meta.flags.join(' ') !== before) changes.push({ kind: 'flags', uid: e.uid, flags: e.meta.flags });
    }
  }
  if (gone.length > 0) {
    h.drop(gone);
    changes.push({ kind: 'expunge', uids: gone });
  }
  const added: number[] = [];
  // Known files in uid-list order, then unknown ones by name (delivery time).
  const fresh = [...seen.values()];
  fresh.sort((a, b) => a.uid - b.uid || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  await cacheLoad;
  if (fresh.length > 0) await f.cache.ensure(); // loaded from a snapshot: the cache is read on first need
  let uidsChanged = gone.length > 0;
  const fileOf = (key: string, w: { sub: string; info: string }): string => join(f.path, w.sub, w.info ? `${key}:${w.info}` : key);
  // Only files the cache does not know are stat-ed (for INTERNALDATE); those are then cached.
  const dates = new Map<string, number | undefined>();
  const unknown = fresh.filter((w) => f.cache.dateOf(w.key) === undefined);
  for (let i = 0; i < unknown.length; i += PARALLEL) {
    const chunk = unknown.slice(i, i + PARALLEL);
    const res = await Promise.all(chunk.map((w) => stat(fileOf(w.key, w)).then((s) => s.mtimeMs, () => undefined)));
    chunk.forEach((w, j) => dates.set(w.key, res[j]));
  }
  const keywords = h.keywords();
  for (const where of fresh) {
    const key = where.key;
    const cached = f.cache.dateOf(key);
    const date = cached ?? dates.get(key);
    if (date === undefined) continue;
    if (cached === undefined) f.cache.set(key, { date });
    let uid: number = where.uid;
    if (uid === Infinity || h.byUid.has(uid)) {
      uid = f.nextUid++;
      uidsChanged = true;
    } else if (uid >= f.nextUid) f.nextUid = uid + 1;
    const sizes = sizeFromKey(key);
    const size = sizes.w ?? (await crlfSize(fileOf(key, where), sizes.s));
    const { flags, other } = flagsFromInfo(where.info, keywords);
    const meta = { uid, size, internalDate: date, flags: Object.freeze(flags) as string[], recent: where.sub === 'new' && uid >= f.recentFrom };
    h.insert({ uid, key, sub: where.sub, info: where.info, other, meta });
    added.push(uid);
  }
  if (added.length > 0) changes.push({ kind: 'append', uids: added });
  if (!wasLoaded) f.cache.retain((key) => f.keyKnown(key));
  if (uidsChanged || (!wasLoaded && known.size !== h.entries().length) || listStamp === undefined) await h.saveUids();
  else f.uidlistStamp = listStamp;
  await f.cache.flush();
  return changes;
}

/** Size with bare LFs counted as CRLF, for files other tools delivered with Unix line ends. */
async function crlfSize(file: string, fallback: number | undefined): Promise<number> {
  const buf = await readFile(file).catch(() => undefined);
  if (!buf) return fallback ?? 0;
  let extra = 0;
  for (let i = 0; i < buf.length; i++) if (buf[i] === 10 && (i === 0 || buf[i - 1] !== 13)) extra++;
  return buf.length + extra;
}

// Full rescan of one Maildir folder: adopts dovecot-uidlist UIDs, finds new, moved and vanished files, numbers the new ones.
// INTERNALDATE comes from the folder cache when the file is known there; only unknown files are stat-ed.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MailboxError, type MailboxChange } from './mailbox-store.ts';
import { readKeywords, readUidList, sizeFromKey, splitName } from './maildir-files.ts';
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

export async function scanFolder(f: MaildirFolder, h: ScanHooks): Promise<MailboxChange[]> {
  const wasLoaded = f.loaded;
  let known = new Map<string, number>();
  const st = await stat(join(f.path, 'dovecot-uidlist'), { bigint: true }).catch(() => undefined);
  const listStamp = st ? `${st.ino}:${st.size}` : undefined;
  if (!wasLoaded || listStamp !== f.uidlistStamp) {
    // First open, or another program (Dovecot) rewrote the list: adopt the UIDs it assigned.
    const list = await readUidList(f.path);
    h.keywords(await readKeywords(f.path));
    if (list && (!wasLoaded || list.uidValidity === f.uidValidity)) {
      f.uidValidity = list.uidValidity;
      f.nextUid = Math.max(f.nextUid, list.nextUid);
      known = new Map([...list.entries].map(([uid, key]) => [key, uid]));
    } else if (!wasLoaded) {
      f.uidValidity = f.newValidity();
      f.nextUid = 1;
    }
  }
  let newFiles: string[];
  let curFiles: string[];
  try {
    [newFiles, curFiles] = await Promise.all([readdir(join(f.path, 'new')), readdir(join(f.path, 'cur'))]);
  } catch {
    throw new MailboxError('NONEXISTENT', 'no such mailbox');
  }
  const seen = new Map<string, { sub: 'new' | 'cur'; info: string }>();
  for (const name of newFiles) if (!name.startsWith('.')) seen.set(splitName(name).key, { sub: 'new', info: splitName(name).info });
  for (const name of curFiles) if (!name.startsWith('.')) seen.set(splitName(name).key, { sub: 'cur', info: splitName(name).info });

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
  const fresh = [...seen.entries()].sort((a, b) => (known.get(a[0]) ?? Infinity) - (known.get(b[0]) ?? Infinity) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let uidsChanged = gone.length > 0;
  const fileOf = (key: string, w: { sub: string; info: string }): string => join(f.path, w.sub, w.info ? `${key}:${w.info}` : key);
  // Only files the cache does not know are stat-ed (for INTERNALDATE); those are then cached.
  const dates = new Map<string, number | undefined>();
  const unknown = fresh.filter(([key]) => f.cache.get(key) === undefined);
  for (let i = 0; i < unknown.length; i += PARALLEL) {
    const chunk = unknown.slice(i, i + PARALLEL);
    const res = await Promise.all(chunk.map(([key, w]) => stat(fileOf(key, w)).then((s) => s.mtimeMs, () => undefined)));
    chunk.forEach(([key], j) => dates.set(key, res[j]));
  }
  for (const [key, where] of fresh) {
    const cached = f.cache.get(key);
    const date = cached ? cached.date : dates.get(key);
    if (date === undefined) continue;
    if (!cached) f.cache.set(key, { date });
    let uid = known.get(key);
    if (uid === undefined || h.byUid.has(uid)) {
      uid = f.nextUid++;
      uidsChanged = true;
    } else if (uid >= f.nextUid) f.nextUid = uid + 1;
    const sizes = sizeFromKey(key);
    const size = sizes.w ?? (await crlfSize(fileOf(key, where), sizes.s));
    const e: Entry = { uid, key, sub: where.sub, info: '', other: '', meta: { uid, size, internalDate: date, flags: [], recent: where.sub === 'new' } };
    h.setLocation(e, where.sub, where.info);
    h.insert(e);
    added.push(uid);
  }
  if (added.length > 0) changes.push({ kind: 'append', uids: added });
  if (!wasLoaded) f.cache.retain(new Set(h.entries().map((e) => e.key)));
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

// One Maildir folder kept in step with disk: sync by directory stamps, group-committed appends, flags, expunge, \Recent.
// Mutations run under the store's per-folder mutex; reads of the index and of message files need no lock.
import { copyFile, link, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { MailboxError, type HeaderField, type MailboxChange } from './mailbox-store.ts';
import { FolderCache, type CacheEntry } from './maildir-cache.ts';
import { extractFields, readHead } from './maildir-headers.ts';
import { FolderIndex, type Entry } from './maildir-index.ts';
import { appendUidLines, uniqueKey, writeUidList } from './maildir-files.ts';
import { scanFolder } from './maildir-scan.ts';

/** A message written to tmp/ (and fsynced) but not yet renamed into new/ or cur/. */
export interface Staged {
  key: string;
  tmp: string;
  size: number;
  date: number;
  fields: HeaderField[];
  flags: readonly string[];
}

/** A directory whose mtime is this close to when we looked may still change within the same timestamp tick ("racy git"). */
const RACY_NS = 2_000_000_000n;
const PARALLEL = 64;

export class MaildirFolder extends FolderIndex {
  loaded = false;
  readonly cache: FolderCache;
  /** Group commit: appends staged by concurrent callers, renamed and recorded together. */
  pending: { staged: Staged; done: (r: number | Error) => void }[] = [];
  committing = false;
  private dirStamp = '';
  private stampRacy = true;
  private lastScan = 0;
  uidlistStamp: string | undefined;
  private unsaved: Entry[] = [];

  constructor(
    path: string,
    fsync: boolean,
    readonly newValidity: () => number,
  ) {
    super(path, fsync);
    this.cache = new FolderCache(path);
  }

  /** Brings memory in step with disk; returns what changed since the last sync (external tools, other processes). */
  async sync(): Promise<MailboxChange[]> {
    const startMs = Date.now();
    const stamp = await this.stamp().catch(() => {
      throw new MailboxError('NONEXISTENT', 'no such mailbox');
    });
    // An unchanged stamp is trusted unless it was taken within the racy window; those re-check at most once a second.
    if (this.loaded && stamp.text === this.dirStamp && (!this.stampRacy || startMs - this.lastScan < 1000)) return [];
    this.lastScan = startMs;
    if (!this.loaded) await this.cache.load();
    const wasLoaded = this.loaded;
    const changes = await scanFolder(this, this.hooks());
    this.loaded = true;
    this.dirStamp = stamp.text;
    this.stampRacy = BigInt(startMs) * 1_000_000n - stamp.newest < RACY_NS;
    return wasLoaded ? changes : [];
  }

  /** Internals the scanner needs (kept off the public surface). */
  private hooks(): Parameters<typeof scanFolder>[1] {
    return {
      entries: () => this.entries,
      byUid: this.byUid,
      keywords: (k) => (k === undefined ? this.keywords : (this.keywords = k)),
      setLocation: (e, sub, info) => this.setLocation(e, sub, info),
      insert: (e) => this.insert(e),
      drop: (uids) => this.drop(uids),
      saveUids: () => this.saveUids(),
    };
  }

  /** Two stats per sync point, done synchronously: a thread-pool round trip costs more than the syscall on a local disk. */
  private async stamp(): Promise<{ text: string; newest: bigint }> {
    const a = statSync(join(this.path, 'new'), { bigint: true });
    const b = statSync(join(this.path, 'cur'), { bigint: true });
    return { text: `${a.mtimeNs}/${b.mtimeNs}`, newest: a.mtimeNs > b.mtimeNs ? a.mtimeNs : b.mtimeNs };
  }

  /** Records the directory stamps after our own change; the racy window makes a later sync still look once more. */
  async restamp(): Promise<void> {
    const s = await this.stamp();
    this.dirStamp = s.text;
    this.stampRacy = true;
  }

  /** Writes a message to tmp/ and fsyncs it; no lock needed (unique name), so concurrent deliveries overlap here. */
  async stage(raw: Buffer, flags: readonly string[], internalDate: number | undefined, now: number): Promise<Staged> {
    const key = uniqueKey(now, raw.length);
    const tmp = join(this.path, 'tmp', key);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(raw);
      if (internalDate !== undefined) await fh.utimes(internalDate / 1000, internalDate / 1000);
      if (this.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    return { key, tmp, size: raw.length, date: internalDate ?? now, fields: extractFields(raw), flags };
  }

  /** Renames a batch of staged messages into new/ (cur/ with flags), then one fsync per directory and one uidlist append. */
  async commitStaged(batch: readonly Staged[]): Promise<(number | Error)[]> {
    const out: (number | Error)[] = [];
    const placed: { i: number; s: Staged; sub: 'new' | 'cur'; info: string }[] = [];
    for (let i = 0; i < batch.length; i++) {
      const s = batch[i] as Staged;
      try {
        const info = s.flags.length > 0 ? await this.infoFor(s.flags) : '';
        placed.push({ i, s, sub: info ? 'cur' : 'new', info });
      } catch (err) {
        out[i] = err as Error;
      }
    }
    const renamed = await Promise.all(placed.map((p) => rename(p.s.tmp, join(this.path, p.sub, p.info ? `${p.s.key}:${p.info}` : p.s.key)).then(() => undefined, (err: Error) => err)));
    placed.forEach((p, j) => {
      const err = renamed[j];
      if (err) out[p.i] = err;
      else {
        out[p.i] = this.adopt(p.s.key, p.sub, p.info, p.s.size, p.s.date);
        this.cache.set(p.s.key, { date: p.s.date, fields: p.s.fields });
      }
    });
    try {
      await this.commit(new Set(placed.map((p) => p.sub)));
    } catch (err) {
      for (const p of placed) if (typeof out[p.i] === 'number') out[p.i] = err as Error;
    }
    return out;
  }

  /** Hard-links another folder's message file in (copying when links fail), keeping its flags; commit() makes it durable. */
  async addCopy(srcFile: string, meta: { size: number; internalDate: number; flags: readonly string[] }, now: number, cached: CacheEntry | undefined): Promise<number> {
    const key = uniqueKey(now, meta.size);
    const info = meta.flags.length > 0 ? await this.infoFor(meta.flags) : '';
    const sub = info ? 'cur' : 'new';
    const dest = join(this.path, sub, info ? `${key}:${info}` : key);
    try {
      await link(srcFile, dest);
    } catch {
      const tmp = join(this.path, 'tmp', key);
      await copyFile(srcFile, tmp);
      await rename(tmp, dest);
    }
    if (cached) this.cache.set(key, { ...cached, date: meta.internalDate });
    return this.adopt(key, sub, info, meta.size, meta.internalDate);
  }

  /** Makes a batch durable: fsync of the touched directories and the uidlist append run together. */
  async commit(dirs: ReadonlySet<string> = new Set(['new', 'cur'])): Promise<void> {
    const fresh = this.unsaved;
    this.unsaved = [];
    const work: Promise<unknown>[] = [];
    if (this.fsync) for (const d of dirs) work.push(fsyncDir(join(this.path, d)));
    if (fresh.length > 0) {
      if (this.uidlistStamp === undefined) work.push(this.saveUids());
      else work.push(appendUidLines(this.path, fresh.map((e) => [e.uid, e.key]), this.fsync).then((st) => (this.uidlistStamp = st)));
    }
    try {
      await Promise.all(work);
    } finally {
      await this.cache.flush();
      await this.restamp();
    }
  }

  async setFlags(uid: number, flags: readonly string[]): Promise<readonly string[]> {
    const e = this.byUid.get(uid);
    const from = this.filePath(uid);
    if (!e) return [];
    const info = await this.infoFor(flags, e.other);
    if (info === e.info && e.sub === 'cur') return e.meta.flags;
    await rename(from, join(this.path, 'cur', `${e.key}:${info}`));
    const recent = e.meta.recent;
    this.setLocation(e, 'cur', info);
    this.setRecent(e, recent);
    await this.restamp();
    return e.meta.flags;
  }

  async expunge(uids: readonly number[]): Promise<number[]> {
    const todo = uids.filter((uid) => this.byUid.has(uid));
    for (let i = 0; i < todo.length; i += PARALLEL)
      await Promise.all(
        todo.slice(i, i + PARALLEL).map((uid) =>
          unlink(this.filePath(uid)).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== 'ENOENT') throw err;
          }),
        ),
      );
    this.drop(todo);
    if (todo.length > 0) await this.saveUids();
    await this.restamp();
    return todo;
  }

  /**
   * Clears \Recent and moves new/ to cur/ (the Maildir meaning of "seen by a client"). The first `now` moves are
   * done before returning; the UIDs of the rest are returned for moveToCur in later, separately locked batches.
   */
  async claimRecent(now = 256): Promise<{ claimed: number[]; later: number[] }> {
    const claimed = this.entries.filter((e) => e.meta.recent);
    for (const e of claimed) this.setRecent(e, false);
    const moving = claimed.filter((e) => e.sub === 'new').map((e) => e.uid);
    await this.moveToCur(moving.slice(0, now));
    return { claimed: claimed.map((e) => e.uid), later: moving.slice(now) };
  }

  /** Renames messages still in new/ to cur/ with an empty info, in parallel. */
  async moveToCur(uids: readonly number[]): Promise<void> {
    const todo = uids.map((u) => this.byUid.get(u)).filter((e): e is Entry => e !== undefined && e.sub === 'new');
    for (let i = 0; i < todo.length; i += PARALLEL)
      await Promise.all(
        todo.slice(i, i + PARALLEL).map(async (e) => {
          const ok = await rename(join(this.path, 'new', e.key), join(this.path, 'cur', `${e.key}:2,`)).then(() => true, () => false);
          if (ok && e.sub === 'new') this.setLocation(e, 'cur', '2,');
        }),
      );
    await this.restamp();
  }

  /** Cached header fields; misses read the head of the file (outside any lock) and are added to the cache. */
  async headerFields(uids: readonly number[], toCrlf: (b: Buffer) => Buffer): Promise<Map<number, readonly HeaderField[]>> {
    const out = new Map<number, readonly HeaderField[]>();
    const misses: number[] = [];
    for (const uid of uids) {
      const key = this.keyOf(uid);
      if (key === undefined) continue;
      const fields = this.cache.get(key)?.fields;
      if (fields) out.set(uid, fields);
      else misses.push(uid);
    }
    for (let i = 0; i < misses.length; i += PARALLEL)
      await Promise.all(
        misses.slice(i, i + PARALLEL).map(async (uid) => {
          for (let attempt = 0; attempt < 2; attempt++) {
            const file = this.fileOf(uid);
            const meta = this.get(uid);
            if (file === undefined || !meta) return;
            const head = await readHead(file, toCrlf).catch(() => undefined);
            if (!head) continue;
            const fields = extractFields(head);
            const key = this.keyOf(uid);
            if (key !== undefined) this.cache.set(key, { date: meta.internalDate, fields });
            out.set(uid, fields);
            return;
          }
        }),
      );
    if (misses.length > 0) await this.cache.flush();
    return out;
  }

  private adopt(key: string, sub: 'new' | 'cur', info: string, size: number, internalDate: number): number {
    const uid = this.nextUid++;
    const e: Entry = { uid, key, sub, info: '', other: '', meta: { uid, size, internalDate, flags: [], recent: true } };
    this.setLocation(e, sub, info);
    this.insert(e);
    this.unsaved.push(e);
    return uid;
  }

  private async saveUids(): Promise<void> {
    const entries = new Map(this.entries.map((e) => [e.uid, e.key]));
    await writeUidList(this.path, { uidValidity: this.uidValidity, nextUid: this.nextUid, entries }, this.fsync);
    this.unsaved = [];
    const st = await stat(join(this.path, 'dovecot-uidlist'), { bigint: true }).catch(() => undefined);
    this.uidlistStamp = st ? `${st.ino}:${st.size}` : undefined;
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function makeMaildir(path: string, isFolder: boolean): Promise<void> {
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(path, sub), { recursive: true, mode: 0o700 });
  if (isFolder) await (await open(join(path, 'maildirfolder'), 'a', 0o600)).close();
}

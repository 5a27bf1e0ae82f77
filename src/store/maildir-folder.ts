// One Maildir folder in memory: UID map, flags and \Recent, kept in step with new/ and cur/ on disk (callers serialise).
import { link, mkdir, open, readFile, readdir, rename, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { MailboxError, type MailboxChange, type MessageMeta } from './mailbox-store.ts';
import {
  flagsFromInfo,
  infoFromFlags,
  MAX_KEYWORDS,
  readKeywords,
  appendUidLines,
  readUidList,
  sizeFromKey,
  splitName,
  uniqueKey,
  writeKeywords,
  writeUidList,
} from './maildir-files.ts';

interface Entry {
  uid: number;
  key: string;
  sub: 'new' | 'cur';
  info: string;
  other: string;
  meta: MessageMeta;
}

/** A directory whose mtime is this close to now may still change within the same timestamp tick ("racy git"). */
const RACY_NS = 2_000_000_000n;

export class MaildirFolder {
  uidValidity = 0;
  nextUid = 1;
  private entries: Entry[] = [];
  private readonly byUid = new Map<number, Entry>();
  private readonly byKey = new Map<string, Entry>();
  private keywords: string[] = [];
  private loaded = false;
  private dirStamp = '';
  private lastScan = 0;
  private uidlistIno: string | undefined;
  /** UIDs added since the list file was last written: appended as lines, not a full rewrite. */
  private unsaved: Entry[] = [];
  private cachedMetas: MessageMeta[] | undefined;

  constructor(
    readonly path: string,
    private readonly fsync: boolean,
    private readonly newValidity: () => number,
  ) {}

  /** Brings memory in step with disk; returns what changed since the last sync (external tools, delivery by others). */
  async sync(): Promise<MailboxChange[]> {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    let stNew, stCur;
    try {
      [stNew, stCur] = await Promise.all([stat(join(this.path, 'new'), { bigint: true }), stat(join(this.path, 'cur'), { bigint: true })]);
    } catch {
      throw new MailboxError('NONEXISTENT', 'no such mailbox');
    }
    const stamp = `${stNew.mtimeNs}/${stCur.mtimeNs}`;
    const racy = nowNs - stNew.mtimeNs < RACY_NS || nowNs - stCur.mtimeNs < RACY_NS;
    // Unchanged stamps are trusted, except that a stamp from the current timestamp tick is re-checked once a second.
    if (this.loaded && stamp === this.dirStamp && (!racy || Date.now() - this.lastScan < 1000)) return [];
    this.lastScan = Date.now();
    const wasLoaded = this.loaded;
    let known = new Map<string, number>();
    const listIno = await this.listStamp();
    if (!wasLoaded || listIno !== this.uidlistIno) {
      // First open, or another program (Dovecot) rewrote the list: adopt the UIDs it assigned.
      const list = await readUidList(this.path);
      this.keywords = await readKeywords(this.path);
      if (list && (!wasLoaded || list.uidValidity === this.uidValidity)) {
        this.uidValidity = list.uidValidity;
        this.nextUid = Math.max(this.nextUid, list.nextUid);
        known = new Map([...list.entries].map(([uid, key]) => [key, uid]));
      } else if (!wasLoaded) {
        this.uidValidity = this.newValidity();
        this.nextUid = 1;
      }
    }
    const [newFiles, curFiles] = await Promise.all([readdir(join(this.path, 'new')), readdir(join(this.path, 'cur'))]);
    const seen = new Map<string, { sub: 'new' | 'cur'; info: string }>();
    for (const f of newFiles) if (!f.startsWith('.')) seen.set(splitName(f).key, { sub: 'new', info: splitName(f).info });
    for (const f of curFiles) if (!f.startsWith('.')) seen.set(splitName(f).key, { sub: 'cur', info: splitName(f).info });

    const changes: MailboxChange[] = [];
    const gone: number[] = [];
    for (const e of this.entries) {
      const now = seen.get(e.key);
      if (!now) {
        gone.push(e.uid);
        continue;
      }
      seen.delete(e.key);
      if (now.sub !== e.sub || now.info !== e.info) {
        const before = e.meta.flags.join(' ');
        this.setLocation(e, now.sub, now.info);
        if (e.meta.flags.join(' ') !== before) changes.push({ kind: 'flags', uid: e.uid, flags: e.meta.flags });
      }
    }
    if (gone.length > 0) {
      this.drop(gone);
      changes.push({ kind: 'expunge', uids: gone });
    }
    const added: number[] = [];
    const fresh = [...seen.entries()].sort((a, b) => (known.get(a[0]) ?? Infinity) - (known.get(b[0]) ?? Infinity) || (a[0] < b[0] ? -1 : 1));
    let uidsChanged = gone.length > 0;
    const stats = new Map<string, import('node:fs').Stats | undefined>();
    for (let i = 0; i < fresh.length; i += 256) {
      const chunk = fresh.slice(i, i + 256);
      const res = await Promise.all(chunk.map(([key, w]) => stat(join(this.path, w.sub, w.info ? `${key}:${w.info}` : key)).catch(() => undefined)));
      chunk.forEach(([key], j) => stats.set(key, res[j]));
    }
    for (const [key, where] of fresh) {
      const file = join(this.path, where.sub, where.info ? `${key}:${where.info}` : key);
      const st = stats.get(key);
      if (!st) continue;
      let uid = known.get(key);
      if (uid === undefined || this.byUid.has(uid)) {
        uid = this.nextUid++;
        uidsChanged = true;
      } else if (uid >= this.nextUid) this.nextUid = uid + 1;
      const sizes = sizeFromKey(key);
      const size = sizes.w ?? (await crlfSize(file, st.size));
      const e: Entry = { uid, key, sub: where.sub, info: '', other: '', meta: { uid, size, internalDate: st.mtimeMs, flags: [], recent: where.sub === 'new' } };
      this.setLocation(e, where.sub, where.info);
      this.insert(e);
      added.push(uid);
    }
    if (added.length > 0) changes.push({ kind: 'append', uids: added });
    if (uidsChanged || (!wasLoaded && known.size !== this.entries.length) || listIno === undefined) await this.saveUids();
    this.loaded = true;
    this.dirStamp = stamp;
    return wasLoaded ? changes : [];
  }

  list(): MessageMeta[] {
    this.cachedMetas ??= this.entries.map((e) => e.meta);
    return this.cachedMetas;
  }

  get(uid: number): MessageMeta | undefined {
    return this.byUid.get(uid)?.meta;
  }

  filePath(uid: number): string {
    const e = this.byUid.get(uid);
    if (!e) throw new MailboxError('NONEXISTENT', `no message with UID ${uid}`);
    return join(this.path, e.sub, e.info ? `${e.key}:${e.info}` : e.key);
  }

  /** Delivers a message: tmp → write → fsync → rename into new/ (cur/ when flags are given) → fsync dir. */
  async append(raw: Buffer, flags: readonly string[], internalDate: number | undefined, now: number): Promise<number> {
    const key = uniqueKey(now, raw.length);
    const tmp = join(this.path, 'tmp', key);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(raw);
      if (this.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    if (internalDate !== undefined) await utimes(tmp, internalDate / 1000, internalDate / 1000);
    const info = flags.length > 0 ? await this.infoFor(flags) : '';
    const sub = info ? 'cur' : 'new';
    await rename(tmp, join(this.path, sub, info ? `${key}:${info}` : key));
    if (this.fsync) await fsyncDir(join(this.path, sub));
    return this.adopt(key, sub, info, raw.length, internalDate ?? now);
  }

  /** Hard-links another folder's message file in (copying when links fail), keeping its flags. */
  async addCopy(srcFile: string, meta: MessageMeta, now: number): Promise<number> {
    const key = uniqueKey(now, meta.size);
    const info = meta.flags.length > 0 ? await this.infoFor(meta.flags) : '';
    const sub = info ? 'cur' : 'new';
    const dest = join(this.path, sub, info ? `${key}:${info}` : key);
    try {
      await link(srcFile, dest);
    } catch {
      const tmp = join(this.path, 'tmp', key);
      const { copyFile } = await import('node:fs/promises');
      await copyFile(srcFile, tmp);
      await rename(tmp, dest);
    }
    if (this.fsync) await fsyncDir(join(this.path, sub));
    return this.adopt(key, sub, info, meta.size, meta.internalDate);
  }

  /** Records the directory stamps after our own change, so the next sync need not rescan. */
  async restamp(): Promise<void> {
    const [a, b] = await Promise.all([stat(join(this.path, 'new'), { bigint: true }), stat(join(this.path, 'cur'), { bigint: true })]);
    this.dirStamp = `${a.mtimeNs}/${b.mtimeNs}`;
  }

  /** Finishes a batch of append/addCopy: appends the new UIDs to the list (Dovecot appends too). */
  async commit(): Promise<void> {
    await this.restamp();
    const fresh = this.unsaved;
    this.unsaved = [];
    if (fresh.length === 0) return;
    if (this.uidlistIno === undefined) return this.saveUids();
    await appendUidLines(this.path, fresh.map((e) => [e.uid, e.key]), this.fsync);
    this.uidlistIno = await this.listStamp();
  }

  private async listStamp(): Promise<string | undefined> {
    const st = await stat(join(this.path, 'dovecot-uidlist'), { bigint: true }).catch(() => undefined);
    return st ? `${st.ino}:${st.size}` : undefined;
  }

  async setFlags(uid: number, flags: readonly string[]): Promise<readonly string[]> {
    const e = this.byUid.get(uid);
    if (!e) throw new MailboxError('NONEXISTENT', `no message with UID ${uid}`);
    const info = await this.infoFor(flags, e.other);
    if (info === e.info && e.sub === 'cur') return e.meta.flags;
    const from = this.filePath(uid);
    await rename(from, join(this.path, 'cur', `${e.key}:${info}`));
    const recent = e.meta.recent;
    this.setLocation(e, 'cur', info);
    e.meta = { ...e.meta, recent };
    this.cachedMetas = undefined;
    await this.restamp();
    return e.meta.flags;
  }

  async expunge(uids: readonly number[]): Promise<number[]> {
    const done: number[] = [];
    for (const uid of uids) {
      if (!this.byUid.has(uid)) continue;
      await unlink(this.filePath(uid)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      done.push(uid);
    }
    this.drop(done);
    if (done.length > 0) await this.saveUids();
    await this.restamp();
    return done;
  }

  /** Moves new/ to cur/ (the Maildir meaning of "seen by a client") and clears \Recent. */
  async claimRecent(): Promise<number[]> {
    const claimed: number[] = [];
    for (const e of this.entries) {
      if (!e.meta.recent) continue;
      claimed.push(e.uid);
      if (e.sub === 'new') {
        await rename(join(this.path, 'new', e.key), join(this.path, 'cur', `${e.key}:2,`)).catch(() => undefined);
        e.sub = 'cur';
        e.info = '2,';
      }
      e.meta = { ...e.meta, recent: false };
    }
    if (claimed.length > 0) this.cachedMetas = undefined;
    await this.restamp();
    return claimed;
  }

  private adopt(key: string, sub: 'new' | 'cur', info: string, size: number, internalDate: number): number {
    const uid = this.nextUid++;
    const e: Entry = { uid, key, sub, info: '', other: '', meta: { uid, size, internalDate, flags: [], recent: true } };
    this.setLocation(e, sub, info);
    this.insert(e);
    this.unsaved.push(e);
    return uid;
  }

  private async infoFor(flags: readonly string[], other = ''): Promise<string> {
    let added = false;
    for (const f of flags) {
      if (f.startsWith('\\') || this.keywords.some((k) => k.toLowerCase() === f.toLowerCase())) continue;
      if (this.keywords.length >= MAX_KEYWORDS) throw new MailboxError('INVALID', `too many keywords in this mailbox (limit ${MAX_KEYWORDS})`);
      this.keywords.push(f);
      added = true;
    }
    if (added) await writeKeywords(this.path, this.keywords, this.fsync);
    return infoFromFlags(flags, (kw) => this.keywords.findIndex((k) => k.toLowerCase() === kw.toLowerCase()), other);
  }

  private setLocation(e: Entry, sub: 'new' | 'cur', info: string): void {
    const { flags, other } = flagsFromInfo(info, this.keywords);
    e.sub = sub;
    e.info = info;
    e.other = other;
    e.meta = { ...e.meta, flags: Object.freeze(flags) as string[] };
    this.cachedMetas = undefined;
  }

  private insert(e: Entry): void {
    const last = this.entries[this.entries.length - 1];
    this.entries.push(e);
    if (last && last.uid > e.uid) this.entries.sort((a, b) => a.uid - b.uid);
    this.byUid.set(e.uid, e);
    this.byKey.set(e.key, e);
    this.cachedMetas = undefined;
  }

  private drop(uids: readonly number[]): void {
    if (uids.length === 0) return;
    const set = new Set(uids);
    for (const uid of uids) {
      const e = this.byUid.get(uid);
      if (e) this.byKey.delete(e.key);
      this.byUid.delete(uid);
    }
    this.entries = this.entries.filter((e) => !set.has(e.uid));
    this.cachedMetas = undefined;
  }

  private async saveUids(): Promise<void> {
    const entries = new Map(this.entries.map((e) => [e.uid, e.key]));
    await writeUidList(this.path, { uidValidity: this.uidValidity, nextUid: this.nextUid, entries }, this.fsync);
    this.unsaved = [];
    this.uidlistIno = await this.listStamp();
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

/** Size with bare LFs counted as CRLF, for files other tools delivered with Unix line ends. */
async function crlfSize(file: string, size: number): Promise<number> {
  const buf = await readFile(file).catch(() => undefined);
  if (!buf) return size;
  let extra = 0;
  for (let i = 0; i < buf.length; i++) if (buf[i] === 10 && (i === 0 || buf[i - 1] !== 13)) extra++;
  return size + extra;
}

export async function makeMaildir(path: string, isFolder: boolean): Promise<void> {
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(path, sub), { recursive: true, mode: 0o700 });
  if (isFolder) await (await open(join(path, 'maildirfolder'), 'a', 0o600)).close();
}

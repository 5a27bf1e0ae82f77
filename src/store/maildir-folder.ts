// One Maildir folder kept in step with disk: sync by directory stamps (first open from spamgate.index when it still
// matches), group-committed appends, flags, expunge, \Recent claims (maildir-recent.ts) without renaming on the
// command path, and a mod-sequence for every change (maildir-modseq.ts). Mutations run under the store's per-folder
// mutex; reads of the index and message files need no lock.
import { copyFile, link, rename, unlink } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { MailboxError, type FlagChange, type MailboxChange } from './mailbox-store.ts';
import { FolderCache, type CacheEntry } from './maildir-cache.ts';
import { FolderIndex, type Entry } from './maildir-index.ts';
import { fsyncDir, uniqueKey, withDotlock } from './maildir-files.ts';
import { infoLetters, ModseqLog } from './maildir-modseq.ts';
import { reconcileModseqs, type ModseqFolder } from './maildir-modseq-reconcile.ts';
import type { Staged } from './maildir-stage.ts';
import { loadSnapshot, writeSnapshot } from './maildir-snapshot.ts';
import { claimRecentMark } from './maildir-recent.ts';
import { resolveDates } from './maildir-dates.ts';
import { scanFolder } from './maildir-scan.ts';
import { assignUids, type Fresh } from './maildir-uidlist.ts';

/**
 * A directory whose mtime is this close to when we looked may still change within the same timestamp tick ("racy
 * git"). Filesystems with sub-second stamps tick at the kernel's coarse clock (a few ms): 100 ms is ample; stamps
 * in whole seconds (older filesystems) take 2 s.
 */
const RACY_FINE_MS = 100;
const RACY_COARSE_MS = 2000;
const PARALLEL = 64;
/** How long a scan waits for a live holder of the uid list's lock before it leaves unnumbered files for later. */
const SCAN_WAIT_MS = 1000;
/** Messages one hold of dovecot-uidlist.lock changes the flags of (a STORE over a large folder lets other writers in between). */
const LOCK_BATCH = 256;
/** Errors writing the uid list that a scan outlives (numbering waits for the next sync). */
const DEFERRABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT']);

/** A flag change done (MaildirFolder.updateFlags). */
export interface FlagResult {
  flags: readonly string[];
  changed: boolean;
  modseq: number;
}

/** The flags after a change, compared case-insensitively (RFC 3501 §2.3.2). */
function applyFlagChange(flags: readonly string[], change: FlagChange): string[] {
  if ('replace' in change) return [...change.replace];
  const has = (list: readonly string[], f: string): boolean => list.some((x) => x.toLowerCase() === f.toLowerCase());
  const next = flags.filter((f) => !has(change.remove ?? [], f));
  for (const f of change.add ?? []) if (!has(next, f)) next.push(f);
  return next;
}

export class MaildirFolder extends FolderIndex {
  loaded = false;
  readonly cache: FolderCache;
  /** Group commit: appends staged by concurrent callers, renamed and recorded together. */
  pending: { staged: Staged; done: (r: number | Error) => void }[] = [];
  committing = false;
  private dirStamp = '';
  private stampRacy = true;
  /** Until when (ms) the current stamp is racy. */
  racyUntil = 0;
  /** The stamps of the snapshot on disk (spamgate.index), to skip rewriting an unchanged one. */
  private snapshotAt = '';
  /** A racy stamp was trusted; the store re-scans once in the background to be sure. */
  needsVerify = false;
  /** Every UID below this was claimed as \Recent by some session (maildir-recent.ts). */
  recentFrom = 0;
  /** Claimed messages still in new/, moved to cur/ by the store when the folder is idle. */
  readonly toMove: number[] = [];
  /** When a client command last used the folder (the background mover waits for a quiet spell). */
  lastUse = 0;
  moving = false;
  verifying = false;
  uidlistStamp: string | undefined;
  /** Lines another writer added to the uid list that the index has not taken in yet (maildir-uidlist.ts). */
  unindexed = new Map<string, number>();
  /** The uid list holds files the index lacks: the next sync re-scans whatever the directory stamps say. */
  private rescanDue = false;
  /** A scan could not rewrite the uid list (its lock busy): the next one does. */
  rewriteDue = false;
  /** Changes by other programs that a re-scan within an operation found (see rescan): the store announces them. */
  readonly found: MailboxChange[] = [];
  private unsaved: Entry[] = [];
  /** Expunged messages whose mod-sequence is not recorded yet (the lock was busy). */
  private readonly owedExpunges: number[] = [];
  /** Mod-sequences (RFC 7162 §3.1), shared with other processes through spamgate-modseq. */
  readonly modseqs: ModseqLog;
  private readonly lockFile: string;

  constructor(
    path: string,
    fsync: boolean,
    readonly newValidity: () => number,
  ) {
    super(path, fsync);
    this.cache = new FolderCache(path);
    this.modseqs = new ModseqLog(path, fsync, () => this.entries);
    this.lockFile = join(path, 'dovecot-uidlist.lock');
  }

  /** HIGHESTMODSEQ (RFC 7162 §3.1.2): at least 1, so a client can always name it. */
  get highestModseq(): number {
    return Math.max(1, this.modseqs.highest);
  }

  /** QRESYNC's expunge history for this folder (ModseqLog.expungedSince); undefined where it does not reach back. */
  expungedSince(modseq: number): number[] | undefined {
    this.modseqs.refresh(this.uidValidity);
    return this.modseqs.expungedSince(modseq, (uid) => this.byUid.has(uid));
  }

  /**
   * Mod-sequences from the log for what a sync found, and for expunges not recorded yet; changes the log lacks get
   * new ones (maildir-modseq-reconcile.ts). With the lock busy, the next sync looks again.
   */
  private async reconcile(gone: readonly number[]): Promise<void> {
    const view: ModseqFolder = { path: this.path, uidValidity: this.uidValidity, modseqs: this.modseqs, entries: () => this.entries };
    const owed = this.owedExpunges.splice(0);
    if (await reconcileModseqs(view, [...gone, ...owed], SCAN_WAIT_MS)) return;
    this.owedExpunges.push(...gone, ...owed);
    this.rescanDue = true;
  }

  /**
   * Brings memory in step with disk; returns what changed since the last sync (external tools, other processes).
   * An unchanged stamp is trusted; when it was taken within the racy window (a change in the same timestamp tick
   * would not show), needsVerify asks the store for one forced re-scan off the command path.
   */
  async sync(force = false): Promise<MailboxChange[]> {
    const lookedAt = Date.now();
    const stamp = await this.stamp().catch(() => {
      throw new MailboxError('NONEXISTENT', 'no such mailbox');
    });
    if (this.loaded && stamp.text === this.dirStamp && !force && !this.rescanDue) {
      if (this.stampRacy || this.snapshotAt !== this.snapshotKey()) this.needsVerify = true;
      return [];
    }
    if (!this.loaded && (await loadSnapshot(this, this.hooks(), stamp.text))) {
      this.dirStamp = stamp.text;
      this.snapshotAt = this.snapshotKey();
      this.stampRacy = false;
      this.loaded = true;
      await this.reconcile([]);
      return [];
    }
    if (force && this.loaded && stamp.text === this.dirStamp && !this.stampRacy && !this.rescanDue) {
      // Confirmed already (the stamp was not racy when taken and has not moved): only the snapshot is due.
      this.needsVerify = false;
      await this.saveSnapshot();
      return [];
    }
    this.needsVerify = false;
    this.rescanDue = false;
    const wasLoaded = this.loaded;
    const changes = await scanFolder(this, this.hooks());
    this.loaded = true;
    await this.reconcile(changes.flatMap((c) => (c.kind === 'expunge' ? c.uids : [])));
    this.dirStamp = stamp.text;
    this.stampRacy = lookedAt < stamp.racyUntil;
    this.racyUntil = stamp.racyUntil;
    // A confirmed state is kept for the next process; otherwise a background re-scan confirms it later.
    if (!this.stampRacy && force) await this.saveSnapshot();
    else if (this.stampRacy || this.snapshotAt !== this.snapshotKey()) this.needsVerify = true;
    return wasLoaded ? changes : [];
  }

  /**
   * Looks at every file again, whatever the stamps say: an operation found a file gone that the index still had
   * (another program removed or renamed it within one timestamp tick of an earlier change, or just now). What it
   * finds goes to `found`.
   */
  async rescan(): Promise<void> {
    this.stampRacy = true; // the stamps missed a change: not to be trusted for this look
    this.found.push(...(await this.sync(true)));
  }

  private snapshotKey(): string {
    return `${this.dirStamp} ${this.uidlistStamp ?? ''}`;
  }

  private async saveSnapshot(): Promise<void> {
    // not while the uid list holds files the index lacks (its stamp is then one no file has)
    if (this.uidlistStamp === undefined || this.unindexed.size > 0 || this.snapshotAt === this.snapshotKey()) return;
    await writeSnapshot(this.path, { uidValidity: this.uidValidity, nextUid: this.nextUid, dirStamp: this.dirStamp, uidlistStamp: this.uidlistStamp }, this.entries).then(
      () => (this.snapshotAt = this.snapshotKey()),
      () => undefined,
    );
  }

  /** Messages leave the index and their header-cache entries with them. */
  protected override drop(uids: readonly number[]): void {
    const keys = uids.flatMap((u) => this.keyOf(u) ?? []);
    super.drop(uids);
    this.cache.forget(keys);
  }

  /** Internals the scanner needs (kept off the public surface). */
  private hooks(): Parameters<typeof scanFolder>[1] {
    return {
      entries: () => this.entries,
      byUid: this.byUid,
      keywords: (k) => (k === undefined ? this.keywords : (this.keywords = k)),
      setLocation: (e, sub, info) => this.setLocation(e, sub, info),
      insertAll: (batch) => this.insertAll(batch),
      drop: (uids) => this.drop(uids),
      numberFound: (fresh, rewrite) => this.numberFound(fresh, rewrite),
    };
  }

  /** Two stats per sync point, done synchronously: a thread-pool round trip costs more than the syscall on a local disk. */
  private async stamp(): Promise<{ text: string; racyUntil: number }> {
    const a = statSync(join(this.path, 'new'), { bigint: true });
    const b = statSync(join(this.path, 'cur'), { bigint: true });
    const newest = a.mtimeNs > b.mtimeNs ? a.mtimeNs : b.mtimeNs;
    const fine = a.mtimeNs % 1_000_000_000n !== 0n || b.mtimeNs % 1_000_000_000n !== 0n;
    return { text: `${a.mtimeNs}/${b.mtimeNs}`, racyUntil: Number(newest / 1_000_000n) + (fine ? RACY_FINE_MS : RACY_COARSE_MS) };
  }

  /** Makes INTERNALDATE known for these messages (all when omitted), under the folder mutex; see maildir-dates.ts. */
  async resolveDates(uids?: readonly number[]): Promise<void> {
    if (this.datesKnown) return;
    await resolveDates(uids ? uids.flatMap((u) => this.byUid.get(u) ?? []) : this.entries, this.cache, (e) => this.fileName(e));
    if (!uids) this.datesKnown = true;
  }

  /** Records the directory stamps after our own change; a background re-scan confirms them once they are not racy. */
  async restamp(): Promise<void> {
    const s = await this.stamp();
    this.dirStamp = s.text;
    this.racyUntil = Math.max(s.racyUntil, Date.now() + RACY_FINE_MS);
    this.stampRacy = true;
    this.needsVerify = true;
  }

  /** Renames a batch of staged messages into new/ (cur/ with flags), then one fsync per directory and one uidlist append. */
  async commitStaged(batch: readonly Staged[]): Promise<(number | Error)[]> {
    const out: (Entry | Error)[] = [];
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
      // RFC 3501 §6.3.11: an APPEND that fails leaves the mailbox as it was; files the commit did not number and
      // index (the uid list's lock not had, a failed write) go again, or a later scan would bring them in
      const unlisted: string[] = [];
      for (const p of placed) {
        const r = out[p.i];
        if (r === undefined || r instanceof Error) continue;
        if (this.byUid.get(r.uid) !== r) unlisted.push(this.fileName(r));
        out[p.i] = err as Error;
      }
      await Promise.all(unlisted.map((file) => unlink(file).catch(() => undefined)));
    }
    // numbered by the commit, under the uid list's lock: the UID answered is the one stored
    return out.map((r) => (r instanceof Error ? r : r.uid));
  }

  /**
   * Hard-links another folder's message file in (copying when links fail), keeping its flags; commit() numbers it
   * (the entry's uid is 0 until then) and makes it durable.
   */
  async addCopy(srcFile: string, meta: { size: number; internalDate: number; flags: readonly string[] }, now: number, cached: CacheEntry | undefined): Promise<Entry> {
    const key = uniqueKey(now, meta.size);
    const info = meta.flags.length > 0 ? await this.infoFor(meta.flags) : '';
    const sub = info ? 'cur' : 'new';
    const dest = join(this.path, sub, info ? `${key}:${info}` : key);
    try {
      await link(srcFile, dest);
    } catch (err) {
      // The source is gone (renamed or removed by another program): the caller finds it again; copying would fail too.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
      const tmp = join(this.path, 'tmp', key);
      await copyFile(srcFile, tmp);
      await rename(tmp, dest);
    }
    if (cached) this.cache.set(key, { ...cached, date: meta.internalDate });
    return this.adopt(key, sub, info, meta.size, meta.internalDate);
  }

  /**
   * Takes back copies added by addCopy (RFC 3501 §6.4.7: a COPY that fails leaves the target unchanged): their
   * files and, when the commit had numbered them, their index entries and uid list lines. Best effort; the caller
   * reports the original failure.
   */
  async discard(added: readonly Entry[]): Promise<void> {
    if (added.length === 0) return;
    const set = new Set(added);
    this.unsaved = this.unsaved.filter((e) => !set.has(e));
    const files = added.map((e) => this.fileName(e));
    const listed = added.filter((e) => e.uid > 0 && this.byUid.get(e.uid) === e).map((e) => e.uid);
    this.drop(listed);
    await Promise.all(files.map((file) => unlink(file).catch(() => undefined)));
    if (listed.length > 0) await this.saveUids().catch(() => undefined);
    await this.restamp().catch(() => undefined);
  }

  /** Makes a batch durable: fsync of the touched directories and the uidlist append run together. */
  async commit(dirs: ReadonlySet<string> = new Set(['new', 'cur'])): Promise<void> {
    const fresh = this.unsaved;
    this.unsaved = [];
    const work: Promise<unknown>[] = [];
    if (this.fsync) for (const d of dirs) work.push(fsyncDir(join(this.path, d)));
    if (fresh.length > 0)
      work.push(
        this.writeList(fresh, this.uidlistStamp === undefined).then(() => {
          this.insertAll(fresh);
        }),
      );
    try {
      // every part ends before a failure is reported: a caller that takes its files back on failure must not find
      // the uid list write still running (it would list and index files the caller has just removed)
      const results = await Promise.allSettled(work);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } finally {
      await this.cache.flush();
      await this.restamp();
    }
  }

  /** Sets a message's flags (renaming its file); NONEXISTENT for a message that is gone. */
  async setFlags(uid: number, flags: readonly string[]): Promise<readonly string[]> {
    const [done] = await this.updateFlags([uid], { replace: flags });
    if (done === undefined || done === 'modified') throw new MailboxError('NONEXISTENT', `no message with UID ${uid}`);
    return done.flags;
  }

  /**
   * Adds or removes flags (case-insensitively, RFC 3501 §2.3.2) against each message's flags as they are now, under
   * the folder lock the caller holds: concurrent sessions changing different flags keep both changes. Results are
   * aligned with `uids` (undefined: no such message). The renames and their mod-sequence are made under
   * dovecot-uidlist.lock, LOCK_BATCH messages at a time, each batch under one new mod-sequence (RFC 7162 §3.1:
   * every STORE gets values of its own). With `unchangedSince`, a message whose mod-sequence (ours, or one
   * another process recorded) is above it is left alone: 'modified' (§3.1.3). A file another program renamed or
   * removed is looked for again after a re-scan, twice at most.
   */
  async updateFlags(uids: readonly number[], change: FlagChange, unchangedSince?: number): Promise<(FlagResult | 'modified' | undefined)[]> {
    const out: (FlagResult | 'modified' | undefined)[] = new Array<FlagResult | 'modified' | undefined>(uids.length).fill(undefined);
    const at = { i: 0 };
    let renamed = false;
    for (let attempt = 0; at.i < uids.length; ) {
      try {
        if (await withDotlock(this.lockFile, () => this.flagBatch(uids, Math.min(uids.length, at.i + LOCK_BATCH), change, unchangedSince, at, out), { required: true })) renamed = true;
        attempt = 0;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 2) throw err;
        attempt++;
        renamed = true;
        // after a re-scan the change applies to the flags as the file has them now (another program may have set some)
        await this.rescan();
      }
    }
    if (renamed) await this.restamp();
    return out;
  }

  /** One locked step of updateFlags: messages from at.i up to `end`; what was renamed is recorded even on a failure. */
  private async flagBatch(uids: readonly number[], end: number, change: FlagChange, unchangedSince: number | undefined, at: { i: number }, out: (FlagResult | 'modified' | undefined)[]): Promise<boolean> {
    this.modseqs.refresh(this.uidValidity);
    const changed: number[] = [];
    let renamed = false;
    try {
      for (; at.i < end; at.i++) {
        const uid = uids[at.i] as number;
        const e = this.byUid.get(uid);
        if (!e) continue;
        if (unchangedSince !== undefined && Math.max(e.modseq, this.modseqs.modseqOf(uid)) > unchangedSince) {
          out[at.i] = 'modified';
          continue;
        }
        const info = await this.infoFor(applyFlagChange(e.flags, change), e.other);
        if (info === e.info && e.sub === 'cur') {
          out[at.i] = { flags: e.flags, changed: false, modseq: e.modseq };
          continue;
        }
        await rename(this.fileName(e), join(this.path, 'cur', `${e.key}:${info}`));
        renamed = true;
        const moved = this.setLocation(e, 'cur', info);
        out[at.i] = { flags: moved.flags, changed: moved.flags.join(' ') !== e.flags.join(' '), modseq: moved.modseq };
        // new/ → cur/ alone changes no flag, and keeps the mod-sequence
        if (infoLetters(info) !== infoLetters(e.info)) changed.push(at.i);
      }
    } finally {
      if (changed.length > 0) {
        // one mod-sequence for the batch: another process may read the log as soon as the lock goes, so a later
        // batch of the same STORE takes a new one rather than add to a value that may have been told already
        const modseq = await this.modseqs.record(changed.map((i) => ({ uid: uids[i] as number, letters: infoLetters(this.byUid.get(uids[i] as number)?.info ?? '') })), this.uidValidity);
        for (const i of changed) {
          const e = this.byUid.get(uids[i] as number);
          const r = out[i];
          if (e) e.modseq = modseq;
          if (r && r !== 'modified') r.modseq = modseq;
        }
      }
    }
    return renamed;
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
    // RFC 7162 §3.1: an expunge is a change too, and HIGHESTMODSEQ rises; as with the uid list's lines, a lock held
    // elsewhere past SCAN_WAIT_MS does not hold the EXPUNGE up: the next sync records it
    if (todo.length > 0) {
      this.owedExpunges.push(...todo);
      await this.reconcile([]);
    }
    await this.restamp();
    return todo;
  }

  /**
   * Claims \Recent for the calling session: the messages recent here and not claimed by another process
   * (maildir-recent.ts). Those still in new/ move to cur/ (the Maildir meaning of "seen by a client"): at once
   * when there are at most `now`, else all later through toMove, the store's idle-time mover (a bulk backlog).
   */
  async claimRecent(now = 32): Promise<number[]> {
    const candidates: Entry[] = [];
    const moving: number[] = [];
    for (const e of this.entries) {
      if (e.recent) candidates.push(e);
      if (e.sub === 'new') moving.push(e.uid); // also claimed earlier and left in new/ by a process that stopped
    }
    const claimed: number[] = [];
    if (candidates.length > 0) {
      const from = await claimRecentMark(this.path, this.uidValidity, this.nextUid);
      this.recentFrom = Math.max(this.recentFrom, this.nextUid);
      for (const e of candidates) {
        e.recent = false; // in place (MessageMeta.recent is live): the lists handed out follow, nothing is rebuilt
        if (e.uid >= from) claimed.push(e.uid);
      }
    }
    const queued = new Set(this.toMove);
    if (moving.length <= now) await this.moveToCur(moving);
    else this.toMove.push(...(queued.size === 0 ? moving : moving.filter((u) => !queued.has(u))));
    return claimed;
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

  /** A file placed in the folder, to be numbered and indexed by the next commit(). */
  private adopt(key: string, sub: 'new' | 'cur', info: string, size: number, internalDate: number): Entry {
    const { flags, other } = this.parseInfo(info);
    const e: Entry = { uid: 0, size, internalDate, flags, recent: true, key, sub, info, other, modseq: 0 };
    this.unsaved.push(e);
    return e;
  }

  /**
   * Numbers `fresh` (in place) and writes the uid list, under its lock and in step with other writers
   * (maildir-uidlist.ts); when that finds files of theirs the index lacks, the next sync re-scans.
   */
  private async writeList(fresh: Entry[], rewrite: boolean): Promise<void> {
    // RFC 7162 §3.1: new messages get a mod-sequence, numbered under the lock that numbers their UIDs
    const underLock = async (): Promise<void> => {
      const modseq = await this.modseqs.record(fresh.map((e) => ({ uid: e.uid, letters: infoLetters(e.info) })), this.uidValidity);
      for (const e of fresh) e.modseq = modseq;
    };
    const foreign = await assignUids(this, { indexed: () => this.entries, fresh, rewrite, fsync: this.fsync, underLock });
    if (foreign) this.rescanDue = true;
  }

  /**
   * writeList for a scan, which reads the folder for a session (a POP3 login, SELECT, STATUS) or before a commit, and
   * for the rewrite after an expunge. When the lock stays busy past SCAN_WAIT_MS, or the list cannot be written (a
   * read-only folder, a full disk): false, and the scan leaves the files it could not number out until the next
   * sync, instead of holding the session up for REQUIRED_WAIT_MS and failing it.
   */
  private async numberFound(fresh: Fresh[], rewrite: boolean): Promise<boolean> {
    try {
      await assignUids(this, { indexed: () => this.entries, fresh, rewrite: rewrite || this.rewriteDue, fsync: this.fsync, waitMs: SCAN_WAIT_MS });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (!(err instanceof MailboxError ? code === 'INUSE' : code !== undefined && DEFERRABLE.has(code))) throw err;
      this.rescanDue = true;
      this.rewriteDue ||= rewrite;
      return false;
    }
    this.rewriteDue = false;
    if (this.unindexed.size > 0) this.rescanDue = true;
    return true;
  }

  /**
   * The list rewritten from the index (expunged lines go). Their files are gone already, which is what other readers
   * go by: with the lock busy the rewrite waits for the next sync rather than holding up (and failing) the EXPUNGE.
   */
  private async saveUids(): Promise<void> {
    await this.numberFound([], true);
  }
}

// New messages into a Maildir folder: group-committed appends (staged in tmp/ by maildir-stage.ts, renamed into
// new/ or cur/ together), copies hard-linked from another folder, and the commit that makes them durable: one fsync
// per directory and one uid list write, numbering them under dovecot-uidlist.lock with their mod-sequence
// (maildir-uidlist.ts). A failed append or copy takes its files back (RFC 3501 §6.3.11, §6.4.7).
import { copyFile, link, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { CacheEntry } from './maildir-cache.ts';
import type { Entry } from './maildir-index.ts';
import { fsyncDir, uniqueKey } from './maildir-files.ts';
import { emailIdSuffix } from './maildir-ids.ts';
import { SyncedFolder } from './maildir-folder-sync.ts';
import { infoLetters } from './maildir-modseq.ts';
import type { Staged } from './maildir-stage.ts';
import { assignUids } from './maildir-uidlist.ts';

export class AppendingFolder extends SyncedFolder {
  /** Group commit: appends staged by concurrent callers, renamed and recorded together. */
  pending: { staged: Staged; done: (r: number | Error) => void }[] = [];
  committing = false;
  /** Files placed in the folder that the next commit() numbers and indexes. */
  private unsaved: Entry[] = [];

  /**
   * Renames a batch of staged messages into new/ (cur/ with flags), then one fsync per directory and one uidlist
   * append. `afterRename` runs as each rename ends (the MULTIAPPEND test hook, maildir-batch-journal.ts).
   */
  async commitStaged(batch: readonly Staged[], afterRename?: () => void): Promise<(number | Error)[]> {
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
    const renamed = await Promise.all(
      placed.map((p) =>
        rename(p.s.tmp, join(this.path, p.sub, p.info ? `${p.s.key}:${p.info}` : p.s.key)).then(
          () => afterRename?.(),
          (err: Error) => err,
        ),
      ),
    );
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
  async addCopy(srcFile: string, meta: { size: number; internalDate: number; flags: readonly string[]; key?: string }, srcValidity: number, now: number, cached: CacheEntry | undefined): Promise<Entry> {
    // the new name carries the source's EMAILID: same immutable content, same id (RFC 8474 §5.1; maildir-ids.ts)
    const key = uniqueKey(now, meta.size) + emailIdSuffix(meta.key, srcValidity);
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
}

// A Maildir folder's index kept in step with disk: sync by directory stamps (first open from spamgate.index when it
// still matches, maildir-snapshot.ts), full re-scans (maildir-scan.ts), the racy-stamp window that asks for a
// background re-scan, numbering found files in the uid list, and the mod-sequences of what a sync found
// (maildir-modseq-reconcile.ts). The layers above (maildir-folder-append.ts, maildir-folder-flags.ts,
// maildir-folder.ts) make the changes; all of it runs under the store's per-folder mutex.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { MailboxError, type MailboxChange } from './mailbox-store.ts';
import { FolderCache } from './maildir-cache.ts';
import { FolderIndex } from './maildir-index.ts';
import { ModseqLog } from './maildir-modseq.ts';
import { reconcileModseqs, type ModseqFolder } from './maildir-modseq-reconcile.ts';
import { loadSnapshot, writeSnapshot } from './maildir-snapshot.ts';
import { scanFolder } from './maildir-scan.ts';
import { assignUids, type Fresh } from './maildir-uidlist.ts';
import { recoverBatches } from './maildir-batch-journal.ts';

/**
 * A directory whose mtime is this close to when we looked may still change within the same timestamp tick ("racy
 * git"). Filesystems with sub-second stamps tick at the kernel's coarse clock (a few ms): 100 ms is ample; stamps
 * in whole seconds (older filesystems) take 2 s.
 */
const RACY_FINE_MS = 100;
const RACY_COARSE_MS = 2000;
/** How long a scan waits for a live holder of the uid list's lock before it leaves unnumbered files for later. */
const SCAN_WAIT_MS = 1000;
/** Errors writing the uid list that a scan outlives (numbering waits for the next sync). */
const DEFERRABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT']);

export class SyncedFolder extends FolderIndex {
  loaded = false;
  readonly cache: FolderCache;
  private dirStamp = '';
  private stampRacy = true;
  /** Until when (ms) the current stamp is racy. */
  racyUntil = 0;
  /** The stamps of the snapshot on disk (spamgate.index), to skip rewriting an unchanged one. */
  private snapshotAt = '';
  /** A racy stamp was trusted; the store re-scans once in the background to be sure. */
  needsVerify = false;
  verifying = false;
  /** Every UID below this was claimed as \Recent by some session (maildir-recent.ts). */
  recentFrom = 0;
  uidlistStamp: string | undefined;
  /** Lines another writer added to the uid list that the index has not taken in yet (maildir-uidlist.ts). */
  unindexed = new Map<string, number>();
  /** The uid list holds files the index lacks: the next sync re-scans whatever the directory stamps say. */
  protected rescanDue = false;
  /** A scan could not rewrite the uid list (its lock busy): the next one does. */
  rewriteDue = false;
  /** Keys of MULTIAPPEND batches another process is committing (maildir-batch-journal.ts): scans leave them out. */
  private inFlight: ReadonlySet<string> = new Set();
  /** Changes by other programs that a re-scan within an operation found (see rescan): the store announces them. */
  readonly found: MailboxChange[] = [];
  /** Expunged messages whose mod-sequence is not recorded yet (the lock was busy). */
  protected readonly owedExpunges: number[] = [];
  /** Mod-sequences (RFC 7162 §3.1), shared with other processes through spamgate-modseq. */
  readonly modseqs: ModseqLog;

  constructor(
    path: string,
    fsync: boolean,
    readonly newValidity: () => number,
  ) {
    super(path, fsync);
    this.cache = new FolderCache(path);
    this.modseqs = new ModseqLog(path, fsync, () => this.entries);
  }

  /**
   * Mod-sequences from the log for what a sync found, and for expunges not recorded yet; changes the log lacks get
   * new ones (maildir-modseq-reconcile.ts). With the lock busy, the next sync looks again.
   */
  protected async reconcile(gone: readonly number[]): Promise<void> {
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
    // RFC 3502 §6.3.11: a MULTIAPPEND whose process died in its commit is rolled back before the folder is read
    // (maildir-batch-journal.ts); on a first open here, before later full scans below
    if (!this.loaded) await this.recoverBatches();
    else if (this.inFlight.size > 0 && !this.rescanDue) {
      // a batch left out as in flight shows once its journal goes, which changes neither new/ nor cur/: the journals
      // are looked at (one small listing), and only a change there costs a full scan, not every look while one lives
      const before = this.inFlight;
      if ((await this.recoverBatches()) || !sameKeys(before, this.inFlight)) this.rescanDue = true;
    }
    let lookedAt = Date.now();
    let stamp = await this.stamp().catch(() => {
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
    if (this.loaded && (await this.recoverBatches())) {
      lookedAt = Date.now();
      stamp = await this.stamp().catch(() => {
        throw new MailboxError('NONEXISTENT', 'no such mailbox');
      }); // the roll-back changed new/ or cur/
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

  /**
   * Rolls back the half-done batches of dead writers; true when one was. A failure (a file it may not remove) does
   * not stop the sync: that journal stays, and the next full scan tries again.
   */
  private async recoverBatches(): Promise<boolean> {
    const r = await recoverBatches(this.path, this.fsync).catch(() => undefined);
    if (r) this.inFlight = r.live; // a look that failed (the folder unreadable for now) keeps what was left out
    return (r?.rolled ?? 0) > 0;
  }

  private snapshotKey(): string {
    return `${this.dirStamp} ${this.uidlistStamp ?? ''}`;
  }

  private async saveSnapshot(): Promise<void> {
    // not while the uid list holds files the index lacks (its stamp is then one no file has)
    // nor while a batch in flight is left out: the next process would trust a folder without it after its commit
    if (this.uidlistStamp === undefined || this.unindexed.size > 0 || this.inFlight.size > 0 || this.snapshotAt === this.snapshotKey()) return;
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
      inFlight: () => this.inFlight,
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

  /** Records the directory stamps after our own change; a background re-scan confirms them once they are not racy. */
  async restamp(): Promise<void> {
    const s = await this.stamp();
    this.dirStamp = s.text;
    this.racyUntil = Math.max(s.racyUntil, Date.now() + RACY_FINE_MS);
    this.stampRacy = true;
    this.needsVerify = true;
  }

  /**
   * The uid list write (as maildir-folder-append.ts writeList) for a scan, which reads the folder for a session (a POP3 login, SELECT, STATUS) or before a commit, and
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
  protected async saveUids(): Promise<void> {
    await this.numberFound([], true);
  }
}

function sameKeys(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const k of a) if (!b.has(k)) return false;
  return true;
}

// One Maildir folder, as the store uses it: the layers beneath keep its index in step with disk
// (maildir-folder-sync.ts), add messages (maildir-folder-append.ts) and change flags (maildir-folder-flags.ts); here
// are expunges, \Recent claims (maildir-recent.ts) without renaming on the command path, and the mod-sequence
// queries (maildir-modseq.ts). Mutations run under the store's per-folder mutex; reads of the index and message
// files need no lock.
import { rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entry } from './maildir-index.ts';
import { FlaggingFolder } from './maildir-folder-flags.ts';
import { claimRecentMark } from './maildir-recent.ts';
import { resolveDates } from './maildir-dates.ts';

export type { FlagResult } from './maildir-folder-flags.ts';

const PARALLEL = 64;

export class MaildirFolder extends FlaggingFolder {
  /** Claimed messages still in new/, moved to cur/ by the store when the folder is idle. */
  readonly toMove: number[] = [];
  /** When a client command last used the folder (the background mover waits for a quiet spell). */
  lastUse = 0;
  moving = false;
  /** MAILBOXID read or made (maildir-mailbox-id.ts) while the folder had UIDVALIDITY `of`; re-read when that changes. */
  mailboxId: { id: string; of: number } | undefined;

  /**
   * HIGHESTMODSEQ (RFC 7162 §3.1.2): at least 1, so a client can always name it; below the expunge of a message the
   * index still holds (ModseqLog.highestFor).
   */
  get highestModseq(): number {
    return Math.max(1, this.modseqs.highestFor((uid) => this.byUid.has(uid)));
  }

  /** QRESYNC's expunge history for this folder (ModseqLog.expungedSince); undefined where it does not reach back. */
  expungedSince(modseq: number): number[] | undefined {
    this.modseqs.refresh(this.uidValidity);
    return this.modseqs.expungedSince(modseq, (uid) => this.byUid.has(uid));
  }

  /** Makes INTERNALDATE known for these messages (all when omitted), under the folder mutex; see maildir-dates.ts. */
  async resolveDates(uids?: readonly number[]): Promise<void> {
    if (this.datesKnown) return;
    await resolveDates(uids ? uids.flatMap((u) => this.byUid.get(u) ?? []) : this.entries, this.cache, (e) => this.fileName(e));
    if (!uids) this.datesKnown = true;
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
    // elsewhere past SCAN_WAIT_MS (maildir-folder-sync.ts) does not hold the EXPUNGE up: the next sync records it
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
}

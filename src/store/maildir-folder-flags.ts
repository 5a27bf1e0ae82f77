// Flag changes in a Maildir folder (STORE, RFC 3501 §6.4.6): each message's file renamed to its new info, against
// the flags it has now, LOCK_BATCH messages per hold of dovecot-uidlist.lock, each batch under one new mod-sequence
// (RFC 7162 §3.1) and UNCHANGEDSINCE honoured (§3.1.3); a file another program moved is looked for after a re-scan.
// It needs only the synced index beneath; it sits on the append layer so that the folder stays one class.
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { MailboxError, type FlagChange } from './mailbox-store.ts';
import { withDotlock } from './maildir-files.ts';
import { AppendingFolder } from './maildir-folder-append.ts';
import { infoLetters } from './maildir-modseq.ts';

/** Messages one hold of dovecot-uidlist.lock changes the flags of (a STORE over a large folder lets other writers in between). */
const LOCK_BATCH = 256;

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

export class FlaggingFolder extends AppendingFolder {
  private readonly lockFile = join(this.path, 'dovecot-uidlist.lock');

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
}

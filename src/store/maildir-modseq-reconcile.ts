// After a scan or a snapshot load: each message takes the mod-sequence its folder's log (maildir-modseq.ts) holds
// for its flags; messages the log lacks or holds with other flags (delivered, renamed or removed by another program,
// a folder from before mod-sequences) get a new one, under dovecot-uidlist.lock (RFC 7162 §3.1: every change gets
// a mod-sequence above all before it, whoever made it).
import { join } from 'node:path';
import { MailboxError } from './mailbox-store.ts';
import { withDotlock } from './maildir-files.ts';
import type { Entry } from './maildir-index.ts';
import { infoLetters, type ModseqChange, type ModseqLog } from './maildir-modseq.ts';

/** Errors writing the log that a sync outlives (a read-only or full folder): the next sync tries again. */
const DEFERRABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT']);

export interface ModseqFolder {
  readonly path: string;
  readonly uidValidity: number;
  readonly modseqs: ModseqLog;
  entries(): readonly Entry[];
}

/**
 * Sets each entry's mod-sequence from the log; returns the changes the log has not numbered yet: entries it lacks
 * or holds with other flags, and `gone` messages (removed by another program) it still holds.
 */
function unnumbered(f: ModseqFolder, gone: readonly number[], stale: Entry[]): ModseqChange[] {
  const out: ModseqChange[] = [];
  const log = f.modseqs;
  for (const e of f.entries()) {
    const letters = infoLetters(e.info);
    const m = log.matching(e.uid, letters);
    if (m === undefined) {
      out.push({ uid: e.uid, letters });
      stale.push(e);
    } else if (m !== e.modseq) e.modseq = m; // in place: the same change, numbered by another process (or read anew)
  }
  for (const uid of gone) if (log.modseqOf(uid) > 0) out.push({ uid, letters: undefined });
  return out;
}

/**
 * Reconciles without the lock when the log already holds everything (the usual case); otherwise numbers the rest
 * under it, after reading the log again. With the lock busy past `waitMs`, the entries left take the log's highest
 * mod-sequence for now (never 0), as when the log cannot be written, and false asks the caller to look again at the next sync.
 */
export async function reconcileModseqs(f: ModseqFolder, gone: readonly number[], waitMs: number): Promise<boolean> {
  f.modseqs.refresh(f.uidValidity);
  if (unnumbered(f, gone, []).length === 0) return true;
  try {
    await withDotlock(
      join(f.path, 'dovecot-uidlist.lock'),
      async () => {
        f.modseqs.refresh(f.uidValidity);
        const stale: Entry[] = [];
        const changes = unnumbered(f, gone, stale);
        if (changes.length === 0) return;
        const modseq = await f.modseqs.record(changes, f.uidValidity);
        for (const e of stale) e.modseq = modseq;
      },
      { required: true, waitMs },
    );
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!(err instanceof MailboxError ? err.code === 'INUSE' : code !== undefined && DEFERRABLE.has(code))) throw err;
    const fallback = Math.max(1, f.modseqs.highest);
    for (const e of f.entries()) if (e.modseq === 0) e.modseq = fallback;
    return false;
  }
}

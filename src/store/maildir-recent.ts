// \Recent across processes (RFC 3501 §2.3.2: a message is recent in exactly one session) without renaming files.
// File "spamgate-recent" in the folder holds "V<uidvalidity> R<uid>": every UID below R has been claimed by some
// session. A claim reads and advances R under a dotlock, so two processes on one Maildir never both claim a
// message. Losing the file (crash, foreign tool) only makes messages still in new/ recent once more, which is
// what Maildir itself says about them; so it is written atomically but not fsynced.
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tryCreateSync } from './maildir-dotlock.ts';
import { withDotlock, writeFileAtomic } from './maildir-files.ts';
import { readRegularSync, readRegularText } from '../util/read-regular.ts';

const FILE = 'spamgate-recent';

/** The mark: every UID below `from` was claimed under this UIDVALIDITY (undefined when there is none). */
export async function readRecentMark(dir: string): Promise<{ uidValidity: number; from: number } | undefined> {
  const text = await readRegularText(join(dir, FILE), 64 * 1024).catch(() => '');
  const m = /^V(\d+) R(\d+)/.exec(text);
  return m ? { uidValidity: Number(m[1]), from: Number(m[2]) } : undefined;
}

/** Claims every UID below `next`; returns the mark found first (UIDs at or above it are this caller's). */
export async function claimRecentMark(dir: string, uidValidity: number, next: number): Promise<number> {
  const lock = join(dir, `${FILE}.lock`);
  // Uncontended (the usual case): a handful of small synchronous syscalls, cheaper than thread-pool round trips.
  // The lock holds its owner from the start, so one left by a crash here is seen to be stale.
  let got = false;
  try {
    got = tryCreateSync(lock);
  } catch {
    got = false;
  }
  if (got) {
    try {
      const text = (() => {
        try {
          return readRegularSync(join(dir, FILE), 64 * 1024).toString('utf8');
        } catch {
          return '';
        }
      })();
      const from = fromText(text, uidValidity);
      if (next > from) {
        const tmp = join(dir, `.${FILE}.${process.pid}.tmp`);
        writeFileSync(tmp, `V${uidValidity} R${next}\n`, { mode: 0o600 });
        renameSync(tmp, join(dir, FILE));
      }
      return from;
    } finally {
      unlinkSync(lock);
    }
  }
  return withDotlock(lock, async () => {
    const mark = await readRecentMark(dir);
    const from = mark?.uidValidity === uidValidity ? mark.from : 0;
    if (next > from) await writeFileAtomic(join(dir, FILE), `V${uidValidity} R${next}\n`, false);
    return from;
  });
}

function fromText(text: string, uidValidity: number): number {
  const m = /^V(\d+) R(\d+)/.exec(text);
  return m && Number(m[1]) === uidValidity ? Number(m[2]) : 0;
}

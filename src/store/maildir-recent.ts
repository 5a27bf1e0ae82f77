// \Recent across processes (RFC 3501 §2.3.2: a message is recent in exactly one session) without renaming files.
// File "spamgate-recent" in the folder holds "V<uidvalidity> R<uid>": every UID below R has been claimed by some
// session. A claim reads and advances R under a dotlock, so two processes on one Maildir never both claim a
// message. Losing the file (crash, foreign tool) only makes messages still in new/ recent once more, which is
// what Maildir itself says about them; so it is written atomically but not fsynced.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withDotlock, writeFileAtomic } from './maildir-files.ts';

const FILE = 'spamgate-recent';

/** The first UID not yet claimed, when the mark belongs to this UIDVALIDITY (0 when unknown). */
export async function readRecentMark(dir: string, uidValidity: number): Promise<number> {
  const text = await readFile(join(dir, FILE), 'utf8').catch(() => '');
  const m = /^V(\d+) R(\d+)/.exec(text);
  return m && Number(m[1]) === uidValidity ? Number(m[2]) : 0;
}

/** Claims every UID below `next`; returns the mark found first (UIDs at or above it are this caller's). */
export async function claimRecentMark(dir: string, uidValidity: number, next: number): Promise<number> {
  return withDotlock(join(dir, `${FILE}.lock`), async () => {
    const from = await readRecentMark(dir, uidValidity);
    if (next > from) await writeFileAtomic(join(dir, FILE), `V${uidValidity} R${next}\n`, false);
    return from;
  });
}

// Several messages into one Maildir folder as one step, all or none (IMAP MULTIAPPEND, RFC 3502 §6): staged in tmp/
// outside the lock, then renamed, numbered and made durable in one locked batch; a failure takes them all back
// before the folder is let go, so no other session is told of messages that are not kept. A crash inside the commit
// is covered by the batch's journal (maildir-batch-journal.ts): the next look at the folder rolls the batch back.
import { unlink } from 'node:fs/promises';
import { abortBatch, beginBatch, endBatch, testKillPoint } from './maildir-batch-journal.ts';
import type { MaildirFolder } from './maildir-folder.ts';
import { stageMessage, type Staged } from './maildir-stage.ts';

export interface NewMessage {
  raw: Buffer;
  flags?: readonly string[];
  internalDate?: number;
}

const dropStaged = (staged: readonly Staged[]): Promise<unknown> => Promise.all(staged.map((s) => unlink(s.tmp).catch(() => undefined)));

/** Writes every message to tmp/ (durable, no lock); on a failure removes those already written. */
export async function stageAll(dir: string, fsync: boolean, messages: readonly NewMessage[], now: () => number): Promise<Staged[]> {
  const staged: Staged[] = [];
  try {
    for (const m of messages) staged.push(await stageMessage(dir, fsync, m.raw, m.flags ?? [], m.internalDate, now()));
  } catch (err) {
    await dropStaged(staged);
    throw err;
  }
  return staged;
}

/**
 * Under the folder lock: commits the staged messages together; any failure expunges those that went in, and throws.
 * "Went in" is asked of the index, not of the results: a commit that failed after its uid list write (a directory
 * fsync) reports every message failed while the folder lists them (RFC 3502 §6.3.11: no partial appending).
 */
export async function commitAll(f: MaildirFolder, staged: readonly Staged[], fsync: boolean): Promise<number[]> {
  const keyList = staged.map((s) => s.key);
  // RFC 3502 §6.3.11 across a crash: the journal is durable before the first rename, gone only once all are in
  const journal = await beginBatch(f.path, keyList, fsync).catch(async (err: unknown) => {
    await dropStaged(staged); // nothing renamed yet: the staged files are all there is to take back
    throw err;
  });
  testKillPoint('journal');
  let renames = 0;
  let failed: Error | undefined;
  try {
    const results = await f.commitStaged(staged, () => testKillPoint(`rename:${++renames}`));
    failed = results.find((r): r is Error => r instanceof Error);
    if (!failed) {
      testKillPoint('listed');
      await endBatch(journal, fsync, f.path); // the commit point: from here the batch stays
      testKillPoint('committed');
      return results as number[];
    }
  } catch (err) {
    failed = err as Error;
  }
  const keys = new Set(keyList);
  const kept = f
    .list()
    .filter((m) => keys.has(f.keyOf(m.uid) ?? ''))
    .map((m) => m.uid);
  await f.expunge(kept).catch(() => undefined);
  await dropStaged(staged); // a message not renamed in stays in tmp/ otherwise
  await abortBatch(journal, f.path, keyList, fsync); // files the expunge did not reach, then the journal
  throw failed;
}

// Several messages into one Maildir folder as one step, all or none (IMAP MULTIAPPEND, RFC 3502 §6): staged in tmp/
// outside the lock, then renamed, numbered and made durable in one locked batch; a failure takes them all back
// before the folder is let go, so no other session is told of messages that are not kept.
import { unlink } from 'node:fs/promises';
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
export async function commitAll(f: MaildirFolder, staged: readonly Staged[]): Promise<number[]> {
  const results = await f.commitStaged(staged);
  const failed = results.find((r): r is Error => r instanceof Error);
  if (!failed) return results as number[];
  const keys = new Set(staged.map((s) => s.key));
  const kept = f
    .list()
    .filter((m) => keys.has(f.keyOf(m.uid) ?? ''))
    .map((m) => m.uid);
  await f.expunge(kept).catch(() => undefined);
  await dropStaged(staged); // a message not renamed in stays in tmp/ otherwise
  throw failed;
}

// Release of one quarantined message: into the spool (past the filter) to its quarantined recipients, or to some of
// them (a digest link releases one recipient's copy), with a header saying so. The quarantine file is changed only
// once the spool holds the message durably: removed when no recipient is left, else rewritten (atomically) with the
// recipients still held. A crash in between delivers a copy twice at worst, never loses one. Shared by the running
// instance and the CLI.
import { unlink } from 'node:fs/promises';
import type { MessageSink, QueueEnvelope } from '../queue/types.ts';
import { encodeHeader } from '../queue/spool-format.ts';
import { rfc5322Date } from '../smtp/trace-headers.ts';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { quarantineFile, readQuarantined, type QuarantineEnvelope } from './format.ts';

export interface Released {
  /** The spool's id of the released message. */
  queueId: string;
  /** The message as it was quarantined (without the release header): what `--learn` learns as ham. */
  message: Buffer;
  recipients: string[];
  /** Recipients still held in the quarantine (a partial release). */
  remaining: string[];
}

/** The header put on top of a released message. */
export function releasedHeader(id: string, now: number): string {
  return `X-Spamgate-Released: ${rfc5322Date(new Date(now))}; id=${id}\r\n`;
}

/** Thrown when none of the recipients asked for is (still) held for the message. */
export class NotHeldError extends Error {
  readonly code = 'ENOTHELD';
}

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** The envelope with only `recipients` (and their DSN requests). */
function restricted(envelope: QuarantineEnvelope, recipients: readonly string[]): QuarantineEnvelope {
  const { rcptDsn, ...rest } = envelope;
  const dsn = rcptDsn ? Object.fromEntries(Object.entries(rcptDsn).filter(([r]) => recipients.includes(r))) : undefined;
  return { ...rest, rcptTo: [...recipients], ...(dsn && Object.keys(dsn).length ? { rcptDsn: dsn } : {}) };
}

export interface ReleaseOptions {
  /** Release to these recipients only (compared without case); absent: to every quarantined recipient. */
  only?: readonly string[];
  fsync?: boolean;
}

export async function releaseQuarantined(dir: string, id: string, sink: MessageSink, now: number, opts: ReleaseOptions = {}): Promise<Released> {
  const file = quarantineFile(dir, id);
  const { envelope, message } = await readQuarantined(file);
  const only = opts.only;
  const recipients = only ? envelope.rcptTo.filter((r) => only.some((o) => same(o, r))) : envelope.rcptTo;
  if (!recipients.length) throw new NotHeldError(`${id}: not held for ${only?.join(', ') ?? ''}`);
  const remaining = envelope.rcptTo.filter((r) => !recipients.includes(r));
  const { quarantine, ...rest } = restricted(envelope, recipients);
  // Delivered to INBOX (no junk recipients); queue.max_age counts from the release.
  const out: QueueEnvelope = { ...rest, receivedAt: now, verdict: { action: 'released', score: quarantine.score, junkRecipients: [] } };
  const { id: queueId } = await sink.enqueue(out, Buffer.concat([Buffer.from(releasedHeader(id, now), 'latin1'), message]));
  // only now, with the spool's copy durable, does the quarantine let go of these recipients
  await dropRecipients(file, envelope, message, remaining, opts.fsync ?? true);
  return { queueId, message, recipients, remaining };
}

/**
 * Deletes the copy of some recipients: the file goes when none is left, else is rewritten without them. Resolves to
 * the recipients taken out (none: none of them was held).
 */
export async function deleteQuarantinedFor(dir: string, id: string, recipients: readonly string[], fsync = true): Promise<{ removed: string[]; remaining: string[] }> {
  const file = quarantineFile(dir, id);
  const { envelope, message } = await readQuarantined(file);
  const removed = envelope.rcptTo.filter((r) => recipients.some((o) => same(o, r)));
  const remaining = envelope.rcptTo.filter((r) => !removed.includes(r));
  if (removed.length) await dropRecipients(file, envelope, message, remaining, fsync);
  return { removed, remaining };
}

async function dropRecipients(file: string, envelope: QuarantineEnvelope, message: Buffer, remaining: readonly string[], fsync: boolean): Promise<void> {
  if (remaining.length) {
    await writeFileAtomic(file, Buffer.concat([encodeHeader(restricted(envelope, remaining)), message]), { mode: 0o600, fsync });
    return;
  }
  await unlink(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

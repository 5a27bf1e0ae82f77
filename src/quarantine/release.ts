// Release of one quarantined message: into the spool (past the filter) to its quarantined recipients, with a
// header saying so; the quarantine file is removed only once the spool holds the message durably, so a crash
// in between delivers it twice at worst, never loses it. Shared by the running instance and the CLI.
import { unlink } from 'node:fs/promises';
import type { MessageSink, QueueEnvelope } from '../queue/types.ts';
import { rfc5322Date } from '../smtp/trace-headers.ts';
import { quarantineFile, readQuarantined } from './format.ts';

export interface Released {
  /** The spool's id of the released message. */
  queueId: string;
  /** The message as it was quarantined (without the release header): what `--learn` learns as ham. */
  message: Buffer;
  recipients: string[];
}

/** The header put on top of a released message. */
export function releasedHeader(id: string, now: number): string {
  return `X-Spamgate-Released: ${rfc5322Date(new Date(now))}; id=${id}\r\n`;
}

export async function releaseQuarantined(dir: string, id: string, sink: MessageSink, now: number): Promise<Released> {
  const file = quarantineFile(dir, id);
  const { envelope, message } = await readQuarantined(file);
  const { quarantine, ...rest } = envelope;
  // Delivered to INBOX (no junk recipients); queue.max_age counts from the release.
  const out: QueueEnvelope = { ...rest, receivedAt: now, verdict: { action: 'released', score: quarantine.score, junkRecipients: [] } };
  const { id: queueId } = await sink.enqueue(out, Buffer.concat([Buffer.from(releasedHeader(id, now), 'latin1'), message]));
  await unlink(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  return { queueId, message, recipients: envelope.rcptTo };
}

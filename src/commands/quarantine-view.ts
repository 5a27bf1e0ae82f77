// `spamgate quarantine list` and `show`: read-only views of <data_dir>/quarantine, with or without a running instance.
import { headerSection } from '../queue/dsn.ts';
import { idTime } from '../queue/spool-format.ts';
import { listQuarantineIds, quarantineFile, readQuarantined, readQuarantinedHead } from '../quarantine/format.ts';
import { age, utcDate } from './control-client.ts';
import type { CommandIo } from './types.ts';

/** Tabs and line breaks in a field would break the columns of the list. */
const cell = (s: string): string => s.replace(/[\t\r\n]/g, ' ');

/**
 * When the message came, as an RFC 3339 UTC date: the envelope's time, or the one in the id when the envelope has
 * none (0) or one no date holds (a file damaged or edited by hand; toISOString would throw).
 */
function receivedOf(id: string, receivedAt: number): string {
  return utcDate(receivedAt || idTime(id)) ?? utcDate(idTime(id)) ?? new Date(0).toISOString();
}

export async function listQuarantine(dir: string, json: boolean, io: CommandIo, now: number): Promise<number> {
  const ids = await listQuarantineIds(dir);
  if (!json) io.stdout.write(['ID', 'AGE', 'FROM', 'RCPTS', 'SCORE', 'SUBJECT'].join('\t') + '\n');
  let listed = 0;
  for (const id of ids) {
    const head = await readQuarantinedHead(quarantineFile(dir, id)).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
    if (head instanceof Error) {
      if ((head as NodeJS.ErrnoException).code === 'ENOENT') continue; // released, deleted or expired while listing
      if (json) io.stdout.write(JSON.stringify({ id, unreadable: head.message }) + '\n');
      else io.stdout.write(`${id}\tunreadable: ${cell(head.message)}\n`);
      continue;
    }
    const { envelope, size } = head;
    const receivedAt = receivedOf(id, envelope.receivedAt);
    const row = {
      id,
      age: age(now - Date.parse(receivedAt)),
      receivedAt,
      from: envelope.mailFrom || '<>',
      recipients: envelope.rcptTo,
      score: envelope.quarantine.score,
      subject: envelope.quarantine.subject ?? '',
      size,
    };
    listed++;
    if (json) io.stdout.write(JSON.stringify(row) + '\n');
    else io.stdout.write([row.id, row.age, cell(row.from), cell(row.recipients.join(',')), row.score, cell(row.subject)].join('\t') + '\n');
  }
  if (!json) io.stdout.write(`${listed} message(s)\n`);
  return 0;
}

/** Metadata (envelope with the quarantine record) and the header section, or with --raw the whole message as stored. */
export async function showQuarantined(dir: string, id: string, raw: boolean, io: CommandIo): Promise<number> {
  const { envelope, message } = await readQuarantined(quarantineFile(dir, id));
  if (raw) {
    io.stdout.write(message);
    return 0;
  }
  // the time as list gives it (RFC 3339, UTC); the envelope stays as stored (its receivedAt in epoch milliseconds)
  const receivedAt = receivedOf(id, envelope.receivedAt);
  io.stdout.write(`${JSON.stringify({ id, receivedAt, size: message.length, envelope }, null, 2)}\n\n`);
  io.stdout.write(headerSection(message).toString('utf8'));
  return 0;
}

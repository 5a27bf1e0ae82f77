// Stage one of delivery: the message written to tmp/ under a unique Maildir name and made durable, outside any lock.
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { HeaderField } from './mailbox-store.ts';
import { uniqueKey } from './maildir-files.ts';
import { extractFields } from './maildir-headers.ts';

/** A message written to tmp/ (and fsynced) but not yet renamed into new/ or cur/. */
export interface Staged {
  key: string;
  tmp: string;
  size: number;
  date: number;
  fields: HeaderField[];
  flags: readonly string[];
}

/** Writes a message to the folder's tmp/ and fsyncs it; no lock needed (unique name), so concurrent deliveries overlap here. */
export async function stageMessage(dir: string, fsync: boolean, raw: Buffer, flags: readonly string[], internalDate: number | undefined, now: number): Promise<Staged> {
  const key = uniqueKey(now, raw.length);
  const tmp = join(dir, 'tmp', key);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(raw);
      if (internalDate !== undefined) await fh.utimes(internalDate / 1000, internalDate / 1000);
      if (fsync) await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    // A write cut short (disk full) leaves no partial file in tmp/ holding space until the 36-hour sweep.
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return { key, tmp, size: raw.length, date: internalDate ?? now, fields: extractFields(raw), flags };
}

// INTERNALDATE on demand (RFC 3501 §2.3.3). Opening a folder leaves the dates of messages it has not met before
// unknown (NaN): a SELECT needs UIDs and flags only, as Dovecot opens a Maildir without stat-ing it. The dates come
// later, when FETCH INTERNALDATE, a date SEARCH key, COPY or POP3 asks: from the folder cache, else from the file's
// mtime (which delivery and APPEND set), then cached.
import { stat } from 'node:fs/promises';
import type { FolderCache } from './maildir-cache.ts';
import type { Entry } from './maildir-index.ts';

const PARALLEL = 256;

/** Fills the unknown dates of these entries (a file that vanished meanwhile gets the date in its name). */
export async function resolveDates(entries: readonly Entry[], cache: FolderCache, fileOf: (e: Entry) => string): Promise<void> {
  const undated: Entry[] = [];
  for (const e of entries) if (Number.isNaN(e.internalDate)) undated.push(e);
  if (undated.length === 0) return;
  await cache.ensure();
  const unknown: Entry[] = [];
  for (const e of undated) {
    const d = cache.dateOf(e.key);
    if (d === undefined) unknown.push(e);
    else e.internalDate = d; // NaN → the date: metas only ever gain a date, so lists handed out stay valid
  }
  for (let i = 0; i < unknown.length; i += PARALLEL) {
    const chunk = unknown.slice(i, i + PARALLEL);
    const dates = await Promise.all(chunk.map((e) => stat(fileOf(e)).then((st) => st.mtimeMs, () => NaN)));
    chunk.forEach((e, j) => {
      const d = dates[j] as number;
      if (Number.isNaN(d)) e.internalDate = dateInName(e.key); // gone or renamed meanwhile: the next sync drops or moves it
      else {
        e.internalDate = d;
        cache.setDate(e.key, d);
      }
    });
  }
  if (unknown.length > 0) await cache.flush();
}

/** A Maildir base name starts with the delivery time in seconds ("1700000000.M1P2.host"); 0 when it does not. */
export function dateInName(key: string): number {
  let n = 0;
  let i = 0;
  for (; i < key.length && i < 12; i++) {
    const c = key.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  return i > 0 ? n * 1000 : 0;
}

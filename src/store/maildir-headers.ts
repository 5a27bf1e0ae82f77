// Header fields the store caches per message (envelope and SEARCH fields), extracted the way IMAP parses a header block.
import { open, stat } from 'node:fs/promises';
import type { FieldQuery, HeaderField, MessageMeta } from './mailbox-store.ts';
import type { CacheEntry } from './maildir-cache.ts';
import { OPEN_MESSAGE } from './maildir-files.ts';

/**
 * Fields kept: everything ENVELOPE needs (RFC 3501 §7.4.2), the SEARCH address/subject keys, and References for
 * THREAD=REFERENCES (RFC 5256 §3). References is kept trimmed (see trimReferences), so SEARCH reads it from the file.
 */
export const CACHED_FIELDS: ReadonlySet<string> = new Set(['date', 'subject', 'from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'in-reply-to', 'message-id', 'references']);

/** Message IDs of References kept: the first (the thread's root) and the last ones (the nearest ancestors). */
const KEPT_REFERENCES = 16;

/**
 * References as its message IDs, space-separated: the first and the last KEPT_REFERENCES - 1 of them. A long thread
 * carries hundreds, which would swell every cache line; RFC 5256 §3 (REFERENCES step 1.A) reckons with References lines truncated by
 * mail programs (and RFC 5322 §3.6.4 clients trim them the same way), so threading needs no more.
 */
export function trimReferences(value: string): string {
  const ids = value.match(/<[^<>]*>/g) ?? [];
  if (ids.length <= KEPT_REFERENCES) return ids.join(' ');
  return [ids[0], ...ids.slice(ids.length - KEPT_REFERENCES + 1)].join(' ');
}

/** End of the header block in a CRLF message: offset just past the blank line (or the end). */
export function headerEnd(raw: Buffer): number {
  if (raw[0] === 13 && raw[1] === 10) return 2;
  const idx = raw.indexOf('\r\n\r\n');
  return idx < 0 ? raw.length : idx + 4;
}

/** The cached fields of a CRLF message in order, values unfolded and trimmed, bytes kept as latin1 code units. */
export function extractFields(raw: Buffer): HeaderField[] {
  const text = raw.subarray(0, headerEnd(raw)).toString('latin1');
  const out: HeaderField[] = [];
  for (const line of text.split(/\r\n(?![ \t])/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!CACHED_FIELDS.has(name)) continue;
    const value = line.slice(colon + 1).replace(/\r\n/g, '').trim();
    out.push([name, name === 'references' ? trimReferences(value) : value]);
  }
  return out;
}

const HEAD_CHUNK = 32 * 1024;

/** Reads just enough of a message file to hold its header block (whole file when the header is longer than a chunk). */
export async function readHead(file: string, toCrlf: (b: Buffer) => Buffer): Promise<Buffer> {
  const fh = await open(file, OPEN_MESSAGE);
  try {
    const buf = Buffer.allocUnsafe(HEAD_CHUNK);
    const { bytesRead } = await fh.read(buf, 0, HEAD_CHUNK, 0);
    const head = buf.subarray(0, bytesRead);
    if (bytesRead < HEAD_CHUNK || head.includes('\n\n') || head.includes('\r\n\r\n')) return toCrlf(head);
    return toCrlf(await fh.readFile());
  } finally {
    await fh.close();
  }
}

/** What cachedHeaderFields needs of a folder: its index and its cache. */
export interface HeaderSource {
keyOf(uid: number): string | undefined;
fileOf(uid: number): string | undefined;
get(uid: number): MessageMeta | undefined;
readonly cache: {
  ensure(): Promise<void>;
  fields(key: string, query?: FieldQuery): readonly HeaderField[] | undefined;
  dateOf(key: string): number | undefined;
  set(key: string, e: CacheEntry): void;
  flush(): Promise<void>;
};
}

const PARALLEL = 64;

/**
 * Cached header fields of a folder's messages, narrowed by the query; misses read the head of the file (outside any
 * lock) and are added to the cache.
 */
export async function cachedHeaderFields(f: HeaderSource, uids: readonly number[], toCrlf: (b: Buffer) => Buffer, query?: FieldQuery): Promise<(readonly HeaderField[] | undefined)[]> {
  const only = query?.only;
  await f.cache.ensure();
  const out = new Array<readonly HeaderField[] | undefined>(uids.length).fill(undefined);
  const misses: number[] = []; // positions in uids
  for (let i = 0; i < uids.length; i++) {
    const key = f.keyOf(uids[i] as number);
    if (key === undefined) continue;
    const fields = f.cache.fields(key, query);
    if (fields) out[i] = fields;
    else misses.push(i);
  }
  for (let i = 0; i < misses.length; i += PARALLEL)
    await Promise.all(
      misses.slice(i, i + PARALLEL).map(async (at) => {
        const uid = uids[at] as number;
        for (let attempt = 0; attempt < 2; attempt++) {
          const file = f.fileOf(uid);
          const meta = f.get(uid);
          if (file === undefined || !meta) return;
          const head = await readHead(file, toCrlf).catch(() => undefined);
          if (!head) continue;
          const fields = extractFields(head);
          const key = f.keyOf(uid);
          // The date as maildir-dates.ts would find it, when the folder has not resolved it yet.
          const date = Number.isNaN(meta.internalDate) ? (f.cache.dateOf(key ?? '') ?? (await stat(file).then((st) => st.mtimeMs, () => NaN))) : meta.internalDate;
          if (key !== undefined && !Number.isNaN(date)) f.cache.set(key, { date, fields });
          out[at] = only === undefined ? fields : fields.filter((x) => x[0] === only);
          return;
        }
      }),
    );
  if (misses.length > 0) await f.cache.flush();
  return out;
}

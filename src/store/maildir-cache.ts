// Per-folder cache file (spamgate.cache): INTERNALDATE and cached header fields by Maildir base name, like dovecot.index.cache.
// An append-only log of JSON lines, last line per key wins; torn or foreign lines are skipped, and entries are
// validated by file name, so a lost or stale cache only costs re-reading files. Rewritten atomically when mostly dead.
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HeaderField } from './mailbox-store.ts';
import { writeFileAtomic } from './maildir-files.ts';

export interface CacheEntry {
  date: number;
  fields?: readonly HeaderField[];
}

const FILE = 'spamgate.cache';
const MAGIC = 'SGCACHE1';

/** A loaded line whose header fields are parsed on first use (a SELECT needs only the dates). */
interface Lazy {
  date: number;
  line: string;
}

export class FolderCache {
  private readonly map = new Map<string, CacheEntry | Lazy>();
  private lines = 0;
  private pending: string[] = [];
  private tail: Promise<void> = Promise.resolve();
  private ready: Promise<void> | undefined;
  /** Set when the folder was loaded without the cache (from its snapshot): keys it does not know are dropped on load. */
  retainOnLoad: ((key: string) => boolean) | undefined;

  constructor(private readonly dir: string) {}

  get(key: string): CacheEntry | undefined {
    const v = this.map.get(key);
    if (v === undefined || !('line' in v)) return v;
    const entry = parseLine(v.line)?.[1] ?? { date: v.date };
    this.map.set(key, entry);
    return entry;
  }

  /** INTERNALDATE alone, without parsing the cached fields. */
  dateOf(key: string): number | undefined {
    return this.map.get(key)?.date;
  }

  /** Loads the log once (first open, or first use after a snapshot load); get() and dateOf() need it done. */
  ensure(): Promise<void> {
    this.ready ??= this.load().then(() => {
      if (this.retainOnLoad) this.retain(this.retainOnLoad);
    });
    return this.ready;
  }

  /** Lines are only split into key and date here (in place, no per-line objects); fields are parsed by get(). */
  private async load(): Promise<void> {
    const text = await readFile(join(this.dir, FILE), 'utf8').catch(() => '');
    if (!text.startsWith(MAGIC + '\n')) return;
    let pos = MAGIC.length + 1;
    while (pos < text.length) {
      let end = text.indexOf('\n', pos);
      if (end < 0) end = text.length;
      if (end > pos) {
        if (this.quickLine(text, pos, end)) this.lines++;
        else {
          const full = parseLine(text.slice(pos, end));
          // A torn last line after a crash, or a foreign one, is ignored.
          if (full) {
            this.map.set(full[0], full[1]);
            this.lines++;
          }
        }
      }
      pos = end + 1;
    }
  }

  /** `["key",date]` or `["key",date,...]` with a plain key, taken without JSON.parse; false for anything else. */
  private quickLine(text: string, pos: number, end: number): boolean {
    if (text.charCodeAt(pos) !== 91 /* [ */ || text.charCodeAt(pos + 1) !== 34 /* " */ || text.charCodeAt(end - 1) !== 93 /* ] */) return false;
    const q = text.indexOf('"', pos + 2);
    if (q < 0 || q >= end || text.charCodeAt(q + 1) !== 44 /* , */) return false;
    let stop = q + 2;
    while (stop < end && text.charCodeAt(stop) !== 44 && text.charCodeAt(stop) !== 93) stop++;
    if (stop === q + 2) return false;
    const date = Number(text.slice(q + 2, stop));
    if (!Number.isFinite(date)) return false;
    const key = text.slice(pos + 2, q);
    if (key.includes('\\')) return false;
    this.map.set(key, text.charCodeAt(stop) === 44 ? { date, line: text.slice(pos, end) } : { date });
    return true;
  }

  /** Records an entry; written out by flush(). */
  set(key: string, entry: CacheEntry): void {
    this.map.set(key, entry);
    this.pending.push(JSON.stringify(entry.fields ? [key, entry.date, entry.fields] : [key, entry.date]) + '\n');
  }

  /** Drops keys no longer in the folder from memory (the file keeps them until the next rewrite). */
  retain(live: (key: string) => boolean): void {
    for (const key of this.map.keys()) if (!live(key)) this.map.delete(key);
  }

  /** Appends pending lines (or rewrites the file when most lines are dead); failures only cost a cache miss later. */
  flush(): Promise<void> {
    if (this.pending.length === 0) return this.tail;
    const body = this.pending.join('');
    const count = this.pending.length;
    this.pending = [];
    this.tail = this.tail.then(() => this.ensure()).then(async () => {
      const path = join(this.dir, FILE);
      this.lines += count;
      if (this.lines > 2 * this.map.size + 256 || this.lines === count) {
        let all = MAGIC + '\n';
        for (const [k, e] of this.map) all += ('line' in e ? e.line : JSON.stringify(e.fields ? [k, e.date, e.fields] : [k, e.date])) + '\n';
        this.lines = this.map.size;
        await writeFileAtomic(path, all, false);
      } else await appendFile(path, body, { mode: 0o600 });
    }).catch(() => undefined);
    return this.tail;
  }
}

function isField(f: unknown): f is HeaderField {
  return Array.isArray(f) && f.length === 2 && typeof f[0] === 'string' && typeof f[1] === 'string';
}

function parseLine(line: string): [string, CacheEntry] | undefined {
  try {
    const v: unknown = JSON.parse(line);
    if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[1] !== 'number') return undefined;
    const fields = Array.isArray(v[2]) ? (v[2] as unknown[]).filter(isField) : undefined;
    return [v[0], fields ? { date: v[1], fields } : { date: v[1] }];
  } catch {
    return undefined;
  }
}

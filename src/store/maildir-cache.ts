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

export class FolderCache {
  private readonly map = new Map<string, CacheEntry>();
  private lines = 0;
  private pending: string[] = [];
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {}

  get(key: string): CacheEntry | undefined {
    return this.map.get(key);
  }

  /** Loads the log (once, on first open of the folder). */
  async load(): Promise<void> {
    const text = await readFile(join(this.dir, FILE), 'utf8').catch(() => '');
    if (!text.startsWith(MAGIC + '\n')) return;
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      if (!line) continue;
      try {
        const v: unknown = JSON.parse(line);
        if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[1] !== 'number') continue;
        const fields = Array.isArray(v[2]) ? (v[2] as HeaderField[]).filter((f) => Array.isArray(f) && typeof f[0] === 'string' && typeof f[1] === 'string') : undefined;
        this.map.set(v[0], fields ? { date: v[1], fields } : { date: v[1] });
        this.lines++;
      } catch {
        // a torn last line after a crash: ignored
      }
    }
  }

  /** Records an entry; written out by flush(). */
  set(key: string, entry: CacheEntry): void {
    this.map.set(key, entry);
    this.pending.push(JSON.stringify(entry.fields ? [key, entry.date, entry.fields] : [key, entry.date]) + '\n');
  }

  /** Drops keys no longer in the folder from memory (the file keeps them until the next rewrite). */
  retain(live: ReadonlySet<string>): void {
    for (const key of this.map.keys()) if (!live.has(key)) this.map.delete(key);
  }

  /** Appends pending lines (or rewrites the file when most lines are dead); failures only cost a cache miss later. */
  flush(): Promise<void> {
    if (this.pending.length === 0) return this.tail;
    const body = this.pending.join('');
    const count = this.pending.length;
    this.pending = [];
    this.tail = this.tail.then(async () => {
      const path = join(this.dir, FILE);
      this.lines += count;
      if (this.lines > 2 * this.map.size + 256 || this.lines === count) {
        let all = MAGIC + '\n';
        for (const [k, e] of this.map) all += JSON.stringify(e.fields ? [k, e.date, e.fields] : [k, e.date]) + '\n';
        this.lines = this.map.size;
        await writeFileAtomic(path, all, false);
      } else await appendFile(path, body, { mode: 0o600 });
    }).catch(() => undefined);
    return this.tail;
  }
}

// In-process reputation store: an LRU of at most maxEntries records (the least recently used dropped),
// saved atomically to one JSON file in the data directory by save() (the owner calls it after a batch of
// changes) and close(). A record decayed to under a thousandth of a message is dropped at save.
import { LRUCache } from 'lru-cache';
import { SavedInMemory } from '../util/saved-in-memory.ts';
import { decayed, observe, type ReputationRecord } from './math.ts';
import type { ReputationStore } from './store.ts';

export interface MemoryReputationOptions {
  halfLifeMs: number;
  maxEntries: number;
  /** Saved here; none: memory only. */
  file?: string;
  /** Never write the file (CLI look-ups). */
  readOnly?: boolean;
  now: () => number;
}

const FORGOTTEN = 0.001;

export class MemoryReputationStore extends SavedInMemory implements ReputationStore {
  private readonly lru: LRUCache<string, ReputationRecord>;

  constructor(private readonly opts: MemoryReputationOptions) {
    super(opts);
    this.lru = new LRUCache({ max: opts.maxEntries });
    if (opts.file) this.load(opts.file);
  }

  async get(id: string): Promise<ReputationRecord | undefined> {
    return this.lru.get(id);
  }

  async observe(id: string, score: number, weight: number, now: number): Promise<ReputationRecord> {
    const rec = observe(this.lru.get(id), score, weight, now, this.opts.halfLifeMs);
    this.lru.set(id, rec);
    this.dirty = true;
    return rec;
  }

  async reset(id: string): Promise<boolean> {
    const had = this.lru.delete(id);
    if (had) this.dirty = true;
    return had;
  }

  async size(): Promise<number> {
    return this.lru.size;
  }

  /** Whether there are changes not yet saved. */
  get changed(): boolean {
    return this.dirty;
  }

  protected serialize(): string {
    const now = this.opts.now();
    // least recently used first, so a load re-inserting in order keeps the LRU order
    const entries: Array<[string, number, number, number]> = [];
    for (const id of this.lru.rkeys()) {
      const r = this.lru.peek(id);
      if (r && decayed(r, now, this.opts.halfLifeMs).count >= FORGOTTEN) entries.push([id, r.sum, r.count, r.at]);
    }
    return JSON.stringify({ version: 1, entries });
  }

  private load(file: string): void {
    const entries = this.readSavedEntries(file, 'reputation');
    if (!entries) return;
    for (const e of entries) {
      if (!Array.isArray(e) || e.length !== 4) continue;
      const [id, sum, count, at] = e as unknown[];
      if (typeof id !== 'string' || typeof sum !== 'number' || typeof count !== 'number' || typeof at !== 'number' || !Number.isFinite(sum + count + at) || count <= 0) continue;
      this.lru.set(id, { sum, count, at });
    }
  }
}

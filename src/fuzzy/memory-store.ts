// In-process fuzzy store: entries (slots, time added, hit count) with an index from (slot, value) to
// entry ids, so a look-up reads only the entries sharing a slot. Bounded by maxEntries (the oldest go
// first), entries expire after ttlMs, and the whole store is saved atomically to one JSON file by save()
// (the owner calls it after a batch of changes) and close().
import { writeFileAtomicSync } from '../util/atomic-file.ts';
import { SavedInMemory } from '../util/saved-in-memory.ts';
import type { Clock } from '../util/clock.ts';
import { FUZZY_SLOTS, type FuzzyDigest } from './digest.ts';
import type { FuzzyMatch, FuzzyStats, FuzzyStore } from './store.ts';

interface Entry {
  id: string;
  slots: number[];
  added: number;
  hits: number;
}

export interface MemoryFuzzyOptions {
  clock: Clock;
  ttlMs: number;
  maxEntries: number;
  /** Saved here (JSON) on change and close; none: memory only. */
  file?: string;
  /** Never write the file (read-only CLI use). */
  readOnly?: boolean;
}

export class MemoryFuzzyStore extends SavedInMemory implements FuzzyStore {
  /** Insertion order is age order: the first entry is the oldest. */
  private readonly entries = new Map<string, Entry>();
  /**
   * Per slot, value → the id holding it, or a Set when several do (most values are one entry's: a Set and a
   * "slot:value" string key each took 800 MB of heap for 100,000 entries).
   */
  private readonly index: Map<number, string | Set<string>>[] = Array.from({ length: FUZZY_SLOTS }, () => new Map());

  constructor(private readonly opts: MemoryFuzzyOptions) {
    super(opts);
    if (opts.file) this.load(opts.file);
  }

  async add(digest: FuzzyDigest): Promise<'added' | 'exists'> {
    const now = this.opts.clock.now();
    const existing = this.entries.get(digest.id);
    if (existing && now - existing.added < this.opts.ttlMs) {
      // refreshed: moved to the young end
      this.entries.delete(digest.id);
      existing.added = now;
      this.entries.set(digest.id, existing);
      await this.changed();
      return 'exists';
    }
    if (existing) this.drop(existing);
    this.insert({ id: digest.id, slots: [...digest.slots], added: now, hits: 0 });
    while (this.entries.size > this.opts.maxEntries) {
      const oldest = this.entries.values().next().value;
      if (!oldest) break;
      this.drop(oldest);
    }
    await this.changed();
    return 'added';
  }

  async remove(digest: FuzzyDigest, threshold: number): Promise<number> {
    let removed = 0;
    const exact = this.entries.get(digest.id);
    if (exact) {
      this.drop(exact);
      removed++;
    }
    for (const [id, same] of this.candidates(digest)) {
      const e = this.entries.get(id);
      if (e && same / FUZZY_SLOTS >= threshold) {
        this.drop(e);
        removed++;
      }
    }
    if (removed > 0) await this.changed();
    return removed;
  }

  async lookup(digest: FuzzyDigest, threshold: number, countHit: boolean): Promise<FuzzyMatch | undefined> {
    const now = this.opts.clock.now();
    let best: { entry: Entry; same: number } | undefined;
    for (const [id, same] of this.candidates(digest)) {
      const e = this.entries.get(id);
      if (!e) continue;
      if (now - e.added >= this.opts.ttlMs) {
        this.drop(e);
        this.dirty = true;
        continue;
      }
      if (same / FUZZY_SLOTS >= threshold && (!best || same > best.same)) best = { entry: e, same };
    }
    if (!best) return undefined;
    if (countHit) {
      best.entry.hits++;
      this.dirty = true;
    }
    return { id: best.entry.id, similarity: best.same / FUZZY_SLOTS };
  }

  async stats(): Promise<FuzzyStats> {
    this.expire();
    return { entries: this.entries.size };
  }

  /** Entries live now (tests, stats). */
  get size(): number {
    return this.entries.size;
  }

  /** Entry id → slots equal to the digest's, from the index. */
  private candidates(digest: FuzzyDigest): Map<string, number> {
    const counts = new Map<string, number>();
    digest.slots.forEach((v, slot) => {
      const held = this.index[slot]?.get(v);
      if (held === undefined) return;
      for (const id of typeof held === 'string' ? [held] : held) counts.set(id, (counts.get(id) ?? 0) + 1);
    });
    return counts;
  }

  private insert(e: Entry): void {
    this.entries.set(e.id, e);
    e.slots.forEach((v, slot) => {
      const m = this.index[slot];
      const held = m?.get(v);
      if (!m) return;
      if (held === undefined) m.set(v, e.id);
      else if (typeof held === 'string') {
        if (held !== e.id) m.set(v, new Set([held, e.id]));
      } else held.add(e.id);
    });
  }

  private drop(e: Entry): void {
    this.entries.delete(e.id);
    e.slots.forEach((v, slot) => {
      const m = this.index[slot];
      const held = m?.get(v);
      if (!m || held === undefined) return;
      if (typeof held === 'string') {
        if (held === e.id) m.delete(v);
        return;
      }
      held.delete(e.id);
      if (held.size === 1) m.set(v, held.values().next().value as string);
      else if (held.size === 0) m.delete(v);
    });
  }

  private expire(): void {
    const now = this.opts.clock.now();
    // age order: stop at the first live entry (a refresh moves an entry to the young end)
    for (const e of this.entries.values()) {
      if (now - e.added < this.opts.ttlMs) break;
      this.drop(e);
      this.dirty = true;
    }
  }

  /** Marks the store changed; the owner saves (save() after a batch, close()). */
  private async changed(): Promise<void> {
    this.dirty = true;
  }

  protected serialize(): string {
    this.expire();
    return JSON.stringify({ version: 1, entries: [...this.entries.values()] });
  }

  private load(file: string): void {
    const entries = this.readSavedEntries(file, 'fuzzy');
    if (!entries) return;
    for (const raw of entries) {
      const e = raw as Partial<Entry>;
      if (typeof e.id !== 'string' || !Array.isArray(e.slots) || e.slots.length !== FUZZY_SLOTS || typeof e.added !== 'number') continue;
      this.insert({ id: e.id, slots: e.slots.map((n) => Number(n) >>> 0), added: e.added, hits: typeof e.hits === 'number' ? e.hits : 0 });
    }
    this.expire();
    while (this.entries.size > this.opts.maxEntries) {
      const oldest = this.entries.values().next().value;
      if (!oldest) break;
      this.drop(oldest);
    }
  }

  /** Synchronous save for process exit paths. */
  saveSync(): void {
    if (!this.opts.file || this.opts.readOnly || !this.dirty) return;
    this.dirty = false;
    try {
      writeFileAtomicSync(this.opts.file, this.serialize());
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }
}

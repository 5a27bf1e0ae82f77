// In-process token store: a Map in memory, saved atomically to the data directory after changes.
import type { MessageClass } from './learner.ts';
import { emptyModel, serializeModel, writeFileAtomic, type ModelData } from './model-file.ts';
import type { LearnedTotals, StoreChange, TokenCounts, TokenStore } from './token-store.ts';

export interface MemoryStoreOptions {
  /** Where to save; undefined keeps the store in memory only. */
  file?: string;
  /** Save this long after the last change (ms); 0 saves only on flush(). */
  saveDelayMs?: number;
  initial?: ModelData;
  /** A background save failed (disk full, read-only, permissions): it is retried; this reports it. */
  onSaveError?: (err: unknown) => void;
}

/** Retry delay after a failed background save. */
const SAVE_RETRY_MS = 30_000;

export class MemoryTokenStore implements TokenStore {
  readonly kind = 'memory';
  private readonly model: ModelData;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: MemoryStoreOptions = {}) {
    this.model = opts.initial ?? emptyModel();
  }

  async totals(): Promise<LearnedTotals> {
    return { ...this.model.totals };
  }

  /** Synchronous lookup used by the in-process fast path. */
  getManySync(tokens: readonly string[]): (TokenCounts | undefined)[] {
    const map = this.model.tokens;
    return tokens.map((t) => map.get(t));
  }

  totalsSync(): LearnedTotals {
    return this.model.totals;
  }

  async getMany(tokens: readonly string[]): Promise<(TokenCounts | undefined)[]> {
    return this.getManySync(tokens);
  }

  async update(change: StoreChange): Promise<void> {
    const { tokens: map, totals, digests } = this.model;
    const key = change.cls;
    for (const t of change.tokens) {
      let c = map.get(t);
      if (!c) {
        if (change.delta < 0) continue;
        c = { spam: 0, ham: 0 };
        map.set(t, c);
      }
      c[key] = Math.max(0, c[key] + change.delta);
      if (c.spam === 0 && c.ham === 0) map.delete(t);
    }
    totals[key] = Math.max(0, totals[key] + change.delta);
    if (change.delta > 0) digests.set(change.digest, change.cls);
    else digests.delete(change.digest);
    this.markDirty();
  }

  async learnedAs(digest: string): Promise<MessageClass | undefined> {
    return this.model.digests.get(digest);
  }

  /** Distinct tokens held. */
  get size(): number {
    return this.model.tokens.size;
  }

  snapshot(): ModelData {
    return this.model;
  }

  private markDirty(delay = Math.max(0, this.opts.saveDelayMs ?? 0)): void {
    this.dirty = true;
    // save_delay 0 saves right after the change (on the next turn of the event loop).
    if (this.opts.file === undefined || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.save();
      } catch (err) {
        // In a timer a throw would end the process; the learning stays in memory and is saved on a later try.
        this.opts.onSaveError?.(err);
        this.markDirty(Math.max(SAVE_RETRY_MS, this.opts.saveDelayMs ?? 0));
      }
    }, delay);
    this.timer.unref();
  }

  /** Writes the model if it changed; it counts as saved only once the write succeeded. */
  private save(): void {
    if (!this.dirty || this.opts.file === undefined) return;
    writeFileAtomic(this.opts.file, serializeModel(this.model));
    this.dirty = false;
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.save();
  }

  async close(): Promise<void> {
    await this.flush();
  }
}

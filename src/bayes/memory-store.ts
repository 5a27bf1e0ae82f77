// In-process token store: a Map in memory, saved atomically to the data directory after changes, without
// holding the event loop. Bounded: past max_tokens the tokens learned longest ago (rarest first within a
// day) are forgotten, past max_digests the oldest learned-message digests.
import { writeFileAtomic } from '../util/atomic-file.ts';
import type { MessageClass } from './learner.ts';
import { dayNumber, emptyModel, serializeModelAsync, type ModelData } from './model-file.ts';
import type { LearnedTotals, StoreChange, TokenCounts, TokenStore } from './token-store.ts';

export interface MemoryStoreOptions {
  /** Where to save; undefined keeps the store in memory only. */
  file?: string;
  /** Save this long after the last change (ms); 0 saves only on flush(). */
  saveDelayMs?: number;
  initial?: ModelData;
  /** A background save failed (disk full, read-only, permissions): it is retried; this reports it. */
  onSaveError?: (err: unknown) => void;
  /** Distinct tokens kept at most; past it the store is cut to 90 % of it (default: no bound). */
  maxTokens?: number;
  /** Learned-message digests kept at most; past it the oldest 10 % are forgotten (default: no bound). */
  maxDigests?: number;
  /** Reports a cut (tokens or digests forgotten). */
  onExpire?: (what: ExpiryReport) => void;
  /** The current day number (tests move time). */
  today?: () => number;
}

export interface ExpiryReport {
  tokensForgotten: number;
  /** Tokens last learned before this day are all gone (and some of that day, rarest first). */
  oldestDayKept?: number;
  digestsForgotten: number;
}

/** Retry delay after a failed background save. */
const SAVE_RETRY_MS = 30_000;

export class MemoryTokenStore implements TokenStore {
  readonly kind = 'memory';
  private readonly model: ModelData;
  /** Counts changes; a save is complete when no change happened since it began. */
  private changes = 0;
  private savedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> | undefined;
  private readonly today: () => number;

  constructor(private readonly opts: MemoryStoreOptions = {}) {
    this.model = opts.initial ?? emptyModel();
    this.today = opts.today ?? dayNumber;
    this.expire();
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
    const day = this.today();
    for (const t of change.tokens) {
      let c = map.get(t);
      if (!c) {
        if (change.delta < 0) continue;
        c = { spam: 0, ham: 0, day };
        map.set(t, c);
      }
      c[key] = Math.max(0, c[key] + change.delta);
      if (change.delta > 0) c.day = day;
      if (c.spam === 0 && c.ham === 0) map.delete(t);
    }
    totals[key] = Math.max(0, totals[key] + change.delta);
    if (change.delta > 0) digests.set(change.digest, change.cls);
    else digests.delete(change.digest);
    this.expire();
    this.markDirty();
  }

  /**
   * Cuts the store back to 90 % of its bounds when it is past them. Tokens go by the day they were last
   * learned, oldest first; of the day where the cut falls, those seen in the fewest messages first. Two
   * counting passes and one deleting pass, no sort: about 0.1 s for a million tokens, once per 10 % growth.
   */
  private expire(): void {
    const { tokens, digests } = this.model;
    const report: ExpiryReport = { tokensForgotten: 0, digestsForgotten: 0 };
    const maxTokens = this.opts.maxTokens;
    if (maxTokens !== undefined && tokens.size > maxTokens) {
      const toForget = tokens.size - Math.floor(maxTokens * 0.9);
      const today = this.today();
      const perDay = new Map<number, number>();
      for (const c of tokens.values()) perDay.set(c.day ?? today, (perDay.get(c.day ?? today) ?? 0) + 1);
      let cutDay = today;
      let before = 0;
      for (const d of [...perDay.keys()].sort((a, b) => a - b)) {
        const n = perDay.get(d) ?? 0;
        if (before + n >= toForget) {
          cutDay = d;
          break;
        }
        before += n;
      }
      // on the cut day, by how many messages had the token (capped: 64 means "64 or more")
      const perCount = new Array<number>(65).fill(0);
      for (const c of tokens.values()) if ((c.day ?? today) === cutDay) perCount[Math.min(64, c.spam + c.ham)]! += 1;
      let cutCount = 64;
      let atCut = toForget - before;
      for (let n = 0; n <= 64; n++) {
        const here = perCount[n] ?? 0;
        if (here >= atCut) {
          cutCount = n;
          break;
        }
        atCut -= here;
      }
      for (const [t, c] of tokens) {
        const d = c.day ?? today;
        const n = Math.min(64, c.spam + c.ham);
        if (d < cutDay || (d === cutDay && (n < cutCount || (n === cutCount && atCut-- > 0)))) {
          tokens.delete(t);
          report.tokensForgotten++;
        }
      }
      report.oldestDayKept = cutDay;
    }
    const maxDigests = this.opts.maxDigests;
    if (maxDigests !== undefined && digests.size > maxDigests) {
      let toForget = digests.size - Math.floor(maxDigests * 0.9);
      // a Map iterates in insertion order: the first are the longest learned
      for (const d of digests.keys()) {
        if (toForget-- <= 0) break;
        digests.delete(d);
        report.digestsForgotten++;
      }
    }
    if (report.tokensForgotten > 0 || report.digestsForgotten > 0) {
      this.changes++;
      this.opts.onExpire?.(report);
    }
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
    this.changes++;
    this.scheduleSave(delay);
  }

  private scheduleSave(delay: number): void {
    // save_delay 0 saves right after the change (on the next turn of the event loop).
    if (this.opts.file === undefined || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.save().catch((err: unknown) => {
        // The learning stays in memory and is saved on a later try.
        this.opts.onSaveError?.(err);
        this.scheduleSave(Math.max(SAVE_RETRY_MS, this.opts.saveDelayMs ?? 0));
      });
    }, delay);
    this.timer.unref();
  }

  /**
   * Writes the model if it changed since the last complete save; one save runs at a time. Changes made
   * while it ran are saved by the next one (scheduled here), so the file catches up with memory.
   */
  private async save(): Promise<void> {
    while (this.saving) await this.saving.catch(() => undefined);
    const file = this.opts.file;
    if (file === undefined || this.changes === this.savedAt) return;
    const startedAt = this.changes;
    const run = (async () => {
      // 0600 (the default): the store holds words of the mail learned, for the server's user alone
      await writeFileAtomic(file, await serializeModelAsync(this.model, this.today()));
      this.savedAt = startedAt;
    })();
    this.saving = run;
    try {
      await run;
    } finally {
      this.saving = undefined;
    }
    if (this.changes !== this.savedAt) this.scheduleSave(Math.max(0, this.opts.saveDelayMs ?? 0));
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.save();
    // a change made while that save ran
    if (this.changes !== this.savedAt) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      await this.save();
    }
  }

  async close(): Promise<void> {
    await this.flush();
  }
}

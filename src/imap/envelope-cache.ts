// ENVELOPE strings kept per mailbox (user, name, UIDVALIDITY) by UID: the text under one UID never changes, so an
// entry never goes stale. A lookup is one integer-keyed map read, with no key string built per message. Bounded by
// total size; whole mailboxes are dropped, least recently used first.
export class EnvelopeCache {
  /** Insertion order is use order: a table is re-inserted whenever it is used. */
  private readonly tables = new Map<string, EnvelopeTable>();
  size = 0;

  constructor(readonly maxSize: number) {}

  /** The table of one mailbox, marked most recently used. */
  table(user: string, mailbox: string, uidValidity: number): EnvelopeTable {
    const key = `${user}\u0000${mailbox}\u0000${uidValidity}`;
    let t = this.tables.get(key);
    if (t) this.tables.delete(key);
    else t = new EnvelopeTable(this);
    this.tables.set(key, t);
    return t;
  }

  /** Makes room for `need` more, dropping other tables than `keep` (oldest first); false when there is none. */
  room(need: number, keep: EnvelopeTable): boolean {
    for (const [key, t] of this.tables) {
      if (this.size + need <= this.maxSize) break;
      if (t === keep) continue;
      this.tables.delete(key);
      this.size -= t.size;
    }
    return this.size + need <= this.maxSize;
  }
}

/** Per-entry overhead counted besides the string's length. */
const ENTRY_OVERHEAD = 32;

export class EnvelopeTable {
  private readonly byUid = new Map<number, string>();
  size = 0;

  constructor(private readonly cache: EnvelopeCache) {}

  get(uid: number): string | undefined {
    return this.byUid.get(uid);
  }

  /** Keeps an envelope when the cache has room for it (the caller uses the value either way). */
  set(uid: number, envelope: string): void {
    const need = envelope.length + ENTRY_OVERHEAD;
    if (this.byUid.has(uid) || !this.cache.room(need, this)) return;
    this.byUid.set(uid, envelope);
    this.size += need;
    this.cache.size += need;
  }
}

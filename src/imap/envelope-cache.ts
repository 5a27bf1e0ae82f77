// Values derived from a message's header text, kept per mailbox (user, name, UIDVALIDITY) by UID: the text under one
// UID never changes, so an entry never goes stale. ENVELOPE strings (FETCH) and SORT/THREAD keys each have a cache.
// A lookup is one integer-keyed map read, with no key string built per message. Bounded by total size; whole
// mailboxes are dropped, least recently used first.
export class UidCache<V> {
  /** Insertion order is use order: a table is re-inserted whenever it is used. */
  private readonly tables = new Map<string, UidTable<V>>();
  size = 0;

  /** `sizeOf`: what an entry counts against maxSize (about its bytes). */
  constructor(
    readonly maxSize: number,
    readonly sizeOf: (value: V) => number,
  ) {}

  /** The table of one mailbox, marked most recently used. */
  table(user: string, mailbox: string, uidValidity: number): UidTable<V> {
    const key = `${user}\u0000${mailbox}\u0000${uidValidity}`;
    let t = this.tables.get(key);
    if (t) this.tables.delete(key);
    else t = new UidTable<V>(this);
    this.tables.set(key, t);
    return t;
  }

  /** Makes room for `need` more, dropping other tables than `keep` (oldest first); false when there is none. */
  room(need: number, keep: UidTable<V>): boolean {
    for (const [key, t] of this.tables) {
      if (this.size + need <= this.maxSize) break;
      if (t === keep) continue;
      this.tables.delete(key);
      this.size -= t.size;
      t.dropped = true;
    }
    return this.size + need <= this.maxSize;
  }
}

/** Per-entry overhead counted besides the value's own size. */
const ENTRY_OVERHEAD = 32;

export class UidTable<V> {
  private readonly byUid = new Map<number, V>();
  size = 0;
  /**
   * Dropped from the cache (room()) while a command may still hold it: it keeps nothing more, else what it kept would
   * count against the cache's size for good (no table left to drop) and it would drop live tables to make room.
   */
  dropped = false;

  constructor(private readonly cache: UidCache<V>) {}

  get(uid: number): V | undefined {
    return this.byUid.get(uid);
  }

  /** Keeps a value when the cache has room for it (the caller uses the value either way). */
  set(uid: number, value: V): void {
    const need = this.cache.sizeOf(value) + ENTRY_OVERHEAD;
    if (this.dropped || this.byUid.has(uid) || !this.cache.room(need, this)) return;
    this.byUid.set(uid, value);
    this.size += need;
    this.cache.size += need;
  }
}

/** ENVELOPE strings (commands-fetch.ts). */
export class EnvelopeCache extends UidCache<string> {
  constructor(maxSize: number) {
    super(maxSize, (envelope) => envelope.length);
  }
}
export type EnvelopeTable = UidTable<string>;

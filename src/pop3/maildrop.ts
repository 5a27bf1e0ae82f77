// One POP3 session's view of a maildrop: the INBOX snapshot taken at login, deletion marks, the UPDATE state, and
// each message's form for the session (as stored after UTF8, else its 8-bit header fields downgraded; RFC 6856 §2).
import { downgradeMessage, headerLength } from '../mime/downgrade-header.ts';
import { MailboxError, type MailboxStore, type MessageMeta } from '../store/mailbox-store.ts';

/**
 * Sizes of messages in their downgraded form, by "user NUL uidvalidity NUL uid" (a Maildir message never changes
 * under its UID), shared by the server's sessions so a maildrop is read for them once, not at every login.
 */
export interface LegacySizes {
  get(key: string): number | undefined;
  set(key: string, size: number): unknown;
}

/** Messages bigger than this are sized from their header alone (store.readHeader). */
const HEADER_READ_MIN = 64 * 1024;

/** Messages read at once while sizing a maildrop for a legacy client. */
const SIZE_READS = 4;

export type UpdateResult = { ok: true; removed: number; left: number } | { ok: false; error: string };

export class Maildrop {
  private readonly deleted = new Set<number>();
  private readonly retrieved = new Set<number>();
  /** The client issued UTF8 (RFC 6856 §2): messages go as stored. Else 8-bit header fields are downgraded. */
  private utf8 = false;
  /** This session's sizes of downgraded messages, by message number (RFC 6856 §2: LIST matches RETR). */
  private readonly sizes = new Map<number, number>();
  private legacySizes: LegacySizes | undefined;

  private constructor(
    private readonly store: MailboxStore,
    readonly user: string,
    private readonly messages: readonly MessageMeta[],
    private readonly uidValidity: number,
  ) {}

  /** RFC 1939 §8: messages are numbered 1..n for the whole session, in UID order. */
  static async open(store: MailboxStore, user: string): Promise<Maildrop> {
    let messages: MessageMeta[];
    try {
      messages = await store.list(user, 'INBOX');
    } catch (err) {
      if (!(err instanceof MailboxError && err.code === 'NONEXISTENT')) throw err;
      await store.ensureUser(user);
      messages = await store.list(user, 'INBOX');
    }
    const status = await store.status(user, 'INBOX');
    return new Maildrop(store, user, messages, status.uidValidity);
  }

  /**
   * RFC 1939 §8: one session per maildrop. Takes the user's lock for `owner` and opens the maildrop,
   * or answers 'in_use' when another session holds it; the lock is given back if opening fails.
   */
  static async lockAndOpen(store: MailboxStore, locks: Map<string, string>, user: string, owner: string): Promise<Maildrop | 'in_use'> {
    if (locks.has(user)) return 'in_use';
    locks.set(user, owner);
    try {
      return await Maildrop.open(store, user);
    } catch (err) {
      locks.delete(user);
      throw err;
    }
  }

  /**
   * How messages are sent this session: as stored (UTF8 issued) or downgraded, with the server's shared cache of
   * downgraded sizes. Set once, at login (RFC 6856 §2: UTF8 is an AUTHORIZATION-state command).
   */
  setForm(utf8: boolean, legacySizes?: LegacySizes): void {
    this.utf8 = utf8;
    this.legacySizes = legacySizes;
  }

  /**
   * Every message's size as RETR sends it: the stored size after UTF8; for a legacy client the size of the downgraded
   * form, known from the caches or by reading the message once (a few at a time). Call before stat() and size().
   */
  async sizeAll(): Promise<void> {
    if (this.utf8) return;
    const todo: number[] = [];
    for (let n = 1; n <= this.messages.length; n++) {
      if (this.sizes.has(n) || this.deleted.has(n)) continue;
      const known = this.legacySizes?.get(this.sizeKey(n));
      if (known === undefined) todo.push(n);
      else this.sizes.set(n, known); // no await per message when the server knows them all
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < todo.length; i = next++) await this.sizeOf(todo[i] ?? 0);
    };
    await Promise.all(Array.from({ length: Math.min(SIZE_READS, todo.length) }, worker));
  }

  private sizeKey(n: number): string {
    return `${this.user}\0${this.uidValidity}\0${this.messages[n - 1]?.uid ?? 0}`;
  }

  /** The size of message n as RETR sends it (reading it if a legacy session has not yet). */
  async sizeOf(n: number): Promise<number> {
    const meta = this.messages[n - 1];
    if (!meta) return 0;
    if (this.utf8) return meta.size;
    const known = this.sizes.get(n);
    if (known !== undefined) return known;
    const key = this.sizeKey(n);
    let size = this.legacySizes?.get(key);
    if (size === undefined) {
      try {
        size = await this.downgradedSize(meta);
        this.legacySizes?.set(key, size);
      } catch {
        size = meta.size; // gone meanwhile (expunged over IMAP): RETR will say so
      }
    }
    this.sizes.set(n, size);
    return size;
  }

  /** The size of a message's downgraded form, from its header alone when the store can read just that. */
  private async downgradedSize(meta: MessageMeta): Promise<number> {
    // a small file is read whole, from the page cache without the thread pool (mailhost.sync_read_max): faster than
    // opening it to read its start (2,000 messages of 4 KB: 0.19 s against 0.76 s)
    if (!this.store.readHeader || meta.size <= HEADER_READ_MIN) return downgradeMessage(await this.store.read(this.user, 'INBOX', meta.uid)).length;
    const start = await this.store.readHeader(this.user, 'INBOX', meta.uid);
    const head = start.subarray(0, headerLength(start));
    // only the header changes: the body keeps its stored size
    return meta.size - head.length + downgradeMessage(head).length;
  }

  /** The size of a message not marked deleted as sent this session; after sizeAll() for a legacy client. */
  size(n: number): number {
    const meta = this.messages[n - 1];
    return this.utf8 ? (meta?.size ?? 0) : (this.sizes.get(n) ?? meta?.size ?? 0);
  }

  /** Number of messages not marked deleted, and their total size (RFC 1939 §5 STAT); after sizeAll(). */
  stat(): { count: number; size: number } {
    let count = 0;
    let size = 0;
    for (let n = 1; n <= this.messages.length; n++) {
      if (!this.deleted.has(n)) {
        count++;
        size += this.size(n);
      }
    }
    return { count, size };
  }

  /** Message numbers 1..n that are not deleted. */
  numbers(): number[] {
    const out: number[] = [];
    for (let n = 1; n <= this.messages.length; n++) if (!this.deleted.has(n)) out.push(n);
    return out;
  }

  /** The message with that number, unless it does not exist or is marked deleted. */
  get(n: number): MessageMeta | undefined {
    if (!Number.isInteger(n) || n < 1 || n > this.messages.length || this.deleted.has(n)) return undefined;
    return this.messages[n - 1];
  }

  /** A unique-id listing value: 0x21-0x7E, at most 70 characters, stable across sessions (RFC 1939 §7). */
  uidl(n: number): string {
    return `${this.uidValidity}.${this.messages[n - 1]?.uid ?? 0}`;
  }

  /**
   * The message's bytes as sent this session (downgraded for a legacy client). Only RETR counts as retrieving it (\Seen at UPDATE): TOP is how clients preview headers,
   * and marking a message read that way would show it read over IMAP before anyone read it.
   */
  async read(n: number, retrieve: boolean): Promise<Buffer> {
    const meta = this.messages[n - 1];
    if (!meta) throw new MailboxError('NONEXISTENT', `no message ${n}`);
    const stored = await this.store.read(this.user, 'INBOX', meta.uid);
    const raw = this.utf8 ? stored : downgradeMessage(stored);
    if (!this.utf8) this.sizes.set(n, raw.length);
    if (retrieve) this.retrieved.add(n);
    return raw;
  }

  delete(n: number): void {
    this.deleted.add(n);
  }

  /** RSET: unmark every message marked deleted. */
  reset(): void {
    this.deleted.clear();
  }

  /**
   * RFC 1939 §6 UPDATE: only now are marked messages removed; retrieved ones that stay get \Seen.
   * Never called on a dropped connection or an autologout, so those delete nothing.
   */
  async update(): Promise<UpdateResult> {
    const uids = [...this.deleted].sort((a, b) => a - b).map((n) => this.messages[n - 1]?.uid ?? 0);
    try {
      for (const n of this.retrieved) {
        const meta = this.messages[n - 1];
        if (!meta || this.deleted.has(n) || meta.flags.includes('\\Seen')) continue;
        // only \Seen is added, to the flags as they are now: changes made over IMAP meanwhile stay
        await this.store.updateFlags(this.user, 'INBOX', meta.uid, { add: ['\\Seen'] }).catch(() => undefined);
      }
      if (uids.length) await this.store.expunge(this.user, 'INBOX', uids);
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
    return { ok: true, removed: uids.length, left: this.messages.length - uids.length };
  }
}

// One POP3 session's view of a maildrop: the INBOX snapshot taken at login, deletion marks, and the UPDATE state.
import { MailboxError, type MailboxStore, type MessageMeta } from '../store/mailbox-store.ts';

export type UpdateResult = { ok: true; removed: number; left: number } | { ok: false; error: string };

export class Maildrop {
  private readonly deleted = new Set<number>();
  private readonly retrieved = new Set<number>();

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

  /** Number of messages not marked deleted, and their total size (RFC 1939 §5 STAT). */
  stat(): { count: number; size: number } {
    let count = 0;
    let size = 0;
    this.messages.forEach((m, i) => {
      if (!this.deleted.has(i + 1)) {
        count++;
        size += m.size;
      }
    });
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
   * The message's bytes. Only RETR counts as retrieving it (\Seen at UPDATE): TOP is how clients preview headers,
   * and marking a message read that way would show it read over IMAP before anyone read it.
   */
  async read(n: number, retrieve: boolean): Promise<Buffer> {
    const meta = this.messages[n - 1];
    if (!meta) throw new MailboxError('NONEXISTENT', `no message ${n}`);
    const raw = await this.store.read(this.user, 'INBOX', meta.uid);
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

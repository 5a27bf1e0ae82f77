// The mailbox store interface shared by local delivery, POP3 and IMAP (implemented over Maildir).
// Mailbox names use '/' as hierarchy delimiter; 'INBOX' is the user's root mailbox.

export type SystemFlag = '\\Seen' | '\\Answered' | '\\Flagged' | '\\Deleted' | '\\Draft';
export type SpecialUse = '\\Junk' | '\\Sent' | '\\Drafts' | '\\Trash' | '\\Archive';

export interface MessageMeta {
  uid: number;
  /** Size in octets as delivered (CRLF line ends). */
  size: number;
  /** INTERNALDATE, ms since epoch; NaN only in lists asked for without dates (ListOptions). */
  internalDate: number;
  /** System flags and keywords. */
  flags: readonly string[];
  /**
   * True until some session has seen the message as \Recent (IMAP). Live: it turns false in place when a session
   * claims the message (and an unknown internalDate, NaN, turns into the date), so a list handed out follows those
   * two; flags never change in place (a flag change makes a new meta).
   */
  recent: boolean;
  /**
   * Mod-sequence of the message's last change (RFC 7162 §3.1: append, flag change), >= 1; absent: the store keeps
   * none (IMAP answers NOMODSEQ). It may rise in place when another process's record of the same change is read.
   */
  modseq?: number;
  /**
   * The store's name for this message's content in this mailbox, fixed while the message stays there (a Maildir base
   * name); absent where the store has none. Read through MailboxStore.objectIds, never parsed by protocols.
   */
  key?: string;
}

/** Per-message identifiers a store can tell from its own names (RFC 8474 EMAILID, RFC 8514 SAVEDATE). */
export interface ObjectIds {
  /** RFC 8474 §5.1 EMAILID of a message of the mailbox with this UIDVALIDITY; undefined when the store cannot tell it. */
  emailId(meta: MessageMeta, uidValidity: number): string | undefined;
  /** RFC 8514 §3 SAVEDATE, ms since epoch: when the message entered its mailbox; undefined when unknown. */
  saveDate(meta: MessageMeta): number | undefined;
}

/** ObjectIds for the messages of one mailbox (the UIDVALIDITY it has). */
export interface MessageIds {
  emailId(meta: MessageMeta): string | undefined;
  saveDate(meta: MessageMeta): number | undefined;
}

/** The store's ObjectIds bound to one mailbox; undefined where the store tells none. */
export function idsIn(ids: ObjectIds | undefined, uidValidity: number): MessageIds | undefined {
  return ids && { emailId: (meta) => ids.emailId(meta, uidValidity), saveDate: (meta) => ids.saveDate(meta) };
}

export interface ListOptions {
  /**
   * false: internalDate may be NaN where the store has not read it yet, for views that never look at it (SELECT,
   * flag sync, STORE). The same metas gain their dates when a later list() reads them. Default true.
   */
  dates?: boolean;
  /**
   * The UIDVALIDITY the caller holds (a selected IMAP mailbox): a mailbox that now has another one (deleted and made
   * again, or renamed away and another made under the name) is refused with NONEXISTENT, as a missing one is.
   */
  uidValidity?: number;
}

/** A mailbox as SELECT/EXAMINE finds it (MailboxStore.open). */
export interface OpenedMailbox {
  /** In UID order; internalDate may be NaN (not read yet, see ListOptions). */
  messages: MessageMeta[];
  uidValidity: number;
  uidNext: number;
  /** The UIDs claimed as \Recent for this session, or (without claiming) those recent now. */
  recent: number[];
  /** HIGHESTMODSEQ (RFC 7162 §3.1); absent: the store keeps no mod-sequences. */
  highestModseq?: number;
  /** RFC 8474 §4 MAILBOXID (see MailboxInfo). */
  mailboxId?: string;
  /**
   * With `expungedSince` asked: the UIDs expunged since that mod-sequence and not in `messages` (sorted); absent when
   * the store's expunge history does not reach back that far (the caller tells every UID it lacks instead).
   */
  vanished?: number[];
}

/** Narrows MailboxStore.headerFields for a search. */
export interface FieldQuery {
  /** Just this field (a lower-cased name of the list). */
  only?: string;
  /**
   * Text (printable ASCII, no quote or backslash) that some cached field value of every message the search can match
   * holds, compared ASCII-case-insensitively, unless a value holds 8-bit text or an encoded word (RFC 2047), which
   * might decode to it. A message with neither may get an empty list, unparsed.
   */
  mentions?: string;
}

/** A mailbox as a cheap listing tells it (MailboxStore.mailboxNames). */
export interface MailboxName {
  name: string;
  specialUse?: SpecialUse;
}

export interface MailboxInfo {
  name: string;
  uidValidity: number;
  uidNext: number;
  specialUse?: SpecialUse;
  /** RFC 8474 §4 MAILBOXID: kept through RENAME, never given to another mailbox; absent where the store keeps none. */
  mailboxId?: string;
  subscribed: boolean;
  /** Has child mailboxes. */
  hasChildren: boolean;
}

/**
 * A mailbox's counters (STATUS). Not its subscription or children: those take the list of every mailbox, and LIST's
 * RETURN (STATUS …) asks a status of each mailbox it lists (RFC 5819), which would make it quadratic.
 */
export interface MailboxStatus extends Omit<MailboxInfo, 'subscribed' | 'hasChildren'> {
  messages: number;
  unseen: number;
  /** Messages with \Deleted (RFC 9051 §6.3.11 STATUS DELETED). */
  deleted: number;
  recent: number;
  /** Octets of all its messages (RFC 8438 STATUS SIZE). */
  size: number;
  /** HIGHESTMODSEQ (RFC 7162 §3.1.7); absent: the store keeps no mod-sequences. */
  highestModseq?: number;
}

/** What a conditional flag change did (MailboxStore.storeFlags). */
export type FlagOutcome =
  | { kind: 'done'; flags: readonly string[]; changed: boolean; modseq?: number }
  /** Changed since the UNCHANGEDSINCE given (RFC 7162 §3.1.3): left as it was. */
  | { kind: 'modified' }
  | { kind: 'gone' };

/** A cached header field: lower-cased name, unfolded trimmed value with the message bytes as latin1 code units. */
export type HeaderField = readonly [name: string, value: string];

export type MailboxChange =
  | { kind: 'append'; uids: number[] }
  | { kind: 'expunge'; uids: number[] }
  | { kind: 'flags'; uid: number; flags: readonly string[] };

export interface MailboxStore {
  /** Creates the user's Maildir and the default folders (INBOX, Junk, Sent, Drafts, Trash) if missing. */
  ensureUser(user: string): Promise<void>;
  listMailboxes(user: string): Promise<MailboxInfo[]>;
  /**
   * The user's mailbox names with their special use, and nothing else: no mailbox is opened or synced (Sieve's
   * mailboxexists and special-use tests ask at each delivery; listMailboxes reads every folder's counters).
   */
  mailboxNames(user: string): Promise<MailboxName[]>;
  createMailbox(user: string, name: string): Promise<void>;
  /** Optional: the special use (RFC 6154) a mailbox of this name has; the store gives special uses by name only. */
  specialUseOf?(name: string): SpecialUse | undefined;
  deleteMailbox(user: string, name: string): Promise<void>;
  renameMailbox(user: string, from: string, to: string): Promise<void>;
  setSubscribed(user: string, name: string, subscribed: boolean): Promise<void>;
  /** Subscribed names, whether or not such a mailbox exists now (RFC 3501 §6.3.6: the server does not drop them). */
  listSubscriptions(user: string): Promise<string[]>;
  status(user: string, name: string): Promise<MailboxStatus>;
  /** Messages in UID order, including mail delivered since the last call. */
  list(user: string, mailbox: string, opts?: ListOptions): Promise<MessageMeta[]>;
  read(user: string, mailbox: string, uid: number): Promise<Buffer>;
  /**
   * Optional: the start of a message (CRLF line ends) holding at least its whole header block, without reading a big
   * body (POP3 sizes a message's downgraded form from it). Throws NONEXISTENT for a message that is gone.
   */
  readHeader?(user: string, mailbox: string, uid: number): Promise<Buffer>;
  /**
   * Optional: the Date, Subject, From, Sender, Reply-To, To, Cc, Bcc, In-Reply-To and Message-ID fields of
   * messages (every occurrence, in order) from the store's cache, reading files only on a miss. The result is
   * aligned with `uids`: undefined for an expunged UID.
   */
  headerFields?(user: string, mailbox: string, uids: readonly number[], query?: FieldQuery): Promise<(readonly HeaderField[] | undefined)[]>;
  /** Durable append (tmp → fsync → new/cur); returns the new UID. */
  append(user: string, mailbox: string, raw: Buffer, opts?: { flags?: readonly string[]; internalDate?: number }): Promise<{ uid: number; uidValidity: number }>;
  /** Optional: several appends as one step, all or none (IMAP MULTIAPPEND); UIDs in the order given. */
  appendAll?(user: string, mailbox: string, messages: readonly { raw: Buffer; flags?: readonly string[]; internalDate?: number }[]): Promise<{ uidValidity: number; uids: number[] }>;
  setFlags(user: string, mailbox: string, uid: number, flags: readonly string[]): Promise<void>;
  /** Changes flags against their current value under the folder lock; returns the flags kept (undefined: no such message). */
  updateFlags(user: string, mailbox: string, uid: number, change: FlagChange): Promise<readonly string[] | undefined>;
  /**
   * updateFlags for many messages at once (a STORE), outcomes aligned with `uids`; with unchangedSince, each message
   * only when its mod-sequence is not above that value, checked and changed as one step against every process on
   * the mailbox (RFC 7162 §3.1.3).
   */
  storeFlags(user: string, mailbox: string, uids: readonly number[], change: FlagChange, opts?: { unchangedSince?: number }): Promise<FlagOutcome[]>;
  expunge(user: string, mailbox: string, uids: readonly number[]): Promise<void>;
  /**
   * Copies messages all or nothing; returns the UIDs copied (`from`: those of `uids` still present, in the given
   * order) and the UIDs they got in the target (`uids`, aligned with `from`).
   */
  copy(user: string, from: string, uids: readonly number[], to: string): Promise<{ uidValidity: number; uids: number[]; from: number[] }>;
  /** Marks messages as no longer recent (the first session that sees them claims them). */
  claimRecent(user: string, mailbox: string): Promise<number[]>;
  /**
   * SELECT (claimRecent) or EXAMINE in one step: \Recent claimed first (RFC 3501 §2.3.2), then the messages listed,
   * so the list already carries the claimed state; mail arriving meanwhile stays recent for another session.
   */
  open(user: string, mailbox: string, opts: { claimRecent: boolean; expungedSince?: number }): Promise<OpenedMailbox>;
  /**
   * Optional (QRESYNC, RFC 7162 §3.2.6): the UIDs expunged since a mod-sequence, with those gone and not yet
   * numbered (sorted, possibly some the caller has not been told of); undefined when the history does not reach back.
   */
  expungedSince?(user: string, mailbox: string, modseq: number): Promise<number[] | undefined>;
  /** Optional: EMAILID and SAVEDATE of listed messages, told without disk access (RFC 8474, RFC 8514). */
  readonly objectIds?: ObjectIds;
  /** Bytes used by the user's mail, for quota. */
  usage(user: string): Promise<number>;
  /** Change notifications (delivery, other sessions) for IDLE and concurrent sessions. */
  watch(user: string, mailbox: string, listener: (change: MailboxChange) => void): () => void;
}

/** Thrown for a missing or invalid mailbox; protocols map it to NO / -ERR. */
/** A flag change: some flags added and/or removed, or the whole list replaced (IMAP STORE ±FLAGS / FLAGS). */
export type FlagChange = { add?: readonly string[]; remove?: readonly string[] } | { replace: readonly string[] };

export class MailboxError extends Error {
  constructor(
    readonly code: 'NONEXISTENT' | 'ALREADYEXISTS' | 'INVALID' | 'NOPERM' | 'OVERQUOTA' | 'INUSE' | 'LIMIT' | 'HASCHILDREN',
    message: string,
  ) {
    super(message);
    this.name = 'MailboxError';
  }
}

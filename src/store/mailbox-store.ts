// The mailbox store interface shared by local delivery, POP3 and IMAP (implemented over Maildir).
// Mailbox names use '/' as hierarchy delimiter; 'INBOX' is the user's root mailbox.

export type SystemFlag = '\\Seen' | '\\Answered' | '\\Flagged' | '\\Deleted' | '\\Draft';
export type SpecialUse = '\\Junk' | '\\Sent' | '\\Drafts' | '\\Trash' | '\\Archive';

export interface MessageMeta {
  uid: number;
  /** Size in octets as delivered (CRLF line ends). */
  size: number;
  /** INTERNALDATE, ms since epoch. */
  internalDate: number;
  /** System flags and keywords. */
  flags: readonly string[];
  /** True until some session has seen the message as \Recent (IMAP). */
  recent: boolean;
}

export interface MailboxInfo {
  name: string;
  uidValidity: number;
  uidNext: number;
  specialUse?: SpecialUse;
  subscribed: boolean;
  /** Has child mailboxes. */
  hasChildren: boolean;
}

export interface MailboxStatus extends MailboxInfo {
  messages: number;
  unseen: number;
  recent: number;
}

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
  createMailbox(user: string, name: string): Promise<void>;
  deleteMailbox(user: string, name: string): Promise<void>;
  renameMailbox(user: string, from: string, to: string): Promise<void>;
  setSubscribed(user: string, name: string, subscribed: boolean): Promise<void>;
  status(user: string, name: string): Promise<MailboxStatus>;
  /** Messages in UID order, including mail delivered since the last call. */
  list(user: string, mailbox: string): Promise<MessageMeta[]>;
  read(user: string, mailbox: string, uid: number): Promise<Buffer>;
  /**
   * Optional: the Date, Subject, From, Sender, Reply-To, To, Cc, Bcc, In-Reply-To and Message-ID fields of
   * messages (every occurrence, in order) from the store's cache, reading files only on a miss; expunged UIDs are absent.
   */
  headerFields?(user: string, mailbox: string, uids: readonly number[]): Promise<Map<number, readonly HeaderField[]>>;
  /** Durable append (tmp → fsync → new/cur); returns the new UID. */
  append(user: string, mailbox: string, raw: Buffer, opts?: { flags?: readonly string[]; internalDate?: number }): Promise<{ uid: number; uidValidity: number }>;
  setFlags(user: string, mailbox: string, uid: number, flags: readonly string[]): Promise<void>;
  expunge(user: string, mailbox: string, uids: readonly number[]): Promise<void>;
  /** Copies messages; returns the UIDs they got in the target, in source order. */
  copy(user: string, from: string, uids: readonly number[], to: string): Promise<{ uidValidity: number; uids: number[] }>;
  /** Marks messages as no longer recent (the first session that sees them claims them). */
  claimRecent(user: string, mailbox: string): Promise<number[]>;
  /** Bytes used by the user's mail, for quota. */
  usage(user: string): Promise<number>;
  /** Change notifications (delivery, other sessions) for IDLE and concurrent sessions. */
  watch(user: string, mailbox: string, listener: (change: MailboxChange) => void): () => void;
}

/** Thrown for a missing or invalid mailbox; protocols map it to NO / -ERR. */
export class MailboxError extends Error {
  constructor(
    readonly code: 'NONEXISTENT' | 'ALREADYEXISTS' | 'INVALID' | 'NOPERM' | 'OVERQUOTA' | 'INUSE',
    message: string,
  ) {
    super(message);
    this.name = 'MailboxError';
  }
}

// In-memory index of one Maildir folder: UID order, uid → file (key, new/cur, info), metadata and keyword letters.
// One object per message: the entry is the MessageMeta handed out (lists are copies of the entry array), and a
// flag change replaces the entry, so a list handed out keeps the flags it was taken with.
import { MailboxError, type MessageMeta } from './mailbox-store.ts';
import { flagsFromInfo, infoFromFlags, MAX_KEYWORDS, writeKeywords } from './maildir-files.ts';

export interface Entry extends MessageMeta {
  /** Base name of the file (before ':'). */
  key: string;
  sub: 'new' | 'cur';
  /** Maildir info ("2,FS"), '' for none. */
  info: string;
  /** Info letters that are no flag we know, kept for rewrites. */
  other: string;
  /** RFC 7162 mod-sequence (maildir-modseq.ts); 0 until the folder's log has been read for it. */
  modseq: number;
}

export class FolderIndex {
  uidValidity = 0;
  nextUid = 1;
  protected entries: Entry[] = [];
  protected readonly byUid = new Map<number, Entry>();
  private keywordList: string[] = [];
  /** Parsed info strings: most messages share a handful, and so one frozen flag list each. Reset with the keywords. */
  private readonly parsedInfo = new Map<string, { flags: readonly string[]; other: string }>();
  /** False while some entry's INTERNALDATE is unknown (NaN until maildir-dates.ts resolves it). */
  protected datesKnown = true;
  private cachedMetas: MessageMeta[] | undefined;

  constructor(
    readonly path: string,
    protected readonly fsync: boolean,
  ) {}

  list(): MessageMeta[] {
    this.cachedMetas ??= this.entries.slice();
    return this.cachedMetas;
  }

  get(uid: number): MessageMeta | undefined {
    return this.byUid.get(uid);
  }

  /** Where the message file is now, or undefined for an unknown UID (no disk access). */
  fileOf(uid: number): string | undefined {
    const e = this.byUid.get(uid);
    return e ? this.fileName(e) : undefined;
  }

  filePath(uid: number): string {
    const file = this.fileOf(uid);
    if (file === undefined) throw new MailboxError('NONEXISTENT', `no message with UID ${uid}`);
    return file;
  }

  /**
   * Base names of the message files in the index, each to the index's own string: the folder cache keeps only these
   * when it is read, under the same strings (a lookup by an entry's key then compares one pointer, not the text).
   */
  liveKeys(): Map<string, string> {
    const keys = new Map<string, string>();
    for (const e of this.entries) keys.set(e.key, e.key);
    return keys;
  }

  /** Base name of the message file (the part before ':'), for the header cache. */
  keyOf(uid: number): string | undefined {
    return this.byUid.get(uid)?.key;
  }

  /** Concatenated, not path.join-ed: the folder path is normalised and a key or info never holds a '/'. */
  protected fileName(e: Entry): string {
    return e.info ? `${this.path}/${e.sub}/${e.key}:${e.info}` : `${this.path}/${e.sub}/${e.key}`;
  }

  protected async infoFor(flags: readonly string[], other = ''): Promise<string> {
    let added = false;
    for (const f of flags) {
      if (f.startsWith('\\') || this.keywords.some((k) => k.toLowerCase() === f.toLowerCase())) continue;
      if (this.keywords.length >= MAX_KEYWORDS) throw new MailboxError('INVALID', `too many keywords in this mailbox (limit ${MAX_KEYWORDS})`);
      this.keywords = [...this.keywords, f];
      added = true;
    }
    if (added) await writeKeywords(this.path, this.keywords, this.fsync);
    return infoFromFlags(flags, (kw) => this.keywords.findIndex((k) => k.toLowerCase() === kw.toLowerCase()), other);
  }

  /** Moves an entry to another file name; the entry is replaced (never changed in place), and the new one returned. */
  /** Keyword letters a..z (dovecot-keywords); replacing the list forgets parsed info strings. */
  protected get keywords(): string[] {
    return this.keywordList;
  }
  protected set keywords(list: string[]) {
    this.keywordList = list;
    this.parsedInfo.clear();
  }

  /** Flags of an info string, one shared frozen list per info string. */
  protected parseInfo(info: string): { flags: readonly string[]; other: string } {
    let parsed = this.parsedInfo.get(info);
    if (!parsed) {
      const p = flagsFromInfo(info, this.keywordList);
      this.parsedInfo.set(info, (parsed = { flags: Object.freeze(p.flags), other: p.other }));
    }
    return parsed;
  }

  protected setLocation(e: Entry, sub: 'new' | 'cur', info: string): Entry {
    const { flags, other } = this.parseInfo(info);
    const cur = this.byUid.get(e.uid) ?? e;
    const next: Entry = { uid: cur.uid, size: cur.size, internalDate: cur.internalDate, flags, recent: cur.recent, key: cur.key, sub, info, other, modseq: cur.modseq };
    this.byUid.set(next.uid, next);
    const at = this.indexOf(next.uid);
    if (at >= 0) this.entries[at] = next;
    this.cachedMetas = undefined;
    return next;
  }

  /** Position of a UID in the (UID-ordered) entries, or -1. */
  private indexOf(uid: number): number {
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const u = (this.entries[mid] as Entry).uid;
      if (u === uid) return mid;
      if (u < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  protected insert(e: Entry): void {
    const last = this.entries[this.entries.length - 1];
    this.entries.push(e);
    if (last && last.uid > e.uid) this.entries.sort((a, b) => a.uid - b.uid);
    this.byUid.set(e.uid, e);
    if (Number.isNaN(e.internalDate)) this.datesKnown = false;
    this.cachedMetas = undefined;
  }

  /** Many entries at once (a scan, a snapshot): one pass, one sort check; the batch becomes the index when it is empty. */
  protected insertAll(batch: Entry[]): void {
    if (batch.length === 0) return;
    const before = this.entries;
    let sorted = before.length === 0 || (before[before.length - 1] as Entry).uid < (batch[0] as Entry).uid;
    const entries = before.length === 0 ? (this.entries = batch) : before;
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i] as Entry;
      if (i > 0 && (batch[i - 1] as Entry).uid > e.uid) sorted = false;
      if (entries !== batch) entries.push(e);
      this.byUid.set(e.uid, e);
      if (Number.isNaN(e.internalDate)) this.datesKnown = false;
    }
    if (!sorted) entries.sort((a, b) => a.uid - b.uid);
    this.cachedMetas = undefined;
  }

  protected drop(uids: readonly number[]): void {
    if (uids.length === 0) return;
    const set = new Set(uids);
    for (const uid of uids) this.byUid.delete(uid);
    this.entries = this.entries.filter((e) => !set.has(e.uid));
    this.cachedMetas = undefined;
  }
}

// In-memory index of one Maildir folder: UID order, uid → file (key, new/cur, info), metadata and keyword letters.
import { join } from 'node:path';
import { MailboxError, type MessageMeta } from './mailbox-store.ts';
import { flagsFromInfo, infoFromFlags, MAX_KEYWORDS, writeKeywords } from './maildir-files.ts';

export interface Entry {
  uid: number;
  key: string;
  sub: 'new' | 'cur';
  info: string;
  other: string;
  meta: MessageMeta;
}

export class FolderIndex {
  uidValidity = 0;
  nextUid = 1;
  protected entries: Entry[] = [];
  protected readonly byUid = new Map<number, Entry>();
  protected readonly byKey = new Map<string, Entry>();
  protected keywords: string[] = [];
  private cachedMetas: MessageMeta[] | undefined;

  constructor(
    readonly path: string,
    protected readonly fsync: boolean,
  ) {}

  list(): MessageMeta[] {
    this.cachedMetas ??= this.entries.map((e) => e.meta);
    return this.cachedMetas;
  }

  get(uid: number): MessageMeta | undefined {
    return this.byUid.get(uid)?.meta;
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

  /** True when a message file with this base name is in the index. */
  keyKnown(key: string): boolean {
    return this.byKey.has(key);
  }

  /** Base name of the message file (the part before ':'), for the header cache. */
  keyOf(uid: number): string | undefined {
    return this.byUid.get(uid)?.key;
  }

  protected fileName(e: Entry): string {
    return join(this.path, e.sub, e.info ? `${e.key}:${e.info}` : e.key);
  }

  protected async infoFor(flags: readonly string[], other = ''): Promise<string> {
    let added = false;
    for (const f of flags) {
      if (f.startsWith('\\') || this.keywords.some((k) => k.toLowerCase() === f.toLowerCase())) continue;
      if (this.keywords.length >= MAX_KEYWORDS) throw new MailboxError('INVALID', `too many keywords in this mailbox (limit ${MAX_KEYWORDS})`);
      this.keywords.push(f);
      added = true;
    }
    if (added) await writeKeywords(this.path, this.keywords, this.fsync);
    return infoFromFlags(flags, (kw) => this.keywords.findIndex((k) => k.toLowerCase() === kw.toLowerCase()), other);
  }

  protected setLocation(e: Entry, sub: 'new' | 'cur', info: string): void {
    const { flags, other } = flagsFromInfo(info, this.keywords);
    e.sub = sub;
    e.info = info;
    e.other = other;
    e.meta = { ...e.meta, flags: Object.freeze(flags) as string[] };
    this.cachedMetas = undefined;
  }

  protected setRecent(e: Entry, recent: boolean): void {
    e.meta = { ...e.meta, recent };
    this.cachedMetas = undefined;
  }

  protected insert(e: Entry): void {
    const last = this.entries[this.entries.length - 1];
    this.entries.push(e);
    if (last && last.uid > e.uid) this.entries.sort((a, b) => a.uid - b.uid);
    this.byUid.set(e.uid, e);
    this.byKey.set(e.key, e);
    this.cachedMetas = undefined;
  }

  protected drop(uids: readonly number[]): void {
    if (uids.length === 0) return;
    const set = new Set(uids);
    for (const uid of uids) {
      const e = this.byUid.get(uid);
      if (e) this.byKey.delete(e.key);
      this.byUid.delete(uid);
    }
    this.entries = this.entries.filter((e) => !set.has(e.uid));
    this.cachedMetas = undefined;
  }
}

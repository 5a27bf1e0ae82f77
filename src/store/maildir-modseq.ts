// Per-message mod-sequences of one Maildir folder (RFC 7162 §3.1, CONDSTORE), kept in spamgate-modseq beside
// dovecot-uidlist: an append-only log of "<uid> <modseq> :<flag letters>" lines ("<uid> <modseq> -" for an expunge)
// under a "SGMODSEQ1 V<uidvalidity> H<highest>" header. Lines are appended only under dovecot-uidlist.lock (the lock
// that already serialises UIDs between processes), after reading what other writers appended: so every process
// hands out mod-sequences above all others', and HIGHESTMODSEQ only rises. The flag letters a line records let a
// process tell a flag change it has not numbered (another program renamed the file) from one already numbered.
// Expunge lines are kept (the newest EXPUNGE_HISTORY of them) as QRESYNC's expunge history: "E<from>" in the header
// says the log holds every expunge numbered above that value, so VANISHED (EARLIER) can tell just those.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './maildir-files.ts';

export const MODSEQ_FILE = 'spamgate-modseq';
const MAGIC = 'SGMODSEQ1';
/** Mod-sequences stay exact as JS numbers far beyond any count of changes; past this the log is refused as foreign. */
const MAX_MODSEQ = Number.MAX_SAFE_INTEGER;
/** Expunges remembered for QRESYNC; a client whose state is older than the oldest one kept gets the superset. */
export const EXPUNGE_HISTORY = 20_000;

/**
 * Where a new log starts: a thousand per millisecond since 1970 (about 1.8e15 now, under MAX_MODSEQ until the year
 * 2255). A log counts up by one a change, so an earlier log's values stay below it unless that folder saw more than a
 * thousand changes per millisecond of its life.
 */
export const modseqFloor = (): number => Date.now() * 1000;

/** The info letters of a Maildir name ("2,FS" → "FS"): what a mod-sequence is about. new/ → cur/ ('' → '2,') is no change. */
export function infoLetters(info: string): string {
  return info.startsWith('2,') ? info.slice(2) : '';
}

/** One message's state as recorded: its mod-sequence and the info letters it was given for. */
interface Known {
  modseq: number;
  letters: string;
}

export interface ModseqChange {
  uid: number;
  /** Info letters after the change; undefined: the message was expunged. */
  letters: string | undefined;
}

export class ModseqLog {
  /** HIGHESTMODSEQ: at least every message's mod-sequence, and raised by every change (RFC 7162 §3.1). */
  highest = 0;
  private readonly known = new Map<number, Known>();
  /** Expunged UIDs and the mod-sequence of their expunge, oldest first (insertion order). */
  private readonly expunged = new Map<number, number>();
  /** Every expunge numbered above this is in `expunged` (0 with no log: nothing is known). */
  private historyFrom = Infinity;
  private readonly file: string;
  /** Inode and bytes of the file taken in so far (complete lines only). */
  private ino = -1n;
  private offset = 0;
  private lines = 0;
  private validity = 0;
  /** The header line as read (a file rewritten in place under the same inode no longer starts with it). */
  private head = '';
  /** The file ends in a part of a line (a torn write): the next record rewrites it rather than append to it. */
  private partial = false;

  constructor(
    dir: string,
    private readonly fsync: boolean,
    /** The folder's messages as its index holds them: a rewrite keeps theirs that the file lost (torn, replaced). */
    private readonly indexed: () => Iterable<{ uid: number; modseq: number; info: string }> = () => [],
  ) {
    this.file = join(dir, MODSEQ_FILE);
  }

  /** The mod-sequence recorded for a message when it was recorded with these letters; undefined otherwise. */
  matching(uid: number, letters: string): number | undefined {
    const k = this.known.get(uid);
    return k && k.letters === letters ? k.modseq : undefined;
  }

  /**
   * RFC 7162 §3.2.5.1 / §3.2.6: the UIDs that may have vanished since `modseq`: those whose expunge was numbered
   * above it, and those `present` no longer holds whose expunge is not numbered yet (another program deleted the
   * file; the next sync records it). Undefined when the history does not reach back to `modseq`. Sorted.
   */
  expungedSince(modseq: number, present: (uid: number) => boolean): number[] | undefined {
    if (modseq < this.historyFrom) return undefined;
    const out: number[] = [];
    for (const [uid, at] of this.expunged) if (at > modseq) out.push(uid);
    for (const uid of this.known.keys()) if (!present(uid)) out.push(uid);
    return out.sort((a, b) => a - b);
  }

  /**
   * HIGHESTMODSEQ as a view still holding the messages `present` holds may tell it: below the expunge of any of them
   * (another process expunged it after the view's scan; the view tells the expunge later). A client keeping a
   * value at or above that expunge would never hear of it in VANISHED (EARLIER) (RFC 7162 §3.2.5.1; RFC 5162
   * errata 1810: a HIGHESTMODSEQ told while an expunge is withheld is below the expunge's mod-sequence).
   */
  highestFor(present: (uid: number) => boolean): number {
    let top = this.highest;
    for (const [uid, at] of this.expunged) if (at <= top && present(uid) && !((this.known.get(uid)?.modseq ?? 0) > at)) top = at - 1;
    return top;
  }

  /** The latest mod-sequence recorded for a message (0: none). */
  modseqOf(uid: number): number {
    return this.known.get(uid)?.modseq ?? 0;
  }

  /**
   * Takes in what was appended since the last look (all of it after a rewrite: another inode), without the lock:
   * writers append whole lines in one write, and a partial last line waits for the next look. Synchronous: a few
   * syscalls, cheaper than thread-pool round trips on the command path.
   */
  refresh(uidValidity: number): void {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch {
      this.reset();
      return;
    }
    try {
      const st = fstatSync(fd, { bigint: true });
      const size = Number(st.size);
      if (st.ino !== this.ino || size < this.offset || (size > this.offset && !this.startsWithHead(fd))) {
        this.reset();
        this.ino = st.ino;
      }
      if (size === this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, this.offset + got);
        if (n === 0) break;
        got += n;
      }
      const end = got > 0 ? buf.lastIndexOf(10, got - 1) : -1;
      this.partial = end + 1 < got;
      if (end < 0) return;
      const text = buf.toString('latin1', 0, end);
      if (this.offset === 0) this.head = text.slice(0, text.indexOf('\n') + 1 || text.length);
      this.take(text, uidValidity);
      this.offset += end + 1;
    } finally {
      closeSync(fd);
    }
  }

  /** The file still starts with the header line read before (else someone rewrote it in place). */
  private startsWithHead(fd: number): boolean {
    if (this.head === '') return this.offset === 0;
    const buf = Buffer.alloc(this.head.length);
    return readSync(fd, buf, 0, buf.length, 0) === buf.length && buf.toString('latin1') === this.head;
  }

  /** Forgets the per-message lines (a new file, another UIDVALIDITY); HIGHESTMODSEQ never goes down. */
  private reset(): void {
    this.known.clear();
    this.expunged.clear();
    this.historyFrom = Infinity;
    this.ino = -1n;
    this.offset = 0;
    this.lines = 0;
    this.head = '';
    this.partial = false;
    this.validity = 0; // until a header names it: a file without one is foreign, and is rewritten at the next record
  }

  private take(text: string, uidValidity: number): void {
    for (const line of text.split('\n')) {
      if (line.startsWith(MAGIC)) {
        const v = /(?:^| )V(\d{1,10})(?: |$)/.exec(line);
        const h = /(?:^| )H(\d{1,16})(?: |$)/.exec(line);
        const e = /(?:^| )E(\d{1,16})(?: |$)/.exec(line);
        this.validity = v?.[1] ? Number(v[1]) : 0;
        const head = h?.[1] && Number(h[1]) <= MAX_MODSEQ ? Number(h[1]) : 0;
        this.highest = Math.max(this.highest, head);
        // a log written before the history was kept: expunges from its header on are in it. A header of another
        // UIDVALIDITY (its lines are skipped) or without H vouches for none: no history (RFC 7162 §3.2.5.1: a UID
        // expunged since the client's state is never left out)
        if (this.validity !== uidValidity || head === 0) this.historyFrom = Infinity;
        else this.historyFrom = e?.[1] && Number(e[1]) <= head ? Number(e[1]) : head;
        continue;
      }
      if (this.validity !== uidValidity) continue; // lines of another UIDVALIDITY name other messages
      const m = /^(\d{1,10}) (\d{1,16}) (?::([A-Za-z]*)|-)$/.exec(line);
      if (!m?.[1] || !m[2]) continue;
      const uid = Number(m[1]);
      const modseq = Number(m[2]);
      if (modseq > MAX_MODSEQ) continue;
      this.lines++;
      if (modseq > this.highest) this.highest = modseq;
      const prev = this.known.get(uid);
      if (prev && prev.modseq > modseq) continue; // out of order (a torn rewrite): the later change stands
      if (m[3] === undefined) this.noteExpunge(uid, modseq);
      else this.known.set(uid, { modseq, letters: m[3] });
    }
  }

  /** Forgets a message and remembers its expunge; past EXPUNGE_HISTORY the oldest goes and the history starts later. */
  private noteExpunge(uid: number, modseq: number): void {
    this.known.delete(uid);
    this.expunged.delete(uid);
    this.expunged.set(uid, modseq);
    while (this.expunged.size > EXPUNGE_HISTORY) {
      const [oldest, at] = this.expunged.entries().next().value as [number, number];
      this.expunged.delete(oldest);
      this.historyFrom = Math.max(this.historyFrom, at);
    }
  }

  /**
   * Records changes under one new mod-sequence and returns it. The caller holds dovecot-uidlist.lock: what other
   * writers appended is read first, so the new value is above every one handed out (RFC 7162 §3.1: HIGHESTMODSEQ
   * strictly increases with every change). A missing, foreign or long file is rewritten whole (tmp + rename).
   */
  async record(changes: readonly ModseqChange[], uidValidity: number): Promise<number> {
    this.refresh(uidValidity);
    // A log new to this UIDVALIDITY (none yet, deleted, foreign) may stand in for one whose values clients hold: the
    // numbering starts above any earlier log's, so HIGHESTMODSEQ never goes down for them (RFC 7162 §3.1.1) and every
    // message renumbered here counts as changed since whatever they saw.
    if (this.validity !== uidValidity) {
      this.highest = Math.max(this.highest, modseqFloor());
      // expunges before this log are not in it, nor messages removed while there was none (never numbered): the
      // history starts at this change, so every state told before gets the superset (the floor may be below the
      // values told: a clock stepped back)
      this.expunged.clear();
      this.historyFrom = Math.max(this.highest, 1) + 1;
    }
    if (this.highest >= MAX_MODSEQ) throw new Error('mod-sequence space exhausted');
    // above 1, which an empty folder reports (maildir-folder.ts highestModseq), so the first change raises it too
    const modseq = Math.max(this.highest, 1) + 1;
    this.highest = modseq;
    let body = '';
    for (const c of changes) {
      if (c.letters === undefined) {
        this.noteExpunge(c.uid, modseq);
        body += `${c.uid} ${modseq} -\n`;
      } else {
        this.known.set(c.uid, { modseq, letters: c.letters });
        body += `${c.uid} ${modseq} :${c.letters}\n`;
      }
    }
    this.lines += changes.length;
    if (this.ino < 0n || this.partial || this.validity !== uidValidity || this.lines > 2 * (this.known.size + this.expunged.size) + 1024) await this.rewrite(uidValidity);
    else await this.append(body);
    return modseq;
  }

  private async append(body: string): Promise<void> {
    if (!this.fsync) {
      // a few syscalls done at once cost less than their thread-pool round trips (every append and STORE comes here)
      const fd = openSync(this.file, 'a');
      try {
        writeSync(fd, body);
        const st = fstatSync(fd, { bigint: true });
        if (st.ino === this.ino) this.offset = Number(st.size);
      } finally {
        closeSync(fd);
      }
      return;
    }
    const fh = await open(this.file, 'a');
    try {
      await fh.write(body);
      if (this.fsync) await fh.datasync();
      const st = await fh.stat({ bigint: true });
      // only our own lines since the last look (we hold the lock): all of the file is taken in
      if (st.ino === this.ino) this.offset = Number(st.size);
    } finally {
      await fh.close();
    }
  }

  /** The whole log anew from what is known: the header keeps HIGHESTMODSEQ and where the expunge history starts. */
  private async rewrite(uidValidity: number): Promise<void> {
    for (const e of this.indexed()) if (e.modseq > 0 && !this.known.has(e.uid)) this.known.set(e.uid, { modseq: e.modseq, letters: infoLetters(e.info) });
    if (!Number.isFinite(this.historyFrom)) this.historyFrom = this.highest;
    const parts = [`${MAGIC} V${uidValidity} H${this.highest} E${this.historyFrom}\n`];
    const uids = [...this.known.keys()].sort((a, b) => a - b);
    for (const uid of uids) {
      const k = this.known.get(uid) as Known;
      parts.push(`${uid} ${k.modseq} :${k.letters}\n`);
    }
    for (const [uid, at] of this.expunged) parts.push(`${uid} ${at} -\n`);
    const body = parts.join('');
    await writeFileAtomic(this.file, body, this.fsync);
    this.validity = uidValidity;
    this.lines = uids.length + this.expunged.size;
    this.head = parts[0] as string;
    this.partial = false;
    const fh = await open(this.file, 'r');
    try {
      const st = await fh.stat({ bigint: true });
      this.ino = st.ino;
      this.offset = Number(st.size);
    } finally {
      await fh.close();
    }
  }
}

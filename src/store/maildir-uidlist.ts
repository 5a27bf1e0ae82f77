// UIDs are handed out here and nowhere else: under dovecot-uidlist.lock, after re-reading dovecot-uidlist when
// another process (a second spamgate on the same mail root, Dovecot's LDA or doveadm) changed it since this one last
// read or wrote it, as Dovecot's maildir-uidlist does. Files that writer numbered keep its UIDs, ours go above
// everything the list holds, and the lines are appended (or the list rewritten) before the lock is let go.
// RFC 3501 §2.3.1.1: UIDs strictly ascending, never reused within one UIDVALIDITY.
import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseUidList, uidListStamp, withDotlock, writeFileAtomic, type UidList } from './maildir-files.ts';

/** What a folder knows of its uid list. */
export interface ListOwner {
  readonly path: string;
  uidValidity: number;
  nextUid: number;
  /** The list's stamp as last read or written; undefined: no list known. */
  uidlistStamp: string | undefined;
  /**
   * Lines another writer added that the index does not hold yet (its files come in with the next scan, which reads
   * the list and clears this): kept by a rewrite meanwhile, so those files keep their UIDs.
   */
  unindexed: Map<string, number>;
}

/** A file to be listed: uid 0 until numbered here; a uid already set (a scan took it from the list) is kept. */
export interface Fresh {
  key: string;
  uid: number;
}

export interface ListWrite {
  /** Files of the index, in UID order (a rewrite lists them all). */
  indexed: () => readonly Fresh[];
  /** Files to number and list. */
  fresh: Fresh[];
  /** Rewrite the whole list (expunged lines go, a first list is made); otherwise the new lines are appended. */
  rewrite: boolean;
  fsync: boolean;
  /** How long a live holder of the lock is waited for (default: the required lock's REQUIRED_WAIT_MS). */
  waitMs?: number;
  /** Runs once the list is written, before the lock is let go (the folder records the mod-sequences of `fresh`). */
  underLock?: () => Promise<void>;
}

/**
 * Numbers `fresh` (in place) and writes the list, all under the lock. Returns true when the list holds lines of
 * files the index does not know yet (another writer's, added since we last read it): the caller re-scans to take
 * them in, and until then the list counts as unread (a stamp no file has), so that scan reads it.
 */
export function assignUids(o: ListOwner, w: ListWrite): Promise<boolean> {
  const file = join(o.path, 'dovecot-uidlist');
  return withDotlock(
    join(o.path, 'dovecot-uidlist.lock'),
    async () => {
      const fh = await open(file, constants.O_RDWR | constants.O_APPEND).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      try {
        const st = fh ? await fh.stat({ bigint: true }) : undefined;
        const stamp = st ? uidListStamp(st) : undefined;
        // The list as another writer left it, when it is not what we last read or wrote.
        const list = fh && st && stamp !== o.uidlistStamp ? parseUidList(await readAll(fh, Number(st.size))) : undefined;
        // a list we cannot parse (torn by a writer that ignored the lock, another format) is rewritten, never appended to
        const unreadable = fh !== undefined && stamp !== o.uidlistStamp && list === undefined;
        const { theirs, rewrite } = merge(o, list, w);
        const numbered = number(o, w.fresh, theirs);
        let written: string;
        if (rewrite || fh === undefined || unreadable) written = await rewriteList(o, file, w, theirs);
        else {
          if (numbered.length > 0) {
            await fh.write(numbered.map((e) => `${e.uid} :${e.key}\n`).join(''));
            if (w.fsync) await fh.datasync();
          }
          written = uidListStamp(await fh.stat({ bigint: true }));
        }
        o.unindexed = theirs;
        o.uidlistStamp = theirs.size > 0 ? `${written}+unread` : written;
        await w.underLock?.();
        return theirs.size > 0;
      } finally {
        await fh?.close();
      }
    },
    { required: true, ...(w.waitMs === undefined ? {} : { waitMs: w.waitMs }) },
  );
}

/**
 * Takes in what another writer put in the list: its next UID, and its lines above what we knew (UID >= our next
 * UID before this look: lines below it we knew, or dropped ourselves). Returns those lines by key, and whether the
 * list must be rewritten (ours is not its UIDVALIDITY: our numbering stands, as a scan decides too).
 */
function merge(o: ListOwner, list: UidList | undefined, w: ListWrite): { theirs: Map<string, number>; rewrite: boolean } {
  const theirs = new Map(o.unindexed);
  if (!list) return { theirs, rewrite: w.rewrite };
  let known = o.nextUid;
  if (o.uidlistStamp === undefined && w.indexed().length === 0) {
    // We had no list and have handed out no UID: the list another process just made wins, UIDVALIDITY and all.
    o.uidValidity = list.uidValidity;
    known = 0;
  }
  if (list.uidValidity !== o.uidValidity) return { theirs: new Map(), rewrite: true };
  for (let j = list.uids.length - 1; j >= 0 && (list.uids[j] as number) >= known; j--) theirs.set(list.keys[j] as string, list.uids[j] as number);
  o.nextUid = Math.max(o.nextUid, list.nextUid);
  return { theirs, rewrite: w.rewrite || listLacks(list, w.indexed()) };
}

/**
 * True when the list (same UIDVALIDITY) lacks the line of a message the index holds: it was cut short or rewritten
 * from a partial view (a person, a tool). Appending to it would leave those messages to be numbered again by the
 * next reader, under new UIDs; a rewrite from the index keeps theirs. Both are in UID order: one pass, no allocation.
 */
export function listLacks(list: UidList, indexed: readonly Fresh[]): boolean {
  const { uids, keys } = list;
  let j = 0;
  for (const e of indexed) {
    while (j < uids.length && (uids[j] as number) < e.uid) j++;
    if (j >= uids.length || uids[j] !== e.uid || keys[j] !== e.key) return true;
  }
  return false;
}

/** Gives each fresh file without a UID the other writer's UID for it, or the next one; returns those that need a line. */
function number(o: ListOwner, fresh: Fresh[], theirs: Map<string, number>): Fresh[] {
  for (const e of fresh) if (e.uid >= o.nextUid) o.nextUid = e.uid + 1;
  const out: Fresh[] = [];
  for (const e of fresh) {
    const uid = theirs.get(e.key);
    if (uid !== undefined) theirs.delete(e.key); // listed already: a file the other writer numbered keeps its UID
    if (e.uid > 0) continue;
    if (uid !== undefined) e.uid = uid;
    else {
      e.uid = o.nextUid++;
      out.push(e);
    }
  }
  return out;
}

/** The whole list anew (tmp + rename): the index, the fresh files and the other writer's lines we do not index yet. */
async function rewriteList(o: ListOwner, file: string, w: ListWrite, theirs: Map<string, number>): Promise<string> {
  const lines: Fresh[] = [...w.indexed(), ...w.fresh];
  if (theirs.size > 0) {
    const have = new Set(lines.map((e) => e.key));
    for (const [key, uid] of theirs) if (!have.has(key)) lines.push({ key, uid });
  }
  let sorted = true;
  for (let i = 1; i < lines.length && sorted; i++) if ((lines[i - 1] as Fresh).uid >= (lines[i] as Fresh).uid) sorted = false;
  if (!sorted) lines.sort((a, b) => a.uid - b.uid);
  const body = [`3 V${o.uidValidity} N${o.nextUid}\n`];
  for (const e of lines) body.push(`${e.uid} :${e.key}\n`);
  await writeFileAtomic(file, body.join(''), w.fsync);
  return uidListStamp(await stat(file, { bigint: true }));
}

async function readAll(fh: FileHandle, size: number): Promise<string> {
  const buf = Buffer.alloc(size);
  let at = 0;
  while (at < size) {
    const { bytesRead } = await fh.read(buf, at, size - at, at);
    if (bytesRead === 0) break;
    at += bytesRead;
  }
  return buf.toString('utf8', 0, at);
}

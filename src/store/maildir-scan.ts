// Full rescan of one Maildir folder: adopts dovecot-uidlist UIDs, finds new, moved and vanished files, numbers the new ones.
// Nothing per message is read or stat-ed (unless a name lacks its size): INTERNALDATE stays unknown until asked for
// (maildir-dates.ts), and the folder cache is not read here at all.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MailboxError, type MailboxChange } from './mailbox-store.ts';
import { flagsFromInfo, keyNumber, readKeywords, parseUidList, readUidList, readUidListText, uidListStamp, type UidList } from './maildir-files.ts';
import { readRecentMark } from './maildir-recent.ts';
import type { SyncedFolder } from './maildir-folder-sync.ts';
import type { Entry } from './maildir-index.ts';
import { listLacks, type Fresh } from './maildir-uidlist.ts';
import { readRegular } from '../util/read-regular.ts';

export interface ScanHooks {
  entries(): readonly Entry[];
  byUid: ReadonlyMap<number, Entry>;
  keywords(set?: string[]): string[];
  setLocation(e: Entry, sub: 'new' | 'cur', info: string): Entry;
  /** Takes the batch over (it may become the index itself). */
  insertAll(batch: Entry[]): void;
  drop(uids: readonly number[]): void;
  /**
   * Numbers the fresh files that have no UID (in place) and writes the uid list, under its lock (maildir-uidlist.ts);
   * false when the lock stayed busy (or the list is not writable): nothing was numbered.
   */
  numberFound(fresh: Fresh[], rewrite: boolean): Promise<boolean>;
  /** Keys of a batch another process is committing (maildir-batch-journal.ts): not shown, nor numbered, yet. */
  inFlight(): ReadonlySet<string>;
}

const PARALLEL = 256;

/** Files found in new/ and cur/, as parallel arrays (no object per file); `at` maps a key to its index. */
interface Listing {
  keys: string[];
  infos: string[];
  inNew: boolean[];
  at: Map<string, number>;
}

function listFiles(newFiles: readonly string[], curFiles: readonly string[]): Listing {
  const out: Listing = { keys: [], infos: [], inNew: [], at: new Map() };
  addFiles(out, newFiles, true);
  addFiles(out, curFiles, false);
  return out;
}

/** Plain indexed loops here and below: they run once per file, on a first open before the optimizing compiler has seen them. */
function addFiles(out: Listing, names: readonly string[], isNew: boolean): void {
  const { keys, infos, inNew, at } = out;
  for (let n = 0; n < names.length; n++) {
    const name = names[n] as string;
    if (name.charCodeAt(0) === 46 /* . */) continue;
    const colon = name.indexOf(':');
    const key = colon < 0 ? name : name.slice(0, colon);
    const info = colon < 0 ? '' : name.slice(colon + 1);
    const size = at.size;
    at.set(key, size);
    if (at.size === size) {
      // The same base name in both directories (one map operation per name finds it): the later listing wins,
      // as a key → file map would have it.
      const prev = keys.indexOf(key);
      at.set(key, prev);
      infos[prev] = info;
      inNew[prev] = isNew;
      continue;
    }
    keys.push(key);
    infos.push(info);
    inNew.push(isNew);
  }
}

/**
 * The in-flight keys a scan leaves out: not those already shown (a scan that ran between the writer's journal and a
 * rename found the file before the journal); taking them away would announce an EXPUNGE of a UID that comes back.
 */
function shownNot(inFlight: ReadonlySet<string>, entries: readonly { key: string }[]): ReadonlySet<string> {
  if (inFlight.size === 0 || entries.length === 0) return inFlight;
  const out = new Set(inFlight);
  for (const e of entries) out.delete(e.key);
  return out;
}

/** File names whose Maildir key (the part before ":") is not in `keys`. */
function withoutKeys(names: readonly string[], keys: ReadonlySet<string>): string[] {
  return names.filter((n) => {
    const colon = n.indexOf(':');
    return !keys.has(colon < 0 ? n : n.slice(0, colon));
  });
}

/**
 * Names of the regular files in a directory: a symbolic link (it could point outside the Maildir), a directory or
 * anything else planted there is no message. The file type comes with the listing (no stat per file).
 */
async function regularFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) if (d.isFile()) out.push(d.name);
  return out;
}

export async function scanFolder(f: SyncedFolder, h: ScanHooks): Promise<MailboxChange[]> {
  const wasLoaded = f.loaded;
  if (!wasLoaded) f.cache.retainOnLoad = () => f.liveKeys(); // read on first need, keeping only live keys
  let listStamp: string | undefined;
  let list: UidList | undefined;
  let keywords: string[] | undefined;
  let mark: Awaited<ReturnType<typeof readRecentMark>> = undefined;
  // The uid list is read before the directories are listed: writers (we, Dovecot) put a file in place before they
  // list it, so every line read names a file the listing sees, and none is left out and later numbered again.
  // The other small files are read concurrently with the listings.
  let small: Promise<[string[], Awaited<ReturnType<typeof readRecentMark>>]> | undefined;
  let firstText: string | undefined;
  if (!wasLoaded) {
    small = Promise.all([readKeywords(f.path), readRecentMark(f.path)]);
    // First open: the stamp comes from the same open file as the text (no separate stat round trip); the text is
    // parsed once the listings are on their way.
    const read = readUidListText(f.path);
    [listStamp, firstText] = [read?.stamp, read?.text];
  } else {
    const st = await stat(join(f.path, 'dovecot-uidlist'), { bigint: true }).catch(() => undefined);
    listStamp = st ? uidListStamp(st) : undefined;
    // Another program (Dovecot, a second spamgate) changed the list: adopt the UIDs it assigned.
    if (listStamp !== f.uidlistStamp) [list, keywords] = await Promise.all([readUidList(f.path), readKeywords(f.path)]);
  }
  const listRead = !wasLoaded || listStamp !== f.uidlistStamp;
  // what was read holds every line another writer added before (lines of files still to come are read under the lock)
  if (listRead) f.unindexed.clear();
  const listing = Promise.all([regularFiles(join(f.path, 'new')), regularFiles(join(f.path, 'cur'))]);
  listing.catch(() => undefined);
  if (firstText !== undefined) list = parseUidList(firstText);
  if (small) [keywords, mark] = await small;
  let adopted: UidList | undefined;
  if (keywords) {
    h.keywords(keywords);
    if (list && (!wasLoaded || list.uidValidity === f.uidValidity)) {
      f.uidValidity = list.uidValidity;
      f.nextUid = Math.max(f.nextUid, list.nextUid);
      adopted = list;
    } else if (!wasLoaded) {
      f.uidValidity = f.newValidity();
      f.nextUid = 1;
    }
    if (mark && mark.uidValidity === f.uidValidity) f.recentFrom = mark.from;
  }
  let files: Listing;
  try {
    const [newFiles, curFiles] = await listing;
    const hidden = shownNot(h.inFlight(), h.entries());
    files = hidden.size === 0 ? listFiles(newFiles, curFiles) : listFiles(withoutKeys(newFiles, hidden), withoutKeys(curFiles, hidden));
  } catch {
    throw new MailboxError('NONEXISTENT', 'no such mailbox');
  }
  // A batch in flight may be listed already (its writer numbers it before the commit point): those lines are another
  // writer's for files not shown yet, kept by a rewrite of the list, so the batch keeps the UIDs its client was told.
  const hidden = shownNot(h.inFlight(), h.entries());
  if (hidden.size > 0 && adopted) {
    for (let j = 0; j < adopted.keys.length; j++) {
      const key = adopted.keys[j] as string;
      if (hidden.has(key)) f.unindexed.set(key, adopted.uids[j] as number);
    }
  }
  const { keys, infos, inNew, at } = files;
  const taken = new Uint8Array(keys.length);

  const changes: MailboxChange[] = [];
  const gone: number[] = [];
  for (const e of h.entries()) {
    const i = at.get(e.key);
    if (i === undefined) {
      gone.push(e.uid);
      continue;
    }
    taken[i] = 1;
    const sub = inNew[i] ? 'new' : 'cur';
    const info = infos[i] as string;
    if (sub !== e.sub || info !== e.info) {
      const moved = h.setLocation(e, sub, info);
      if (moved.flags.join(' ') !== e.flags.join(' ')) changes.push({ kind: 'flags', uid: e.uid, flags: moved.flags });
    }
  }
  if (gone.length > 0) {
    h.drop(gone);
    changes.push({ kind: 'expunge', uids: gone });
  }
  const { order, uidAt, knownKeys } = orderFresh(files, taken, adopted);

  let uidsChanged = gone.length > 0;
  const fileOf = (i: number): string => join(f.path, inNew[i] ? 'new' : 'cur', infos[i] ? `${keys[i]}:${infos[i]}` : (keys[i] as string));
  // Sizes come from ",W=" in the name; files without it are read (in parallel) before the insert loop, which then
  // runs synchronously. -1: the file vanished since the listing (it is left out).
  const sizes = new Float64Array(keys.length);
  const unsized: number[] = [];
  for (let j = 0; j < order.length; j++) {
    const i = order[j] as number;
    const w = keyNumber(keys[i] as string, ',W=');
    if (w === undefined) unsized.push(i);
    else sizes[i] = w;
  }
  for (let j = 0; j < unsized.length; j += PARALLEL) {
    const chunk = unsized.slice(j, j + PARALLEL);
    const res = await Promise.all(chunk.map((i) => crlfSize(fileOf(i))));
    chunk.forEach((i, k) => (sizes[i] = res[k] as number));
  }
  // Files without a UID (or with one the index gives another file) are numbered under the uid list's lock, in step
  // with what other writers listed meanwhile; the list is rewritten when lines must go (expunged files, stale lines on
  // a first open, renumbered files) or it is not one we can append to (none, unreadable, another UIDVALIDITY).
  const fresh: Fresh[] = [];
  const freshAt: number[] = [];
  /** Positions in fresh of the files to be numbered. */
  const unnumbered: number[] = [];
  let numbering = false;
  let listedOnDisk = 0;
  const clash = h.byUid.size > 0; // a first open cannot clash: the uid list's UIDs are distinct
  for (let j = 0; j < order.length; j++) {
    const i = order[j] as number;
    if ((sizes[i] as number) < 0) continue;
    let uid = uidAt[i] as number;
    if (uid === Infinity) uid = 0;
    else if (clash && h.byUid.has(uid)) {
      uid = 0;
      uidsChanged = true;
    } else listedOnDisk++;
    if (uid === 0) {
      numbering = true;
      unnumbered.push(fresh.length);
    }
    fresh.push({ key: keys[i] as string, uid });
    freshAt.push(i);
  }
  // a list read anew that lacks lines of indexed messages (cut short by a person) is made whole from the index
  const lacking = wasLoaded && adopted !== undefined && listRead && listLacks(adopted, h.entries());
  const rewrite = uidsChanged || lacking || f.rewriteDue || (!wasLoaded && knownKeys !== listedOnDisk) || listStamp === undefined || (listRead && adopted === undefined);
  f.uidlistStamp = listStamp;
  if (numbering || rewrite) {
    if (await h.numberFound(fresh, rewrite)) for (let k = 0; k < fresh.length; k++) uidAt[freshAt[k] as number] = (fresh[k] as Fresh).uid;
    else {
      // Not numbered (the lock busy): those files stay out of the index (a UID a clash took from one is not given
      // to it), and the next sync re-reads the list, where their writer may have listed them meanwhile.
      for (const k of unnumbered) sizes[freshAt[k] as number] = -1;
      if (listStamp !== undefined) f.uidlistStamp = `${listStamp}+unread`;
    }
  }
  const added = insertFresh(f, h, files, { order, uidAt, sizes }, wasLoaded);
  if (added.length > 0) changes.push({ kind: 'append', uids: added });
  return changes;
}

/** Known files in uid-list order, then unknown ones by name (delivery time); `taken` marks files already indexed. */
function orderFresh(files: Listing, taken: Uint8Array, adopted: UidList | undefined): { order: number[]; uidAt: Float64Array; knownKeys: number } {
  const { keys, at } = files;
  const order: number[] = [];
  const uidAt = new Float64Array(keys.length).fill(Infinity);
  let sorted = true;
  let lastUid = -1;
  /** Distinct uid-list keys (a key listed twice keeps its last UID, as a key → uid map would). */
  let knownKeys = 0;
  const notOnDisk = new Set<string>();
  const listed = new Uint8Array(keys.length);
  const listUids = adopted?.uids ?? [];
  const listKeys = adopted?.keys ?? [];
  for (let j = 0; j < listUids.length; j++) {
    const uid = listUids[j] as number;
    const key = listKeys[j] as string;
    const i = at.get(key);
    if (i === undefined) notOnDisk.add(key);
    else if (listed[i]) {
      if (taken[i] !== 2) continue;
      uidAt[i] = uid; // listed again: the later UID wins, and the order is settled by the sort
      sorted = false;
    } else {
      listed[i] = 1;
      knownKeys++;
      if (taken[i] === 1) continue;
      taken[i] = 2;
      if (uid < lastUid) sorted = false;
      lastUid = uid;
      order.push(i);
      uidAt[i] = uid;
    }
  }
  knownKeys += notOnDisk.size;
  if (!sorted) order.sort((a, b) => (uidAt[a] as number) - (uidAt[b] as number));
  const unknown: number[] = [];
  for (let i = 0; i < keys.length; i++) if (taken[i] === 0) unknown.push(i);
  unknown.sort((a, b) => ((keys[a] as string) < (keys[b] as string) ? -1 : (keys[a] as string) > (keys[b] as string) ? 1 : 0));
  for (let j = 0; j < unknown.length; j++) order.push(unknown[j] as number);
  return { order, uidAt, knownKeys };
}

interface Found {
  order: readonly number[];
  uidAt: Float64Array;
  /** -1: the file vanished. */
  sizes: Float64Array;
}

/**
 * Indexes the new files in order, every one numbered by now (a plain loop, kept out of the async scan so it
 * optimizes); returns their UIDs when `report` (a rescan).
 */
function insertFresh(f: SyncedFolder, h: ScanHooks, files: Listing, x: Found, report: boolean): number[] {
  const { keys, infos, inNew } = files;
  const kws = h.keywords();
  // Most messages share a handful of info strings: their flags are parsed once, into one frozen list each (and the
  // entries share one info string). Runs of equal info strings skip even the map.
  const byInfo = new Map<string, { info: string; flags: string[]; other: string }>();
  let parsed: { info: string; flags: string[]; other: string } | undefined;
  const added: number[] = [];
  const batch: Entry[] = [];
  // A rescan with the cache already read takes known dates from it; the rest stay unknown until asked for.
  const cache = f.cache.loaded ? f.cache : undefined;
  const { order, sizes, uidAt } = x;
  const recentFrom = f.recentFrom;
  let next = f.nextUid;
  for (let j = 0; j < order.length; j++) {
    const i = order[j] as number;
    const key = keys[i] as string;
    const size = sizes[i] as number;
    if (size < 0) continue;
    const uid = uidAt[i] as number;
    if (uid >= next) next = uid + 1;
    const info = infos[i] as string;
    if (parsed?.info !== info) {
      parsed = byInfo.get(info);
      if (!parsed) {
        const p = flagsFromInfo(info, kws);
        byInfo.set(info, (parsed = { info, flags: Object.freeze(p.flags) as string[], other: p.other }));
      }
    }
    const sub = inNew[i] ? 'new' : 'cur';
    const date = cache?.dateOf(key) ?? NaN;
    batch.push({ uid, size, internalDate: date, flags: parsed.flags, recent: sub === 'new' && uid >= recentFrom, key, sub, info: parsed.info, other: parsed.other, modseq: 0 });
    if (report) added.push(uid); // a first open announces nothing
  }
  f.nextUid = next;
  // UIDs within the batch are distinct (the uid list's are, and new ones are above them): one insert at the end.
  h.insertAll(batch);
  return added;
}

/** Size with bare LFs counted as CRLF, for files other tools delivered with Unix line ends; -1 once vanished. */
async function crlfSize(file: string): Promise<number> {
  const buf = await readRegular(file).catch(() => undefined);
  if (!buf) return -1;
  let extra = 0;
  for (let i = 0; i < buf.length; i++) if (buf[i] === 10 && (i === 0 || buf[i - 1] !== 13)) extra++;
  return buf.length + extra;
}

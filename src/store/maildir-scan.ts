// Full rescan of one Maildir folder: adopts dovecot-uidlist UIDs, finds new, moved and vanished files, numbers the new ones.
// INTERNALDATE comes from the folder cache when the file is known there; only unknown files are stat-ed.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MailboxError, type MailboxChange } from './mailbox-store.ts';
import { flagsFromInfo, keyNumber, readKeywords, readUidList, readUidListStamped, type UidList } from './maildir-files.ts';
import { readRecentMark } from './maildir-recent.ts';
import type { MaildirFolder } from './maildir-folder.ts';
import type { Entry } from './maildir-index.ts';

export interface ScanHooks {
  entries(): readonly Entry[];
  byUid: ReadonlyMap<number, Entry>;
  keywords(set?: string[]): string[];
  setLocation(e: Entry, sub: 'new' | 'cur', info: string): void;
  insert(e: Entry): void;
  drop(uids: readonly number[]): void;
  saveUids(): Promise<void>;
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
  const add = (names: readonly string[], isNew: boolean): void => {
    for (const name of names) {
      if (name.charCodeAt(0) === 46 /* . */) continue;
      const colon = name.indexOf(':');
      const key = colon < 0 ? name : name.slice(0, colon);
      const prev = out.at.get(key);
      if (prev !== undefined) {
        // The same base name in both directories: the later listing wins, as a key → file map would have it.
        out.infos[prev] = colon < 0 ? '' : name.slice(colon + 1);
        out.inNew[prev] = isNew;
        continue;
      }
      out.at.set(key, out.keys.length);
      out.keys.push(key);
      out.infos.push(colon < 0 ? '' : name.slice(colon + 1));
      out.inNew.push(isNew);
    }
  };
  add(newFiles, true);
  add(curFiles, false);
  return out;
}

export async function scanFolder(f: MaildirFolder, h: ScanHooks): Promise<MailboxChange[]> {
  const wasLoaded = f.loaded;
  // Directory listings, the cache (first open) and the uid list files are all read concurrently.
  const listing = Promise.all([readdir(join(f.path, 'new')), readdir(join(f.path, 'cur'))]);
  listing.catch(() => undefined);
  const cacheLoad = wasLoaded ? undefined : f.cache.ensure(); // first open: the cache file is read alongside
  let listStamp: string | undefined;
  let list: UidList | undefined;
  let keywords: string[] | undefined;
  let mark: Awaited<ReturnType<typeof readRecentMark>> = undefined;
  if (!wasLoaded) {
    // First open: the stamp comes from the same open file as the text (no separate stat round trip).
    const small = Promise.all([readKeywords(f.path), readRecentMark(f.path)]);
    const stamped = readUidListStamped(f.path);
    [listStamp, list] = [stamped?.stamp, stamped?.list];
    [keywords, mark] = await small;
  } else {
    const st = await stat(join(f.path, 'dovecot-uidlist'), { bigint: true }).catch(() => undefined);
    listStamp = st ? `${st.ino}:${st.size}` : undefined;
    // Another program (Dovecot) rewrote the list: adopt the UIDs it assigned.
    if (listStamp !== f.uidlistStamp) [list, keywords] = await Promise.all([readUidList(f.path), readKeywords(f.path)]);
  }
  let adopted: UidList['entries'] | undefined;
  if (keywords) {
    h.keywords(keywords);
    if (list && (!wasLoaded || list.uidValidity === f.uidValidity)) {
      f.uidValidity = list.uidValidity;
      f.nextUid = Math.max(f.nextUid, list.nextUid);
      adopted = list.entries;
    } else if (!wasLoaded) {
      f.uidValidity = f.newValidity();
      f.nextUid = 1;
    }
    if (mark && mark.uidValidity === f.uidValidity) f.recentFrom = mark.from;
  }
  let files: Listing;
  try {
    const [newFiles, curFiles] = await listing;
    files = listFiles(newFiles, curFiles);
  } catch {
    throw new MailboxError('NONEXISTENT', 'no such mailbox');
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
      const before = e.meta.flags.join(' ');
      h.setLocation(e, sub, info);
      if (e.meta.flags.join(' ') !== before) changes.push({ kind: 'flags', uid: e.uid, flags: e.meta.flags });
    }
  }
  if (gone.length > 0) {
    h.drop(gone);
    changes.push({ kind: 'expunge', uids: gone });
  }
  const { order, uidAt, knownKeys } = orderFresh(files, taken, adopted);

  await cacheLoad;
  if (order.length > 0) await f.cache.ensure(); // loaded from a snapshot: the cache is read on first need
  let uidsChanged = gone.length > 0;
  const fileOf = (i: number): string => join(f.path, inNew[i] ? 'new' : 'cur', infos[i] ? `${keys[i]}:${infos[i]}` : (keys[i] as string));
  // Only files the cache does not know are stat-ed (for INTERNALDATE); those are then cached.
  const dates = new Float64Array(keys.length).fill(NaN); // NaN: no date (neither cached nor stat-ed)
  const cached = new Uint8Array(keys.length);
  const unstated: number[] = [];
  for (const i of order) {
    const d = f.cache.dateOf(keys[i] as string);
    if (d === undefined) unstated.push(i);
    else [dates[i], cached[i]] = [d, 1];
  }
  for (let j = 0; j < unstated.length; j += PARALLEL) {
    const chunk = unstated.slice(j, j + PARALLEL);
    const res = await Promise.all(chunk.map((i) => stat(fileOf(i)).then((st) => st.mtimeMs, () => NaN)));
    chunk.forEach((i, k) => (dates[i] = res[k] as number));
  }
  // Sizes of files without ",W=" in the name are read first (in parallel), so the insert loop below runs synchronously.
  const sizes = new Float64Array(keys.length).fill(NaN);
  const unsized = order.filter((i) => !Number.isNaN(dates[i] as number) && keyNumber(keys[i] as string, ',W=') === undefined);
  for (let j = 0; j < unsized.length; j += PARALLEL) {
    const chunk = unsized.slice(j, j + PARALLEL);
    const res = await Promise.all(chunk.map((i) => crlfSize(fileOf(i), keyNumber(keys[i] as string, ',S='))));
    chunk.forEach((i, k) => (sizes[i] = res[k] as number));
  }
  const { added, renumbered } = insertFresh(f, h, files, { order, uidAt, dates, cached, sizes });
  if (renumbered) uidsChanged = true;
  if (added.length > 0) changes.push({ kind: 'append', uids: added });
  if (!wasLoaded) f.cache.retain((key) => f.keyKnown(key));
  if (uidsChanged || (!wasLoaded && knownKeys !== h.entries().length) || listStamp === undefined) await h.saveUids();
  else f.uidlistStamp = listStamp;
  await f.cache.flush();
  return changes;
}

/** Known files in uid-list order, then unknown ones by name (delivery time); `taken` marks files already indexed. */
function orderFresh(files: Listing, taken: Uint8Array, adopted: UidList['entries'] | undefined): { order: number[]; uidAt: Float64Array; knownKeys: number } {
  const { keys, at } = files;
  const order: number[] = [];
  const uidAt = new Float64Array(keys.length).fill(Infinity);
  let sorted = true;
  let lastUid = -1;
  /** Distinct uid-list keys (a key listed twice keeps its last UID, as a key → uid map would). */
  let knownKeys = 0;
  const notOnDisk = new Set<string>();
  const listed = new Uint8Array(keys.length);
  if (adopted)
    for (const [uid, key] of adopted) {
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
  for (const i of unknown) order.push(i);
  return { order, uidAt, knownKeys };
}

interface Fresh {
  order: readonly number[];
  uidAt: Float64Array;
  /** NaN: no date (the file vanished). */
  dates: Float64Array;
  cached: Uint8Array;
  /** NaN: the size is in the name (",W="). */
  sizes: Float64Array;
}

/** Indexes the new files in order (a plain loop, kept out of the async scan so it optimizes); renumbered: some got a new UID. */
function insertFresh(f: MaildirFolder, h: ScanHooks, files: Listing, x: Fresh): { added: number[]; renumbered: boolean } {
  const { keys, infos, inNew } = files;
  const kws = h.keywords();
  // Most messages share a handful of info strings: their flags are parsed once, into one frozen list each.
  const byInfo = new Map<string, { flags: string[]; other: string }>();
  const added: number[] = [];
  let renumbered = false;
  for (const i of x.order) {
    const key = keys[i] as string;
    const date = x.dates[i] as number;
    if (Number.isNaN(date)) continue;
    if (!x.cached[i]) f.cache.set(key, { date });
    let uid = x.uidAt[i] as number;
    if (uid === Infinity || h.byUid.has(uid)) {
      uid = f.nextUid++;
      renumbered = true;
    } else if (uid >= f.nextUid) f.nextUid = uid + 1;
    const sized = x.sizes[i] as number;
    const size = Number.isNaN(sized) ? (keyNumber(key, ',W=') as number) : sized;
    const info = infos[i] as string;
    let parsed = byInfo.get(info);
    if (!parsed) {
      const p = flagsFromInfo(info, kws);
      byInfo.set(info, (parsed = { flags: Object.freeze(p.flags) as string[], other: p.other }));
    }
    const sub = inNew[i] ? 'new' : 'cur';
    const meta = { uid, size, internalDate: date, flags: parsed.flags, recent: sub === 'new' && uid >= f.recentFrom };
    h.insert({ uid, key, sub, info, other: parsed.other, meta });
    added.push(uid);
  }
  return { added, renumbered };
}

/** Size with bare LFs counted as CRLF, for files other tools delivered with Unix line ends. */
async function crlfSize(file: string, fallback: number | undefined): Promise<number> {
  const buf = await readFile(file).catch(() => undefined);
  if (!buf) return fallback ?? 0;
  let extra = 0;
  for (let i = 0; i < buf.length; i++) if (buf[i] === 10 && (i === 0 || buf[i - 1] !== 13)) extra++;
  return buf.length + extra;
}

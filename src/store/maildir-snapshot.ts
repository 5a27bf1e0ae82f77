// Folder snapshot (spamgate.index), the role dovecot.index plays for Dovecot: the whole in-memory index of a folder
// with the new/ and cur/ stamps and the uid list's identity it was taken at. A fresh process whose stamps still
// match loads it instead of listing the directories and parsing dovecot-uidlist and the cache. It is written only
// after a scan whose stamp was outside the racy window, and it is only a cache: any mismatch means a full scan,
// a torn or foreign file is ignored, and the Dovecot files stay the source of truth (so it is never fsynced).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { flagsFromInfo, readKeywords, uidListStamp, writeFileAtomic } from './maildir-files.ts';
import type { SyncedFolder } from './maildir-folder-sync.ts';
import type { Entry } from './maildir-index.ts';
import { readRecentMark } from './maildir-recent.ts';
import type { ScanHooks } from './maildir-scan.ts';
import { readRegularText } from '../util/read-regular.ts';

const FILE = 'spamgate.index';
const MAGIC = 'SGINDEX2';

/** What a snapshot is taken at, besides the entries. */
export interface SnapshotHead {
  uidValidity: number;
  nextUid: number;
  /** `${newMtimeNs}/${curMtimeNs}` when taken. */
  dirStamp: string;
  /** uidListStamp of dovecot-uidlist when taken (a list changed since, by anyone, means a full scan). */
  uidlistStamp: string;
}

/**
 * The body: one JSON document of columns, one element per message in UID order, so that reading it back is one
 * native JSON.parse rather than a parse step per line. subs has one letter per message (n: new/, c: cur/); a date
 * not known yet (maildir-dates.ts) is null.
 */
interface Body {
  uidValidity: number;
  nextUid: number;
  uids: number[];
  subs: string;
  sizes: number[];
  dates: (number | null)[];
  keys: string[];
  infos: string[];
}

/** File: "SGINDEX2 <dirStamp> <uidlistStamp>\n" and the JSON body (the stamps are checked before the body is parsed). */
export async function writeSnapshot(dir: string, head: SnapshotHead, entries: readonly Entry[]): Promise<void> {
  const body: Body = {
    uidValidity: head.uidValidity,
    nextUid: head.nextUid,
    uids: entries.map((e) => e.uid),
    subs: entries.map((e) => (e.sub === 'new' ? 'n' : 'c')).join(''),
    sizes: entries.map((e) => e.size),
    dates: entries.map((e) => (Number.isNaN(e.internalDate) ? null : e.internalDate)),
    keys: entries.map((e) => e.key),
    infos: entries.map((e) => e.info),
  };
  await writeFileAtomic(join(dir, FILE), `${MAGIC} ${head.dirStamp} ${head.uidlistStamp}\n${JSON.stringify(body)}`, false);
}

/** The snapshot's body when it was taken at exactly these stamps (undefined otherwise, or when unreadable, torn or foreign). */
async function readBody(dir: string, dirStamp: string, uidlistStamp: string | undefined): Promise<Body | undefined> {
  if (uidlistStamp === undefined) return undefined;
  const text = await readRegularText(join(dir, FILE)).catch(() => '');
  const nl = text.indexOf('\n');
  if (nl < 0 || text.slice(0, nl) !== `${MAGIC} ${dirStamp} ${uidlistStamp}`) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text.slice(nl + 1));
  } catch {
    return undefined;
  }
  return wellFormed(v) ? v : undefined;
}

function wellFormed(v: unknown): v is Body {
  if (typeof v !== 'object' || v === null) return false;
  const b = v as Partial<Body>;
  const { uids, subs, sizes, dates, keys, infos } = b;
  if (!Number.isSafeInteger(b.uidValidity) || !Number.isSafeInteger(b.nextUid) || typeof subs !== 'string') return false;
  if (!Array.isArray(uids) || !Array.isArray(sizes) || !Array.isArray(dates) || !Array.isArray(keys) || !Array.isArray(infos)) return false;
  const n = uids.length;
  if (subs.length !== n || sizes.length !== n || dates.length !== n || keys.length !== n || infos.length !== n) return false;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const d = dates[i];
    const uid = uids[i];
    if (typeof uid !== 'number' || !(uid > last) || typeof sizes[i] !== 'number' || typeof keys[i] !== 'string' || typeof infos[i] !== 'string') return false;
    if (d !== null && typeof d !== 'number') return false;
    last = uid; // written in UID order, each UID once
  }
  return true;
}

/** First open of a folder whose spamgate.index matches its stamps: fills the index; false means a full scan is due. */
export async function loadSnapshot(f: SyncedFolder, h: Pick<ScanHooks, 'keywords' | 'insertAll'>, dirStamp: string): Promise<boolean> {
  const st = await stat(join(f.path, 'dovecot-uidlist'), { bigint: true }).catch(() => undefined);
  const listStamp = st ? uidListStamp(st) : undefined;
  const [snap, keywords, mark] = await Promise.all([readBody(f.path, dirStamp, listStamp), readKeywords(f.path), readRecentMark(f.path)]);
  if (!snap || listStamp === undefined) return false;
  f.uidValidity = snap.uidValidity;
  f.nextUid = snap.nextUid;
  h.keywords(keywords);
  f.recentFrom = mark?.uidValidity === snap.uidValidity ? mark.from : 0;
  // Most messages share a handful of info strings: one frozen flag list each (and one info string).
  const byInfo = new Map<string, { info: string; flags: string[]; other: string }>();
  const { uids, subs, sizes, dates, keys, infos } = snap;
  const batch: Entry[] = [];
  for (let i = 0; i < keys.length; i++) {
    const info = infos[i] as string;
    let parsed = byInfo.get(info);
    if (!parsed) {
      const p = flagsFromInfo(info, keywords);
      byInfo.set(info, (parsed = { info, flags: Object.freeze(p.flags) as string[], other: p.other }));
    }
    const uid = uids[i] as number;
    const sub = subs.charCodeAt(i) === 110 /* n */ ? 'new' : 'cur';
    const recent = sub === 'new' && uid >= f.recentFrom;
    batch.push({ uid, size: sizes[i] as number, internalDate: dates[i] ?? NaN, flags: parsed.flags, recent, key: keys[i] as string, sub, info: parsed.info, other: parsed.other, modseq: 0 });
  }
  h.insertAll(batch);
  f.cache.retainOnLoad = () => f.liveKeys(); // the cache itself is read on first need
  f.uidlistStamp = listStamp;
  return true;
}

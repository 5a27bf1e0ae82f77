// Folder snapshot (spamgate.index), the role dovecot.index plays for Dovecot: the whole in-memory index of a folder
// with the new/ and cur/ stamps and the uid list's identity it was taken at. A fresh process whose stamps still
// match loads it instead of listing the directories and parsing dovecot-uidlist and the cache. It is written only
// after a scan whose stamp was outside the racy window, and it is only a cache: any mismatch means a full scan,
// a torn or foreign file is ignored, and the Dovecot files stay the source of truth (so it is never fsynced).
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { flagsFromInfo, readKeywords, writeFileAtomic } from './maildir-files.ts';
import type { MaildirFolder } from './maildir-folder.ts';
import { readRecentMark } from './maildir-recent.ts';
import type { ScanHooks } from './maildir-scan.ts';

const FILE = 'spamgate.index';
const MAGIC = 'SGINDEX1';

export interface SnapshotEntry {
  uid: number;
  sub: 'new' | 'cur';
  key: string;
  info: string;
  size: number;
  date: number;
}

export interface Snapshot {
  uidValidity: number;
  nextUid: number;
  /** `${newMtimeNs}/${curMtimeNs}` when taken. */
  dirStamp: string;
  /** `${ino}:${size}` of dovecot-uidlist when taken. */
  uidlistStamp: string;
  entries: SnapshotEntry[];
}

export async function writeSnapshot(dir: string, s: Snapshot): Promise<void> {
  const parts = [`${MAGIC} ${s.uidValidity} ${s.nextUid} ${s.dirStamp} ${s.uidlistStamp} ${s.entries.length}\n`];
  for (const e of s.entries) parts.push(`${e.uid} ${e.sub === 'new' ? 'n' : 'c'} ${e.size} ${e.date} ${e.info ? `${e.key}:${e.info}` : e.key}\n`);
  await writeFileAtomic(join(dir, FILE), parts.join(''), false);
}

/** The snapshot when it was taken at exactly these stamps (undefined otherwise, or when unreadable). */
export async function readSnapshot(dir: string, dirStamp: string, uidlistStamp: string | undefined): Promise<Snapshot | undefined> {
  if (uidlistStamp === undefined) return undefined;
  const text = await readFile(join(dir, FILE), 'latin1').catch(() => '');
  const nl = text.indexOf('\n');
  const head = text.slice(0, nl).split(' ');
  if (nl < 0 || head.length !== 6 || head[0] !== MAGIC || head[3] !== dirStamp || head[4] !== uidlistStamp) return undefined;
  const count = Number(head[5]);
  const entries: SnapshotEntry[] = [];
  // Numbers are read digit by digit: no substring per field (10,000 lines on a SELECT).
  const num = (from: number, to: number): number => {
    let n = 0;
    for (let i = from; i < to; i++) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return NaN;
      n = n * 10 + c;
    }
    return to > from ? n : NaN;
  };
  let pos = nl + 1;
  while (pos < text.length) {
    const end = text.indexOf('\n', pos);
    if (end < 0) return undefined; // torn
    const a = text.indexOf(' ', pos);
    const b = a + 2;
    const c = text.indexOf(' ', b + 1);
    const d = text.indexOf(' ', c + 1);
    if (a < 0 || c < 0 || d < 0 || d > end || text.charCodeAt(b) !== 32) return undefined;
    const colon = text.indexOf(':', d + 1);
    const split = colon >= 0 && colon < end;
    entries.push({
      uid: num(pos, a),
      sub: text.charCodeAt(a + 1) === 110 /* n */ ? 'new' : 'cur',
      size: num(b + 1, c),
      date: num(c + 1, d),
      key: text.slice(d + 1, split ? colon : end),
      info: split ? text.slice(colon + 1, end) : '',
    });
    pos = end + 1;
  }
  if (entries.length !== count || entries.some((e) => !Number.isFinite(e.uid + e.size + e.date))) return undefined;
  // Names are UTF-8 on disk; the file was read as latin1 for speed, so re-decode the rare 8-bit names.
  for (const e of entries) if (/[\x80-\xff]/.test(e.key)) e.key = Buffer.from(e.key, 'latin1').toString('utf8');
  return { uidValidity: Number(head[1]), nextUid: Number(head[2]), dirStamp, uidlistStamp, entries };
}

/** First open of a folder whose spamgate.index matches its stamps: fills the index; false means a full scan is due. */
export async function loadSnapshot(f: MaildirFolder, h: Pick<ScanHooks, 'keywords' | 'insert'>, dirStamp: string): Promise<boolean> {
  const st = await stat(join(f.path, 'dovecot-uidlist'), { bigint: true }).catch(() => undefined);
  const listStamp = st ? `${st.ino}:${st.size}` : undefined;
  const [snap, keywords, mark] = await Promise.all([readSnapshot(f.path, dirStamp, listStamp), readKeywords(f.path), readRecentMark(f.path)]);
  if (!snap) return false;
  f.uidValidity = snap.uidValidity;
  f.nextUid = snap.nextUid;
  h.keywords(keywords);
  f.recentFrom = mark?.uidValidity === snap.uidValidity ? mark.from : 0;
  // Most messages share a handful of info strings: one frozen flag list each.
  const byInfo = new Map<string, { flags: string[]; other: string }>();
  for (const s of snap.entries) {
    let parsed = byInfo.get(s.info);
    if (!parsed) {
      const p = flagsFromInfo(s.info, keywords);
      byInfo.set(s.info, (parsed = { flags: Object.freeze(p.flags) as string[], other: p.other }));
    }
    const { flags, other } = parsed;
    const meta = { uid: s.uid, size: s.size, internalDate: s.date, flags, recent: s.sub === 'new' && s.uid >= f.recentFrom };
    h.insert({ uid: s.uid, key: s.key, sub: s.sub, info: s.info, other, meta });
  }
  f.cache.retainOnLoad = (key) => f.keyKnown(key); // the cache itself is read on first need
  f.uidlistStamp = snap.uidlistStamp;
  return true;
}

// On-disk formats of one Maildir folder: file names and info flags, dovecot-uidlist and dovecot-keywords (Dovecot-compatible).
import { closeSync, constants, fstatSync, openSync, readFileSync, type BigIntStats } from 'node:fs';
import { hostname } from 'node:os';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic as writeAtomic } from '../util/atomic-file.ts';
import { withDotlock } from './maildir-dotlock.ts';
import { readRegularText } from '../util/read-regular.ts';

export { withDotlock };

/** Maildir info letters (cr.yp.to/proto/maildir.html) ↔ IMAP system flags. */
const LETTER_TO_FLAG: Record<string, string> = { D: '\\Draft', F: '\\Flagged', R: '\\Answered', S: '\\Seen', T: '\\Deleted' };
const FLAG_TO_LETTER: Record<string, string> = { '\\draft': 'D', '\\flagged': 'F', '\\answered': 'R', '\\seen': 'S', '\\deleted': 'T' };

/**
 * Opening a message file: a symbolic link planted in new/ or cur/ is not followed (ELOOP), so no file outside the
 * Maildir is served as a message. The scan already leaves out everything that is not a regular file.
 */
export const OPEN_MESSAGE = constants.O_RDONLY | constants.O_NOFOLLOW;

export const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'] as const;
/** Dovecot maps keywords to the letters a..z through dovecot-keywords. */
export const MAX_KEYWORDS = 26;

/** Splits "1700000000.M1P2Q3.host,S=12:2,FS" into key (before ':') and info ("2,FS" or ""). */
export function splitName(file: string): { key: string; info: string } {
  const colon = file.indexOf(':');
  return colon < 0 ? { key: file, info: '' } : { key: file.slice(0, colon), info: file.slice(colon + 1) };
}

/**
 * Flags from the info part. Letters we cannot name (other programs' flags, keyword letters without a
 * dovecot-keywords line) are kept aside so a rewrite preserves them; anything that is no letter (a second ":2,"
 * another program appended, punctuation) is not a flag and is dropped, so it never ends up among the letters.
 */
export function flagsFromInfo(info: string, keywords: readonly string[]): { flags: string[]; other: string } {
  const flags: string[] = [];
  let other = '';
  if (!info.startsWith('2,')) return { flags, other };
  for (const ch of info.slice(2)) {
    const sys = LETTER_TO_FLAG[ch];
    if (sys) flags.push(sys);
    else if (ch >= 'a' && ch <= 'z') {
      const kw = keywords[ch.charCodeAt(0) - 97];
      if (kw !== undefined) flags.push(kw);
      else if (!other.includes(ch)) other += ch;
    } else if (ch >= 'A' && ch <= 'Z' && !other.includes(ch)) other += ch;
  }
  return { flags, other };
}

/** Builds the "2,<letters>" info; letters sorted as the Maildir spec requires (ASCII order). */
export function infoFromFlags(flags: readonly string[], keywordIndex: (kw: string) => number, other = ''): string {
  const letters = new Set<string>(other);
  for (const f of flags) {
    const sys = FLAG_TO_LETTER[f.toLowerCase()];
    if (sys) letters.add(sys);
    else if (!f.startsWith('\\')) {
      const i = keywordIndex(f);
      if (i >= 0 && i < MAX_KEYWORDS) letters.add(String.fromCharCode(97 + i));
    }
  }
  return '2,' + [...letters].sort().join('');
}

/** Size from ",W=" (CRLF size) or ",S=" in the key. */
export function sizeFromKey(key: string): { w?: number; s?: number } {
  return { w: keyNumber(key, ',W='), s: keyNumber(key, ',S=') };
}

export function keyNumber(key: string, tag: string): number | undefined {
  const at = key.indexOf(tag);
  if (at < 0) return undefined;
  let n = 0;
  let i = at + tag.length;
  for (; i < key.length; i++) {
    const c = key.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  return i > at + tag.length ? n : undefined;
}

let counter = 0;
const host = hostname().replace(/\//g, '\\057').replace(/:/g, '\\072').replace(/\./g, '_') || 'localhost';

/** Unique base name per the Maildir spec: <sec>.M<usec>P<pid>Q<counter>.<host>,S=<size>,W=<size>. */
export function uniqueKey(nowMs: number, size: number): string {
  counter = (counter + 1) % 1_000_000_000;
  const sec = Math.floor(nowMs / 1000);
  const usec = (nowMs % 1000) * 1000 + (counter % 1000);
  return `${sec}.M${usec}P${process.pid}Q${counter}.${host},S=${size},W=${size}`;
}

export interface UidList {
  uidValidity: number;
  nextUid: number;
  /** Parallel lists in UID order, each UID once: uids[i] is the UID of the file whose base name (without info) is keys[i]. */
  uids: number[];
  keys: string[];
}

/** Reads dovecot-uidlist version 3 ("3 V<validity> N<next> ...", then "<uid> [ext] :<name>"). */
export async function readUidList(dir: string): Promise<UidList | undefined> {
  const text = await readRegularText(join(dir, 'dovecot-uidlist')).catch(() => undefined);
  return text === undefined ? undefined : parseUidList(text);
}

/**
 * What tells one version of dovecot-uidlist from another: inode (a rewrite renames a new file in), size (an append)
 * and mtime (a rewrite of the same size into a reused inode), as Dovecot compares them before re-reading the list.
 */
export function uidListStamp(st: BigIntStats): string {
  return `${st.ino}:${st.size}:${st.mtimeNs}`;
}

/**
 * The uid list's text with its stamp (uidListStamp) taken from the same open file before reading it: the stamp never
 * claims more than was read (a later append or rewrite shows as a changed stamp). Undefined when there is no file.
 * Synchronous: open, fstat, one read and close cost less than their thread-pool round trips, which would queue
 * behind the directory listings of the same first open. Parsing is left to the caller (parseUidList), so it can
 * overlap with work started after the read.
 */
export function readUidListText(dir: string): { text: string; stamp: string } | undefined {
  let fd: number;
  try {
    // no link followed, no wait: a FIFO under the name would stop the whole event loop here
    fd = openSync(join(dir, 'dovecot-uidlist'), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) return undefined;
    return { text: readFileSync(fd, 'utf8'), stamp: uidListStamp(st) };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Parses the list text. The usual "<uid> :<name>" line costs a few native string calls (split, indexOf, parseInt,
 * slice): a first open parses 10,000 lines before the optimizing compiler has seen this loop. Other forms take regexes.
 */
export function parseUidList(text: string): UidList | undefined {
  const lines = text.split('\n');
  const header = lines[0] as string;
  const v = /(?:^| )V(\d+)/.exec(header);
  const n = /(?:^| )N(\d+)/.exec(header);
  if (!header.startsWith('3 ') || !v?.[1]) return undefined;
  const uids: number[] = [];
  const keys: string[] = [];
  /** UIDs rose line by line (the file as written): no duplicates to settle, no sorting. */
  let rising = true;
  let maxUid = 0;
  for (let l = 1; l < lines.length; l++) {
    const line = lines[l] as string;
    const sp = line.indexOf(' :');
    let uid = sp > 0 && sp < 16 ? parseInt(line, 10) : NaN;
    let key: string;
    if (uid >= (POW10[sp - 1] as number) && uid < (POW10[sp] as number) && line.length > sp + 2) {
      // "<uid> :<name>" (what we and Dovecot write); the key is the name before any ':'.
      const colon = line.indexOf(':', sp + 2);
      key = colon < 0 ? line.slice(sp + 2) : line.slice(sp + 2, colon);
    } else {
      // Extensions, other spellings of the number and old formats take the regexes.
      const m = /^(\d+)(?: [^:]*)?:(.+)$/.exec(line) ?? /^(\d+) (\S+)$/.exec(line);
      if (!m?.[1] || !m[2]) continue;
      uid = Number(m[1]);
      key = splitName(m[2]).key;
    }
    if (uid <= maxUid) rising = false;
    else maxUid = uid;
    uids.push(uid);
    keys.push(key);
  }
  const nextUid = Math.max(Number(n?.[1] ?? 1), maxUid + 1);
  if (!rising) {
    // A UID listed twice keeps its last name; then UID order.
    const byUid = new Map<number, string>();
    uids.forEach((uid, j) => byUid.set(uid, keys[j] as string));
    const sorted = [...byUid].sort((a, b) => a[0] - b[0]);
    return { uidValidity: Number(v[1]), nextUid, uids: sorted.map((e) => e[0]), keys: sorted.map((e) => e[1]) };
  }
  return { uidValidity: Number(v[1]), nextUid, uids, keys };
}

/** 10^i: parseInt read all of the sp characters before " :" when 10^(sp-1) <= uid < 10^sp (no leading zero, no sign). */
const POW10 = Array.from({ length: 17 }, (_, i) => 10 ** i);

export async function readKeywords(dir: string): Promise<string[]> {
  const out: string[] = [];
  let text = '';
  try {
    text = await readRegularText(join(dir, 'dovecot-keywords'), 1024 * 1024);
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\S+)$/.exec(line);
    if (m?.[1] && m[2] && Number(m[1]) < MAX_KEYWORDS) out[Number(m[1])] = m[2];
  }
  return out;
}

export async function writeKeywords(dir: string, keywords: readonly string[], fsync: boolean): Promise<void> {
  const body = keywords.map((k, i) => (k === undefined ? '' : `${i} ${k}\n`)).join('');
  await writeFileAtomic(join(dir, 'dovecot-keywords'), body, fsync);
}

export function writeFileAtomic(path: string, body: string, fsync: boolean): Promise<void> {
  return writeAtomic(path, body, { fsync });
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function makeMaildir(path: string, isFolder: boolean): Promise<void> {
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(path, sub), { recursive: true, mode: 0o700 });
  if (isFolder) await (await open(join(path, 'maildirfolder'), 'a', 0o600)).close();
}
